// sigaudit query sql: read-only SQL for what the reports do not cover. The
// database is opened read-only, the connection is set query_only, and a
// statement SQLite does not call read-only is refused before it runs.
import type Database from 'better-sqlite3';
import { SigauditError } from '../errors';
import { damagedDatabase, isDamageError } from '../store/damage';
import { openForReading } from '../store/database';
import { csv, json, jsonl, renderTable, type OutputOptions, type Rendered } from './format';

export interface SqlOptions {
  dbPath: string;
  sql: string;
}

export interface SqlReport {
  columns: string[];
  rows: Record<string, unknown>[];
}

function refuse(message: string): SigauditError {
  return new SigauditError('ESQLREFUSED', message, 'use a single SELECT (or WITH … SELECT); sigaudit query sql never writes to the database', 2);
}

export function runSql(options: SqlOptions): SqlReport {
  const db = openForReading(options.dbPath);
  try {
    db.pragma('query_only = ON');
    let statement: Database.Statement;
    try {
      statement = db.prepare(options.sql);
    } catch (error) {
      // A damaged file is not the statement's fault.
      if (isDamageError(error)) throw damagedDatabase(options.dbPath, error);
      const message = (error as Error).message;
      if (/more than one statement/.test(message)) throw refuse('query sql runs one statement at a time');
      throw new SigauditError('ESQL', `SQL error: ${message}`, 'check the statement; the tables are signals (a view), runs, drops, cgroups, sender_minutes', 2);
    }
    if (!statement.readonly) throw refuse('query sql refuses statements that write (this one would change the database)');
    if (!statement.reader) throw refuse('query sql runs statements that return rows');
    statement.safeIntegers(true);
    const columns = statement.columns().map((column) => column.name);
    try {
      return { columns, rows: statement.all() as Record<string, unknown>[] };
    } catch (error) {
      if (isDamageError(error)) throw damagedDatabase(options.dbPath, error);
      throw new SigauditError('ESQL', `SQL error: ${(error as Error).message}`, 'check the statement', 2);
    }
  } finally {
    db.close();
  }
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (Buffer.isBuffer(value)) return `x'${value.toString('hex')}'`;
  return String(value);
}

export function renderSql(report: SqlReport, output: OutputOptions): Rendered {
  const records = report.rows.map((row) =>
    Object.fromEntries(Object.entries(row).map(([key, value]) => [key, Buffer.isBuffer(value) ? value.toString('hex') : (value as string | number | bigint | null)])),
  );
  if (output.format === 'csv') return { stdout: csv(report.columns, records), warnings: [] };
  if (output.format === 'jsonl') return { stdout: jsonl(records), warnings: [] };
  if (output.format === 'json') return { stdout: json(records), warnings: [] };
  const table = renderTable(
    report.columns.map((header) => ({ header, flex: true, min: 4 })),
    report.rows.map((row) => report.columns.map((column) => cell(row[column]))),
  );
  return { stdout: `${table}(${report.rows.length} rows)\n`, warnings: [] };
}
