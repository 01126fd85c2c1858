// The filters every report and export share, turned into SQL over the
// signals view, and the facts about the database a query needs around them:
// the time span it covers and the drop windows that overlap a query.
import type Database from 'better-sqlite3';
import { InvalidArgumentError } from 'commander';
import { usageError } from '../errors';
import { SOURCES, signalName, signalNumber, type Source } from '../names';
import { count } from './format';
import { SQLITE, runLocal, type Dialect, type Query, type Row } from './read';
import { dateToNs, longTime } from './time';

/** `syscall` is every source but the kernel. */
export type SourceFilter = 'syscall' | Source;

export interface Filters {
  since?: Date;
  until?: Date;
  senderPid?: number;
  senderComm?: string;
  /** The sender's uid. */
  uid?: number;
  /** A process reached by the signal, or addressed by a send that reached none. */
  targetPid?: number;
  signals?: number[];
  source?: SourceFilter;
  /** Signal 0 liveness checks: left out unless true (or --signal 0). */
  includeProbes?: boolean;
  /** Count every task a send reached, not each send once. */
  perTarget?: boolean;
}

/** One hour, the bucket of the archive's lookup indexes (migrations/0020-query-indexes.sql). */
export const HOUR_NS = 3_600_000_000_000n;
export const MINUTE_NS = 60_000_000_000n;

export interface Window {
  /** Inclusive bounds in ns; undefined when open. */
  fromNs?: bigint;
  toNs?: bigint;
}

/** Refuses --since after --until. */
export function windowOf(filters: Filters): Window {
  const fromNs = filters.since && dateToNs(filters.since);
  const toNs = filters.until && dateToNs(filters.until);
  if (fromNs !== undefined && toNs !== undefined && fromNs > toNs)
    throw usageError(
      `--since (${longTime(fromNs, false)}) is after --until (${longTime(toNs, false)})`,
      'swap them, or leave one out for an open-ended window',
    );
  return { fromNs, toNs };
}

export interface Span {
  fromNs: bigint;
  toNs: bigint;
}

/** The first and last stored times (from Dialect.spanSql's row); null when empty. */
export function spanOf(ends: Row): Span | null {
  const froms = [ends.archive_from, ends.hot_from].filter((value): value is bigint => value !== null && value !== undefined);
  const tos = [ends.archive_to, ends.hot_to].filter((value): value is bigint => value !== null && value !== undefined);
  if (froms.length === 0) return null;
  return { fromNs: froms.reduce((a, b) => (a < b ? a : b)), toNs: tos.reduce((a, b) => (a > b ? a : b)) };
}

export function dataSpan(db: Database.Database): Span | null {
  return spanOf(db.prepare(SQLITE.spanSql).safeIntegers(true).get() as Row);
}

/**
 * The hours a window spans, clipped to the data, as a JSON array: for the
 * hour-keyed rollups, and the hour terms of a dialect kept by hour
 * (Dialect.hourTerm).
 */
export function hoursJson(window: Window, span: Span | null): string {
  if (span === null) return '[]';
  const from = window.fromNs !== undefined && window.fromNs > span.fromNs ? window.fromNs : span.fromNs;
  const to = window.toNs !== undefined && window.toNs < span.toNs ? window.toNs : span.toNs;
  const hours: string[] = [];
  for (let hour = from / HOUR_NS; hour <= to / HOUR_NS; hour++) hours.push(hour.toString());
  return `[${hours.join(',')}]`;
}

export interface Where {
  /** Terms to AND together (no leading WHERE). */
  terms: string[];
  params: Record<string, string | number | bigint>;
}

/**
 * The filters as SQL terms over the signals view (column names without a
 * table alias unless `alias` is given). `options.skip` leaves out filters a
 * report applies in its own way; `options.columns` gives an expression for
 * a view column, for terms over a stored table's own columns. With
 * `options.dialect`, a window (either end) is also narrowed by its id term
 * (Dialect.idWindow) where the dialect has one.
 */
export function filterTerms(
  filters: Filters,
  window: Window,
  options: { alias?: string; skip?: (keyof Filters)[]; columns?: Record<string, string>; dialect?: Dialect } = {},
): Where {
  const c = (column: string) => options.columns?.[column] ?? (options.alias ? `${options.alias}.${column}` : column);
  const skip = new Set(options.skip ?? []);
  const terms: string[] = [];
  const params: Where['params'] = {};
  if (window.fromNs !== undefined) {
    terms.push(`${c('ts_ns')} >= @fromNs`);
    params.fromNs = window.fromNs;
  }
  if (window.toNs !== undefined) {
    terms.push(`${c('ts_ns')} <= @toNs`);
    params.toNs = window.toNs;
  }
  if (options.dialect?.idWindow && (window.fromNs !== undefined || window.toNs !== undefined)) terms.push(options.dialect.idWindow(c('id')));
  // A pid is the global one or the one the recorder's pid namespace gave
  // (the *_ns_pid columns): users in a container type the pids they see.
  if (filters.senderPid !== undefined && !skip.has('senderPid')) {
    terms.push(`(${c('sender_pid')} = @senderPid OR ${c('sender_ns_pid')} = @senderPid)`);
    params.senderPid = filters.senderPid;
  }
  if (filters.senderComm !== undefined && !skip.has('senderComm')) {
    terms.push(`${c('sender_comm')} = @senderComm`);
    params.senderComm = filters.senderComm;
  }
  if (filters.uid !== undefined && !skip.has('uid')) {
    terms.push(`${c('sender_uid')} = @uid`);
    params.uid = filters.uid;
  }
  if (filters.targetPid !== undefined && !skip.has('targetPid')) {
    terms.push(
      `(${c('delivered_pid')} = @targetPid OR ${c('delivered_ns_pid')} = @targetPid` +
        ` OR (${c('delivered_pid')} IS NULL AND (${c('target_pid')} = @targetPid OR ${c('target_ns_pid')} = @targetPid)))`,
    );
    params.targetPid = filters.targetPid;
  }
  if (filters.signals !== undefined && filters.signals.length > 0 && !skip.has('signals')) {
    terms.push(`${c('signal')} IN (${filters.signals.map((signal) => Number(signal)).join(', ')})`);
  }
  if (!probesIncluded(filters) && !skip.has('includeProbes')) terms.push(`${c('signal')} != 0`);
  if (filters.source !== undefined && !skip.has('source')) {
    if (filters.source === 'syscall') terms.push(`${c('source')} != 'kernel'`);
    else {
      terms.push(`${c('source')} = @source`);
      params.source = filters.source;
    }
  }
  if (!filters.perTarget && !skip.has('perTarget')) terms.push(`${c('fanout')} = 0`);
  return { terms, params };
}

export function probesIncluded(filters: Filters): boolean {
  return filters.includeProbes === true || (filters.signals?.includes(0) ?? false);
}

export function whereSql(terms: string[]): string {
  return terms.length === 0 ? '' : `WHERE ${terms.join(' AND ')}`;
}

export interface DropWindow {
  fromNs: bigint;
  toNs: bigint;
  /** Signals lost (dropped, or deleted by retention); null when unknown (the recorder was down). */
  count: bigint | null;
  /** ring_buffer_full and the like; 'unclean_shutdown'; 'retention_age' / 'retention_size'; 'not_forwarded' (the fleet's: deleted on the host before it was forwarded); 'summarised' / 'dropped_by_sender' (with `sender`); 'earlier_database_damaged' / _deleted / _replaced. */
  reason: string;
  /** Whose sends a summary window counts (migrations/0070-summaries.sql). */
  sender?: SummarisedSends;
  /** An earlier database: where it was moved (null when it was deleted or replaced); signals before fromNs are there. */
  movedTo?: string | null;
}

/** One sender's sends of one signal that the kernel counted instead of recording. */
export interface SummarisedSends {
  pid: number;
  comm: string;
  uid: number;
  source: Source;
  signal: number;
  /** 'self', the one pid addressed, or null for several (`targets` of them) or none known (coarse summaries only). */
  target: 'self' | number | null;
  targets: number;
}

/**
 * The summaries overlapping the window, one per sender, signal and
 * outcome: sends beyond the sender's --flood-budget ('summarised'), and
 * protected sends the ring had no room for ('dropped_by_sender', also in
 * the drops table's count).
 */
function summariesQuery(dialect: Dialect, from: bigint, to: bigint): Query {
  return {
    sql: `SELECT min(first_ns) AS from_ns, max(last_ns) AS to_ns, sum(count) AS count, outcome, sender_pid,
        max(sender_comm) AS comm, sender_uid, source, signal, count(DISTINCT target_pid) AS targets,
        max(CASE WHEN target_pid IS NULL THEN NULL WHEN target_pid = sender_pid THEN 'self' ELSE CAST(target_pid AS TEXT) END) AS target
      FROM ${dialect.table('summaries')} AS summaries WHERE last_ns >= @from AND first_ns <= @to
      GROUP BY outcome, sender_pid, sender_uid, source, signal ORDER BY 1`,
    params: { from, to },
  };
}

function summaryWindows(rows: Row[]): DropWindow[] {
  return rows.map((row) => {
    const targets = Number(row.targets);
    // Rows without a target (coarse) leave the one target the others name.
    const target = targets !== 1 ? null : row.target === 'self' ? 'self' : Number(row.target);
    return {
      fromNs: row.from_ns as bigint,
      toNs: row.to_ns as bigint,
      count: row.count as bigint,
      reason: row.outcome === 'dropped' ? 'dropped_by_sender' : 'summarised',
      sender: {
        pid: Number(row.sender_pid), comm: row.comm as string, uid: Number(row.sender_uid), source: row.source as Source,
        signal: Number(row.signal), target, targets,
      },
    };
  });
}

/** A row of the summaries table, as tail and export read it. */
export interface StoredSummary {
  id: bigint;
  run_id: bigint;
  first_ns: bigint;
  last_ns: bigint;
  count: bigint;
  outcome: 'summarised' | 'dropped';
  source: Source;
  sender_pid: bigint;
  sender_comm: string;
  sender_uid: bigint;
  signal: bigint;
  target_pid: bigint | null;
  ret: bigint | null;
  result: string | null;
}

/** One summaries row as the sends describeSends names. */
export function sendsOfSummary(row: StoredSummary): SummarisedSends {
  const target = row.target_pid === null ? null : row.target_pid === row.sender_pid ? 'self' : Number(row.target_pid);
  return {
    pid: Number(row.sender_pid), comm: row.sender_comm, uid: Number(row.sender_uid), source: row.source,
    signal: Number(row.signal), target, targets: target === null ? 0 : 1,
  };
}

/**
 * The filters as SQL terms over the summaries table: its rows overlapping
 * the window, of the sender, signals and source asked for, addressed to
 * the target pid. Signal 0 is left out only when `probes` is false.
 */
export function summaryTerms(filters: Filters, window: Window, probes: boolean): Where {
  const where = filterTerms({ ...filters, includeProbes: probes }, {}, { skip: ['senderPid', 'targetPid', 'perTarget'] });
  // The kernel keys a summary by global pids only: no namespace pid to match.
  for (const [filter, column] of [['senderPid', 'sender_pid'], ['targetPid', 'target_pid']] as const) {
    if (filters[filter] === undefined) continue;
    where.terms.push(`${column} = @${filter}`);
    where.params[filter] = filters[filter];
  }
  if (window.fromNs !== undefined) {
    where.terms.push('last_ns >= @fromNs');
    where.params.fromNs = window.fromNs;
  }
  if (window.toNs !== undefined) {
    where.terms.push('first_ns <= @toNs');
    where.params.toNs = window.toNs;
  }
  return where;
}

/** "flooder[4242] (uid 65534) sent 19,850,113 × kill(self, 0) between … and … (summarised)" */
export function summaryLine(row: StoredSummary, utc: boolean): string {
  return `${describeSends(sendsOfSummary(row), row.count)} between ${longTime(row.first_ns, utc)} and ${longTime(row.last_ns, utc)} (${row.outcome})`;
}

/** "loadgen[4242] (uid 65534) sent 19,850,113 × kill(self, 0)" */
export function describeSends(sender: SummarisedSends, sends: bigint): string {
  const target = sender.target ?? (sender.targets > 1 ? `${sender.targets} targets` : 'any');
  const signal = signalName(sender.signal) || '0';
  const what = sender.source === 'kernel' ? `${signal} raised by the kernel for ${target}` : `${sender.source}(${target}, ${signal})`;
  const who = sender.pid === 0 ? `processes of uid ${sender.uid}` : `${sender.comm}[${sender.pid}] (uid ${sender.uid})`;
  return `${who} sent ${count(sends)} × ${what}`;
}

/**
 * Windows in which the database misses signals that overlap the window:
 * recorded drops, recorder crashes (unclean_shutdowns) and rows retention
 * deleted (prunes). An answer there may be incomplete.
 */
export function dropsQueries(dialect: Dialect, window: Window): Record<'drops' | 'summaries', Query> {
  const from = window.fromNs ?? -(2n ** 62n);
  const to = window.toNs ?? 2n ** 62n;
  const t = (name: string) => `${dialect.table(name)} AS ${name}`;
  return {
    drops: {
      sql: `SELECT from_ns, to_ns, count, reason, NULL AS moved_to FROM ${t('drops')} WHERE to_ns >= @from AND from_ns <= @to
      UNION ALL SELECT from_ns, to_ns, NULL, 'unclean_shutdown', NULL FROM ${t('unclean_shutdowns')} WHERE to_ns >= @from AND from_ns <= @to
      UNION ALL SELECT from_ns, to_ns, rows, 'retention_' || reason, NULL FROM ${t('prunes')} WHERE to_ns >= @from AND from_ns <= @to
      UNION ALL SELECT found_ns, found_ns, NULL, 'earlier_database_' || what, moved_to FROM ${t('earlier_databases')} WHERE found_ns >= @from${dialect.unforwarded}
      ORDER BY 1`,
      params: { from, to },
    },
    summaries: summariesQuery(dialect, from, to),
  };
}

/** The drop windows from the rows of dropsQueries, oldest first. */
export function dropWindows(results: Record<string, Row[]>): DropWindow[] {
  const windows: DropWindow[] = results.drops.map((row) => ({
    fromNs: row.from_ns as bigint, toNs: row.to_ns as bigint, count: row.count as bigint | null, reason: row.reason as string,
    ...((row.reason as string).startsWith('earlier_database_') ? { movedTo: row.moved_to as string | null } : {}),
  }));
  return windows.concat(summaryWindows(results.summaries)).sort((a, b) => (a.fromNs < b.fromNs ? -1 : a.fromNs > b.fromNs ? 1 : 0));
}

export function dropsIn(db: Database.Database, window: Window): DropWindow[] {
  return runLocal(db, { queries: dropsQueries(SQLITE, window), shape: dropWindows });
}

/** The drop windows as the json field `drops`. */
export function dropsJson(drops: DropWindow[]): { from: string; to: string; count: number | null; reason: string; sender?: SummarisedSends; moved_to?: string | null }[] {
  return drops.map((drop) => ({
    from: new Date(Number(drop.fromNs / 1_000_000n)).toISOString(),
    to: new Date(Number(drop.toNs / 1_000_000n)).toISOString(),
    count: drop.count === null ? null : Number(drop.count),
    reason: drop.reason,
    ...(drop.sender ? { sender: drop.sender } : {}),
    ...(drop.movedTo === undefined ? {} : { moved_to: drop.movedTo }),
  }));
}

/** Senders named in a warning; the rest are counted. */
const NAMED_SENDERS = 5;

/** The warning line for table output, and for stderr with csv/jsonl. */
export function dropWarning(drops: DropWindow[], utc: boolean): string | undefined {
  if (drops.length === 0) return undefined;
  const parts: string[] = [];
  const earlier = drops.filter((drop) => drop.movedTo !== undefined);
  const unforwarded = drops.filter((drop) => drop.reason === 'not_forwarded');
  const lost = drops.filter((drop) => !drop.sender && drop.reason !== 'unclean_shutdown' && !drop.reason.startsWith('retention_') && drop.movedTo === undefined && drop.reason !== 'not_forwarded');
  const bySender = drops.filter((drop) => drop.sender).sort((a, b) => (a.count! > b.count! ? -1 : a.count! < b.count! ? 1 : 0));
  const down = drops.filter((drop) => drop.reason === 'unclean_shutdown');
  const pruned = drops.filter((drop) => drop.reason.startsWith('retention_'));
  const total = (list: DropWindow[]) => list.reduce((sum, drop) => sum + (drop.count ?? 0n), 0n);
  const when = (list: DropWindow[]) =>
    list.length === 1 ? `between ${longTime(list[0].fromNs, utc)} and ${longTime(list[0].toNs, utc)}` : `in ${list.length} windows from ${longTime(list[0].fromNs, utc)}`;
  if (lost.length > 0) parts.push(`${total(lost)} signals were dropped ${when(lost)}`);
  if (down.length > 0) parts.push(`the recorder was down (crashed) ${when(down)}`);
  if (pruned.length > 0) parts.push(`retention deleted ${total(pruned)} rows ${when(pruned)}`);
  if (unforwarded.length > 0) parts.push(`the host's retention deleted ${total(unforwarded)} rows before they were forwarded, ${when(unforwarded)}`);
  for (const drop of bySender.slice(0, NAMED_SENDERS))
    parts.push(`${describeSends(drop.sender!, drop.count!)} ${when([drop])} (${drop.reason === 'summarised' ? 'summarised' : 'dropped'})`);
  if (bySender.length > NAMED_SENDERS) parts.push(`${bySender.length - NAMED_SENDERS} more senders' signals were summarised or dropped (see sigaudit status)`);
  for (const drop of earlier)
    parts.push(drop.movedTo
      ? `signals before ${longTime(drop.fromNs, utc)} are in ${drop.movedTo} (this database was found damaged then; salvage it with sigaudit recover)`
      : `signals before ${longTime(drop.fromNs, utc)} were in a database file ${drop.reason.slice('earlier_database_'.length)} under the recorder`);
  return `warning: ${parts.join('; ')}; this answer may be incomplete (see sigaudit status)`;
}

// --- flag parsers (commander InvalidArgumentError) ---

export function pidArgument(text: string): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) <= 0 || Number(text) > 4_194_304)
    throw new InvalidArgumentError(`expected a process id (a whole number from 1 to 4194304), got "${text}"`);
  return Number(text);
}

export function uidArgument(text: string): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) > 0xffffffff)
    throw new InvalidArgumentError(`expected a numeric uid such as 0 or 1000, got "${text}"`);
  return Number(text);
}

/** 'TERM', 'SIGKILL', '9', '0', or a comma list of them. */
export function signalsArgument(text: string, previous: number[] = []): number[] {
  const signals = text.split(',').map((part) => {
    const signal = signalNumber(part);
    if (signal === undefined)
      throw new InvalidArgumentError(`expected a signal name or number (e.g. TERM, SIGKILL, 9, RTMIN+1), got "${part}"`);
    return signal;
  });
  return [...previous, ...signals];
}

export function sourceArgument(text: string): SourceFilter {
  const value = text.trim().toLowerCase();
  if (value === 'syscall' || (SOURCES as readonly string[]).includes(value)) return value as SourceFilter;
  throw new InvalidArgumentError(`expected syscall, kernel, or one of ${SOURCES.filter((s) => s !== 'kernel').join(', ')}; got "${text}"`);
}

export function commArgument(text: string): string {
  if (text === '' || Buffer.byteLength(text) > 15)
    throw new InvalidArgumentError(`a process name (comm) has 1 to 15 bytes, got "${text}"`);
  return text;
}
