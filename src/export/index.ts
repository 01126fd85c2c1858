// sigaudit export: every recorded row as CSV or JSON Lines, streamed from
// SQLite in id order with constant memory.
import { stringify } from 'csv-stringify/sync';
import { closeSync, openSync, writeSync } from 'node:fs';
import { openForReading } from '../store/database';
import { COLUMNS, SELECT_ROWS, exportRecord, type StoredRow } from './columns';

export type ExportFormat = 'csv' | 'jsonl';

export interface ExportOptions {
  dbPath: string;
  format: ExportFormat;
  /** A file to write; stdout when absent. */
  output?: string;
}

/** Rows converted per write: large enough to amortise the call, small enough to stay flat in memory. */
const CHUNK_ROWS = 2000;

function jsonLine(record: ReturnType<typeof exportRecord>): string {
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

function writeAll(fd: number, text: string): void {
  let buffer = Buffer.from(text);
  while (buffer.length > 0) {
    try {
      buffer = buffer.subarray(writeSync(fd, buffer));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
    }
  }
}

/** Returns how many rows were written. */
export function exportSignals(options: ExportOptions): number {
  const db = openForReading(options.dbPath);
  const fd = options.output === undefined ? 1 : openSync(options.output, 'w', 0o640);
  let rows = 0;
  try {
    const statement = db.prepare(`${SELECT_ROWS} ORDER BY s.id`).safeIntegers(true);
    let chunk: ReturnType<typeof exportRecord>[] = [];
    const flush = () => {
      if (options.format === 'csv') writeAll(fd, csvChunk(chunk, rows === chunk.length));
      else writeAll(fd, chunk.map((record) => `${jsonLine(record)}\n`).join(''));
      chunk = [];
    };
    for (const row of statement.iterate() as IterableIterator<StoredRow>) {
      chunk.push(exportRecord(row));
      rows++;
      if (chunk.length === CHUNK_ROWS) flush();
    }
    if (chunk.length > 0 || (rows === 0 && options.format === 'csv')) flush();
  } finally {
    if (options.output !== undefined) closeSync(fd);
    db.close();
  }
  return rows;
}
