// sigaudit export: every recorded row as CSV or JSON Lines, streamed from
// SQLite in id order (time order with --since/--until) with constant memory.
import { SingleBar } from 'cli-progress';
import { stringify } from 'csv-stringify/sync';
import { closeSync, openSync, writeSync } from 'node:fs';
import { filterTerms, whereSql, windowOf, type Filters } from '../query/filters';
import { openForReading } from '../store/database';
import { COLUMNS, SELECT_ROWS, exportRecord, type StoredRow } from './columns';

export type ExportFormat = 'csv' | 'jsonl';

export interface ExportOptions {
  dbPath: string;
  format: ExportFormat;
  /** A file to write; stdout when absent. */
  output?: string;
  /**
   * The query filters. Unlike the reports, export keeps every row a send
   * produced (perTarget) and signal 0 probes unless includeProbes is false.
   */
  filters?: Filters;
  /** A progress bar on stderr (shown only when stderr is a terminal). */
  progress?: boolean;
}

/** Rows converted per write: large enough to amortise the call, small enough to stay flat in memory. */
const CHUNK_ROWS = 2000;

export function jsonLine(record: unknown): string {
  // JSON.stringify cannot write a BigInt; the big integers are written as
  // exact number literals.
  return JSON.stringify(record, (_key, value: unknown) => (typeof value === 'bigint' ? `\u0000${value}\u0000` : value))
    .replace(/"\\u0000(-?\d+)\\u0000"/g, '$1');
}

function csvChunk(records: ReturnType<typeof exportRecord>[], header: boolean): string {
  return stringify(
    records.map((record) => COLUMNS.map((column) => {
      const value = record[column];
      return typeof value === 'bigint' ? value.toString() : value;
    })),
    { header, columns: header ? [...COLUMNS] : undefined },
  );
}

/** Writes all of text to fd synchronously (stdout may be a full pipe: process.exit must not cut it). */
export function writeAll(fd: number, text: string): void {
  let buffer = Buffer.from(text);
  while (buffer.length > 0) {
    try {
      buffer = buffer.subarray(writeSync(fd, buffer));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
    }
  }
}

/** The export query: id order, or time order (served by signals_archive_ts_ns) within a window. */
export function exportQuery(filters: Filters | undefined): { sql: string; countSql: string; params: Record<string, unknown> } {
  const effective: Filters = { ...filters, perTarget: true, includeProbes: filters?.includeProbes ?? true };
  const window = windowOf(effective);
  const where = filterTerms(effective, window, { alias: 's' });
  const order = window.fromNs !== undefined || window.toNs !== undefined ? 's.ts_ns, s.id' : 's.id';
  return {
    sql: `${SELECT_ROWS} ${whereSql(where.terms)} ORDER BY ${order}`,
    countSql: `SELECT count(*) AS n FROM signals AS s ${whereSql(where.terms)}`,
    params: where.params,
  };
}

/** Returns how many rows were written. */
export function exportSignals(options: ExportOptions): number {
  const query = exportQuery(options.filters);
  const db = openForReading(options.dbPath);
  let fd: number | undefined;
  let bar: SingleBar | undefined;
  let rows = 0;
  try {
    fd = options.output === undefined ? 1 : openSync(options.output, 'w', 0o640);
    if (options.progress && options.output !== undefined && process.stderr.isTTY) {
      const total = (db.prepare(query.countSql).get(query.params) as { n: number }).n;
      bar = new SingleBar({ format: 'export |{bar}| {percentage}% {value}/{total} rows {eta_formatted} left', stream: process.stderr, fps: 5 });
      bar.start(total, 0);
    }
    const statement = db.prepare(query.sql).safeIntegers(true);
    let chunk: ReturnType<typeof exportRecord>[] = [];
    const out = fd;
    const flush = () => {
      if (options.format === 'csv') writeAll(out, csvChunk(chunk, rows === chunk.length));
      else writeAll(out, chunk.map((record) => `${jsonLine(record)}\n`).join(''));
      chunk = [];
      bar?.update(rows);
    };
    for (const row of statement.iterate(query.params) as IterableIterator<StoredRow>) {
      chunk.push(exportRecord(row));
      rows++;
      if (chunk.length === CHUNK_ROWS) flush();
    }
    if (chunk.length > 0 || (rows === 0 && options.format === 'csv')) flush();
  } finally {
    bar?.stop();
    if (options.output !== undefined && fd !== undefined) closeSync(fd);
    db.close();
  }
  return rows;
}
