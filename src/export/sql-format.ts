// Export lines formatted by SQLite itself: one CSV or JSON line per row,
// concatenated per page, so JavaScript handles one string per few thousand
// rows instead of 27 values per row (about 20x faster). The values are the
// ones exportRecord gives; test/export-format.test.ts holds the two to the
// same output.
import type Database from 'better-sqlite3';
import { stringify } from 'csv-stringify/sync';
import { constants } from 'node:os';
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

const DAY_NS = 86_400_000_000_000n;
/** Days from 1970-01-01 to the last a 64-bit nanosecond time reaches (2262-04-11). */
const ISO_DATE_DAYS = Number((2n ** 63n - 1n) / DAY_NS) + 1;
const ISO_DATE_BYTES = 'YYYY-MM-DD'.length;

/**
 * 'YYYY-MM-DD' of every day from 1970-01-01 on, ISO_DATE_BYTES each, for
 * isoTimeSql to look up: one substr a row where strftime cost ~0.5 µs (it
 * parses its format and goes through a Julian day in floating point).
 * Built a month at a time (a Date per day took 0.2 s).
 */
function isoDates(): Buffer {
  const table = Buffer.alloc(ISO_DATE_DAYS * ISO_DATE_BYTES);
  let at = 0;
  for (let year = 1970; at < table.length; year++) {
    for (let month = 1; month <= 12 && at < table.length; month++) {
      const yearMonth = `${year}-${String(month).padStart(2, '0')}-`;
      const monthDays = new Date(Date.UTC(year, month, 0)).getUTCDate();
      for (let day = 1; day <= monthDays && at < table.length; day++, at += ISO_DATE_BYTES) table.write(`${yearMonth}${String(day).padStart(2, '0')}`, at, 'latin1');
    }
  }
  return table;
}

/** The parameters the line SQL (csvLineSql, jsonLineSql) needs bound. */
export function lineParams(): { isoDates: Buffer } {
  return { isoDates: isoDates() };
}

/** A printf format and its arguments, for one field of a line. */
interface Printf {
  format: string;
  args: string[];
}

/**
 * ISO 8601 UTC with nanoseconds, as isoTime, for times from 1970 on (a
 * recorded ts_ns never is earlier): the date from lineParams's table, the
 * rest by integer arithmetic, all written by one printf.
 */
function isoTimeSql(column: string): Printf {
  return {
    format: '%sT%02d:%02d:%02d.%09dZ',
    args: [
      `substr(@isoDates, ${column} / ${DAY_NS} * ${ISO_DATE_BYTES} + 1, ${ISO_DATE_BYTES})`,
      `${column} / 3600000000000 % 24`,
      `${column} / 60000000000 % 60`,
      `${column} / 1000000000 % 60`,
      `${column} % 1000000000`,
    ],
  };
}

/** A cgroup as its path, else id:N, else NULL, as exportRecord. */
function cgroupSql(id: string, path: string): string {
  return `CASE WHEN ${id} IS NULL THEN NULL ELSE coalesce(${path}, 'id:' || ${id}) END`;
}

/** Each export column as an SQL expression over SELECT_ROWS's FROM (aliases s, sc, dc), or as printf's format and arguments. */
export const COLUMN_SQL: Record<(typeof COLUMNS)[number], string | Printf> = {
  time: isoTimeSql('s.ts_ns'),
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
};

/**
 * Columns of signals whose text may hold a comma, quote or newline; the
 * others never do, and cgroup paths and units come quoted from
 * CSV_CGROUPS_SQL.
 */
const FREE_TEXT_COLUMNS = new Set(['sender_comm', 'delivered_comm']);

/** The SQL function that quotes a CSV field with csv-stringify (registered by registerCsvQuoting). */
const CSV_QUOTE_FUNCTION = 'sigaudit_csv_field';

/**
 * Makes CSV_QUOTE_FUNCTION available on db: csv-stringify does the quoting;
 * SQL calls it only for the rare field that holds a comma, quote, CR or LF.
 */
export function registerCsvQuoting(db: Database.Database): void {
  db.function(CSV_QUOTE_FUNCTION, { deterministic: true }, (value: unknown) =>
    stringify([[value]], { eof: false }),
  );
}

/** A CSV field: free text goes to csv-stringify when it needs quoting, other values never do. */
function csvField(expression: string, freeText: boolean): string {
  if (!freeText) return expression;
  return `CASE WHEN ${expression} GLOB '*[",\n\r]*' THEN ${CSV_QUOTE_FUNCTION}(${expression}) ELSE ${expression} END`;
}

function asExpression(sql: string | Printf): string {
  return typeof sql === 'string' ? sql : `printf('${sql.format}', ${sql.args.join(', ')})`;
}

/**
 * The cgroups table with path and unit as CSV fields, for the CSV line to
 * join in place of cgroups: quoted once per cgroup instead of on every row
 * (checking all six text fields of a row took a third of its line).
 */
export const CSV_CGROUPS_SQL = `SELECT id, ${csvField('path', true)} AS path, ${csvField('unit', true)} AS unit FROM cgroups`;

/**
 * One CSV record (with its newline) per row, built by one printf: %s writes
 * NULL as an empty field, and no intermediate strings are made. The
 * cgroups it joins (sc, dc) must be CSV_CGROUPS_SQL's.
 */
export function csvLineSql(): string {
  const fields = COLUMNS.map((column) => {
    const sql = COLUMN_SQL[column];
    return typeof sql === 'string' ? { format: '%s', args: [csvField(sql, FREE_TEXT_COLUMNS.has(column))] } : sql;
  });
  return `printf('${fields.map((field) => field.format).join(',')}\n', ${fields.flatMap((field) => field.args).join(', ')})`;
}

/** One JSON object (with its newline) per row; integers stay exact. */
export function jsonLineSql(): string {
  return `json_object(${COLUMNS.map((column) => `'${column}', ${asExpression(COLUMN_SQL[column])}`).join(', ')}) || char(10)`;
}
