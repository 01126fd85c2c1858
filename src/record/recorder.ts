// sigaudit record: load and attach the probe, turn each batch into rows,
// write them, and account for every event the kernel could not hand over.
import { getPriority, hostname, release, setPriority } from 'node:os';
import { NativeError } from '../errors';
import { Notifier } from '../service/notify';
import { isDamageError } from '../store/damage';
import { closeWriting, type WritableDatabase } from '../store/database';
import { recordEarlierDatabase } from '../store/earlier-databases';
import { Retention, type RetentionPolicy } from '../store/retention';
import { SignalWriter, type RunInfo, type SignalRow, type SpillPosition } from '../store/writer';
import { errnoName, type Origin } from '../names';
import { Assembler } from './assemble';
import { CgroupNames } from './cgroups';
import { DatabaseWatch, WATCH_INTERVAL_MS } from './database-watch';
import { openOrStartAfresh, reopenAfter, type Departure } from './fresh-database';
import { decode, EVENT_SIZE } from './decode';
import { checkBtf, checkPrivileges, chooseSyscallExitsVia } from './preflight';
import { compatExitTraced, loadAddon, programsFor, type Probe, type ProbeStats } from './probe';
import { nativeFailure } from './native-errors';
import { replaySpills, SpillFiles } from './spill';
import { VERSION } from '../version';

export interface RecordOptions {
  dbPath: string;
  ringBytes: number;
  batchMs: number;
  skipProbes: boolean;
  excludedComms: string[];
  /** Attach the raw sys_exit for ia32 compat sends too (their failures included). */
  ia32: boolean;
  /** Signal numbers to keep; empty keeps all. */
  onlySignals: number[];
  /** Most bytes of drained records waiting for SQLite before draining pauses. */
  maxQueuedBytes: number;
  /** Rows held in memory while the database cannot be written; past it they are counted drops. */
  maxHeldRows: number;
  /** Niceness to run at, if the recorder runs at a higher (less favoured) one. */
  nice: number;
  /** The group that may read the database; undefined leaves groups alone. */
  gid?: number;
  retention: RetentionPolicy;
  log: (line: string) => void;
  verbose: boolean;
  /** systemd's notify socket, when run as a Type=notify service. */
  notifier?: Notifier;
}

export interface RecordSummary {
  runId: number;
  recorded: number;
  dropped: bigint;
}

const STATS_INTERVAL_MS = 1000;
const ARCHIVE_INTERVAL_MS = 250;
/**
 * The mover moves one chunk per turn of the event loop and yields between
 * chunks, so batches of new signals are written in between: a chunk held
 * the loop under 30 ms in the kill -9 storms (5 000 rows took ~50 ms, and
 * a tick of several up to 250 ms), so a hard kill loses one batch interval
 * at most, not a mover's pass.
 */
const ARCHIVE_CHUNK_ROWS = 2_000;
/** Signals arriving faster than this mean a burst is on: the mover waits. */
const BURST_EVENTS_PER_SECOND = 40_000;
const MAX_HOT_ROWS = 1_000_000;
const MAX_BATCH_EVENTS = 65_536;
const DRAIN_POLL_MS = 10;
/**
 * Batches are handed over four times per --batch-ms: a batch waits in
 * memory for a quarter of the interval, which leaves the rest for the
 * writes queued ahead of it and its own, so a signal is committed within
 * one interval while the recorder keeps up with 100 000 signals/s.
 */
const HANDOVERS_PER_BATCH_INTERVAL = 4;
/** How often held rows are retried while the database cannot be written. */
const RETRY_MS = 1000;
const RETENTION_INTERVAL_MS = 1000;
/** Held rows written per transaction when the database takes writes again. */
const CATCH_UP_ROWS = 50_000;
/** --max-held default: about 150 MB of rows (~300 bytes each in memory). */
export const DEFAULT_MAX_HELD_ROWS = 500_000;
/**
 * --nice default, like auditd's priority_boost of 4: at 100 000 signals/s
 * on two CPUs, sharing a CPU evenly with the storm's sender, the recorder
 * fell 150-440 ms behind (uncommitted signals a hard kill lost before the
 * spill: 15 000-44 000 in 20 kills); at -4, under 150 ms in 11 of 13 runs.
 */
export const DEFAULT_NICE = -4;

function isoTime(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}

function wallNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/**
 * Linux keeps the niceness per thread: this sets the calling (JavaScript)
 * thread's, and the drain thread, created later, inherits it. Without
 * CAP_SYS_NICE (or LimitNICE=) it stays as it was, which is logged.
 */
function raisePriority(nice: number, log: (line: string) => void): void {
  if (getPriority() <= nice) return;
  try {
    setPriority(nice);
  } catch (error) {
    log(`could not set niceness ${nice} (${(error as Error).message}): recording at ${getPriority()}; give the recorder CAP_SYS_NICE or start it with that niceness (Nice= in the unit)`);
  }
}

function signalMask(signals: number[]): bigint {
  return signals.reduce((mask, signal) => mask | (1n << BigInt(signal - 1)), 0n);
}

function runInfo(options: RecordOptions, startedNs: bigint): RunInfo {
  return { startedNs, host: hostname(), kernel: release(), version: VERSION, recorderPid: process.pid, ringBytes: options.ringBytes };
}

export class Recorder {
  private recorded = 0;
  private dropped = 0n;
  private lastStats: ProbeStats = { ringbufDrops: 0n, inflightDrops: 0n, spillErrno: 0 };
  private lastStatsNs = wallNs();
  /** Rows not yet written (the database refused them), oldest first, in batches with where each ends in the spill. */
  private held: { rows: SignalRow[]; spill?: SpillPosition }[] = [];
  private heldRows = 0;
  /** Relabels of written rows that could not be applied yet. */
  private heldRelabels: { id: bigint; origin: Origin }[] = [];
  /** Rows that did not fit in the hold: counted, and recorded as a drop window once the database takes it. */
  private overflow: { count: bigint; fromNs: bigint; toNs: bigint } | undefined;
  private writeFailure: string | undefined;
  private failingSinceMs = 0;
  private retentionFailure: string | undefined;
  /** Why the spill cannot be written, once logged. */
  private spillFailure: string | undefined;
  private lastSpillAttemptMs = 0;
  private retention!: Retention;
  /** Events received since the archive mover's last tick, and when that was. */
  private eventsSinceArchiveTick = 0;
  private lastArchiveTickMs = Date.now();
  /**
   * Signals arrive faster than BURST_EVENTS_PER_SECOND: set by a batch that
   * large (so the mover stops at once when a storm begins), cleared by a
   * tick that saw fewer.
   */
  private burst = false;
  /** A next mover turn is queued behind the batches waiting now. */
  private archiveQueued = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly handoverMs: number;
  private readonly assembler = new Assembler();
  private cgroups = new CgroupNames();
  private stopping: Promise<RecordSummary> | undefined;
  // Damage, deletion and replacement of the database file (database-watch.ts, fresh-database.ts):
  private readonly watch: DatabaseWatch;
  /** Batches committed since the watch last saw the file in place: rewritten if it was deleted meanwhile. */
  private recent: SignalRow[][] = [];
  /** Why the recorder left its file and could not open a new one yet; the watch tries again. */
  private departure: Departure | undefined;
  /** Set while going on in a fresh file, whose own failures are not a reason to leave it. */
  private reopening = false;

  private constructor(
    private readonly options: RecordOptions,
    private db: WritableDatabase,
    private writer: SignalWriter,
    private readonly probe: Probe,
    private runId: number,
    private readonly spill: SpillFiles,
  ) {
    this.watch = new DatabaseWatch(options.dbPath);
    this.handoverMs = Math.max(DRAIN_POLL_MS, Math.floor(options.batchMs / HANDOVERS_PER_BATCH_INTERVAL));
  }

  /** Resolves once every probe is attached and events flow to the database. */
  static start(options: RecordOptions): Recorder {
    checkPrivileges();
    checkBtf();
    // Takes the one-recorder lock before loading anything into the kernel;
    // a damaged database is moved aside and a fresh one started.
    const { db, used: writer, earlier } = openOrStartAfresh(options.dbPath, { gid: options.gid, lock: true, warn: options.log }, options.log, (opened) => new SignalWriter(opened));
    let probe: Probe | undefined;
    try {
      const addon = loadAddon();
      const exits = { via: chooseSyscallExitsVia(options.log), ia32: options.ia32 };
      probe = new addon.Probe({
        ringBytes: options.ringBytes,
        wakeupBytes: Math.max(EVENT_SIZE, Math.floor(options.ringBytes / 4)),
        skipProbes: options.skipProbes,
        onlySignals: signalMask(options.onlySignals),
        excludedComms: options.excludedComms,
        compatExitTraced: compatExitTraced(exits),
        log: (level, line) => {
          if (options.verbose || level === 'warn') options.log(`libbpf ${level}: ${line.trimEnd()}`);
        },
      });
      for (const program of programsFor(exits)) probe.attach(program);
      // Before this run begins: the gap a dead run left then starts after its replayed signals.
      replaySpills(options.dbPath, writer, options.log);
      const startedNs = wallNs();
      const runId = writer.beginRun(runInfo(options, startedNs));
      if (earlier) recordEarlierDatabase(db, { ...earlier, runId });
      for (const gap of writer.closeUncleanRuns(runId, startedNs))
        options.log(`run ${gap.runId} did not stop cleanly: nothing was recorded from ${isoTime(gap.fromNs)} to ${isoTime(gap.toNs)} (recorded as an unclean shutdown)`);
      const spill = new SpillFiles(options.dbPath, runId, options.gid, () => loadAddon().realtimeOffset());
      const recorder = new Recorder(options, db, writer, probe, runId, spill);
      raisePriority(options.nice, options.log);
      recorder.retention = new Retention(db, writer, options.retention, runId);
      probe.start((records, spillFile, spillEnd) => recorder.onBatch(records, spillFile, spillEnd), {
        pollMs: DRAIN_POLL_MS,
        flushMs: recorder.handoverMs,
        maxBatchEvents: MAX_BATCH_EVENTS,
        maxQueuedBytes: options.maxQueuedBytes,
        ...recorder.nextSpillFile(),
      });
      recorder.timers.push(setInterval(() => recorder.checkStats(), STATS_INTERVAL_MS));
      recorder.timers.push(setInterval(() => recorder.archiveTick(), ARCHIVE_INTERVAL_MS));
      recorder.timers.push(setInterval(() => recorder.retry(), RETRY_MS));
      recorder.timers.push(setInterval(() => recorder.prune(), RETENTION_INTERVAL_MS));
      recorder.timers.push(setInterval(() => recorder.watchDatabase(), WATCH_INTERVAL_MS));
      // Once events flow (they queue in the drain thread meanwhile): damage the first writes did not touch.
      setImmediate(() => recorder.checkDatabase());
      // Every probe is attached: this line, and READY=1, mean signals are being recorded.
      options.log(`recording to ${options.dbPath}`);
      options.notifier?.ready(recorder.statusLine());
      return recorder;
    } catch (error) {
      void probe?.close();
      db.recorderLock?.close();
      db.close();
      if (error instanceof NativeError) throw nativeFailure(error);
      throw error;
    }
  }

  /** The next spill file for the addon, or nothing (logged) if it cannot be created. */
  private nextSpillFile(): { spillFd: number; spillFile: number } | Record<string, never> {
    this.lastSpillAttemptMs = Date.now();
    try {
      const { fd, file } = this.spill.next();
      return { spillFd: fd, spillFile: file };
    } catch (error) {
      this.spillFailed(this.spill.path(this.spill.current + 1), (error as NodeJS.ErrnoException).code ?? (error as Error).message);
      return {};
    }
  }

  /** Logged once per cause: recording goes on, only crash recovery is weaker. */
  private spillFailed(path: string, cause: string): void {
    if (cause === this.spillFailure) return;
    this.spillFailure = cause;
    this.options.log(`cannot write spill file ${path} (${cause}): until it can, a kill -9 loses the signals drained but not yet committed; retrying every ${RETRY_MS / 1000}s`);
  }

  /** A commit reached `position`: delete what is committed, and move on to the next file when due. */
  private spillCommitted(position: SpillPosition): void {
    // While stopping, the probe is closed: the last batches stay in the current file.
    if (!this.spill.committed(position) || this.stopping) return;
    if (position.end === -1 && Date.now() - this.lastSpillAttemptMs < RETRY_MS) return;
    this.moveToNextSpillFile();
    if (position.end !== -1) this.spillFailure = undefined;
  }

  /** Later records go to a new spill file, if one can be created. */
  private moveToNextSpillFile(): void {
    const next = this.nextSpillFile();
    if (next.spillFd !== undefined) this.probe.spillTo(next.spillFd, next.spillFile);
  }

  private onBatch(records: Buffer, spillFile: number, spillEnd: number): void {
    const events = decode(records);
    this.eventsSinceArchiveTick += events.length;
    if (events.length * 1000 >= BURST_EVENTS_PER_SECOND * this.handoverMs) this.burst = true;
    const assembled = this.assembler.assemble(events, loadAddon().realtimeOffset());
    this.heldRelabels.push(...assembled.relabels);
    this.store(assembled.rows, spillFile === -1 ? undefined : { file: spillFile, end: spillEnd });
    if (this.writeFailure === undefined && this.retention.overSize()) this.prune();
  }

  /** One line for STATUS= and the logs: what was recorded, dropped and held. */
  statusLine(): string {
    let line = `recording: ${this.recorded} signals, ${this.dropped} dropped`;
    if (this.writeFailure !== undefined) line += `; cannot write the database (${this.writeFailure}), holding ${this.heldRows} in memory`;
    return line;
  }

  /**
   * Writes the rows, after any rows still held. When the database refuses
   * (disk full, I/O error, read-only), the rows are held in memory, oldest
   * first, up to --max-held; what does not fit is counted as dropped and
   * recorded as a drop window once the database takes writes again.
   */
  private store(rows: SignalRow[], spill?: SpillPosition): void {
    if (this.held.length === 0 && this.writeFailure === undefined) {
      // The usual case: straight to the database, whatever the batch's size.
      if (rows.length === 0) return;
      this.held.push({ rows, spill });
      this.heldRows += rows.length;
      this.flushHeld();
      if (this.writeFailure !== undefined && this.heldRows > this.options.maxHeldRows) {
        // Refused: keep what fits in the hold, like any later batch.
        this.held = [];
        this.heldRows = 0;
        this.hold(rows, spill);
      }
      return;
    }
    if (rows.length > 0) this.hold(rows, spill);
    this.flushHeld();
  }

  private hold(rows: SignalRow[], spill?: SpillPosition): void {
    const room = this.options.maxHeldRows - this.heldRows;
    let kept = rows;
    if (rows.length > room) {
      // Cut at the start of a send, so a send's rows stay together.
      let cut = Math.max(0, room);
      while (cut > 0 && rows[cut].fanout !== 0) cut--;
      kept = rows.slice(0, cut);
      const lost = rows.slice(cut);
      const fromNs = lost.reduce((min, row) => (row.tsNs < min ? row.tsNs : min), lost[0].tsNs);
      const toNs = lost.reduce((max, row) => (row.tsNs > max ? row.tsNs : max), lost[0].tsNs);
      if (!this.overflow) {
        this.overflow = { count: 0n, fromNs, toNs };
        this.options.log(`memory hold full (${this.heldRows} rows, --max-held ${this.options.maxHeldRows}): counting further signals as dropped until ${this.options.dbPath} takes writes`);
      }
      this.overflow.count += BigInt(lost.length);
      if (fromNs < this.overflow.fromNs) this.overflow.fromNs = fromNs;
      if (toNs > this.overflow.toNs) this.overflow.toNs = toNs;
      this.dropped += BigInt(lost.length);
    }
    if (kept.length > 0) {
      this.held.push({ rows: kept, spill });
      this.heldRows += kept.length;
    }
  }

  /** Writes held rows in order, a transaction per chunk, until done or refused. */
  private flushHeld(): void {
    const catchingUp = this.writeFailure !== undefined;
    let written = 0;
    try {
      while (this.held.length > 0) {
        // A chunk: whole batches up to CATCH_UP_ROWS (at least one batch).
        let take = 1;
        let rows = this.held[0].rows.length;
        while (take < this.held.length && rows + this.held[take].rows.length <= CATCH_UP_ROWS) rows += this.held[take++].rows.length;
        const batches = this.held.slice(0, take);
        const chunk = take === 1 ? batches[0].rows : batches.flatMap((batch) => batch.rows);
        const spill = batches.reduce<SpillPosition | undefined>((last, batch) => batch.spill ?? last, undefined);
        this.writer.write(chunk, this.cgroups.newNames(chunk), { runId: this.runId, seenNs: wallNs(), spill });
        this.recent.push(chunk);
        this.held.splice(0, take);
        this.heldRows -= chunk.length;
        this.recorded += chunk.length;
        written += chunk.length;
        if (spill) this.spillCommitted(spill);
      }
      while (this.heldRelabels.length > 0) {
        const { id, origin } = this.heldRelabels[0];
        this.writer.relabel(id, origin);
        this.heldRelabels.shift();
      }
    } catch (error) {
      this.writeFailed(error as Error);
      return;
    }
    if (catchingUp) {
      const seconds = ((Date.now() - this.failingSinceMs) / 1000).toFixed(0);
      this.options.log(`database writable again after ${seconds}s: wrote ${written} held rows${this.overflow ? `, ${this.overflow.count} did not fit in memory and are recorded as dropped` : ''}`);
      this.writeFailure = undefined;
      // While stopping, the probe is closed (stats() would throw): stop() records the final counts.
      if (!this.stopping) this.checkStats();
      this.options.notifier?.status(this.statusLine());
    }
  }

  /** Logs the cause once (and again only if it changes); the retry timer tries again. */
  private writeFailed(error: Error): void {
    // A damaged file is left for a fresh one, not retried.
    if (isDamageError(error) && !this.reopening && !this.stopping) return this.startAfresh({ what: 'damaged', detail: error.message });
    const cause = (error as { code?: string }).code ? `${(error as { code?: string }).code}: ${error.message}` : error.message;
    if (this.writeFailure === undefined) this.failingSinceMs = Date.now();
    if (cause !== this.writeFailure) {
      this.options.log(`cannot write ${this.options.dbPath}: ${cause}; holding signals in memory (up to ${this.options.maxHeldRows} rows) and retrying every ${RETRY_MS / 1000}s`);
      this.writeFailure = cause;
      this.options.notifier?.status(this.statusLine());
    }
  }

  /** While the database refuses writes: try the held rows again. */
  private retry(): void {
    if (this.writeFailure === undefined || this.departure) return;
    this.flushHeld();
  }

  /** Applies --retain and --max-db-size; a failure is logged once and retried next time. */
  private prune(): void {
    if (this.writeFailure !== undefined) return;
    try {
      for (const pruned of this.retention.run(wallNs())) {
        if (this.options.verbose)
          this.options.log(`pruned ${pruned.rows} rows by ${pruned.reason} from ${isoTime(pruned.fromNs)} to ${isoTime(pruned.toNs)}`);
      }
      this.retentionFailure = undefined;
    } catch (error) {
      if (isDamageError(error)) return this.writeFailed(error as Error);
      const cause = (error as Error).message;
      if (cause !== this.retentionFailure) this.options.log(`retention could not delete old rows: ${cause}; retrying`);
      this.retentionFailure = cause;
    }
  }

  /** Logs a failing spill, and tries again to create one if there is none. */
  private checkSpill(stats: ProbeStats): void {
    if (stats.spillErrno !== 0) this.spillFailed(this.spill.path(this.spill.current), errnoName(-stats.spillErrno));
    if (this.spill.current === -1 && Date.now() - this.lastSpillAttemptMs >= RETRY_MS) this.moveToNextSpillFile();
  }

  private checkStats(final?: ProbeStats): void {
    const stats = final ?? this.probe.stats();
    if (!final) this.checkSpill(stats);
    const now = wallNs();
    const windows: [bigint, string][] = [
      [stats.ringbufDrops - this.lastStats.ringbufDrops, 'ring_buffer_full'],
      [stats.inflightDrops - this.lastStats.inflightDrops, 'inflight_map_full'],
    ];
    const kernelDropped = windows.reduce((sum, [count]) => sum + (count > 0n ? count : 0n), 0n);
    try {
      this.db.transaction(() => {
        for (const [count, reason] of windows) {
          if (count <= 0n) continue;
          this.writer.recordDrop(this.runId, this.lastStatsNs, now, count, reason);
          this.options.log(`dropped ${count} events (${reason}) between ${isoTime(this.lastStatsNs)} and ${isoTime(now)}`);
        }
        if (this.overflow && this.held.length === 0) {
          this.writer.recordDrop(this.runId, this.overflow.fromNs, this.overflow.toNs, this.overflow.count, 'database_unwritable');
        }
        this.writer.updateRunTotals(this.runId, this.recorded, this.dropped + kernelDropped, final ? now : null, final ? 'stopped' : null);
      }).immediate();
      if (this.overflow && this.held.length === 0) this.overflow = undefined;
      this.dropped += kernelDropped;
      this.lastStats = stats;
      this.lastStatsNs = now;
    } catch (error) {
      // The window stays open and is written once the database takes it.
      if (this.writeFailure === undefined) this.writeFailed(error as Error);
    }
    if (!final) this.options.notifier?.status(this.statusLine());
  }

  private archiveTick(): void {
    const now = Date.now();
    this.burst = (this.eventsSinceArchiveTick * 1000) / Math.max(1, now - this.lastArchiveTickMs) >= BURST_EVENTS_PER_SECOND;
    this.eventsSinceArchiveTick = 0;
    this.lastArchiveTickMs = now;
    if (!this.archiveQueued) this.archive();
  }

  /** One chunk, then another turn after the batches that arrived meanwhile. */
  private archive(): void {
    if (this.writeFailure !== undefined || this.stopping) return;
    // During a burst new rows go first; the archive catches up afterwards,
    // unless the hot table (which queries scan) grows too large.
    if (this.burst && this.writer.hotRows < MAX_HOT_ROWS) return;
    let moved: number;
    try {
      moved = this.writer.archive(ARCHIVE_CHUNK_ROWS);
    } catch (error) {
      if (isDamageError(error)) this.writeFailed(error as Error);
      // Rows stay in the hot table, which queries read too; the next tick retries.
      return;
    }
    // In a burst with too many hot rows, one chunk per tick is enough.
    if (moved === ARCHIVE_CHUNK_ROWS && !this.burst) {
      this.archiveQueued = true;
      setImmediate(() => {
        this.archiveQueued = false;
        this.archive();
      });
    }
  }

  /** Every second: the path still names the file written, or the recorder goes on in a new one. */
  private watchDatabase(): void {
    const change = this.departure ?? this.watch.check();
    if (change) this.startAfresh(change);
    else this.recent = [];
  }

  /** Once at start: SQLite's quick_check reads every page, so damage no write reached is found too. */
  private checkDatabase(): void {
    if (this.stopping || this.departure) return;
    let verdict: string;
    try {
      verdict = this.db.pragma('quick_check', { simple: true }) as string;
    } catch (error) {
      if (isDamageError(error)) this.writeFailed(error as Error);
      return;
    }
    // Its report is several lines ("*** in database main ***", then each problem): one line for the log and the table.
    if (verdict !== 'ok') this.startAfresh({ what: 'damaged', detail: `quick_check: ${verdict.replace(/\*\*\* in database main \*\*\*/, '').replace(/\s+/g, ' ').trim()}` });
  }

  /**
   * Leaves the database file for a fresh one at the path (fresh-database.ts):
   * rows the old file took since the watch last saw it in place are
   * rewritten when it was deleted or replaced, then held rows follow. If no
   * database can be opened there, rows are held (up to --max-held) and the
   * watch tries again every second.
   */
  private startAfresh(departure: Departure): void {
    try {
      this.db.close();
    } catch {
      // A damaged or deleted file: nothing more goes into it either way.
    }
    this.db.recorderLock?.close();
    let reopened: { db: WritableDatabase; runId: number };
    try {
      reopened = reopenAfter(departure, this.options.dbPath, { gid: this.options.gid, lock: true, warn: this.options.log }, this.options.log, { ...runInfo(this.options, wallNs()), id: this.runId }, this.watch.leftovers());
    } catch (error) {
      this.departure = departure;
      this.writeFailed(error as Error);
      return;
    }
    this.departure = undefined;
    this.db = reopened.db;
    this.runId = reopened.runId;
    this.writer = new SignalWriter(this.db);
    this.retention = new Retention(this.db, this.writer, this.options.retention, this.runId);
    this.cgroups = new CgroupNames();
    this.watch.rearm();
    if (departure.what === 'deleted' || departure.what === 'replaced') {
      const again = this.recent.map((rows) => ({ rows }));
      const count = again.reduce((sum, batch) => sum + batch.rows.length, 0);
      this.held.unshift(...again);
      this.heldRows += count;
      this.recorded -= count;
    }
    this.recent = [];
    // The spill's directory may be new too.
    if (!this.stopping) this.moveToNextSpillFile();
    this.reopening = true;
    try {
      this.flushHeld();
    } finally {
      this.reopening = false;
    }
  }

  /** Detaches, drains what the kernel still holds, writes it, and closes. */
  stop(): Promise<RecordSummary> {
    this.stopping ??= (async () => {
      for (const timer of this.timers) clearInterval(timer);
      this.options.notifier?.stopping(`stopping: ${this.statusLine()}`);
      const final = await this.probe.close();
      const orphans = this.assembler.drain(loadAddon().realtimeOffset());
      this.store(orphans);
      if (this.held.length > 0) {
        // The last chance to write them: they are lost when this process ends.
        const lost = BigInt(this.heldRows);
        this.options.log(`could not write ${lost} held rows before stopping (${this.writeFailure}); they are lost and counted as dropped`);
        this.dropped += lost;
        this.held = [];
        this.heldRows = 0;
      }
      this.checkStats(final);
      // Everything drained is written or counted: nothing to replay.
      this.spill.removeAll();
      closeWriting(this.db);
      return { runId: this.runId, recorded: this.recorded, dropped: this.dropped };
    })();
    return this.stopping;
  }
}

