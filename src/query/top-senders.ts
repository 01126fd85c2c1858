// sigaudit query top-senders: who sends the most signals, with totals and
// per-bucket counts. Whole hours come from the hourly rollups the mover
// keeps (migrations/0030-sender-rollups.sql, and 0050-sender-pid-rollups.sql
// for --by pid); the partial hours at the window's edges and the not yet
// archived hot rows come from signals.
import { InvalidArgumentError } from 'commander';
import { plot } from 'asciichart';
import { isoTime } from '../export/columns';
import { SOURCES } from '../names';
import { openForReading } from '../store/database';
import { loadExtension } from '../store/extension';
import { PID_HOUR_BOUND, PID_HOUR_ORIGIN } from '../store/writer';
import {
  HOUR_NS, MINUTE_NS, dropWarning, dropWindows, dropsJson, dropsQueries, filterTerms, probesIncluded, spanOf, windowOf,
  type DropWindow, type Filters, type Window,
} from './filters';
import { idWindowArms } from './id-windows';
import { SQLITE, SUMMARISED_SENDER_ROWS, runLocal, type Dialect, type Param, type Row, type Steps } from './read';
import { count, csv, json, jsonl, renderTable, sparkline, wrap, type OutputOptions, type Rendered } from './format';
import { longTime } from './time';

export type SenderKey = 'comm' | 'pid' | 'uid' | 'unit';
export const SENDER_KEYS: SenderKey[] = ['comm', 'pid', 'uid', 'unit'];

export const BUCKETS: Record<string, number> = { '1m': 1, '10m': 10, '1h': 60, '1d': 1440 };

/** What the report asks, wherever it is asked. */
export interface TopSendersQuery {
  filters: Filters;
  by: SenderKey;
  /** Minutes per bucket; chosen to give at most 60 buckets when absent. */
  bucketMinutes?: number;
  limit: number;
}

export interface TopSendersOptions extends TopSendersQuery {
  dbPath: string;
}

export interface Sender {
  /** The grouping value: a name, a pid, a uid or a unit ('' / -1 for the kernel in interrupt context). */
  key: string | number;
  /** How to show it: "nginx", "nginx[812]", "uid 0", "nginx.service". */
  label: string;
  total: number;
  /** Counts per bucket, aligned with the report's buckets. */
  buckets: number[];
}

export interface TopSendersReport {
  by: SenderKey;
  perTarget: boolean;
  probes: boolean;
  window: Window;
  /** Start of the first bucket (minute number) and minutes per bucket. */
  firstMinute: bigint;
  bucketMinutes: number;
  bucketCount: number;
  senders: Sender[];
  /** Every send (or delivery) in the window, from all senders. */
  total: number;
  drops: DropWindow[];
  /**
   * Whether an hourly rollup answered the whole hours: not with --sender-pid,
   * --target-pid or buckets under 1h, nor --by pid with --sender-comm, --uid,
   * --signal or --source (the pid rollup has only pids and probes).
   */
  usedRollup: boolean;
}

export function bucketArgument(text: string): number {
  const minutes = BUCKETS[text.trim()];
  if (minutes === undefined) throw new InvalidArgumentError(`expected one of ${Object.keys(BUCKETS).join(', ')}, got "${text}"`);
  return minutes;
}

export function byArgument(text: string): SenderKey {
  if (!(SENDER_KEYS as string[]).includes(text)) throw new InvalidArgumentError(`expected one of ${SENDER_KEYS.join(', ')}, got "${text}"`);
  return text as SenderKey;
}

/** Key and label expressions over a row source with sender_* columns (rollups use -1/''/0 for none). */
function keyExpressions(dialect: Dialect, by: SenderKey, alias: string, rollup: boolean): { key: string; label: string; join: string } {
  const col = (name: string, none: string) => (rollup ? `${alias}.${name}` : `coalesce(${alias}.${name}, ${none})`);
  switch (by) {
    case 'comm':
      return { key: col('sender_comm', "''"), label: `max(${col('sender_comm', "''")})`, join: '' };
    case 'pid':
      return { key: col('sender_pid', '-1'), label: `max(${col('sender_comm', "''")})`, join: '' };
    case 'uid':
      return { key: col('sender_uid', '-1'), label: `max(${col('sender_uid', '-1')})`, join: '' };
    case 'unit': {
      const key = `coalesce(cg.unit, cg.path, CASE WHEN ${col('sender_cgroup', '0')} = 0 THEN '' ELSE 'cgroup ' || ${col('sender_cgroup', '0')} END)`;
      return { key, label: `max(${key})`, join: dialect.cgroupJoin(alias) };
    }
  }
}

interface Part {
  /** FROM ... (with joins) */
  from: string;
  terms: string[];
  params: Record<string, Param>;
  /** The count of one row: sum(sends) for a rollup, sum(weight) for rows. */
  measure: string;
  minute: string;
  key: string;
  label: string;
}

/** The rollup part: whole hours [fromHour, toHour). */
function rollupPart(dialect: Dialect, options: TopSendersQuery, fromHour: bigint | undefined, toHour: bigint | undefined): Part {
  const f = options.filters;
  const { key, label, join } = keyExpressions(dialect, options.by, 'r', true);
  const terms: string[] = [];
  const params: Record<string, Param> = {};
  if (fromHour !== undefined) {
    terms.push('r.hour >= @fromHour');
    params.fromHour = fromHour;
  }
  if (toHour !== undefined) {
    terms.push('r.hour < @toHour');
    params.toHour = toHour;
  }
  if (f.senderComm !== undefined) {
    terms.push('r.sender_comm = @senderComm');
    params.senderComm = f.senderComm;
  }
  if (f.uid !== undefined) {
    terms.push('r.sender_uid = @uid');
    params.uid = f.uid;
  }
  if (f.signals && f.signals.length > 0) terms.push(`r.signal IN (${f.signals.map(Number).join(', ')})`);
  if (!probesIncluded(f)) terms.push('r.signal != 0');
  if (f.source === 'syscall') terms.push("r.source != 'kernel'");
  else if (f.source !== undefined) {
    terms.push('r.source = @source');
    params.source = f.source;
  }
  return {
    from: `${dialect.senderHours} AS r ${join}`,
    terms,
    params,
    measure: f.perTarget ? 'sum(r.deliveries)' : 'sum(r.sends)',
    minute: 'r.hour * 60',
    key,
    label,
  };
}

/**
 * The pid rollup part (the local database's): whole hours, each named
 * (`hour IN`), so that looking up given pids seeks the primary key
 * (hour, sender_pid) once per hour. A pid is labelled with the greatest
 * of its comms by name, looked up once per group: the group's distinct
 * names ids (an aggregate of this query, which SQLite allows as a
 * table-valued function's argument in a subquery) joined to names.
 */
function pidRollupPart(options: TopSendersQuery, hours: bigint[]): Part {
  const probes = probesIncluded(options.filters);
  const count = options.filters.perTarget ? 'deliveries' : 'sends';
  return {
    from: 'sender_pid_hours AS r',
    terms: ['r.hour IN (SELECT value FROM json_each(@hours))'],
    // Its hours counted from PID_HOUR_ORIGIN (migrations/0150-compact-targets.sql).
    params: { hours: `[${hours.map((hour) => hour - PID_HOUR_ORIGIN).join(',')}]` },
    measure: probes ? `sum(r.${count} + r.probe_${count})` : `sum(r.${count})`,
    minute: `(r.hour + ${PID_HOUR_ORIGIN}) * 60`,
    key: 'r.sender_pid',
    label: `coalesce((SELECT max(n.name) FROM json_each(json_group_array(DISTINCT r.sender_comm_id)) AS j JOIN names AS n ON n.id = j.value), '')`,
  };
}

/**
 * The pids with a count of at least 10 in some hour of the pid rollup part,
 * and a bound on the total of every other pid: the sum over the hours of
 * each hour's largest count below 10 (1 when the partial index, which
 * leaves out the entries of one row, has none). The count is an entry's
 * larger sum (PID_HOUR_BOUND), which bounds whichever the report sums.
 * Both are seeks in that index, one per hour, never a scan of the
 * short-lived processes that make up most of the rollup. (Each repeats the
 * index's `>= 2`, as SQLite uses a partial index only for a query that says
 * so; without statistics it would rather take the primary key, hence
 * INDEXED BY. SQLite seeks by the first of two lower bounds on the
 * expression: `>= 10` comes first, or it reads every entry from 2 up.)
 */
export const BUSY_PIDS_SQL = `SELECT DISTINCT sender_pid FROM sender_pid_hours INDEXED BY sender_pid_hours_hour_bound
  WHERE hour IN (SELECT value FROM json_each(@hours)) AND ${PID_HOUR_BOUND} >= 10 AND ${PID_HOUR_BOUND} >= 2`;
export const TAIL_BOUND_SQL = `SELECT coalesce(sum(coalesce(
    (SELECT max(${PID_HOUR_BOUND}) FROM sender_pid_hours INDEXED BY sender_pid_hours_hour_bound
      WHERE hour = h.value AND ${PID_HOUR_BOUND} >= 2 AND ${PID_HOUR_BOUND} < 10), 1)), 0) AS bound
  FROM json_each(@hours) AS h`;

function* busyPids(part: Part): Steps<{ pids: number[]; bound: number }> {
  const pids = (yield { sql: BUSY_PIDS_SQL, params: part.params }).map((row) => Number(row.sender_pid));
  const [{ bound }] = yield { sql: TAIL_BOUND_SQL, params: part.params };
  return { pids, bound: Number(bound) };
}

/** The row part through the dialect's rows: the rows in `ranges` the rollup does not hold, every row the rollup never holds, and the summarised sends. */
function viewRowPart(dialect: Dialect, options: TopSendersQuery, window: Window, ranges: [bigint, bigint][]): Part {
  const { key, label, join } = keyExpressions(dialect, options.by, 's', false);
  const where = filterTerms(options.filters, window, { alias: 's', skip: ['perTarget'] });
  const rangeTerms = ranges.map(([from, to], i) => {
    where.params[`rangeFrom${i}`] = from;
    where.params[`rangeTo${i}`] = to;
    return `ts_ns >= @rangeFrom${i} AND ts_ns < @rangeTo${i}`;
  });
  return {
    from: `(${dialect.senderRows(rangeTerms)}) AS s ${join}`,
    terms: [...where.terms, options.filters.perTarget ? 's.delivered_pid IS NOT NULL' : 's.fanout = 0'],
    params: where.params,
    measure: 'sum(s.weight)',
    minute: `s.ts_ns / ${MINUTE_NS}`,
    key,
    label,
  };
}

/**
 * The signals columns the filters read that a stored table holds encoded:
 * as codes (migrations/0110-compact-signals.sql), a target as nothing where
 * it is the pid reached (0150-compact-targets.sql). The others have the
 * same name and value there.
 */
const STORED_COLUMNS = {
  sender_comm: '(SELECT name FROM names WHERE id = sender_comm_id)',
  source: `'${JSON.stringify(SOURCES)}' ->> source_code`,
  target_pid: 'CASE WHEN source_code = 0 THEN target_pid ELSE coalesce(target_pid, delivered_pid) END',
};

type TalliedColumn = 'sender_pid' | 'sender_comm_id' | 'sender_uid' | 'sender_cgroup';
/** The stored columns each key reads (keyExpressions: a pid is labelled with its comm). */
const TALLIED: Record<SenderKey, readonly TalliedColumn[]> = {
  comm: ['sender_comm_id'],
  pid: ['sender_pid', 'sender_comm_id'],
  uid: ['sender_uid'],
  unit: ['sender_cgroup'],
};

/**
 * The keys whose first tallied column is the key itself, which the
 * extension can rank (sigaudit_tally_top): a comm ranks by its name, not
 * its names id, and a unit is several cgroups.
 */
const RANKED_IN_TALLY: readonly SenderKey[] = ['pid', 'uid'];

/** What the tallied row part reads: each stored table's rows in the window, and the summarised sends. */
interface TalliedSources {
  stored: { table: string; where: string }[];
  /** The summarised sends in the window, as SUMMARISED_SENDER_ROWS' columns. */
  summaries: string;
  params: Record<string, Param>;
}

/**
 * The archive's rows in [ranges], every hot row in the window and the
 * summarised sends, chosen by the filters on each table's stored columns.
 */
function talliedSources(dialect: Dialect, options: TopSendersQuery, window: Window, archiveRanges: [bigint, bigint][]): TalliedSources {
  const counted = options.filters.perTarget ? 'delivered_pid IS NOT NULL' : 'fanout = 0';
  const stored = filterTerms(options.filters, window, { skip: ['perTarget'], columns: STORED_COLUMNS });
  const params: Record<string, Param> = { ...stored.params };
  // Each range of a window a window of its own, through its ids (the
  // archive's map) in two arms; without a window, every row (ids would only cost).
  const byIds = dialect.idWindow && (window.fromNs !== undefined || window.toNs !== undefined);
  const ranges = archiveRanges.flatMap(([from, to], i) => {
    params[`range${i}_fromNs`] = from;
    params[`range${i}_toNs`] = to - 1n;
    const terms = [`ts_ns >= @range${i}_fromNs`, `ts_ns <= @range${i}_toNs`, ...stored.terms, counted];
    const arms = byIds ? idWindowArms('id', `range${i}_`).map((arm) => [arm, ...terms]) : [terms];
    return arms.map((armTerms) => ({ table: 'signals_archive', where: whereOf(armTerms) }));
  });
  const summarised = filterTerms(options.filters, window, { skip: ['perTarget'] });
  return {
    stored: [...ranges, { table: 'signals_hot', where: whereOf([...stored.terms, counted]) }],
    summaries: `SELECT * FROM (${SUMMARISED_SENDER_ROWS}) ${whereOf([...summarised.terms, counted])}`,
    params,
  };
}

/**
 * The row part on this host's database, as groups of (sender columns the
 * keys read, minute, weight): each stored table is counted by its own
 * columns, a comm by its names id, in sigaudit_tally (native/tally.c: a
 * hash, no sort; sigaudit_tallied yields its groups), and names are looked
 * up per group afterwards: a storm's million rows are a handful of groups,
 * where reading them through the views looked up a name for every row and
 * sorted them all to group them.
 */
function talliedRowPart(dialect: Dialect, options: TopSendersQuery, window: Window, archiveRanges: [bigint, bigint][]): Part {
  const { key, label, join } = keyExpressions(dialect, options.by, 's', false);
  const sources = talliedSources(dialect, options, window, archiveRanges);
  // Only the columns the key reads (keyExpressions), so that the groups are no more than the report's.
  const tallied: readonly TalliedColumn[] = TALLIED[options.by];
  const at = (column: TalliedColumn) => tallied.indexOf(column);
  const value = (column: TalliedColumn) => (at(column) < 0 ? 'NULL' : `g.v${at(column)}`);
  const grouped = ({ table, where }: { table: string; where: string }) => `SELECT ${value('sender_pid')} AS sender_pid,
      ${at('sender_comm_id') < 0 ? 'NULL' : 'n.name'} AS sender_comm, ${value('sender_uid')} AS sender_uid, ${value('sender_cgroup')} AS sender_cgroup,
      g.v${tallied.length} AS minute, g.count AS weight
    FROM sigaudit_tallied((SELECT sigaudit_tally(${tallied.join(', ')}, ts_ns / ${MINUTE_NS}) FROM ${table} ${where})) AS g
    ${at('sender_comm_id') < 0 ? '' : `LEFT JOIN names AS n ON n.id = ${value('sender_comm_id')}`}`;
  const summaries = `SELECT sender_pid, sender_comm, sender_uid, sender_cgroup, ts_ns / ${MINUTE_NS}, weight FROM (${sources.summaries})`;
  return {
    from: `(${[...sources.stored.map(grouped), summaries].join(' UNION ALL ')}) AS s ${join}`,
    terms: [],
    params: sources.params,
    measure: 'sum(s.weight)',
    minute: 's.minute',
    key,
    label,
  };
}

/**
 * topBucketCounts for a key the extension ranks (RANKED_IN_TALLY), on
 * this host's database: each source's tally summed into one, of which
 * sigaudit_tally_top keeps the `ranked` largest keys' groups, so that only
 * they come back to SQL, with every group of the `keep` keys; and the most
 * any other key counts (the last ranked key's total; 0 when there are fewer).
 * An hour of short-lived senders is ~40,000 (pid, comm, minute) groups:
 * grouping and ranking them in SQL took ~130 ms, twice the scan. The
 * summarised sends join the tally without a comm (they keep it as text),
 * and label the keys that came back afterwards.
 */
function* rankedBucketCounts(
  dialect: Dialect, options: TopSendersQuery, window: Window, archiveRanges: [bigint, bigint][], firstMinute: bigint, bucketMinutes: number,
  ranked: number, keep: Key[],
): Steps<RowCounts> {
  const sources = talliedSources(dialect, options, window, archiveRanges);
  const tallied = TALLIED[options.by];
  const commAt = tallied.indexOf('sender_comm_id');
  const summarisedColumns = tallied.map((column) => (column === 'sender_comm_id' ? 'NULL' : column));
  const tallies = [
    ...sources.stored.map(({ table, where }) => `SELECT sigaudit_tally(${tallied.join(', ')}, ts_ns / ${MINUTE_NS}) AS groups FROM ${table} ${where}`),
    `SELECT sigaudit_tally_weighted(weight, ${summarisedColumns.join(', ')}, ts_ns / ${MINUTE_NS}) FROM (${sources.summaries})`,
  ];
  const kept = keep.length === 0 ? '' : `UNION ALL SELECT g.* FROM sigaudit_tallied((SELECT groups FROM tally)) AS g
      WHERE coalesce(g.v0, -1) IN (SELECT value FROM json_each(@keep)) AND coalesce(g.v0, -1) NOT IN (SELECT coalesce(v0, -1) FROM top)`;
  const summaryLabels = commAt < 0 ? '' : `UNION ALL SELECT 0, coalesce(sender_pid, -1), sender_comm, NULL, 0 FROM (${sources.summaries})
      WHERE coalesce(sender_pid, -1) IN (SELECT coalesce(v0, -1) FROM chosen)`;
  const sql = `WITH tally AS MATERIALIZED (SELECT sigaudit_tally_merge(groups) AS groups FROM (${tallies.join(' UNION ALL ')})),
    top AS MATERIALIZED (SELECT * FROM sigaudit_tallied((SELECT sigaudit_tally_top(groups, 1, ${ranked}) FROM tally))),
    chosen AS MATERIALIZED (SELECT * FROM top ${kept})
    SELECT ${ROW_KIND.count} AS kind, coalesce(c.v0, -1) AS key, ${commAt < 0 ? 'coalesce(c.v0, -1)' : `coalesce(n.name, '')`} AS label,
        (c.v${tallied.length} - @firstMinute) / @bucketMinutes AS bucket, c.count AS n
      FROM chosen AS c ${commAt < 0 ? '' : `LEFT JOIN names AS n ON n.id = c.v${commAt}`}
    ${summaryLabels}
    UNION ALL SELECT ${ROW_KIND.total}, NULL, NULL, NULL, sum(count) FROM sigaudit_tallied((SELECT groups FROM tally))
    UNION ALL SELECT ${ROW_KIND.othersAtMost}, NULL, NULL, NULL, CASE WHEN count(*) < ${ranked} THEN 0 ELSE min(n) END
      FROM (SELECT sum(count) AS n FROM top GROUP BY v0)`;
  return countedRows(yield { sql, params: { ...sources.params, firstMinute, bucketMinutes: BigInt(bucketMinutes), keep: JSON.stringify(keep) } });
}

function rowPart(dialect: Dialect, options: TopSendersQuery, window: Window, ranges: [bigint, bigint][]): Part {
  return dialect.tallies ? talliedRowPart(dialect, options, window, ranges) : viewRowPart(dialect, options, window, ranges);
}

const whereOf = (terms: string[]) => (terms.length === 0 ? '' : `WHERE ${terms.join(' AND ')}`);

type Key = string | number;
interface Counted { key: Key; label: string; bucket: number; n: number }

/** A key as the report holds it: a number for pids and uids (the read layer gives bigints), else text. */
const keyOf = (value: unknown): Key => (typeof value === 'bigint' ? Number(value) : typeof value === 'number' ? value : String(value));
const countedOf = (row: Row): Counted => ({ key: keyOf(row.key), label: String(row.label), bucket: Number(row.bucket), n: Number(row.n) });

function* totals(dialect: Dialect, part: Part, limit?: number, keys?: Key[]): Steps<Map<Key, { label: string; total: number }>> {
  const terms = [...part.terms];
  const params: Record<string, Param> = { ...part.params };
  if (keys) {
    terms.push(dialect.inJson(part.key, 'keys'));
    params.keys = JSON.stringify(keys);
  }
  const sql = `SELECT ${part.key} AS key, ${part.label} AS label, ${part.measure} AS n FROM ${part.from} ${whereOf(terms)}
    GROUP BY 1${limit === undefined ? '' : ` ORDER BY n DESC LIMIT ${limit}`}`;
  const result = new Map<Key, { label: string; total: number }>();
  for (const row of yield { sql, params }) result.set(keyOf(row.key), { label: String(row.label), total: Number(row.n) });
  return result;
}

/** Counts per sender and bucket: for the given senders, or all of them (with their labels). */
function* bucketCounts(dialect: Dialect, part: Part, keys: Key[] | undefined, firstMinute: bigint, bucketMinutes: number): Steps<Counted[]> {
  const terms = keys === undefined ? part.terms : [...part.terms, dialect.inJson(part.key, 'keys')];
  const sql = `SELECT ${part.key} AS key, ${part.label} AS label, (${part.minute} - @firstMinute) / @bucketMinutes AS bucket, ${part.measure} AS n
    FROM ${part.from} ${whereOf(terms)} GROUP BY 1, 3`;
  const rows = yield { sql, params: { ...part.params, ...(keys === undefined ? {} : { keys: JSON.stringify(keys) }), firstMinute, bucketMinutes: BigInt(bucketMinutes) } };
  return rows.map(countedOf);
}

/**
 * bucketCounts of only the `limit` largest senders (ties by key, as
 * compareKeys), and the count of all rows: chosen inside the database,
 * since an hour of short-lived senders has thousands with a row or two,
 * and handing each to JavaScript took about as long as counting them.
 */
function* topBucketCounts(part: Part, limit: number, firstMinute: bigint, bucketMinutes: number): Steps<RowCounts> {
  const sql = `WITH counts AS MATERIALIZED (
      SELECT ${part.key} AS key, ${part.label} AS label, (${part.minute} - @firstMinute) / @bucketMinutes AS bucket, ${part.measure} AS n
      FROM ${part.from} ${whereOf(part.terms)} GROUP BY 1, 3),
    top AS (SELECT key FROM counts GROUP BY key ORDER BY sum(n) DESC, key LIMIT ${limit})
    SELECT ${ROW_KIND.count} AS kind, key, label, bucket, n FROM counts WHERE key IN (SELECT key FROM top)
    UNION ALL SELECT ${ROW_KIND.total}, NULL, NULL, NULL, sum(n) FROM counts`;
  return countedRows(yield { sql, params: { ...part.params, firstMinute, bucketMinutes: BigInt(bucketMinutes) } });
}

/** The rows part's counts: per sender and bucket, with the grand total when not every sender's came back, and a bound on the others' totals. */
interface RowCounts {
  rows: Counted[];
  total?: number;
  othersAtMost?: number;
}

/** What each row of topBucketCounts' and rankedBucketCounts' queries holds (its `kind`). */
const ROW_KIND = { count: 0, total: 1, othersAtMost: 2 } as const;

function countedRows(rows: Row[]): RowCounts {
  const valueOf = (kind: number) => {
    const n = rows.find((row) => Number(row.kind) === kind)?.n;
    return n === null || n === undefined ? 0 : Number(n);
  };
  return { rows: rows.filter((row) => Number(row.kind) === ROW_KIND.count).map(countedOf), total: valueOf(ROW_KIND.total), othersAtMost: valueOf(ROW_KIND.othersAtMost) };
}

/** Each sender's total and greatest label, and its counts per bucket. */
function byKey(rows: Counted[]): { totals: Map<Key, { label: string; total: number }>; buckets: Map<Key, Counted[]> } {
  const totals = new Map<Key, { label: string; total: number }>();
  const buckets = new Map<Key, Counted[]>();
  for (const row of rows) {
    const seen = totals.get(row.key);
    totals.set(row.key, { label: seen && seen.label > row.label ? seen.label : row.label, total: (seen?.total ?? 0) + row.n });
    const counts = buckets.get(row.key);
    if (counts) counts.push(row);
    else buckets.set(row.key, [row]);
  }
  return { totals, buckets };
}

function* grandTotal(part: Part): Steps<number> {
  const [row] = yield { sql: `SELECT ${part.measure} AS n FROM ${part.from} ${whereOf(part.terms)}`, params: part.params };
  return row.n === null ? 0 : Number(row.n);
}

/** Ties in order of the key: numbers by value, names by code point, as SQL sorts them. */
function compareKeys(a: Key, b: Key): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

/** Senders ranked past the limit where a rollup's totals are added: the ones just below it may yet rank. */
const RANK_MARGIN = 100;

const ceilDiv = (a: bigint, b: bigint) => (a >= 0n ? (a + b - 1n) / b : a / b);

/** The report over the read layer: on this host's database, or on the fleet's (sender_hours kept there as rows arrive). */
export function* topSendersSteps(dialect: Dialect, options: TopSendersQuery): Steps<TopSendersReport> {
  const window = windowOf(options.filters);
  const [ends] = yield { sql: dialect.spanSql, params: {} };
  const span = spanOf(ends);
  const fromNs = window.fromNs ?? span?.fromNs ?? 0n;
  const toNs = window.toNs ?? span?.toNs ?? 0n;
  const spanMinutes = Number((toNs - fromNs) / MINUTE_NS) + 1;
  // Up to an hour by the minute, up to 3 hours by 10 minutes, then hours or days (which the rollup serves).
  const bucketMinutes = options.bucketMinutes ?? (spanMinutes <= 60 ? 1 : spanMinutes <= 180 ? 10 : spanMinutes / 60 <= 72 ? 60 : 1440);
  const firstMinute = ((fromNs / MINUTE_NS) / BigInt(bucketMinutes)) * BigInt(bucketMinutes);
  const bucketCount = Math.max(1, Number((toNs / MINUTE_NS - firstMinute) / BigInt(bucketMinutes)) + 1);

  // Whole hours inside the window come from a rollup; neither has targets,
  // and the pid rollup (only the local database has one) has no comm, uid,
  // signal or source.
  const f = options.filters;
  const pidRollupServes = dialect.pidHours && f.senderComm === undefined && f.uid === undefined && !(f.signals && f.signals.length > 0) && f.source === undefined;
  const usedRollup = f.senderPid === undefined && f.targetPid === undefined && bucketMinutes >= 60 && (options.by !== 'pid' || pidRollupServes);
  const parts: Part[] = [];
  /** With the pid rollup: the sender rollup, which answers the grand total in far fewer rows. */
  let totalPart: Part | undefined;
  /** The parts of the window the rows part reads from the archive. */
  const ranges: [bigint, bigint][] = [];
  if (usedRollup) {
    const fromHour = window.fromNs === undefined ? undefined : ceilDiv(window.fromNs, HOUR_NS);
    const toHour = window.toNs === undefined ? undefined : (window.toNs + 1n) / HOUR_NS;
    if (fromHour !== undefined && toHour !== undefined && fromHour >= toHour) ranges.push([window.fromNs!, window.toNs! + 1n]);
    else {
      if (fromHour !== undefined) ranges.push([window.fromNs!, fromHour * HOUR_NS]);
      if (toHour !== undefined) ranges.push([toHour * HOUR_NS, window.toNs! + 1n]);
      if (options.by === 'pid') {
        const hours: bigint[] = [];
        const last = toHour ?? (span ? span.toNs / HOUR_NS + 1n : 0n);
        for (let hour = fromHour ?? (span ? span.fromNs / HOUR_NS : 0n); hour < last; hour++) hours.push(hour);
        parts.push(pidRollupPart(options, hours));
        totalPart = rollupPart(dialect, options, fromHour, toHour);
      } else parts.push(rollupPart(dialect, options, fromHour, toHour));
    }
  } else ranges.push([window.fromNs ?? -(2n ** 62n), (window.toNs ?? 2n ** 62n) + 1n]);
  parts.push(rowPart(dialect, options, window, ranges));

  // The rows part in one pass: counts per sender and bucket, summed here.
  const rowsPart = parts[parts.length - 1];
  const rollup = parts.length > 1 ? parts[0] : undefined;
  // --by pid over whole hours: the rollup's busy pids, and a bound on any other pid's count there.
  const busy = rollup && totalPart ? yield* busyPids(rollup) : undefined;
  // The extension ranks the rows part's senders, keeping the busy pids' counts too (past the limit, so
  // that the others' bound seldom reaches the floor); with the other rollup, every sender of the rows
  // part may add to a rollup total.
  const ranked = dialect.tallies && RANKED_IN_TALLY.includes(options.by) && (!rollup || busy);
  const counted = ranked
    ? yield* rankedBucketCounts(dialect, options, window, ranges, firstMinute, bucketMinutes, options.limit + (busy ? RANK_MARGIN : 0), busy?.pids ?? [])
    : rollup
      ? { rows: yield* bucketCounts(dialect, rowsPart, undefined, firstMinute, bucketMinutes) }
      : yield* topBucketCounts(rowsPart, options.limit, firstMinute, bucketMinutes);
  let { totals: rowTotals, buckets: rowBuckets } = byKey(counted.rows);
  let total = counted.total ?? counted.rows.reduce((sum, row) => sum + row.n, 0);
  let combined = new Map<Key, { label: string; total: number }>();
  const addAll = (map: Map<Key, { label: string; total: number }>) => {
    for (const [key, value] of map) {
      const seen = combined.get(key);
      combined.set(key, { label: seen && seen.label > value.label ? seen.label : value.label, total: (seen?.total ?? 0) + value.total });
    }
  };
  /** The limit-th largest total so far (-1 while there are fewer senders). */
  const rankFloor = () => [...combined.values()].map((value) => value.total).sort((a, b) => b - a)[options.limit - 1] ?? -1;
  if (rollup && busy) {
    // --by pid: exact totals for the busy pids and the pids the rows part
    // ranks first (all their rows' counts came back). Any other pid has at
    // most `bound` in the rollup and othersAtMost in the rows; if that
    // could rank too, everything is counted.
    addAll(yield* totals(dialect, rollup, undefined, [...new Set<Key>([...busy.pids, ...rowTotals.keys()])]));
    addAll(rowTotals);
    if (busy.bound + (counted.othersAtMost ?? 0) >= rankFloor()) {
      ({ totals: rowTotals, buckets: rowBuckets } = byKey(yield* bucketCounts(dialect, rowsPart, undefined, firstMinute, bucketMinutes)));
      combined = new Map();
      addAll(yield* totals(dialect, rollup));
      addAll(rowTotals);
    }
    total += yield* grandTotal(totalPart!);
  } else if (rollup) {
    // Candidates: the rollup's top (limit + margin) and every sender in the rows part.
    const margin = options.limit + RANK_MARGIN;
    const top = yield* totals(dialect, rollup, margin);
    const missing = [...rowTotals.keys()].filter((key) => !top.has(key));
    addAll(top);
    if (missing.length > 0) addAll(yield* totals(dialect, rollup, undefined, missing));
    addAll(rowTotals);
    // Exact unless a sender outside the rollup's top could still rank: then count them all.
    const ranked = [...combined.values()].map((value) => value.total).sort((a, b) => b - a);
    const floor = top.size === margin ? Math.min(...[...top.values()].map((value) => value.total)) : -1;
    if (floor >= 0 && (ranked[options.limit - 1] ?? 0) <= floor) {
      combined = new Map();
      addAll(yield* totals(dialect, rollup));
      addAll(rowTotals);
    }
    total += yield* grandTotal(rollup);
  } else addAll(rowTotals);

  const chosen = [...combined.entries()]
    .sort((a, b) => b[1].total - a[1].total || compareKeys(a[0], b[0]))
    .slice(0, options.limit);
  const keys = chosen.map(([key]) => key);
  const senders: Sender[] = chosen.map(([key, value]) => ({ key, label: labelOf(options.by, key, value.label), total: value.total, buckets: new Array(bucketCount).fill(0) }));
  const index = new Map(keys.map((key, i) => [key, i]));
  const add = (row: Counted) => {
    const sender = senders[index.get(row.key)!];
    if (sender && row.bucket >= 0 && row.bucket < bucketCount) sender.buckets[row.bucket] += row.n;
  };
  for (const key of keys) for (const row of rowBuckets.get(key) ?? []) add({ ...row, key });
  if (rollup && keys.length > 0) for (const row of yield* bucketCounts(dialect, rollup, keys, firstMinute, bucketMinutes)) add(row);
  const drops = dropsQueries(dialect, window);
  const results = { drops: yield drops.drops, summaries: yield drops.summaries };
  return {
    by: options.by,
    perTarget: options.filters.perTarget === true,
    probes: probesIncluded(options.filters),
    window: { fromNs, toNs },
    firstMinute,
    bucketMinutes,
    bucketCount,
    senders,
    total,
    drops: dropWindows(results),
    usedRollup,
  };
}

export function topSenders(options: TopSendersOptions): TopSendersReport {
  const db = openForReading(options.dbPath);
  try {
    loadExtension(db);
    return runLocal(db, topSendersSteps(SQLITE, options));
  } finally {
    db.close();
  }
}

function labelOf(by: SenderKey, key: string | number, label: string): string {
  switch (by) {
    case 'comm':
      return key === '' ? '(kernel, no task)' : String(key);
    case 'pid':
      return key === -1 ? '(kernel, no task)' : `${label || '?'}[${key}]`;
    case 'uid':
      return key === -1 ? '(kernel, no task)' : `uid ${key}`;
    case 'unit':
      return key === '' ? '(no cgroup)' : String(key);
  }
}

const BY_COLUMN: Record<SenderKey, string> = { comm: 'sender_comm', pid: 'sender_pid', uid: 'sender_uid', unit: 'sender_unit' };
const BUCKET_NAMES: Record<number, string> = { 1: '1m', 10: '10m', 60: '1h', 1440: '1d' };

function bucketIso(report: TopSendersReport, i: number): string {
  return isoTime((report.firstMinute + BigInt(i * report.bucketMinutes)) * MINUTE_NS);
}

/** Sums neighbouring buckets so a series fits `width` characters. */
function squeeze(values: number[], width: number): number[] {
  if (values.length <= width) return values;
  const per = Math.ceil(values.length / width);
  const out: number[] = [];
  for (let i = 0; i < values.length; i += per) out.push(values.slice(i, i + per).reduce((a, b) => a + b, 0));
  return out;
}

export function renderTopSenders(report: TopSendersReport, output: OutputOptions): Rendered {
  const warning = dropWarning(report.drops, output.utc);
  const warnings = warning ? [warning] : [];
  const column = BY_COLUMN[report.by];
  const keyValue = (sender: Sender) => (report.by === 'pid' || report.by === 'uid' ? (sender.key === -1 ? null : sender.key) : sender.key === '' ? null : sender.key);
  const long = report.senders.flatMap((sender) =>
    sender.buckets.flatMap((n, i) => (n === 0 ? [] : [{ [column]: keyValue(sender), total: sender.total, bucket: bucketIso(report, i), count: n }])),
  );
  if (output.format === 'csv') return { stdout: csv([column, 'total', 'bucket', 'count'], long), warnings };
  if (output.format === 'jsonl') return { stdout: jsonl(long), warnings };
  if (output.format === 'json')
    return {
      stdout: json({
        by: report.by,
        counting: report.perTarget ? 'deliveries' : 'sends',
        probes: report.probes,
        since: isoTime(report.window.fromNs!),
        until: isoTime(report.window.toNs!),
        bucket: BUCKET_NAMES[report.bucketMinutes],
        buckets: Array.from({ length: report.bucketCount }, (_, i) => bucketIso(report, i)),
        total: report.total,
        senders: report.senders.map((sender) => ({ [column]: keyValue(sender), label: sender.label, total: sender.total, counts: sender.buckets })),
        drops: dropsJson(report.drops),
        incomplete: report.drops.length > 0,
      }),
      warnings: [],
    };

  const what = report.perTarget ? 'deliveries' : 'sends';
  let text = wrap(
    `Top senders by ${report.by}, ${what}${report.probes ? '' : ' (signal 0 probes left out)'}, ` +
      `${longTime(report.window.fromNs!, output.utc)} to ${longTime(report.window.toNs!, output.utc)}${output.utc ? '' : ' local'}, ` +
      `${BUCKET_NAMES[report.bucketMinutes]} buckets`,
  );
  if (report.senders.length === 0) return { stdout: `${text}(no signals)\n${warning ? wrap(warning) : ''}`, warnings: [] };
  const max = Math.max(...report.senders.map((sender) => Math.max(...squeeze(sender.buckets, 36))));
  text += renderTable(
    [{ header: 'SENDER', flex: true, min: 12 }, { header: what.toUpperCase(), align: 'right' }, { header: 'SHARE', align: 'right' }, { header: 'ACTIVITY' }],
    report.senders.map((sender) => [
      sender.label,
      count(sender.total),
      report.total === 0 ? '' : `${((100 * sender.total) / report.total).toFixed(1)}%`,
      sparkline(squeeze(sender.buckets, 36), max),
    ]),
  );
  text += `all senders: ${count(report.total)} ${what}\n`;
  const series = squeeze(
    Array.from({ length: report.bucketCount }, (_, i) => report.senders.reduce((sum, sender) => sum + sender.buckets[i], 0)),
    64,
  );
  if (series.length > 1) {
    text += `\n${what} per ${series.length === report.bucketCount ? BUCKET_NAMES[report.bucketMinutes] : 'bucket'} of the senders above:\n`;
    text += `${plot(series, { height: 6, format: (x: number) => count(Math.round(x)).padStart(9) })}\n`;
  }
  if (warning) text += wrap(warning);
  return { stdout: text, warnings: [] };
}
