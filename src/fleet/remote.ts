// Reports asked of the fleet (--remote URL, --host NAME): the same plans
// as locally (src/query/read.ts), in PostgreSQL's dialect over the views
// of the server's schema (signal_rows: src/fleet/migrations/0030-compact-rows.sql), as the reader role.
import { SigauditError } from '../errors';
import { STORED_ROW_COLUMNS } from '../export/columns';
import { FAILED_COLUMNS, NS_PID_COLUMNS, isSteps, type Dialect, type Param, type Plan, type Query, type Row, type Steps } from '../query/read';
import { connect, parseServerUrl, serverError, type ServerUrl } from './connect';
import { checkSchema } from './schema';

export interface Remote {
  url: ServerUrl;
  /** Only this host's rows; undefined: the whole fleet. */
  host?: string;
}

/** --remote, or SIGAUDIT_REMOTE; undefined when neither is given. --host without either is refused. */
export function remoteOf(flags: { remote?: string; host?: string }): Remote | undefined {
  const text = flags.remote ?? process.env.SIGAUDIT_REMOTE;
  if (text === undefined || text === '') {
    if (flags.host !== undefined)
      throw new SigauditError('EUSAGE', `--host ${flags.host}: hosts are the fleet's, and no --remote was given`, 'add --remote postgresql://USER@HOST/DATABASE (or set SIGAUDIT_REMOTE), or leave out --host to ask this host', 2);
    return undefined;
  }
  return { url: parseServerUrl(text, flags.remote !== undefined ? '--remote' : 'SIGAUDIT_REMOTE'), host: flags.host };
}

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

export function postgresDialect(host?: string): Dialect {
  const onHost = host === undefined ? '' : ` WHERE host = ${literal(host)}`;
  const rows = host === undefined ? 'sigaudit.signal_rows' : `(SELECT * FROM sigaudit.signal_rows${onHost})`;
  const columns = [...STORED_ROW_COLUMNS, 'host'].map((column) => `s.${column}`).join(', ');
  /** Joins keeping only the host's rows of a table aliased `alias` with a source_id. */
  const onSource = (alias: string) =>
    host === undefined ? '' : ` JOIN sigaudit.sources so ON so.id = ${alias}.source_id JOIN sigaudit.hosts h ON h.id = so.host_id WHERE h.name = ${literal(host)}`;
  const table = (name: string) => (host === undefined ? `sigaudit.${name}` : `(SELECT t.* FROM sigaudit.${name} t${onSource('t')})`);
  return {
    selectRows: `SELECT ${columns} FROM ${rows} AS s`,
    failedRows: () => `(SELECT host, ${FAILED_COLUMNS}, ${NS_PID_COLUMNS} FROM sigaudit.signal_rows WHERE ret < 0${host === undefined ? '' : ` AND host = ${literal(host)}`})`,
    table,
    distinctList: (expression) => `string_agg(DISTINCT CAST(${expression} AS text), ',')`,
    signals: rows,
    // The hours are consecutive (src/query/filters.ts hoursJson): their first and
    // last, folded to constants when planned, bound ts_ns in the indexes and
    // the partitions, which the IN alone does not.
    hourTerm: `ts_ns >= CAST(CAST(@hours AS json) ->> 0 AS bigint) * 3600000000000 AND ts_ns < (CAST(CAST(@hours AS json) ->> -1 AS bigint) + 1) * 3600000000000
      AND ts_ns / 3600000000000 IN (SELECT CAST(value AS bigint) FROM json_array_elements_text(CAST(@hours AS json)))`,
    // What the forwarders noted, instead of min/max over every partition.
    spanSql: `SELECT min(so.first_ts_ns) AS archive_from, max(so.last_ts_ns) AS archive_to, NULL AS hot_from, NULL AS hot_to
      FROM sigaudit.sources so JOIN sigaudit.hosts h ON h.id = so.host_id${host === undefined ? '' : ` WHERE h.name = ${literal(host)}`}`,
    hosts: true,
    summaryRows: `(SELECT m.*, h.name AS host FROM sigaudit.summaries m JOIN sigaudit.sources so ON so.id = m.source_id
      JOIN sigaudit.hosts h ON h.id = so.host_id${host === undefined ? '' : ` WHERE h.name = ${literal(host)}`})`,
    // Kept as rows arrive (src/fleet/migrations): every forwarded row is in it.
    senderHours: `(SELECT r.source_id, r.hour, sigaudit.source_name(r.source) AS source, r.signal, coalesce(sc.name, '') AS sender_comm, r.sender_uid, r.sender_cgroup, r.sends, r.deliveries
      FROM sigaudit.sender_hours r LEFT JOIN sigaudit.names sc ON sc.id = r.sender_comm${onSource('r')})`,
    senderRows: (rangeTerms) =>
      [
        // The stored rows with only what top-senders reads, names and cgroups
        // by hash joins: signal_rows looks each one up per row, which over an
        // hour of ten busy hosts took seconds.
        ...(rangeTerms.length === 0 ? ['false'] : rangeTerms).map((term) => `SELECT r.source_id, r.ts_ns, coalesce(r.fanout, 0) AS fanout, sigaudit.source_name(r.source) AS source, r.sender_pid,
          r.sender_ns_pid, n.name AS sender_comm, sigaudit.uid(r.sender_uid) AS sender_uid, c.id AS sender_cgroup, r.target_pid, r.target_ns_pid,
          r.delivered_pid, r.delivered_ns_pid, r.signal, 1 AS weight
          FROM (SELECT t.* FROM sigaudit.signals t${onSource('t')}) AS r LEFT JOIN sigaudit.names n ON n.id = r.sender_comm LEFT JOIN sigaudit.cgroups c ON c.key = r.sender_cgroup
          WHERE ${term}`),
        `SELECT source_id, first_ns, 0, source, sender_pid, NULL, sender_comm, sender_uid, NULL, target_pid, NULL, NULL, NULL, signal, count FROM ${table('summaries')} AS m WHERE outcome = 'summarised'`,
      ].join(' UNION ALL '),
    // cgroup ids are per source; a cgroup may be known without its path.
    cgroupJoin: (alias) => `LEFT JOIN (SELECT c.source_id, c.id, p.name AS path, u.name AS unit FROM sigaudit.cgroups c LEFT JOIN sigaudit.names p ON p.id = c.path LEFT JOIN sigaudit.names u ON u.id = c.unit) AS cg
      ON cg.source_id = ${alias}.source_id AND cg.id = ${alias}.sender_cgroup`,
    inJson: (expression, param) => `CAST(${expression} AS text) IN (SELECT json_array_elements_text(CAST(@${param} AS json)))`,
    pidHours: false,
    unforwarded: `
      UNION ALL SELECT from_ns, to_ns, to_id - from_id + 1, 'not_forwarded', NULL FROM ${table('forward_gaps')} AS forward_gaps WHERE to_ns >= @from AND from_ns <= @to`,
  };
}

/** @name parameters as PostgreSQL's $1, $2, … (bigints as text, which it casts). */
function positional(sql: string, params: Record<string, Param>): { text: string; values: (string | number)[] } {
  const names: string[] = [];
  const text = sql.replace(/@([A-Za-z_]\w*)/g, (_match, name: string) => {
    if (!(name in params)) throw new Error(`no parameter @${name}`);
    const at = names.indexOf(name);
    if (at >= 0) return `$${at + 1}`;
    names.push(name);
    return `$${names.length}`;
  });
  return { text, values: names.map((name) => (typeof params[name] === 'bigint' ? params[name].toString() : (params[name] as string | number))) };
}

/** An open connection to the fleet as the reader role, in PostgreSQL's dialect. */
export interface RemoteReader {
  dialect: Dialect;
  all(query: Query): Promise<Row[]>;
  close(): Promise<void>;
}

/** Connects as the reader, checks the schema and that --host names a host; only the server's failures become its one-line errors. */
export async function openRemote(remote: Remote): Promise<RemoteReader> {
  const client = await connect(remote.url, 'reader');
  const onServer = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      throw serverError(error, remote.url, 'reader');
    }
  };
  const reader: RemoteReader = {
    dialect: postgresDialect(remote.host),
    all: (query) =>
      onServer(async () => {
        const { text, values } = positional(query.sql, query.params);
        return (await client.query(text, values)).rows as Row[];
      }),
    close: () => client.end().catch(() => undefined),
  };
  try {
    const hosts = await onServer(async () => {
      await checkSchema(client, remote.url);
      return (await client.query<{ name: string }>('SELECT name FROM sigaudit.hosts ORDER BY name')).rows.map((row) => row.name);
    });
    if (remote.host !== undefined && !hosts.includes(remote.host))
      throw new SigauditError('ENOHOST', `--host ${remote.host}: no such host at ${remote.url.shown} (${hosts.length === 0 ? 'no host has forwarded yet' : `hosts: ${hosts.join(', ')}`})`, 'name one of them (sigaudit forward --host sets the name; default the hostname)');
  } catch (error) {
    await reader.close();
    throw error;
  }
  return reader;
}

/** Runs a plan on the fleet's PostgreSQL; a failure of the plan's own (a closed stdout) stays what it is. */
export async function runRemote<R>(remote: Remote, plan: (dialect: Dialect) => Plan<R> | Steps<R>): Promise<R> {
  const reader = await openRemote(remote);
  try {
    const built = plan(reader.dialect);
    if (isSteps(built)) {
      for (let step = built.next(undefined as unknown as Row[]); ; step = built.next(await reader.all(step.value))) if (step.done) return step.value;
    }
    const results: Record<string, Row[]> = {};
    for (const [name, query] of Object.entries(built.queries)) results[name] = await reader.all(query);
    return built.shape(results);
  } finally {
    await reader.close();
  }
}

/**
 * How far each source of the fleet (of --host's) has forwarded: source id
 * to its newest id, what tail --remote has printed up to. The forwarder
 * moves it in the transaction that adds the rows.
 */
export function positionsQuery(host: string | undefined): Query {
  return {
    sql: `SELECT so.id AS source_id, so.last_id FROM sigaudit.sources so JOIN sigaudit.hosts h ON h.id = so.host_id${host === undefined ? '' : ' WHERE h.name = @host'}`,
    params: host === undefined ? {} : { host },
  };
}

export type Positions = Map<string, bigint>;

export function positionsOf(rows: Row[]): Positions {
  return new Map(rows.map((row) => [String(row.source_id), row.last_id as bigint]));
}

/**
 * A term keeping the rows (aliased `alias`) of each source past `after`
 * up to `upTo`, one range of the key (source_id, id) per source that
 * moved, so each day's primary key is searched, not read; undefined when
 * none moved.
 */
export function betweenPositions(alias: string, after: Positions, upTo: Positions): { term: string; params: Record<string, Param> } | undefined {
  const ranges: string[] = [];
  const params: Record<string, Param> = {};
  for (const [source, last] of upTo) {
    const from = after.get(source) ?? 0n;
    if (last <= from) continue;
    const i = ranges.length;
    ranges.push(`(${alias}.source_id = @source${i} AND ${alias}.id > @after${i} AND ${alias}.id <= @upTo${i})`);
    Object.assign(params, { [`source${i}`]: Number(source), [`after${i}`]: from, [`upTo${i}`]: last });
  }
  return ranges.length === 0 ? undefined : { term: `(${ranges.join(' OR ')})`, params };
}
