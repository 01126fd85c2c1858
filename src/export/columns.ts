// The read model (StoredRow, SELECT_ROWS) and the documented export columns
// (README "Export columns"), each column's value written once for JavaScript
// and once for SQL, side by side. Export column names never change once
// published; new columns go at the end.
import { constants } from 'node:os';
import { errnoName, signalName } from '../names';
import { SIGNAL_COLUMNS } from '../store/writer';

/** A row as readers select it (SELECT_ROWS here, signal_rows on a fleet server): the signals view's columns, a cgroup with its path and unit. */
export interface StoredRow {
  id: bigint;
  ts_ns: bigint;
  fanout: bigint;
  source: string;
  sender_pid: bigint | null;
  sender_tid: bigint | null;
  sender_comm: string | null;
  sender_uid: bigint | null;
  sender_auid: bigint | null;
  sender_ppid: bigint | null;
  sender_cgroup_id: bigint | null;
  sender_cgroup_path: string | null;
  sender_unit: string | null;
  target_pid: bigint | null;
  target_tid: bigint | null;
  delivered_pid: bigint | null;
  delivered_tid: bigint | null;
  delivered_comm: string | null;
  delivered_cgroup_id: bigint | null;
  delivered_cgroup_path: string | null;
  delivered_unit: string | null;
  signal: bigint;
  ret: bigint | null;
  result: string | null;
  si_code: bigint;
  origin: string | null;
  /** The pids as the recorder's pid namespace numbers them; NULL: the same as the pid beside them; 0: none there. */
  sender_ns_pid: bigint | null;
  target_ns_pid: bigint | null;
  delivered_ns_pid: bigint | null;
  /** The host a fleet row came from (sigaudit query --remote); local rows have none. */
  host?: string;
}

/** The cgroup columns of the signals view: each is read with its path and unit, from the cgroups table joined as `alias`. */
const CGROUPS: Record<string, { alias: string; unit: string } | undefined> = {
  sender_cgroup: { alias: 'sc', unit: 'sender_unit' },
  delivered_cgroup: { alias: 'dc', unit: 'delivered_unit' },
};

/** StoredRow's columns in order, each with its SQL: the signals view's columns (SIGNAL_COLUMNS), a cgroup as its id, path and unit. */
const STORED_ROW_SQL = SIGNAL_COLUMNS.flatMap(([column]) => {
  const cgroup = CGROUPS[column];
  if (!cgroup) return [{ column, sql: `s.${column}` }];
  return [
    { column: `${column}_id`, sql: `s.${column} AS ${column}_id` },
    { column: `${column}_path`, sql: `${cgroup.alias}.path AS ${column}_path` },
    { column: cgroup.unit, sql: `${cgroup.alias}.unit AS ${cgroup.unit}` },
  ];
});

/** StoredRow's columns in order: a fleet server's rows have them by these names. */
export const STORED_ROW_COLUMNS = STORED_ROW_SQL.map(({ column }) => column);

export const SELECT_ROWS = `
  SELECT ${STORED_ROW_SQL.map(({ sql }) => sql).join(', ')}
  FROM signals AS s
  LEFT JOIN cgroups AS sc ON sc.id = s.sender_cgroup
  LEFT JOIN cgroups AS dc ON dc.id = s.delivered_cgroup`;

/** ISO 8601 UTC with nanoseconds, from an exact ns timestamp. */
export function isoTime(tsNs: bigint): string {
  const ms = tsNs / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // ...T12:34:56.789Z
  const subMs = (tsNs % 1_000_000n).toString().padStart(6, '0');
  return `${iso.slice(0, -1)}${subMs}Z`;
}

function num(value: bigint | null): number | null {
  return value === null ? null : Number(value);
}

/**
 * A lookup table of fixed-width (ASCII) names, and the SQL that picks entry
 * `index` from it: a few instructions per row, where CASE would compare up
 * to 130 times. The table is a blob, which substr indexes by byte; a text
 * literal made substr count characters from its start on every row (0.7
 * against 0.4 µs for the signal name).
 */
function lookup(names: string[], index: string): string {
  const width = Math.max(...names.map((name) => name.length)) + 1;
  const blob = Buffer.from(names.map((name) => name.padEnd(width)).join(''), 'latin1').toString('hex');
  return `rtrim(CAST(substr(X'${blob}', ${index} * ${width} + 1, ${width}) AS TEXT))`;
}

/** signalName in SQL: 'SIGHUP' for 1, 'SIGRTMIN+3' for 37, '' for 0. */
function signalNameSql(column: string): string {
  const names = Array.from({ length: 65 }, (_, signal) => signalName(signal));
  return `CASE WHEN ${column} BETWEEN 0 AND 64 THEN ${lookup(names, column)} ELSE 'SIG' || ${column} END`;
}

/** errnoName in SQL: 'ESRCH' for -3, '' for ret >= 0 or NULL. */
function errnoNameSql(column: string): string {
  const byValue: string[] = [];
  for (const [name, value] of Object.entries(constants.errno)) byValue[value] ??= name; // the first name wins, as errnoName
  const size = byValue.length;
  const names = Array.from({ length: size }, (_, value) => byValue[value] ?? `E${value}`);
  return `CASE WHEN ${column} IS NULL OR ${column} >= 0 THEN '' WHEN -${column} < ${size} THEN ${lookup(names, `-${column}`)} ELSE 'E' || (-${column}) END`;
}

/** A value of an export record. */
export type ExportValue = string | number | bigint | null;

/** What a column's JavaScript may call besides the row: the generated builders have these in scope. */
const HELPERS = { isoTime, signalName, errnoName, num };

/**
 * One export column: its value from a stored row as a JavaScript expression
 * over `row` (a StoredRow) and HELPERS, and the same value in SQL over
 * SELECT_ROWS's FROM (aliases s, sc, dc), with which the export writes its
 * lines inside SQLite (src/export/sql-format.ts); test/export-format.test.ts
 * holds the two to the same output.
 */
interface ExportColumn {
  js: string;
  sql: string;
}

/** StoredRow's columns whose values are T. */
type ColumnOf<T> = { [K in keyof StoredRow]-?: StoredRow[K] extends T ? K : never }[keyof StoredRow];

/** A stored integer that fits a double (pids, uids, signals, return values) as a number. */
const integer = (column: ColumnOf<bigint | null>): ExportColumn => ({ js: `num(row.${column})`, sql: `s.${column}` });
/** A stored column as it is: text, or a 64-bit integer that must not pass through a double (ts_ns, id). */
const stored = (column: ColumnOf<ExportValue>): ExportColumn => ({ js: `row.${column}`, sql: `s.${column}` });
/** A cgroup as its path when it was resolved, else id:N, else NULL. */
const cgroup = (column: 'sender_cgroup' | 'delivered_cgroup'): ExportColumn => ({
  js: `row.${column}_id === null ? null : (row.${column}_path ?? 'id:' + row.${column}_id)`,
  sql: `CASE WHEN s.${column} IS NULL THEN NULL ELSE coalesce(${CGROUPS[column]!.alias}.path, 'id:' || s.${column}) END`,
});

/** The export columns in their published order, each as JavaScript and SQL give its value. */
const EXPORT_COLUMNS = {
  time: { js: 'isoTime(row.ts_ns)', sql: 'sigaudit_iso_time(s.ts_ns)' },
  ts_ns: stored('ts_ns'),
  source: stored('source'),
  sender_pid: integer('sender_pid'),
  sender_tid: integer('sender_tid'),
  sender_comm: stored('sender_comm'),
  sender_uid: integer('sender_uid'),
  sender_auid: integer('sender_auid'),
  sender_ppid: integer('sender_ppid'),
  sender_cgroup: cgroup('sender_cgroup'),
  target_pid: integer('target_pid'),
  target_tid: integer('target_tid'),
  delivered_pid: integer('delivered_pid'),
  delivered_tid: integer('delivered_tid'),
  delivered_comm: stored('delivered_comm'),
  signal: integer('signal'),
  signal_name: { js: 'signalName(Number(row.signal))', sql: signalNameSql('s.signal') },
  ret: integer('ret'),
  errno_name: { js: 'errnoName(num(row.ret))', sql: errnoNameSql('s.ret') },
  result: stored('result'),
  si_code: integer('si_code'),
  origin: stored('origin'),
  delivered_cgroup: cgroup('delivered_cgroup'),
  id: stored('id'),
  send_id: { js: 'row.id - row.fanout', sql: '(s.id - s.fanout)' },
  sender_unit: { js: 'row.sender_unit', sql: 'sc.unit' },
  delivered_unit: { js: 'row.delivered_unit', sql: 'dc.unit' },
  sender_ns_pid: integer('sender_ns_pid'),
  target_ns_pid: integer('target_ns_pid'),
  delivered_ns_pid: integer('delivered_ns_pid'),
} satisfies Record<string, ExportColumn>;

export type Column = keyof typeof EXPORT_COLUMNS;
/** The export columns, in their published order. */
export const COLUMNS = Object.keys(EXPORT_COLUMNS) as readonly Column[];

/** Each export column as an SQL expression over SELECT_ROWS's FROM. */
export function columnSql(column: Column): string {
  return EXPORT_COLUMNS[column].sql;
}

/**
 * A function from a stored row to its export record (and `extra` fields
 * after the columns), written out from EXPORT_COLUMNS once as one object
 * literal: a record built in a loop over the table costs a closure call
 * and a load by a varying name per column, and comes out a dictionary-mode
 * object, on which JSON and CSV writers take their slow paths.
 */
function recordBuilder(extra: Record<string, string>): (row: StoredRow) => Record<string, ExportValue> {
  const fields = [...COLUMNS.map((column) => [column, EXPORT_COLUMNS[column].js]), ...Object.entries(extra)];
  const body = `return (row) => ({ ${fields.map(([name, js]) => `${JSON.stringify(name)}: ${js}`).join(', ')} });`;
  return new Function(...Object.keys(HELPERS), body)(...Object.values(HELPERS));
}

/**
 * The export record of a stored row. ts_ns, id and send_id stay bigint: a
 * nanosecond timestamp exceeds 2^53 and must not pass through a double.
 */
export const exportRecord = recordBuilder({}) as (row: StoredRow) => Record<Column, ExportValue>;
const exportRecordWithHost = recordBuilder({ host: 'row.host' });

/** The export record, and a fleet row's host after every other column. */
export function withHost(row: StoredRow): Record<string, ExportValue> {
  return row.host === undefined ? exportRecord(row) : exportRecordWithHost(row);
}

/** The export columns, and host at the end for the fleet's rows. */
export function columnsOf(fleet: boolean): readonly string[] {
  return fleet ? [...COLUMNS, 'host'] : COLUMNS;
}

/** A HOST column of a table, for the fleet's rows only. */
export function hostHeader(fleet: boolean): { header: string; flex: true; min: number }[] {
  return fleet ? [{ header: 'HOST', flex: true, min: 6 }] : [];
}

export function hostCell(row: StoredRow): string[] {
  return row.host === undefined ? [] : [row.host];
}
