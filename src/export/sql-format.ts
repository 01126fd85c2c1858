// Export lines formatted by SQLite itself: one CSV or JSON line per row,
// concatenated per page, so JavaScript handles one blob per few thousand
// rows instead of 27 values per row (about 20x faster). The values are the
// ones exportRecord gives (each column's SQL stands beside its JavaScript in
// src/export/columns.ts); test/export-format.test.ts holds the two to the
// same output.
import type Database from 'better-sqlite3';
import { loadExtension } from '../store/extension';
import { COLUMNS, columnSql } from './columns';

/**
 * Loads native/report-lines.c into db: sigaudit_csv_record, which writes a
 * CSV record as csv-stringify does, sigaudit_iso_time, which writes a time
 * as isoTime does, and sigaudit_lines, which joins a page's lines in id
 * order without sorting rows that come in order.
 */
export function loadLineFunctions(db: Database.Database): void {
  loadExtension(db);
}

/** One CSV record (with its newline) per row. */
export function csvLineSql(): string {
  return `sigaudit_csv_record(${COLUMNS.map(columnSql).join(', ')})`;
}

/** One JSON object (with its newline) per row; integers stay exact. */
export function jsonLineSql(): string {
  return `json_object(${COLUMNS.map((column) => `'${column}', ${columnSql(column)}`).join(', ')}) || char(10)`;
}
