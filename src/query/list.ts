// sigaudit query list: the recorded events with every filter, newest first.
import { columnsOf, hostCell, hostHeader, withHost, type StoredRow } from '../export/columns';
import { openForReading } from '../store/database';
import { detailLine, resultLabel, senderLabel, signalLabel, targetLabel, viaLabel } from './describe';
import { dropWarning, dropWindows, dropsJson, dropsQueries, filterTerms, whereSql, windowOf, type DropWindow, type Filters, type Window } from './filters';
import { nextChunk, type Chunk } from './id-windows';
import { SQLITE, runLocal, type Dialect, type Steps } from './read';
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

/** Newest first, `limit` rows and one more (to tell there are more); 0 for all. */
export function listSql(terms: string[], limit: number, dialect: Dialect = SQLITE): string {
  return `${dialect.selectRows} ${whereSql(terms)} ORDER BY s.ts_ns DESC, s.id DESC${limit > 0 ? ` LIMIT ${limit + 1}` : ''}`;
}

/** Archived ids in list's first chunk per row asked (the newest rows are usually in the last minute or two); each next chunk twice as many, up to the last. */
const FIRST_CHUNK_IDS_PER_ROW = 8;
const FIRST_CHUNK_IDS_ALL = 65_536;
const LAST_CHUNK_IDS = 1_048_576;

/**
 * Where the dialect maps times to ids (Dialect.idWindow), the window is
 * read in chunks of time newest first, each sorted on its own, until the
 * limit is reached: sorting a whole window (or database) for its newest
 * rows grows with its rows. Elsewhere one query.
 */
export function* listSteps(dialect: Dialect, options: ListOptions): Steps<ListReport> {
  const window = windowOf(options.filters);
  const { limit } = options;
  const chunkQuery = (chunk: Chunk, rowsLeft: number) => {
    const where = filterTerms(options.filters, chunk, { alias: 's', dialect });
    return { sql: listSql(where.terms, rowsLeft, dialect), params: where.params };
  };
  let rows: StoredRow[] = [];
  if (dialect.idWindow === undefined) rows = (yield chunkQuery(window, limit)) as unknown as StoredRow[];
  else {
    let rest: Chunk | undefined = window;
    let ids = limit > 0 ? (limit + 1) * FIRST_CHUNK_IDS_PER_ROW : FIRST_CHUNK_IDS_ALL;
    while (rest !== undefined && (limit === 0 || rows.length <= limit)) {
      const next: { chunk: Chunk; rest: Chunk | undefined } = yield* nextChunk(rest, 'newest', ids);
      rows = rows.concat((yield chunkQuery(next.chunk, limit === 0 ? 0 : limit - rows.length)) as unknown as StoredRow[]);
      rest = next.rest;
      ids = Math.min(ids * 2, LAST_CHUNK_IDS);
    }
  }
  const drops = dropsQueries(dialect, window);
  const dropRows = { drops: yield drops.drops, summaries: yield drops.summaries };
  const more = limit > 0 && rows.length > limit;
  return { window, rows: more ? rows.slice(0, limit) : rows, more, drops: dropWindows(dropRows), fleet: dialect.hosts };
}

export function list(options: ListOptions & { dbPath: string }): ListReport {
  const db = openForReading(options.dbPath);
  try {
    return runLocal(db, listSteps(SQLITE, options));
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
