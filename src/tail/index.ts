// sigaudit tail: prints signals as the recorder writes them, like tail -f.
// It polls the database read-only for rows past the last id it printed
// (ids only grow: one recorder writes, in id order), so any reader who may
// open the database may follow it, root or not. Drop windows, unclean
// shutdowns and retention that happen meanwhile are reported on stderr;
// the kernel's summaries (sends beyond --flood-budget) as they are
// committed, in the table, or on stderr beside csv and jsonl rows.
// tail --remote (tailRemote) follows the fleet's rows as forwarders commit them.
import type Database from 'better-sqlite3';
import { stringify } from 'csv-stringify/sync';
import { exportLines } from '../export';
import { SELECT_ROWS, columnsOf, hostCell, type StoredRow } from '../export/columns';
import { betweenPositions, positionsOf, positionsQuery, type Positions, type RemoteReader } from '../fleet/remote';
import { resultLabel, senderLabel, signalLabel, targetLabel, viaLabel } from '../query/describe';
import { filterTerms, whereSql, summaryLine, summaryTerms, windowOf, type Filters, type StoredSummary } from '../query/filters';
import { longTime, shortTime } from '../query/time';
import { isDamageError } from '../store/damage';
import { openForReading } from '../store/database';

export type TailFormat = 'table' | 'jsonl' | 'csv';
export const TAIL_FORMATS: TailFormat[] = ['table', 'jsonl', 'csv'];

export interface TailOptions {
  dbPath: string;
  filters: Filters;
  format: TailFormat;
  utc: boolean;
  /** Rows already recorded to print first (like tail -n); 0 for none. */
  lines: number;
  /** How often to look for new rows. */
  pollMs: number;
  /** Keep following (false: print the last rows and return). */
  follow: boolean;
  /** Ends the follow loop. */
  signal?: AbortSignal;
  out: (text: string) => void;
  warn: (line: string) => void;
}

/** Fixed widths, so lines printed at different times line up under one header. */
const TABLE = [
  { header: 'TIME', width: 18 },
  { header: 'SIGNAL', width: 9 },
  { header: 'SENDER', width: 20 },
  { header: 'TARGET', width: 20 },
  { header: 'VIA', width: 17 },
  { header: 'RESULT', width: 0 },
];
/** The fleet's table: the host after the time. */
const FLEET_TABLE = [TABLE[0], { header: 'HOST', width: 12 }, ...TABLE.slice(1)];
const MOST_ROWS_PER_POLL = 10_000;

function cell(text: string, width: number): string {
  if (width === 0) return text;
  return text.length > width ? `${text.slice(0, width - 1)}…` : text.padEnd(width);
}

function tableLine(cells: string[], fleet = false): string {
  const table = fleet ? FLEET_TABLE : TABLE;
  return `${cells.map((text, i) => cell(text, table[i].width)).join('  ').trimEnd()}\n`;
}

function render(rows: StoredRow[], format: TailFormat, utc: boolean, fleet = false): string {
  if (format !== 'table') return exportLines(rows, format, fleet);
  return rows
    .map((row) => tableLine([shortTime(row.ts_ns, utc), ...hostCell(row), signalLabel(Number(row.signal)), senderLabel(row), targetLabel(row), viaLabel(row), resultLabel(row)], fleet))
    .join('');
}

function header(format: TailFormat, fleet = false): string {
  if (format === 'table') return tableLine((fleet ? FLEET_TABLE : TABLE).map((column) => column.header), fleet);
  if (format === 'csv') return stringify([[...columnsOf(fleet)]]);
  return '';
}

/** Waits pollMs, or less when the signal aborts; false once it has. */
async function nextPoll(options: Pick<TailOptions, 'pollMs' | 'signal'>): Promise<boolean> {
  await new Promise<void>((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', wake);
      resolve();
    };
    const timer = setTimeout(wake, options.pollMs);
    options.signal?.addEventListener('abort', wake, { once: true });
  });
  return !options.signal?.aborted;
}

interface Marks {
  id: bigint;
  drop: bigint;
  unclean: bigint;
  prune: bigint;
  summary: bigint;
}

function marks(db: Database.Database): Marks {
  return db
    .prepare(`SELECT
        max(coalesce((SELECT max(id) FROM signals_archive), 0), coalesce((SELECT max(id) FROM signals_hot), 0)) AS id,
        coalesce((SELECT max(id) FROM drops), 0) AS "drop",
        coalesce((SELECT max(id) FROM unclean_shutdowns), 0) AS unclean,
        coalesce((SELECT max(id) FROM prunes), 0) AS prune,
        coalesce((SELECT max(id) FROM summaries), 0) AS summary`)
    .safeIntegers(true)
    .get() as Marks;
}

/** What happened to the record since `from`: drops, crashes, retention (stderr lines). */
function notices(db: Database.Database, from: Marks, to: Marks, utc: boolean): string[] {
  const lines: string[] = [];
  const t = (ns: bigint) => longTime(ns, utc);
  for (const drop of db.prepare('SELECT from_ns, to_ns, count, reason FROM drops WHERE id > ? AND id <= ? ORDER BY id').safeIntegers(true).all(from.drop, to.drop) as { from_ns: bigint; to_ns: bigint; count: bigint; reason: string }[])
    lines.push(`warning: ${drop.count} signals were dropped (${drop.reason}) between ${t(drop.from_ns)} and ${t(drop.to_ns)}`);
  for (const gap of db.prepare('SELECT from_ns, to_ns FROM unclean_shutdowns WHERE id > ? AND id <= ? ORDER BY id').safeIntegers(true).all(from.unclean, to.unclean) as { from_ns: bigint; to_ns: bigint }[])
    lines.push(`warning: the recorder did not stop cleanly: nothing was recorded between ${t(gap.from_ns)} and ${t(gap.to_ns)}`);
  if (to.prune > from.prune) lines.push('note: retention deleted old signals (see sigaudit status)');
  return lines;
}

/**
 * Prints the last `lines` matching rows, then (with follow) every new
 * matching row until the signal aborts. Returns how many rows it printed.
 */
export async function tail(options: TailOptions): Promise<number> {
  const window = windowOf(options.filters);
  const db = openForReading(options.dbPath);
  let printed = 0;
  try {
    const where = filterTerms(options.filters, window, { alias: 's' });
    const conditions = (extra: string) => `WHERE ${[extra, ...where.terms].join(' AND ')}`;
    const last = db.prepare(`${SELECT_ROWS} ${conditions('s.id <= @upTo')} ORDER BY s.id DESC LIMIT @lines`).safeIntegers(true);
    const next = db.prepare(`${SELECT_ROWS} ${conditions('s.id > @after AND s.id <= @upTo')} ORDER BY s.id LIMIT ${MOST_ROWS_PER_POLL}`).safeIntegers(true);
    // Summaries are named whatever the probe default: hiding a flood of signal 0 would hide the flood.
    const summaryWhere = summaryTerms(options.filters, window, true);
    const summaries = db
      .prepare(`SELECT * FROM summaries WHERE ${['id > @after', 'id <= @upTo', ...summaryWhere.terms].join(' AND ')} ORDER BY id`)
      .safeIntegers(true);

    let seen = marks(db);
    options.out(header(options.format));
    if (options.lines > 0) {
      const rows = (last.all({ ...where.params, upTo: seen.id, lines: options.lines }) as StoredRow[]).reverse();
      options.out(render(rows, options.format, options.utc));
      printed += rows.length;
    }
    let failure: string | undefined;
    while (options.follow && !options.signal?.aborted) {
      if (!(await nextPoll(options))) break;
      try {
        const now = marks(db);
        for (const line of notices(db, seen, now, options.utc)) options.warn(line);
        // Rows up to now.id, in pages: a storm can add more than one page between polls.
        let after = seen.id;
        for (;;) {
          const rows = next.all({ ...where.params, after, upTo: now.id }) as StoredRow[];
          if (rows.length > 0) options.out(render(rows, options.format, options.utc));
          printed += rows.length;
          if (rows.length < MOST_ROWS_PER_POLL) break;
          after = rows[rows.length - 1].id;
        }
        const counted = summaries.all({ ...summaryWhere.params, after: seen.summary, upTo: now.summary }) as StoredSummary[];
        if (options.format === 'table') options.out(counted.map((row) => `${cell(shortTime(row.last_ns, options.utc), TABLE[0].width)}  ${summaryLine(row, options.utc)}\n`).join(''));
        else for (const row of counted) options.warn(summaryLine(row, options.utc));
        seen = now;
        if (failure) options.warn(`reading ${options.dbPath} again`);
        failure = undefined;
      } catch (error) {
        if (isDamageError(error)) throw error;
        // Busy while the recorder switches journal mode, or the file is being replaced: try again.
        const cause = (error as Error).message;
        if (cause !== failure) options.warn(`cannot read ${options.dbPath} now (${cause}); retrying`);
        failure = cause;
      }
    }
    return printed;
  } finally {
    db.close();
  }
}

/**
 * tail --remote: the fleet's rows as the forwarders add them, from each
 * source past the position it was printed up to (positionsQuery), in time
 * order within each poll; the rows, filters and output are the local
 * tail's, with the host column. The server is polled no more than once a
 * second.
 */
export async function tailRemote(options: Omit<TailOptions, 'dbPath'> & { reader: RemoteReader; host?: string }): Promise<number> {
  const { reader } = options;
  const window = windowOf(options.filters);
  const where = filterTerms(options.filters, window, { alias: 's' });
  const positions = async () => positionsOf(await reader.all(positionsQuery(options.host)));
  /** The rows forwarded after `after` up to `upTo`, in `order`. */
  const rowsBetween = async (after: Positions, upTo: Positions, order: string, limit?: number) => {
    const between = betweenPositions('s', after, upTo);
    if (!between) return [];
    const sql = `${reader.dialect.selectRows} ${whereSql([...where.terms, between.term])} ORDER BY ${order}${limit === undefined ? '' : ` LIMIT ${limit}`}`;
    return (await reader.all({ sql, params: { ...where.params, ...between.params } })) as unknown as StoredRow[];
  };
  let printed = 0;
  try {
    let seen = await positions();
    options.out(header(options.format, true));
    if (options.lines > 0) {
      const rows = (await rowsBetween(new Map(), seen, 's.ts_ns DESC, s.host DESC, s.id DESC', options.lines)).reverse();
      options.out(render(rows, options.format, options.utc, true));
      printed += rows.length;
    }
    while (options.follow && (await nextPoll({ ...options, pollMs: Math.max(options.pollMs, 1000) }))) {
      const now = await positions();
      const rows = await rowsBetween(seen, now, 's.ts_ns, s.host, s.id');
      if (rows.length > 0) options.out(render(rows, options.format, options.utc, true));
      printed += rows.length;
      seen = now;
    }
    return printed;
  } finally {
    await reader.close();
  }
}
