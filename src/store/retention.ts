// Retention: keeps the database within --retain (age) and --max-db-size
// (bytes) while the recorder runs. Oldest rows go first, in small batches so
// a batch of new signals never waits long; the hourly sender counts
// (sender_hours, sender_pid_hours) lose exactly what the archive loses; freed pages are given
// back to the file system with incremental_vacuum; archive_minutes (the
// archive's first and last id per minute) stays exact, minutes without rows
// leaving it; and every deletion is
// recorded in `prunes`, so a query over pruned time can say so. The
// summaries and drop windows of pruned time go with its signals: by age
// when they end before the cutoff, by size when they end before the
// newest row deleted.
import type Database from 'better-sqlite3';
import { InvalidArgumentError } from 'commander';
import { parseSize } from '../parse';
import { ARCHIVE_FIRST_TS_SQL, ARCHIVE_MINUTE_NS } from './minutes';
import { PID_HOUR_COUNTS, PID_HOUR_ORIGIN, type SignalWriter } from './writer';

export interface RetentionPolicy {
  /** Rows older than this many ns are deleted; undefined keeps them. */
  retainNs?: bigint;
  /** The database file is kept under this many bytes (plus its WAL); undefined: no bound. */
  maxBytes?: number;
}

/** --retain default: thirty days. */
export const DEFAULT_RETAIN_NS = 30n * 24n * 3_600_000_000_000n;
/** --max-db-size default: 2 GiB. */
export const DEFAULT_MAX_BYTES = 2 * 1024 ** 3;
/** Pruning by size starts past this share of the bound, and goes down to LOW_WATER. */
const HIGH_WATER = 0.9;
const LOW_WATER = 0.8;
/** Rows deleted in one transaction: small enough that a batch of new rows waits a few ms. */
const MAX_BATCH_ROWS = 20_000;
const MIN_BATCH_ROWS = 500;
/** Pages given back per incremental_vacuum. */
const VACUUM_PAGES = 4096;
/** A prunes row is extended while its run keeps pruning for the same reason within this long. */
const EXTEND_PRUNE_NS = 60_000_000_000n;

const DURATION_UNITS_NS: Record<string, bigint> = {
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
  d: 86_400_000_000_000n,
  w: 604_800_000_000_000n,
};

/** --retain: '30d', '12h', '2w', '90m'; 'off' (or 0) keeps everything -> undefined. */
export function parseRetain(text: string): bigint | undefined {
  const value = text.trim().toLowerCase();
  if (value === 'off' || value === '0') return undefined;
  const match = /^(\d+)\s*([smhdw])$/.exec(value);
  if (!match || Number(match[1]) === 0)
    throw new InvalidArgumentError(`expected an age such as 30d, 12h, 2w or 90m (or off), got "${text}"`);
  return BigInt(match[1]) * DURATION_UNITS_NS[match[2]];
}

/** --max-db-size: '2GiB', '500M'; 'off' (or 0) for no bound -> undefined. At least 1 MiB. */
export function parseMaxDbSize(text: string): number | undefined {
  const value = text.trim().toLowerCase();
  if (value === 'off' || value === '0') return undefined;
  let bytes: number;
  try {
    bytes = parseSize(text);
  } catch {
    throw new InvalidArgumentError(`expected a size such as 2GiB, 500M or 64MiB (or off), got "${text}"`);
  }
  if (bytes < 1024 ** 2) throw new InvalidArgumentError(`expected at least 1MiB (the schema alone takes a few hundred KiB), got "${text}"`);
  return bytes;
}

export interface Pruned {
  reason: 'age' | 'size';
  rows: number;
  fromNs: bigint;
  toNs: bigint;
}

export interface PrunedWindow {
  /** Everything before this time was deleted by retention. */
  beforeNs: bigint;
  rows: bigint;
}

/**
 * The pruned time a query window reaches into: retention deletes oldest
 * first, so anything before the newest pruned row is gone. Returns
 * undefined when the window starts after it (nothing pruned there).
 */
export function prunedBefore(db: Database.Database, fromNs?: bigint): PrunedWindow | undefined {
  const row = db
    .prepare('SELECT max(to_ns) AS before_ns, coalesce(sum(rows), 0) AS rows FROM prunes')
    .safeIntegers(true)
    .get() as { before_ns: bigint | null; rows: bigint };
  if (row.before_ns === null) return undefined;
  if (fromNs !== undefined && fromNs > row.before_ns) return undefined;
  return { beforeNs: row.before_ns, rows: row.rows };
}

/** Bytes the database's pages use, and the bytes of the file (free pages included). */
export function databaseBytes(db: Database.Database): { used: number; file: number } {
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const pages = db.pragma('page_count', { simple: true }) as number;
  const free = db.pragma('freelist_count', { simple: true }) as number;
  return { used: (pages - free) * pageSize, file: pages * pageSize };
}

export class Retention {
  private lastPrune: { id: number; reason: string; lastNs: bigint } | undefined;
  private readonly statements: Record<string, Database.Statement>;

  constructor(
    private readonly db: Database.Database,
    private readonly writer: SignalWriter,
    readonly policy: RetentionPolicy,
    private readonly runId: number,
  ) {
    const rollup = (table: string) => `
      WITH gone AS (
        SELECT ts_ns / 3600000000000 AS hour, source, signal, coalesce(sender_comm, '') AS comm,
          coalesce(sender_uid, -1) AS uid, coalesce(sender_cgroup, 0) AS cgroup,
          sum(fanout = 0) AS sends, sum(delivered_pid IS NOT NULL) AS deliveries
        FROM ${table} WHERE id <= @bound AND ts_ns < @cutoff GROUP BY 1, 2, 3, 4, 5, 6)
      UPDATE sender_hours SET sends = sender_hours.sends - gone.sends, deliveries = sender_hours.deliveries - gone.deliveries
      FROM gone
      WHERE sender_hours.hour = gone.hour AND sender_hours.source = gone.source AND sender_hours.signal = gone.signal
        AND sender_hours.sender_comm = gone.comm AND sender_hours.sender_uid = gone.uid AND sender_hours.sender_cgroup = gone.cgroup`;
    this.statements = {
      archiveOldest: db.prepare(`SELECT (${ARCHIVE_FIRST_TS_SQL}) AS ts`),
      hotOldest: db.prepare('SELECT ts_ns AS ts FROM signals_hot ORDER BY id LIMIT 1'),
      // The last of the n oldest in id order (rows are written nearly in time order): a rowid walk that stops after n.
      archiveLast: db.prepare('SELECT max(id) AS id FROM (SELECT id FROM signals_archive NOT INDEXED WHERE ts_ns < @cutoff ORDER BY id LIMIT @n)'),
      hotLast: db.prepare('SELECT max(id) AS id FROM (SELECT id FROM signals_hot WHERE ts_ns < @cutoff ORDER BY id LIMIT @n)'),
      archiveSpan: db.prepare('SELECT count(*) AS n, min(ts_ns) AS from_ns, max(ts_ns) AS to_ns FROM signals_archive WHERE id <= @bound AND ts_ns < @cutoff'),
      hotSpan: db.prepare('SELECT count(*) AS n, min(ts_ns) AS from_ns, max(ts_ns) AS to_ns FROM signals_hot WHERE id <= @bound AND ts_ns < @cutoff'),
      rollupArchive: db.prepare(rollup('archived_signals')),
      emptyHours: db.prepare('DELETE FROM sender_hours WHERE hour BETWEEN @fromHour AND @toHour AND sends <= 0 AND deliveries <= 0'),
      pidRollupArchive: db.prepare(`
        WITH gone AS (
          SELECT ts_ns / 3600000000000 - ${PID_HOUR_ORIGIN} AS hour, coalesce(sender_pid, -1) AS pid, ${PID_HOUR_COUNTS}
          FROM signals_archive WHERE id <= @bound AND ts_ns < @cutoff GROUP BY 1, 2)
        UPDATE sender_pid_hours SET sends = sender_pid_hours.sends - gone.sends,
          deliveries = sender_pid_hours.deliveries - gone.deliveries,
          probe_sends = sender_pid_hours.probe_sends - gone.probe_sends,
          probe_deliveries = sender_pid_hours.probe_deliveries - gone.probe_deliveries
        FROM gone
        WHERE sender_pid_hours.hour = gone.hour AND sender_pid_hours.sender_pid = gone.pid`),
      emptyPidHours: db.prepare(`DELETE FROM sender_pid_hours WHERE hour BETWEEN @fromHour - ${PID_HOUR_ORIGIN} AND @toHour - ${PID_HOUR_ORIGIN}
        AND sends + probe_sends <= 0 AND deliveries + probe_deliveries <= 0`),
      // Whole hours only: an hour the archive still holds keeps its entries (migrations/0130-comm-pid-hours.sql).
      commPidHours: db.prepare('DELETE FROM delivered_comm_hours WHERE hour < coalesce((SELECT minute / 60 FROM archive_minutes ORDER BY minute LIMIT 1), 4611686018427387904)'),
      // The minutes that lost rows (all between the deleted rows' first and last minute, and with first_id <= @bound):
      // those with none left go, the others narrow to the ids and times left, each found by a walk of its own id range.
      emptyMinutes: db.prepare(`DELETE FROM archive_minutes WHERE minute BETWEEN @fromMinute AND @toMinute AND first_id <= @bound
        AND NOT EXISTS (SELECT 1 FROM signals_archive AS s WHERE s.id BETWEEN archive_minutes.first_id AND archive_minutes.last_id
          AND s.ts_ns / ${ARCHIVE_MINUTE_NS} = archive_minutes.minute)`),
      narrowMinutes: db.prepare(`UPDATE archive_minutes SET first_id = kept.first_id, last_id = kept.last_id, first_ns = kept.first_ns, last_ns = kept.last_ns
        FROM (SELECT m.minute, min(s.id) AS first_id, max(s.id) AS last_id, min(s.ts_ns) AS first_ns, max(s.ts_ns) AS last_ns
          FROM archive_minutes AS m JOIN signals_archive AS s ON s.id BETWEEN m.first_id AND m.last_id AND s.ts_ns / ${ARCHIVE_MINUTE_NS} = m.minute
          WHERE m.minute BETWEEN @fromMinute AND @toMinute AND m.first_id <= @bound GROUP BY m.minute) AS kept
        WHERE archive_minutes.minute = kept.minute`),
      deleteArchive: db.prepare('DELETE FROM signals_archive WHERE id <= @bound AND ts_ns < @cutoff'),
      deleteHot: db.prepare('DELETE FROM signals_hot WHERE id <= @bound AND ts_ns < @cutoff'),
      // Oldest first through their end-time indexes, at most @n a batch.
      deleteSummaries: db.prepare('DELETE FROM summaries WHERE id IN (SELECT id FROM summaries WHERE last_ns < @before ORDER BY last_ns LIMIT @n)'),
      deleteDrops: db.prepare('DELETE FROM drops WHERE id IN (SELECT id FROM drops WHERE to_ns < @before ORDER BY to_ns LIMIT @n)'),
      idSpan: db.prepare('SELECT (SELECT min(id) FROM signals_archive) AS archive_min, (SELECT min(id) FROM signals_hot) AS hot_min, (SELECT max(id) FROM signals_hot) AS hot_max, (SELECT max(id) FROM signals_archive) AS archive_max'),
      insertPrune: db.prepare('INSERT INTO prunes (run_id, reason, first_ns, last_ns, from_ns, to_ns, rows) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      extendPrune: db.prepare('UPDATE prunes SET last_ns = ?, from_ns = min(from_ns, ?), to_ns = max(to_ns, ?), rows = rows + ? WHERE id = ?'),
    };
    for (const statement of Object.values(this.statements)) if (statement.reader) statement.safeIntegers(true);
  }

  /** Whether the database is past the size bound's high-water mark. */
  overSize(): boolean {
    return this.policy.maxBytes !== undefined && databaseBytes(this.db).used > this.policy.maxBytes * HIGH_WATER;
  }

  /**
   * Deletes what the policy says must go, batch by batch, until nothing
   * more must or `budgetMs` has passed (the next call goes on). Returns what
   * was deleted.
   */
  run(nowNs: bigint, budgetMs = 50): Pruned[] {
    const started = Date.now();
    const pruned: Pruned[] = [];
    const add = (step: Pruned | undefined) => {
      if (!step) return false;
      const last = pruned[pruned.length - 1];
      if (last && last.reason === step.reason) {
        last.rows += step.rows;
        if (step.fromNs < last.fromNs) last.fromNs = step.fromNs;
        if (step.toNs > last.toNs) last.toNs = step.toNs;
      } else pruned.push({ ...step });
      return true;
    };
    if (this.policy.retainNs !== undefined) {
      const cutoff = nowNs - this.policy.retainNs;
      while (Date.now() - started < budgetMs && add(this.deleteOldest('age', cutoff, MAX_BATCH_ROWS)));
      // Also when no signal is that old: a flood's summaries outlive the signals around them.
      while (Date.now() - started < budgetMs && this.deleteAccounts(cutoff) === MAX_BATCH_ROWS);
    }
    if (this.policy.maxBytes !== undefined && this.overSize()) {
      const low = this.policy.maxBytes * LOW_WATER;
      while (Date.now() - started < budgetMs) {
        const { used } = databaseBytes(this.db);
        if (used <= low) break;
        const rows = this.estimatedRows(used - low);
        if (!add(this.deleteOldest('size', 2n ** 62n, rows))) break;
      }
    }
    this.vacuum();
    return pruned;
  }

  /** About how many of the oldest rows hold `bytes` (indexes included). */
  private estimatedRows(bytes: number): number {
    const span = this.statements.idSpan.get() as Record<string, bigint | null>;
    const first = span.archive_min ?? span.hot_min;
    const last = span.hot_max ?? span.archive_max;
    const rows = first === null || last === null ? 1 : Number(last - first) + 1;
    const perRow = Math.max(1, databaseBytes(this.db).used / rows);
    return Math.min(MAX_BATCH_ROWS, Math.max(MIN_BATCH_ROWS, Math.ceil(bytes / perRow)));
  }

  /**
   * Deletes up to n of the oldest rows older than `cutoff`: from the
   * archive first (its rows are older), else from the hot table.
   */
  private deleteOldest(reason: Pruned['reason'], cutoff: bigint, n: number): Pruned | undefined {
    const s = this.statements;
    const step = this.db.transaction((): Pruned | undefined => {
      for (const table of ['archive', 'hot'] as const) {
        const oldest = (table === 'archive' ? s.archiveOldest : s.hotOldest).get() as { ts: bigint | null } | undefined;
        if (!oldest || oldest.ts === null || oldest.ts >= cutoff) continue;
        const found = (table === 'archive' ? s.archiveLast : s.hotLast).get({ cutoff, n }) as { id: bigint | null } | undefined;
        if (!found || found.id === null) continue;
        const bound = { bound: found.id, cutoff };
        const span = (table === 'archive' ? s.archiveSpan : s.hotSpan).get(bound) as { n: bigint; from_ns: bigint | null; to_ns: bigint | null };
        if (span.n === 0n || span.from_ns === null || span.to_ns === null) continue;
        if (table === 'archive') {
          // The rollup holds exactly the archive: take these rows out of it too.
          const hours = { fromHour: span.from_ns / 3_600_000_000_000n, toHour: span.to_ns / 3_600_000_000_000n };
          s.rollupArchive.run(bound);
          s.emptyHours.run(hours);
          s.pidRollupArchive.run(bound);
          s.emptyPidHours.run(hours);
        }
        const deleted = (table === 'archive' ? s.deleteArchive : s.deleteHot).run(bound).changes;
        if (table === 'archive') {
          const minutes = { fromMinute: span.from_ns / ARCHIVE_MINUTE_NS, toMinute: span.to_ns / ARCHIVE_MINUTE_NS, bound: found.id };
          s.emptyMinutes.run(minutes);
          s.narrowMinutes.run(minutes);
          s.commPidHours.run();
        }
        this.deleteAccounts(span.to_ns + 1n);
        const pruned: Pruned = { reason, rows: deleted, fromNs: span.from_ns, toNs: span.to_ns };
        this.record(pruned);
        if (table === 'hot') this.writer.hotRows -= deleted;
        return pruned;
      }
      return undefined;
    });
    return step.immediate();
  }

  /**
   * Deletes up to MAX_BATCH_ROWS each of the summaries and drop windows
   * that end before `beforeNs`; returns the most deleted from either.
   */
  private deleteAccounts(beforeNs: bigint): number {
    const batch = { before: beforeNs, n: MAX_BATCH_ROWS };
    return Math.max(this.statements.deleteSummaries.run(batch).changes, this.statements.deleteDrops.run(batch).changes);
  }

  /** Notes a deletion in `prunes`, extending this run's last row while it goes on. */
  private record(pruned: Pruned): void {
    const now = BigInt(Date.now()) * 1_000_000n;
    const last = this.lastPrune;
    if (last && last.reason === pruned.reason && now - last.lastNs < EXTEND_PRUNE_NS) {
      this.statements.extendPrune.run(now, pruned.fromNs, pruned.toNs, pruned.rows, last.id);
      last.lastNs = now;
      return;
    }
    const id = Number(this.statements.insertPrune.run(this.runId, pruned.reason, now, now, pruned.fromNs, pruned.toNs, pruned.rows).lastInsertRowid);
    this.lastPrune = { id, reason: pruned.reason, lastNs: now };
  }

  /** Gives free pages back to the file system, a bounded number at a time. */
  private vacuum(): void {
    const free = this.db.pragma('freelist_count', { simple: true }) as number;
    if (free > 0) this.db.pragma(`incremental_vacuum(${Math.min(free, VACUUM_PAGES)})`);
  }
}
