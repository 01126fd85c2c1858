// sigaudit export --summaries: the summaries table (sends the kernel counted
// instead of recording, migrations/0070-summaries.sql) as CSV or JSON Lines,
// in commit order, with their own documented columns (docs/reference.md
// "Summary columns"); from the fleet (--remote) host after host, with a
// host column at the end.
import { stringify } from 'csv-stringify/sync';
import { errnoName, signalName } from '../names';
import { summaryTerms, whereSql, windowOf, type Filters, type StoredSummary } from '../query/filters';
import type { Dialect, Steps } from '../query/read';
import { isoTime } from './columns';
import { jsonLine, type ExportFormat } from './index';

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

/** The columns of a summaries export: the fleet's add the host at the end. */
export function summaryColumnsOf(fleet: boolean): readonly string[] {
  return fleet ? [...SUMMARY_COLUMNS, 'host'] : SUMMARY_COLUMNS;
}

/** Rows written per write call. */
const WRITE_ROWS = 1000;

type SummaryRecord = Record<string, string | number | bigint | null>;

/** The export record of a summaries row (and its host, on the fleet); first_ns, last_ns and id stay bigint (beyond 2^53). */
export function summaryRecord(row: StoredSummary & { host?: string }): SummaryRecord {
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
    ...(row.host === undefined ? {} : { host: row.host }),
  };
}

function lines(records: SummaryRecord[], format: ExportFormat, fleet: boolean): string {
  if (format === 'jsonl') return records.map((record) => `${jsonLine(record)}\n`).join('');
  const columns = summaryColumnsOf(fleet);
  return stringify(records.map((record) => columns.map((column) => (typeof record[column] === 'bigint' ? String(record[column]) : record[column]))));
}

/**
 * The summaries that overlap the window and match the filters (signal 0
 * included unless includeProbes is false), over the read layer: `write`
 * gets their lines, WRITE_ROWS at a time; returns how many. Summaries are
 * counted sends, few next to the rows: one query holds them all.
 */
export function* summarySteps(dialect: Dialect, options: { filters?: Filters; format: ExportFormat }, write: (lines: string, rows: number) => void): Steps<number> {
  const filters = options.filters ?? {};
  const where = summaryTerms(filters, windowOf(filters), filters.includeProbes ?? true);
  const rows = (yield {
    sql: `SELECT * FROM ${dialect.summaryRows} AS s ${whereSql(where.terms)} ORDER BY ${dialect.hosts ? 'host, ' : ''}id`,
    params: where.params,
  }) as unknown as (StoredSummary & { host?: string })[];
  for (let at = 0; at < rows.length; at += WRITE_ROWS) {
    const page = rows.slice(at, at + WRITE_ROWS);
    write(lines(page.map(summaryRecord), options.format, dialect.hosts), page.length);
  }
  return rows.length;
}
