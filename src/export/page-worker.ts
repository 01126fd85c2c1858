// A thread of `sigaudit export`: formats the pages of ids the main thread
// asks for, on a read connection of its own, so that every CPU formats
// pages at once (SQLite builds each line: ~7 µs a row on one CPU).
import { parentPort, workerData } from 'node:worker_threads';
import { openForReading } from '../store/database';
import { loadLineFunctions } from './sql-format';

export interface PageWorkerData {
  dbPath: string;
  /** ExportQuery.rangeSql */
  sql: string;
  params: Record<string, unknown>;
}

/** A page request: ids in [fromId, toId); the reply is a PageReply. */
export interface PageRequest {
  fromId: bigint;
  toId: bigint;
}

export interface PageReply {
  /** The page's lines as UTF-8, moved here (not copied) from the thread. */
  lines: Uint8Array;
  rows: number;
}

const { dbPath, sql, params } = workerData as PageWorkerData;
const db = openForReading(dbPath);
loadLineFunctions(db);
const page = db.prepare(sql).safeIntegers(true);
const port = parentPort!;
port.on('message', (request: PageRequest | 'close') => {
  if (request === 'close') {
    db.close();
    port.close();
    return;
  }
  const result = page.get({ ...params, fromId: request.fromId, toId: request.toId }) as { lines: Buffer | null; n: bigint };
  const lines = result.lines ?? new Uint8Array(0);
  // better-sqlite3 gives each blob an ArrayBuffer of its own: moving it costs nothing.
  port.postMessage({ lines, rows: Number(result.n) } satisfies PageReply, [lines.buffer as ArrayBuffer]);
});
