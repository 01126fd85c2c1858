// Output shared by the reports: tables that fit 80 columns, and csv, json
// and jsonl with the export's column names.
import { stringify } from 'csv-stringify/sync';
import { jsonLine } from '../export';

export type OutputFormat = 'table' | 'csv' | 'json' | 'jsonl';
export const OUTPUT_FORMATS: OutputFormat[] = ['table', 'csv', 'json', 'jsonl'];

export interface OutputOptions {
  format: OutputFormat;
  /** Times in UTC in tables (csv/json are always ISO 8601 UTC). */
  utc: boolean;
}

/** What a command prints: text on stdout, warnings on stderr. */
export interface Rendered {
  stdout: string;
  warnings: string[];
}

export const TABLE_WIDTH = 80;

export interface TableColumn {
  header: string;
  align?: 'left' | 'right';
  /** Shrinks (cells cut with …) when the table is wider than 80 columns. */
  flex?: boolean;
  /** Never narrower than this when shrinking. */
  min?: number;
}

function cut(text: string, width: number): string {
  if (text.length <= width) return text;
  return width <= 1 ? text.slice(0, width) : `${text.slice(0, width - 1)}…`;
}

/**
 * A plain table: a header and one line per row, columns two spaces apart,
 * no wider than `width` (flex columns are cut to fit, widest first).
 */
/** A line of free text between table rows (a group header, a detail line). */
export interface Note {
  note: string;
}

export function renderTable(columns: TableColumn[], allRows: (string[] | Note)[], width = TABLE_WIDTH): string {
  const rows = allRows.filter((row): row is string[] => Array.isArray(row));
  const widths = columns.map((column, i) => Math.max(column.header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const gap = 2;
  let total = widths.reduce((a, b) => a + b, 0) + gap * (columns.length - 1);
  while (total > width) {
    let widest = -1;
    columns.forEach((column, i) => {
      if (column.flex && widths[i] > Math.max(column.min ?? 6, 1) && (widest === -1 || widths[i] > widths[widest])) widest = i;
    });
    if (widest === -1) break;
    widths[widest]--;
    total--;
  }
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => {
        const text = cut(cell ?? '', widths[i]);
        if (i === cells.length - 1 && columns[i].align !== 'right') return text;
        return columns[i].align === 'right' ? text.padStart(widths[i]) : text.padEnd(widths[i]);
      })
      .join(' '.repeat(gap))
      .trimEnd();
  return [line(columns.map((column) => column.header)), ...allRows.map((row) => (Array.isArray(row) ? line(row) : cut(row.note, width)))].join('\n') + '\n';
}

/** Wraps free text (a verdict, a note) at 80 columns with an indent for the continuation lines. */
export function wrap(text: string, indent = '  ', width = TABLE_WIDTH): string {
  const words = text.split(' ');
  const lines: string[] = [];
  let current = '';
  for (const word of words) {
    if (current !== '' && current.length + 1 + word.length > width) {
      lines.push(current);
      current = indent + word;
    } else current = current === '' ? word : `${current} ${word}`;
  }
  if (current !== '') lines.push(current);
  return lines.join('\n') + '\n';
}

type Value = string | number | bigint | null | boolean | undefined;
export type FlatRecord = Record<string, Value>;

/** CSV with a header row; bigints written exactly, null as an empty field. */
export function csv(columns: readonly string[], records: FlatRecord[]): string {
  return stringify(
    records.map((record) => columns.map((column) => {
      const value = record[column];
      return typeof value === 'bigint' ? value.toString() : value ?? null;
    })),
    { header: true, columns: [...columns] },
  );
}

/** One JSON object per line; bigints as exact number literals. */
export function jsonl(records: FlatRecord[]): string {
  return records.map((record) => `${jsonLine(record)}\n`).join('');
}

/** One JSON document; bigints as exact number literals. */
export function json(document: unknown): string {
  return `${jsonLine(document)}\n`;
}

const SPARKS = '▁▂▃▄▅▆▇█';

/** A sparkline, one character per value, scaled to the largest. */
export function sparkline(values: number[], max = Math.max(...values, 0)): string {
  return values.map((value) => (value === 0 ? ' ' : SPARKS[Math.min(SPARKS.length - 1, Math.floor((value / (max || 1)) * (SPARKS.length - 1) + 0.5))])).join('');
}

/** 12345 -> "12,345". */
export function count(value: number | bigint): string {
  return value.toLocaleString('en-US');
}
