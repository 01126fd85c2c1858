// sigaudit export: every recorded row as CSV or JSON Lines, streamed from
// SQLite in id order (time order with --since/--until) with constant memory.
// In id order, pages of ids are formatted by a thread per CPU at once; in
// time order, the window is read in chunks of time, each sorted on its own.
import type Database from 'better-sqlite3';
import { SingleBar } from 'cli-progress';
import { closeSync, openSync, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { SigauditError } from '../errors';
import { filterTerms, whereSql, windowOf, type Filters, type Window } from '../query/filters';
import { bindIdWindows, nextChunk, type Chunk } from '../query/id-windows';
import { SQLITE, runLocal, type Dialect, type Param, type Query, type Steps } from '../query/read';
import { openForReading } from '../store/database';
import { stringify } from 'csv-stringify/sync';
import { COLUMNS, SELECT_ROWS, columnsOf, withHost, type ExportValue, type StoredRow } from './columns';
import type { PageFailure, PageReply, PageRequest, PageWorkerData } from './page-worker';
import { csvLineSql, jsonLineSql, loadLineFunctions } from './sql-format';

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

/** Writes all of data to fd synchronously (stdout may be a full pipe: process.exit must not cut it). */
export function writeAll(fd: number, data: string | Uint8Array): void {
  let buffer = typeof data === 'string' ? Buffer.from(data) : data;
  while (buffer.length > 0) {
    try {
      buffer = buffer.subarray(writeSync(fd, buffer));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
    }
  }
}

/** Rows per page: in id order one SQLite call returning one blob; in time order the lines written at once. */
const PAGE_ROWS = 5000;
/** Threads formatting pages at most (one per CPU up to this). */
const MAX_PAGE_THREADS = 8;
/** Pages a thread may have been asked for and not yet handed back: memory stays bounded. */
const PAGES_AHEAD_PER_THREAD = 2;
/** The first and last id of signals, in four rowid seeks. */
const ID_SPAN_SQL = `SELECT min(id) AS first, max(id) AS last FROM (
  SELECT min(id) AS id FROM signals_archive UNION ALL SELECT max(id) FROM signals_archive
  UNION ALL SELECT min(id) FROM signals_hot UNION ALL SELECT max(id) FROM signals_hot)`;

export interface ExportQuery {
  /** In time order: the rows of a chunk of the window in time order, each a line (its id bounds bound by bindIdWindows). */
  chunkSql(chunk: Chunk): Query;
  /** In id order: the page of ids [@fromId, @toId), as lines (UTF-8, a blob) and n. */
  rangeSql: string;
  countSql: string;
  params: Record<string, Param>;
  /** Time order (a window was given), else id order. */
  byTime: boolean;
  window: Window;
}

/**
 * The export query: pages of ids (any page on its own), or, within a
 * window, its chunks of time (nextChunk: whole minutes of the archive's
 * id map), each read through its ids and sorted on its own, oldest first.
 */
export function exportQuery(filters: Filters | undefined, format: ExportFormat = 'csv'): ExportQuery {
  const effective = exportFilters(filters);
  const window = windowOf(effective);
  const byTime = window.fromNs !== undefined || window.toNs !== undefined;
  const from = SELECT_ROWS.slice(SELECT_ROWS.indexOf('FROM signals AS s'));
  const line = format === 'csv' ? csvLineSql() : jsonLineSql();
  const where = filterTerms(effective, {}, { alias: 's' });
  const counted = filterTerms(effective, window, { alias: 's', dialect: SQLITE });
  return {
    chunkSql(chunk) {
      const within = filterTerms(effective, chunk, { alias: 's', dialect: SQLITE });
      return { sql: `SELECT ${line} AS line ${from} ${whereSql(within.terms)} ORDER BY s.ts_ns, s.id`, params: within.params };
    },
    rangeSql: `SELECT sigaudit_lines(s.id, ${line}) AS lines, count(*) AS n
      ${from} ${whereSql([...where.terms, 's.id >= @fromId', 's.id < @toId'])}`,
    countSql: `SELECT count(*) AS n FROM signals AS s ${whereSql(counted.terms)}`,
    params: byTime ? counted.params : where.params,
    byTime,
    window,
  };
}

/** A thread's failure as the error it was: a SigauditError keeps its message and fix; an SQLite error its code. */
function threadFailure({ failure }: PageFailure): Error {
  if (failure.fix !== undefined && failure.code !== undefined) return new SigauditError(failure.code, failure.message, failure.fix, failure.exitCode);
  return Object.assign(new Error(failure.message), { code: failure.code });
}

/** A page thread (page-worker.ts) and the replies it owes, in the order asked. */
class PageThread {
  private readonly worker: Worker;
  private readonly owed: { resolve: (reply: PageReply) => void; reject: (error: Error) => void }[] = [];
  private failure: Error | undefined;

  constructor(data: PageWorkerData) {
    this.worker = new Worker(join(__dirname, 'page-worker.js'), { workerData: data });
    this.worker.on('message', (reply: PageReply | PageFailure) => {
      if ('failure' in reply) this.fail(threadFailure(reply));
      else this.owed.shift()?.resolve(reply);
    });
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => this.fail(new Error(`an export thread stopped (exit code ${code})`)));
  }

  page(fromId: bigint, toId: bigint): Promise<PageReply> {
    if (this.failure) return Promise.reject(this.failure);
    const reply = new Promise<PageReply>((resolve, reject) => this.owed.push({ resolve, reject }));
    this.worker.postMessage({ fromId, toId } satisfies PageRequest);
    return reply;
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const owed of this.owed.splice(0)) owed.reject(error);
  }

  close(): void {
    void this.worker.terminate();
  }
}

/** Archived ids per chunk of an export in time order (a chunk's rows are sorted together; SQLite spills a large sort to disk). */
const CHUNK_IDS = 65_536;

/** In time order: the window's chunks oldest first, their lines written PAGE_ROWS at a time. */
function exportInTimeOrder(db: Database.Database, query: ExportQuery, write: (lines: Uint8Array, rows: number) => void): void {
  let lines: string[] = [];
  const flush = () => {
    if (lines.length > 0) write(Buffer.from(lines.join('')), lines.length);
    lines = [];
  };
  for (let rest: Chunk | undefined = query.window; rest !== undefined; ) {
    const next: { chunk: Chunk; rest: Chunk | undefined } = runLocal(db, nextChunk(rest, 'oldest', CHUNK_IDS));
    const chunk = query.chunkSql(next.chunk);
    for (const line of db.prepare(chunk.sql).pluck().iterate(bindIdWindows(db, chunk)) as IterableIterator<string>) {
      lines.push(line);
      if (lines.length === PAGE_ROWS) flush();
    }
    rest = next.rest;
  }
  flush();
}

/**
 * In id order: pages of PAGE_ROWS ids go round the threads, and are
 * written in order as they come back. Rows recorded meanwhile are
 * exported too: the last id is read again when the pages run out.
 */
async function exportInIdOrder(db: Database.Database, options: ExportOptions, query: ExportQuery, write: (lines: Uint8Array, rows: number) => void): Promise<void> {
  const span = db.prepare(ID_SPAN_SQL).safeIntegers(true);
  let { first, last } = span.get() as { first: bigint | null; last: bigint | null };
  if (first === null || last === null) return;
  const data: PageWorkerData = { dbPath: options.dbPath, sql: query.rangeSql, params: query.params };
  const threads = Array.from({ length: Math.min(availableParallelism(), MAX_PAGE_THREADS) }, () => new PageThread(data));
  try {
    const pending: Promise<PageReply>[] = [];
    let next = first;
    for (let asked = 0; ; ) {
      while (pending.length < threads.length * PAGES_AHEAD_PER_THREAD && next <= last) {
        const reply = threads[asked++ % threads.length].page(next, next + BigInt(PAGE_ROWS));
        reply.catch(() => undefined); // awaited below, in order; a failure must not go unhandled meanwhile
        pending.push(reply);
        next += BigInt(PAGE_ROWS);
      }
      if (pending.length === 0) {
        last = (span.get() as { last: bigint | null }).last ?? last;
        if (next > last) return;
        continue;
      }
      const page = await pending.shift()!;
      write(page.lines, page.rows);
    }
  } finally {
    for (const thread of threads) thread.close();
  }
}

/** Returns how many rows were written. */
export async function exportSignals(options: ExportOptions): Promise<number> {
  const query = exportQuery(options.filters, options.format);
  const db = openForReading(options.dbPath);
  let fd: number | undefined;
  let bar: SingleBar | undefined;
  let rows = 0;
  try {
    // Before the output is created: a missing extension leaves no empty file behind.
    loadLineFunctions(db);
    fd = options.output === undefined ? 1 : openSync(options.output, 'w', 0o640);
    if (options.progress && options.output !== undefined && process.stderr.isTTY) {
      const total = (db.prepare(query.countSql).get(bindIdWindows(db, { sql: query.countSql, params: query.params })) as { n: number }).n;
      bar = new SingleBar({ format: 'export |{bar}| {percentage}% {value}/{total} rows {eta_formatted} left', stream: process.stderr, fps: 5 });
      bar.start(total, 0);
    }
    if (options.format === 'csv') writeAll(fd, stringify([[...COLUMNS]]));
    const out = fd;
    const write = (lines: Uint8Array, n: number) => {
      writeAll(out, lines);
      rows += n;
      bar?.update(rows);
    };
    if (query.byTime) exportInTimeOrder(db, query, write);
    else await exportInIdOrder(db, options, query, write);
  } finally {
    bar?.stop();
    if (options.output !== undefined && fd !== undefined) closeSync(fd);
    db.close();
  }
  return rows;
}

/** The rows export selects, with its defaults: every row a send produced, and signal 0 probes unless asked not to. */
function exportFilters(filters: Filters | undefined): Filters {
  return { ...filters, perTarget: true, includeProbes: filters?.includeProbes ?? true };
}

/** Text that csv-stringify quotes. */
const CSV_QUOTED = /[,"\r\n]/;

/** A CSV field as csv-stringify writes one with its defaults: NULL empty, text quoted, its quotes doubled, when it holds , " CR or LF. */
function csvField(value: ExportValue): string {
  if (typeof value === 'string') return CSV_QUOTED.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
  return value === null ? '' : String(value);
}

/** A JSON value as jsonLine writes one: a bigint as an exact number literal. */
function jsonValue(value: ExportValue): string {
  if (typeof value === 'string') return JSON.stringify(value);
  return value === null ? 'null' : String(value);
}

/** What precedes each value of a JSON line, in the order of an export record's keys: `{"time":`, `,"ts_ns":`, … */
const jsonKeys = (keys: readonly string[]) => keys.map((key, i) => `${i === 0 ? '{' : ','}${JSON.stringify(key)}:`);
const JSON_KEYS = jsonKeys(columnsOf(false));
const FLEET_JSON_KEYS = jsonKeys(columnsOf(true));

/**
 * Export lines in JavaScript: what csv-stringify and jsonLine write for the
 * rows' export records (withHost), which the SQL lines say too
 * (test/export-format.test.ts, test/fleet-forward.test.ts). Written field by
 * field, each line's parts joined once: csv-stringify and a JSON.stringify
 * replacer spend most of a page's time on options and calls per field, and
 * a page grown by += is a rope that costs more to flatten than to join.
 */
export function exportLines(rows: StoredRow[], format: ExportFormat, fleet: boolean): string {
  const lines: string[] = [];
  if (format === 'jsonl') {
    for (const row of rows) {
      const values = Object.values(withHost(row));
      const keys = row.host === undefined ? JSON_KEYS : FLEET_JSON_KEYS;
      const parts: string[] = [];
      for (let i = 0; i < values.length; i++) parts.push(keys[i], jsonValue(values[i]));
      parts.push('}\n');
      lines.push(parts.join(''));
    }
    return lines.join('');
  }
  const columns = columnsOf(fleet);
  for (const row of rows) {
    const record = withHost(row);
    const fields: string[] = [];
    for (const column of columns) fields.push(csvField(record[column] ?? null));
    lines.push(`${fields.join(',')}\n`);
  }
  return lines.join('');
}

/**
 * The fleet's export (sigaudit export --remote) over the read layer: the
 * rows of the filters in time order within a window, else in id order by
 * host, sorted once by the server behind a cursor and fetched a page at a
 * time (paging by the last row would make the server sort or scan again
 * for every page: the fleet's table has no index in id order); `write`
 * gets each page's lines. Locally the same rows are formatted by SQLite
 * itself (exportSignals), which test/fleet-forward.test.ts holds to the
 * same output.
 */
export function* exportSteps(dialect: Dialect, options: { filters?: Filters; format: ExportFormat }, write: (lines: string, rows: number) => void): Steps<number> {
  const filters = exportFilters(options.filters);
  const window = windowOf(filters);
  const where = filterTerms(filters, window, { alias: 's' });
  const order = [...(window.fromNs !== undefined || window.toNs !== undefined ? ['s.ts_ns'] : []), 's.host', 's.id'];
  yield { sql: 'BEGIN READ ONLY', params: {} };
  yield { sql: `DECLARE export_rows NO SCROLL CURSOR FOR ${dialect.selectRows} ${whereSql(where.terms)} ORDER BY ${order.join(', ')}`, params: where.params };
  let written = 0;
  for (;;) {
    const rows = (yield { sql: `FETCH ${PAGE_ROWS} FROM export_rows`, params: {} }) as unknown as StoredRow[];
    if (rows.length > 0) write(exportLines(rows, options.format, dialect.hosts), rows.length);
    written += rows.length;
    if (rows.length < PAGE_ROWS) break;
  }
  yield { sql: 'COMMIT', params: {} };
  return written;
}

/**
 * Runs an export's steps (signals on the fleet; summaries here or there),
 * given how to run a plan, into options.output or stdout, under the CSV
 * header of `columns`; returns how many rows.
 */
export async function exportPlanned(
  options: { format: ExportFormat; output?: string },
  columns: readonly string[],
  steps: (dialect: Dialect, write: (lines: string) => void) => Steps<number>,
  run: (plan: (dialect: Dialect) => Steps<number>) => Promise<number> | number,
): Promise<number> {
  let fd: number | undefined;
  // Opened with the first page: a refused connection leaves no file behind.
  const out = () => {
    if (fd === undefined) {
      fd = options.output === undefined ? 1 : openSync(options.output, 'w', 0o640);
      if (options.format === 'csv') writeAll(fd, stringify([[...columns]]));
    }
    return fd;
  };
  try {
    const rows = await run((dialect) => steps(dialect, (lines) => writeAll(out(), lines)));
    out();
    return rows;
  } finally {
    if (options.output !== undefined && fd !== undefined) closeSync(fd);
  }
}
