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

/**
 * A thread's failure as a message: an Error thrown in a thread reaches the
 * main thread without its class or fields (it printed as [object Object]),
 * so the fields that make the one-line message travel as data.
 */
export interface PageFailure {
  failure: { message: string; code?: string; fix?: string; exitCode?: number };
}

function failure(error: unknown): PageFailure {
  const { message, code, fix, exitCode } = error as { message?: unknown; code?: unknown; fix?: unknown; exitCode?: unknown };
  return {
    failure: {
      message: typeof message === 'string' ? message : String(error),
      code: typeof code === 'string' ? code : undefined,
      fix: typeof fix === 'string' ? fix : undefined,
      exitCode: typeof exitCode === 'number' ? exitCode : undefined,
    },
  };
}

const { dbPath, sql, params } = workerData as PageWorkerData;
const port = parentPort!;
let serve: ((request: PageRequest) => void) | undefined;
let db: ReturnType<typeof openForReading> | undefined;
try {
  const opened = openForReading(dbPath);
  db = opened;
  loadLineFunctions(opened);
  const page = opened.prepare(sql).safeIntegers(true);
  serve = (request) => {
    const result = page.get({ ...params, fromId: request.fromId, toId: request.toId }) as { lines: Buffer | null; n: bigint };
    const lines = result.lines ?? new Uint8Array(0);
    // better-sqlite3 gives each blob an ArrayBuffer of its own: moving it costs nothing.
    port.postMessage({ lines, rows: Number(result.n) } satisfies PageReply, [lines.buffer as ArrayBuffer]);
  };
} catch (error) {
  port.postMessage(failure(error));
}
port.on('message', (request: PageRequest | 'close') => {
  if (request === 'close') {
    db?.close();
    port.close();
    return;
  }
  if (!serve) return; // the failure to open is already on its way
  try {
    serve(request);
  } catch (error) {
    port.postMessage(failure(error));
  }
});
