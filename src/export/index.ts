// sigaudit export: every recorded row as CSV or JSON Lines, streamed from
// SQLite in id order (time order with --since/--until) with constant memory.
import { SingleBar } from 'cli-progress';
import { closeSync, openSync, writeSync } from 'node:fs';
import { filterTerms, whereSql, windowOf, type Filters } from '../query/filters';
import { openForReading } from '../store/database';
import { stringify } from 'csv-stringify/sync';
import { COLUMNS, SELECT_ROWS } from './columns';
import { csvLineSql, jsonLineSql, registerCsvQuoting } from './sql-format';

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

export function jsonLine(record: unknown): string {
  // JSON.stringify cannot write a BigInt; the big integers are written as
  // exact number literals.
  return JSON.stringify(record, (_key, value: unknown) => (typeof value === 'bigint' ? `\u0000${value}\u0000` : value))
    .replace(/"\\u0000(-?\d+)\\u0000"/g, '$1');
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

/** Rows per page: each page is one SQLite call returning one string. */
const PAGE_ROWS = 5000;

export interface ExportQuery {
  /** One page: text (the lines), n (rows), last_ts and last_id (where the next page starts). */
  pageSql: string;
  countSql: string;
  params: Record<string, unknown>;
  /** Time order (a window was given), else id order. */
  byTime: boolean;
  /** Where the window starts, for the first page. */
  fromNs?: bigint;
}

/**
 * The export query, a page at a time: id order, or time order (served by
 * signals_archive_ts_ns) within a window. Each page continues after the
 * last row of the one before, so no page rescans what was written.
 */
export function exportQuery(filters: Filters | undefined, format: ExportFormat = 'csv'): ExportQuery {
  const effective: Filters = { ...filters, perTarget: true, includeProbes: filters?.includeProbes ?? true };
  const window = windowOf(effective);
  const byTime = window.fromNs !== undefined || window.toNs !== undefined;
  // The page's own lower bound replaces the window's start (one bound for the index to seek).
  const where = filterTerms(effective, { ...window, fromNs: undefined }, { alias: 's' });
  const from = SELECT_ROWS.slice(SELECT_ROWS.indexOf('FROM signals AS s'));
  const line = format === 'csv' ? csvLineSql() : jsonLineSql();
  const after = byTime ? ['s.ts_ns >= @afterTs', '(s.ts_ns > @afterTs OR s.id > @afterId)'] : ['s.id > @afterId'];
  const order = byTime ? 's.ts_ns, s.id' : 's.id';
  return {
    pageSql: `WITH page AS MATERIALIZED (
        SELECT ${line} AS line, s.ts_ns AS ts, s.id AS id ${from} ${whereSql([...where.terms, ...after])} ORDER BY ${order} LIMIT ${PAGE_ROWS})
      SELECT group_concat(line, '' ORDER BY ${byTime ? 'ts, id' : 'id'}) AS text, count(*) AS n,
        (SELECT ts FROM page ORDER BY ${byTime ? 'ts DESC, id DESC' : 'id DESC'} LIMIT 1) AS last_ts,
        (SELECT id FROM page ORDER BY ${byTime ? 'ts DESC, id DESC' : 'id DESC'} LIMIT 1) AS last_id
      FROM page`,
    countSql: `SELECT count(*) AS n FROM signals AS s ${whereSql([...filterTerms(effective, window, { alias: 's' }).terms])}`,
    params: { ...where.params, ...(window.fromNs === undefined ? {} : { fromNs: window.fromNs }) },
    byTime,
    fromNs: window.fromNs,
  };
}

/** Returns how many rows were written. */
export function exportSignals(options: ExportOptions): number {
  const query = exportQuery(options.filters, options.format);
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
    if (options.format === 'csv') {
      registerCsvQuoting(db);
      writeAll(fd, stringify([[...COLUMNS]]));
    }
    const page = db.prepare(query.pageSql).safeIntegers(true);
    let afterTs = query.fromNs ?? -(2n ** 62n);
    let afterId = -1n;
    for (;;) {
      const result = page.get({ ...query.params, afterTs, afterId }) as { text: string | null; n: bigint; last_ts: bigint | null; last_id: bigint | null };
      if (result.n === 0n || result.text === null) break;
      writeAll(fd, result.text);
      rows += Number(result.n);
      bar?.update(rows);
      afterTs = result.last_ts!;
      afterId = result.last_id!;
      if (result.n < BigInt(PAGE_ROWS)) break;
    }
  } finally {
    bar?.stop();
    if (options.output !== undefined && fd !== undefined) closeSync(fd);
    db.close();
  }
  return rows;
}
