// sigaudit query list: the recorded events with every filter, newest first.
import { columnsOf, hostCell, hostHeader, withHost, type StoredRow } from '../export/columns';
import { openForReading } from '../store/database';
import { detailLine, resultLabel, senderLabel, signalLabel, targetLabel, viaLabel } from './describe';
import { dropWarning, dropWindows, dropsJson, dropsQueries, filterTerms, whereSql, windowOf, type DropWindow, type Filters, type Window } from './filters';
import { SQLITE, runLocal, type Dialect, type Plan } from './read';
import { csv, json, jsonl, renderTable, wrap, type Note, type OutputOptions, type Rendered } from './format';
import { shortTime } from './time';

export interface ListOptions {
  filters: Filters;
  /** Newest rows shown; 0 for all (sigaudit export streams any number). */
  limit: number;
  /** A line under each row with the sender's parent, login uid and unit. */
  details?: boolean;
}

export interface ListReport {
  window: Window;
  rows: StoredRow[];
  /** Whether more rows matched than the limit. */
  more: boolean;
  drops: DropWindow[];
  /** Rows from the fleet, with their host. */
  fleet: boolean;
}

/** Newest first: the archive side walks signals_archive_ts_ns backwards, the hot side is small. */
export function listSql(terms: string[], limit: number, dialect: Dialect = SQLITE): string {
  return `${dialect.selectRows} ${whereSql(terms)} ORDER BY s.ts_ns DESC, s.id DESC${limit > 0 ? ` LIMIT ${limit + 1}` : ''}`;
}

export function listPlan(dialect: Dialect, options: ListOptions): Plan<ListReport> {
  const window = windowOf(options.filters);
  const where = filterTerms(options.filters, window, { alias: 's' });
  return {
    queries: { rows: { sql: listSql(where.terms, options.limit, dialect), params: where.params }, ...dropsQueries(dialect, window) },
    shape(results) {
      const rows = results.rows as unknown as StoredRow[];
      const more = options.limit > 0 && rows.length > options.limit;
      return { window, rows: more ? rows.slice(0, options.limit) : rows, more, drops: dropWindows(results), fleet: dialect.hosts };
    },
  };
}

export function list(options: ListOptions & { dbPath: string }): ListReport {
  const db = openForReading(options.dbPath);
  try {
    return runLocal(db, listPlan(SQLITE, options));
  } finally {
    db.close();
  }
}

export function renderList(report: ListReport, output: OutputOptions, details = false): Rendered {
  const warning = dropWarning(report.drops, output.utc);
  const warnings = warning ? [warning] : [];
  const records = report.rows.map(withHost);
  if (output.format === 'csv') return { stdout: csv(columnsOf(report.fleet), records), warnings };
  if (output.format === 'jsonl') return { stdout: jsonl(records), warnings };
  if (output.format === 'json') return { stdout: json({ rows: records, more: report.more, drops: dropsJson(report.drops), incomplete: report.drops.length > 0 }), warnings: [] };
  const lines: (string[] | Note)[] = [];
  for (const row of report.rows) {
    lines.push([shortTime(row.ts_ns, output.utc), ...hostCell(row), signalLabel(Number(row.signal)), senderLabel(row), targetLabel(row), viaLabel(row), resultLabel(row)]);
    const detail = details ? detailLine(row) : '';
    if (detail) lines.push({ note: `${' '.repeat(20)}${detail}` });
  }
  let text = report.rows.length === 0
    ? '(no signals)\n'
    : renderTable(
        [{ header: 'TIME' }, ...hostHeader(report.fleet), { header: 'SIGNAL', flex: true, min: 7 }, { header: 'SENDER', flex: true, min: 10 }, { header: 'TARGET', flex: true, min: 10 }, { header: 'VIA', flex: true, min: 5 }, { header: 'RESULT', flex: true, min: 6 }],
        lines,
      );
  if (report.more) text += `(newest ${report.rows.length} shown; --limit 0 for all, or sigaudit export)\n`;
  if (warning) text += wrap(warning);
  return { stdout: text, warnings: [] };
}
