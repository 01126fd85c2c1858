// A thread of `sigaudit export`: formats the pages of ids the main thread
// asks for, on a read connection of its own, so that every CPU formats
// pages at once (SQLite builds each line: ~7 µs a row on one CPU).
import { parentPort, workerData } from 'node:worker_threads';
import { openForReading } from '../store/database';
import { registerCsvQuoting } from './sql-format';

export interface PageWorkerData {
  dbPath: string;
  /** ExportQuery.rangeSql */
  sql: string;
  params: Record<string, unknown>;
  csv: boolean;
}

/** A page request: ids in [fromId, toId); the reply is a PageReply. */
export interface PageRequest {
  fromId: bigint;
  toId: bigint;
}

export interface PageReply {
  text: string;
  rows: number;
}

const { dbPath, sql, params, csv } = workerData as PageWorkerData;
const db = openForReading(dbPath);
if (csv) registerCsvQuoting(db);
const page = db.prepare(sql).safeIntegers(true);
const port = parentPort!;
port.on('message', (request: PageRequest | 'close') => {
  if (request === 'close') {
    db.close();
    port.close();
    return;
  }
  const result = page.get({ ...params, fromId: request.fromId, toId: request.toId }) as { text: string | null; n: bigint };
  port.postMessage({ text: result.text ?? '', rows: Number(result.n) } satisfies PageReply);
});
