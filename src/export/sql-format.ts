// Export lines formatted by SQLite itself: one CSV or JSON line per row,
// concatenated per page, so JavaScript handles one blob per few thousand
// rows instead of 27 values per row (about 20x faster). The values are the
// ones exportRecord gives; test/export-format.test.ts holds the two to the
// same output.
import type Database from 'better-sqlite3';
import { constants } from 'node:os';
import { loadExtension } from '../store/extension';
import { COLUMNS } from './columns';
import { signalName } from '../names';

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

/** A cgroup as its path, else id:N, else NULL, as exportRecord. */
function cgroupSql(id: string, path: string): string {
  return `CASE WHEN ${id} IS NULL THEN NULL ELSE coalesce(${path}, 'id:' || ${id}) END`;
}

/** Each export column as an SQL expression over SELECT_ROWS's FROM (aliases s, sc, dc). */
export const COLUMN_SQL: Record<(typeof COLUMNS)[number], string> = {
  time: 'sigaudit_iso_time(s.ts_ns)',
  ts_ns: 's.ts_ns',
  source: 's.source',
  sender_pid: 's.sender_pid',
  sender_tid: 's.sender_tid',
  sender_comm: 's.sender_comm',
  sender_uid: 's.sender_uid',
  sender_auid: 's.sender_auid',
  sender_ppid: 's.sender_ppid',
  sender_cgroup: cgroupSql('s.sender_cgroup', 'sc.path'),
  target_pid: 's.target_pid',
  target_tid: 's.target_tid',
  delivered_pid: 's.delivered_pid',
  delivered_tid: 's.delivered_tid',
  delivered_comm: 's.delivered_comm',
  signal: 's.signal',
  signal_name: signalNameSql('s.signal'),
  ret: 's.ret',
  errno_name: errnoNameSql('s.ret'),
  result: 's.result',
  si_code: 's.si_code',
  origin: 's.origin',
  delivered_cgroup: cgroupSql('s.delivered_cgroup', 'dc.path'),
  id: 's.id',
  send_id: '(s.id - s.fanout)',
  sender_unit: 'sc.unit',
  delivered_unit: 'dc.unit',
  sender_ns_pid: 's.sender_ns_pid',
  target_ns_pid: 's.target_ns_pid',
  delivered_ns_pid: 's.delivered_ns_pid',
};

/**
 * Loads native/report-lines.c into db: sigaudit_csv_record, which writes a
 * CSV record as csv-stringify does, sigaudit_iso_time, which writes a time
 * as isoTime does, and sigaudit_lines, which joins a page's lines in id
 * order without sorting rows that come in order.
 */
export function loadLineFunctions(db: Database.Database): void {
  loadExtension(db);
}

/** One CSV record (with its newline) per row. */
export function csvLineSql(): string {
  return `sigaudit_csv_record(${COLUMNS.map((column) => COLUMN_SQL[column]).join(', ')})`;
}

/** One JSON object (with its newline) per row; integers stay exact. */
export function jsonLineSql(): string {
  return `json_object(${COLUMNS.map((column) => `'${column}', ${COLUMN_SQL[column]}`).join(', ')}) || char(10)`;
}
