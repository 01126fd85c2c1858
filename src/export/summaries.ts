// sigaudit export --summaries: the summaries table (sends the kernel counted
// instead of recording, migrations/0070-summaries.sql) as CSV or JSON Lines,
// in commit order, with their own documented columns (docs/reference.md "Summary columns").
import { closeSync, openSync } from 'node:fs';
import { stringify } from 'csv-stringify/sync';
import { errnoName, signalName } from '../names';
import { summaryTerms, whereSql, windowOf, type StoredSummary } from '../query/filters';
import { openForReading } from '../store/database';
import { isoTime } from './columns';
import { jsonLine, writeAll, type ExportOptions } from './index';

/** Names never change once published; new columns go at the end. */
export const SUMMARY_COLUMNS = [
  'first_time',
  'first_ns',
  'last_time',
  'last_ns',
  'count',
  'outcome',
  'source',
  'sender_pid',
  'sender_comm',
  'sender_uid',
  'signal',
  'signal_name',
  'target_pid',
  'ret',
  'errno_name',
  'result',
  'run_id',
  'id',
] as const;
export type SummaryColumn = (typeof SUMMARY_COLUMNS)[number];

/** Rows written per write call. */
const WRITE_ROWS = 1000;

/** The export record of a summaries row; first_ns, last_ns and id stay bigint (beyond 2^53). */
export function summaryRecord(row: StoredSummary): Record<SummaryColumn, string | number | bigint | null> {
  const ret = row.ret === null ? null : Number(row.ret);
  return {
    first_time: isoTime(row.first_ns),
    first_ns: row.first_ns,
    last_time: isoTime(row.last_ns),
    last_ns: row.last_ns,
    count: Number(row.count),
    outcome: row.outcome,
    source: row.source,
    sender_pid: Number(row.sender_pid),
    sender_comm: row.sender_comm,
    sender_uid: Number(row.sender_uid),
    signal: Number(row.signal),
    signal_name: signalName(Number(row.signal)),
    target_pid: row.target_pid === null ? null : Number(row.target_pid),
    ret,
    errno_name: errnoName(ret),
    result: row.result,
    run_id: Number(row.run_id),
    id: row.id,
  };
}

function csvLines(records: Record<SummaryColumn, string | number | bigint | null>[]): string {
  return stringify(records.map((record) => SUMMARY_COLUMNS.map((column) => (typeof record[column] === 'bigint' ? String(record[column]) : record[column]))));
}

/**
 * Writes the summaries that overlap the window and match the filters
 * (signal 0 included unless includeProbes is false); returns how many.
 */
export function exportSummaries(options: ExportOptions): number {
  const filters = options.filters ?? {};
  const where = summaryTerms(filters, windowOf(filters), filters.includeProbes ?? true);
  const db = openForReading(options.dbPath);
  let fd: number | undefined;
  let rows = 0;
  try {
    const select = db.prepare(`SELECT * FROM summaries ${whereSql(where.terms)} ORDER BY id`).safeIntegers(true);
    fd = options.output === undefined ? 1 : openSync(options.output, 'w', 0o640);
    if (options.format === 'csv') writeAll(fd, stringify([[...SUMMARY_COLUMNS]]));
    let page: Record<SummaryColumn, string | number | bigint | null>[] = [];
    const flush = () => {
      writeAll(fd!, options.format === 'csv' ? csvLines(page) : page.map((record) => `${jsonLine(record)}\n`).join(''));
      rows += page.length;
      page = [];
    };
    for (const row of select.iterate(where.params) as IterableIterator<StoredSummary>) {
      page.push(summaryRecord(row));
      if (page.length === WRITE_ROWS) flush();
    }
    if (page.length > 0) flush();
  } finally {
    if (options.output !== undefined && fd !== undefined) closeSync(fd);
    db.close();
  }
  return rows;
}
