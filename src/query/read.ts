// The read layer every report stands on: a report is a plan (named SQL
// queries written once, and how their rows become the report), and a
// dialect says what differs between the local SQLite database and the
// fleet's PostgreSQL (src/fleet/remote.ts): where the rows are, a few
// functions, and whether rows carry their host. Locally a plan runs
// synchronously on better-sqlite3; remotely on node-postgres.
import type Database from 'better-sqlite3';
import { SELECT_ROWS } from '../export/columns';
import { ARCHIVE_FIRST_TS_SQL, ARCHIVE_LAST_TS_SQL } from '../store/minutes';
import { bindIdWindows, idWindowTerm } from './id-windows';

export type Param = string | number | bigint;
/** Rows as better-sqlite3 gives them with safeIntegers: every integer a bigint. */
export type Row = Record<string, unknown>;

export interface Query {
  /** With @name parameters. */
  sql: string;
  params: Record<string, Param>;
}

export interface Plan<R> {
  queries: Record<string, Query>;
  shape(results: Record<string, Row[]>): R;
}

/** A report whose next query depends on the last one's rows: it yields each query and is handed its rows. */
export type Steps<R> = Generator<Query, R, Row[]>;

export interface Dialect {
  /** The export query's SELECT … FROM, rows aliased s (src/export/columns.ts SELECT_ROWS locally); remote rows add s.host. */
  selectRows: string;
  /** The rows of failed sends with the columns the failed report reads (and host, for the fleet), and the namespace pids when a pid filter needs them. */
  failedRows(nsPids: boolean): string;
  /** A table that says where the record is incomplete: drops, unclean_shutdowns, prunes, summaries, earlier_databases. */
  table(name: string): string;
  /** The distinct values of an expression, joined with commas. */
  distinctList(expression: string): string;
  /** The signals (every column of the local view, by name), for queries that need no names of cgroups. */
  signals: string;
  /**
   * A term keeping rows of the hours in @hours, a JSON array, where the
   * store is kept by hour (the fleet's partitions and indexes lead with
   * the time); absent where idWindow narrows a lookup instead.
   */
  hourTerm?: string;
  /**
   * A term narrowing a time window by row id where the store maps its
   * times to ids (locally the archive's per-minute map, src/query/id-windows.ts
   * idWindowTerm; runLocal binds its ids), beside the ts_ns terms. Where
   * there is one, list walks the map's minutes in chunks (nextChunk)
   * instead of sorting the window. Absent: the ts_ns terms do alone.
   */
  idWindow?: typeof idWindowTerm;
  /** The first and last stored ts_ns, as archive_from/archive_to and hot_from/hot_to. */
  spanSql: string;
  /**
   * The pids a name (@comm) reached in the hours in @hours, as
   * delivered_pid rows, where the store keeps them apart (locally
   * delivered_comm_hours, migrations/0130-comm-pid-hours.sql): who-killed
   * --comm then seeks those pids. Absent: it finds the rows by the name.
   */
  commPidsSql?: string;
  /** Rows carry a host column (the fleet). */
  hosts: boolean;
  /** The summaries (migrations/0070-summaries.sql) as a table; on the fleet with a host column. */
  summaryRows: string;
  /**
   * The extension's sigaudit_tally over the stored tables (locally: codes
   * and names ids, migrations/0110): top-senders counts groups before it
   * looks names up. Absent: it reads the rows through senderRows.
   */
  tallies?: boolean;
  /** The hourly sender rollup with the local sender_hours's columns (names spelled out, -1/''/0 for none). */
  senderHours: string;
  /**
   * top-senders' rows (SENDER_ROW_COLUMNS and a weight): those within the
   * time terms given, every row senderHours does not count (locally the
   * hot table's, rolled up only when archived), and the summarised sends,
   * each weighing its count.
   */
  senderRows(rangeTerms: string[]): string;
  /** LEFT JOIN of the sender's cgroup as cg (path, unit) to rows aliased `alias` with a sender_cgroup column. */
  cgroupJoin(alias: string): string;
  /** A term: the expression is one of the values of @param, a JSON array. */
  inJson(expression: string, param: string): string;
  /** There is a per-pid hourly rollup (sender_pid_hours, the local database's). */
  pidHours: boolean;
  /** UNION ALL of the windows a host's rows were deleted before they were forwarded, as rows of the drops query (@from, @to); '' locally. */
  unforwarded: string;
}

/** The columns top-senders reads of each row: the sender, what its filters look at, and time. */
export const SENDER_ROW_COLUMNS = 'ts_ns, fanout, source, sender_pid, sender_ns_pid, sender_comm, sender_uid, sender_cgroup, target_pid, target_ns_pid, delivered_pid, delivered_ns_pid, signal';

/** The sends the kernel summarised (migrations/0070-summaries.sql) as top-senders' rows, each weighing its count. */
export const SUMMARISED_SENDER_ROWS = `SELECT first_ns AS ts_ns, 0 AS fanout, source, sender_pid, NULL AS sender_ns_pid, sender_comm, sender_uid,
  NULL AS sender_cgroup, target_pid, NULL AS target_ns_pid, NULL AS delivered_pid, NULL AS delivered_ns_pid, signal, count AS weight
  FROM summaries WHERE outcome = 'summarised'`;

/** The columns the failed report reads: all in signals_archive_failed_ts_ns. */
export const FAILED_COLUMNS = 'ts_ns, sender_pid, sender_comm, sender_uid, target_pid, signal, ret, source, fanout';
/** The namespace pids a pid filter also matches (src/query/filters.ts): outside that index, so read only with one. */
export const NS_PID_COLUMNS = 'sender_ns_pid, target_ns_pid';

export const SQLITE: Dialect = {
  selectRows: SELECT_ROWS,
  // Served by signals_archive_failed_ts_ns alone (covering): the union of the
  // tables' decoding views names only its columns, where the signals view
  // would read whole rows.
  failedRows(nsPids) {
    const columns = nsPids ? `${FAILED_COLUMNS}, ${NS_PID_COLUMNS}` : FAILED_COLUMNS;
    return `(SELECT ${columns} FROM archived_signals WHERE ret < 0 UNION ALL SELECT ${columns} FROM hot_signals WHERE ret < 0)`;
  },
  table: (name) => name,
  distinctList: (expression) => `group_concat(DISTINCT ${expression})`,
  signals: 'signals',
  idWindow: idWindowTerm,
  // The archive's from its first and last minutes' id ranges (src/store/minutes.ts), and the hot table's ends.
  spanSql: `SELECT
        (${ARCHIVE_FIRST_TS_SQL}) AS archive_from, (${ARCHIVE_LAST_TS_SQL}) AS archive_to,
        (SELECT ts_ns FROM signals_hot ORDER BY id LIMIT 1) AS hot_from, (SELECT ts_ns FROM signals_hot ORDER BY id DESC LIMIT 1) AS hot_to`,
  // The archive's through the rollup, the hot table's (not yet rolled up) by a scan.
  commPidsSql: `SELECT delivered_pid FROM delivered_comm_hours
      WHERE hour IN (SELECT value FROM json_each(@hours)) AND comm_id = (SELECT id FROM names WHERE name = @comm)
    UNION SELECT delivered_pid FROM hot_signals WHERE delivered_comm = @comm AND delivered_pid IS NOT NULL`,
  hosts: false,
  summaryRows: 'summaries',
  tallies: true,
  senderHours: 'sender_hours',
  senderRows: (rangeTerms) =>
    [
      ...rangeTerms.map((term) => `SELECT ${SENDER_ROW_COLUMNS}, 1 AS weight FROM archived_signals WHERE ${term}`),
      `SELECT ${SENDER_ROW_COLUMNS}, 1 AS weight FROM hot_signals`,
      SUMMARISED_SENDER_ROWS,
    ].join(' UNION ALL '),
  cgroupJoin: (alias) => `LEFT JOIN cgroups AS cg ON cg.id = ${alias}.sender_cgroup`,
  inJson: (expression, param) => `${expression} IN (SELECT value FROM json_each(@${param}))`,
  pidHours: true,
  unforwarded: '',
};

export function isSteps<R>(plan: Plan<R> | Steps<R>): plan is Steps<R> {
  return typeof (plan as Steps<R>).next === 'function';
}

/** Runs a plan on an open SQLite database, each query with the id bounds of its windows. */
export function runLocal<R>(db: Database.Database, plan: Plan<R> | Steps<R>): R {
  const all = (query: Query) => db.prepare(query.sql).safeIntegers(true).all(bindIdWindows(db, query)) as Row[];
  if (isSteps(plan)) {
    for (let step = plan.next(undefined as unknown as Row[]); ; step = plan.next(all(step.value))) if (step.done) return step.value;
  }
  const results: Record<string, Row[]> = {};
  for (const [name, query] of Object.entries(plan.queries)) results[name] = all(query);
  return plan.shape(results);
}
