// sigaudit record: coordinates the units that record. The addon drains the
// kernel's records into the spill file; the backlog reads them back as fast
// as the committer gets them into the database; drop accounting, spill
// rotation, the archive mover and retention each run on their own timer.
import { getPriority, hostname, release, setPriority } from 'node:os';
import type { Notifier } from '../service/notify';
import { isDamageError } from '../store/damage';
import { closeWriting, type WritableDatabase } from '../store/database';
import { Retention, type RetentionPolicy } from '../store/retention';
import { SignalWriter } from '../store/writer';
import { VERSION } from '../version';
import { CgroupNames } from './cgroups';
import { Backlog } from './backlog';
import { Committer } from './committer';
import { DatabaseWatch, WATCH_INTERVAL_MS } from './database-watch';
import { EVENT_SIZE } from './decode';
import { DropAccounting } from './drops';
import { reopenAfter, type Departure } from './fresh-database';
import { Ingest } from './ingest';
import { loadAddon, type Probe, type ProbeStats, type Segment } from './probe';
import { ArchiveSchedule, RetentionSchedule } from './schedules';
import { SpillFiles } from './spill';
import { SpillRotation } from './spill-rotation';
import { isoTime, startRecording, wallNs, type FloodBudget, type StartOptions } from './startup';

export interface RecordOptions extends StartOptions {
  batchMs: number;
  /** Most bytes of drained records waiting for the database (in the spill file) before draining pauses. */
  maxQueuedBytes: number;
  /** Records held in memory while the database cannot be written and the spill cannot hold them; past it they are counted drops. */
  maxHeldRows: number;
  /** Niceness to run at, if the recorder runs at a higher (less favoured) one. */
  nice: number;
  retention: RetentionPolicy;
  /** systemd's notify socket, when run as a Type=notify service. */
  notifier?: Notifier;
}

export interface RecordSummary {
  runId: number;
  recorded: number;
  dropped: bigint;
}

const STATS_INTERVAL_MS = 1000;
/** How often the addon takes the kernel's summary map: a summary row covers about this long. */
const SUMMARY_INTERVAL_MS = 1000;
const ARCHIVE_INTERVAL_MS = 250;
/** Records the drain thread collects before it appends them to the spill: its buffer stays this size (1 MiB). */
const MAX_BATCH_EVENTS = 8_192;
/** The shortest handover interval (--batch-ms under 40). */
const MIN_HANDOVER_MS = 10;
/**
 * The drain thread reports what it drained four times per --batch-ms: a
 * signal waits a quarter of the interval before it is read, which leaves
 * the rest for the writes queued ahead of it and its own, so a signal is
 * committed within one interval while the recorder keeps up.
 */
const HANDOVERS_PER_BATCH_INTERVAL = 4;
/**
 * The longest the drain thread waits for the kernel's wakeup (which comes
 * only once the ring is a quarter full) before it appends what the ring
 * holds to the spill: what a kill -9 can lose at a low rate, whatever
 * --batch-ms is. Every handover interval (50 ms by default) at most: a
 * 10 ms wait took a third of an idle recorder's CPU.
 */
const MAX_DRAIN_WAIT_MS = 50;
/** Records read from the spill and committed per transaction (1 MiB): the objects of one chunk are all the heap holds. */
const CHUNK_BYTES = 8_192 * EVENT_SIZE;
/**
 * Drained records that travel in memory because the spill cannot take
 * them (its disk is full or unwritable): past this the drain pauses and
 * the kernel counts drops, so the recorder's memory stays bounded.
 */
const MAX_MEMORY_QUEUE_BYTES = 32 << 20;
/** How often held rows are retried while the database cannot be written. */
const RETRY_MS = 1000;
const RETENTION_INTERVAL_MS = 1000;
/** --max-held default: 100 000 records, 13 MB, held only while neither the database nor the spill takes them. */
export const DEFAULT_MAX_HELD_ROWS = 100_000;
/**
 * --nice default, like auditd's priority_boost of 4: at 100 000 signals/s
 * on two CPUs, sharing a CPU evenly with the storm's sender, the recorder
 * fell 150-440 ms behind (uncommitted signals a hard kill lost before the
 * spill: 15 000-44 000 in 20 kills); at -4, under 150 ms in 11 of 13 runs.
 */
export const DEFAULT_NICE = -4;
/**
 * --flood-budget default, per uid. Signals that leave the uid or kill
 * their target are never summarised, so the budget only meets a uid's
 * non-fatal signals to itself (probes, SIGUSR1 to its own workers, Go's
 * SIGURG preemption): a thousand in a burst, then 100 a second, is about
 * 1% of what the recorder writes (100 000 signals/s), and at most 8.6M
 * rows a day per flooding uid, so one user cannot make --max-db-size
 * prune everyone's older records within hours. Beyond it the sends are
 * still counted, in summaries.
 */
export const DEFAULT_FLOOD_BUDGET: FloodBudget = { rate: 100, burst: 1000 };

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

export class Recorder {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly handoverMs: number;
  private readonly committer: Committer;
  private readonly drops: DropAccounting;
  private readonly rotation: SpillRotation;
  private readonly backlog: Backlog;
  private readonly archive: ArchiveSchedule;
  private readonly retention: RetentionSchedule;
  /** A pump turn is queued. */
  private pumping = false;
  private stopping: Promise<RecordSummary> | undefined;
  private closed = false;
  // Damage, deletion and replacement of the database file (database-watch.ts, fresh-database.ts):
  private readonly watch: DatabaseWatch;
  private readonly ingest: Ingest;
  /** Why the recorder left its file and could not open a new one yet; the watch tries again. */
  private departure: Departure | undefined;
  /** Set while going on in a fresh file, whose own failures are not a reason to leave it. */
  private reopening = false;

  private constructor(
    private readonly options: RecordOptions,
    private db: WritableDatabase,
    private readonly probe: Probe,
    private runId: number,
    private readonly spill: SpillFiles,
    ingest: Ingest,
    retention: Retention,
  ) {
    this.handoverMs = Math.max(MIN_HANDOVER_MS, Math.floor(options.batchMs / HANDOVERS_PER_BATCH_INTERVAL));
    this.watch = new DatabaseWatch(options.dbPath);
    this.ingest = ingest;
    this.committer = new Committer(ingest, {
      dbPath: options.dbPath,
      runId,
      maxHeldRecords: options.maxHeldRows,
      retryMs: RETRY_MS,
      log: options.log,
      wallNs,
      committed: (position) => {
        // While stopping, the probe is closed: the last records stay in the current file.
        if (!this.stopping) this.rotation.committed(position);
      },
      writable: (cause) => {
        if (cause === undefined) {
          // While stopping, the probe is closed (stats() would throw): stop() records the final counts.
          if (!this.stopping) this.checkStats();
          this.schedulePump();
        }
        this.options.notifier?.status(this.statusLine());
      },
      probe: () => this.drops.touch({ recorded: this.committer.recorded, dropped: this.committer.dropped }),
      damaged: (error) => this.leaveIfDamaged(error),
      // A change found here is handled by the watch's next turn, as if found there.
      inPlace: () => this.departure === undefined && this.watch.check() === undefined,
    });
    this.drops = new DropAccounting(db, ingest.writer, runId, options.log, isoTime, wallNs());
    this.rotation = new SpillRotation(spill, (fd, file) => probe.spillTo(fd, file), options.log, RETRY_MS, MAX_MEMORY_QUEUE_BYTES);
    this.backlog = new Backlog((file) => spill.path(file), (bytes, inMemory) => probe.release(bytes, inMemory), CHUNK_BYTES);
    const refused = () => this.committer.failure !== undefined;
    this.archive = new ArchiveSchedule(
      ingest.writer,
      () => refused() || this.stopping !== undefined,
      () => !this.backlog.empty,
      (error) => this.leaveIfDamaged(error),
    );
    this.retention = new RetentionSchedule(retention, options.log, options.verbose, isoTime, refused, (error) => this.leaveIfDamaged(error));
  }

  /** Returns once every probe is attached and signals flow to the database. */
  static start(options: RecordOptions): Recorder {
    return startRecording(options, ({ db, writer, probe, runId }) => {
      const spill = new SpillFiles(options.dbPath, runId, options.gid, () => loadAddon().realtimeOffset());
      const recorder = new Recorder(options, db, probe, runId, spill, new Ingest(writer), new Retention(db, writer, options.retention, runId));
      raisePriority(options.nice, options.log);
      probe.start((segments) => recorder.received(segments), {
        pollMs: Math.min(recorder.handoverMs, MAX_DRAIN_WAIT_MS),
        flushMs: recorder.handoverMs,
        maxBatchEvents: MAX_BATCH_EVENTS,
        maxQueuedBytes: options.maxQueuedBytes,
        maxMemoryBytes: MAX_MEMORY_QUEUE_BYTES,
        summaryMs: options.floodBudget ? SUMMARY_INTERVAL_MS : 0,
        ...recorder.rotation.first(),
      });
      recorder.timers.push(setInterval(() => recorder.checkStats(), STATS_INTERVAL_MS));
      recorder.timers.push(setInterval(() => recorder.archive.tick(), ARCHIVE_INTERVAL_MS));
      // While the recorder has left its file and found none to go on in, the watch tries again instead.
      recorder.timers.push(setInterval(() => {
        if (!recorder.departure) recorder.committer.retry();
      }, RETRY_MS));
      recorder.timers.push(setInterval(() => recorder.retention.prune(wallNs()), RETENTION_INTERVAL_MS));
      recorder.timers.push(setInterval(() => recorder.watchDatabase(), WATCH_INTERVAL_MS));
      // Every probe is attached: this line, and READY=1, mean signals are being recorded.
      options.log(`recording to ${options.dbPath}`);
      options.notifier?.ready(recorder.statusLine());
      return recorder;
    });
  }

  /** The drain thread's report: what it appended to the spill (or holds in memory). */
  private received(segments: Segment[]): void {
    // While stopping, the probe is closed: the last records stay in the current file.
    if (!this.stopping) for (const segment of segments) if (segment.spillEnd !== -1) this.rotation.grew({ file: segment.spillFile, end: segment.spillEnd });
    this.archive.saw(this.backlog.add(segments) / EVENT_SIZE, this.handoverMs);
    this.schedulePump();
  }

  private schedulePump(): void {
    if (this.pumping || this.stopping) return;
    this.pumping = true;
    setImmediate(() => {
      this.pumping = false;
      if (this.pump(1)) this.schedulePump();
    });
  }

  /**
   * Commits up to `chunks` chunks of the backlog; true if more wait. While
   * the database refuses writes, records the spill holds stay there (the
   * retry resumes), and records only in memory go on to the hold.
   */
  private pump(chunks: number): boolean {
    for (let i = 0; i < chunks; i++) {
      if (this.closed || (this.committer.failure !== undefined && this.backlog.nextInMemory !== true)) return false;
      const chunk = this.backlog.take();
      if (!chunk) return false;
      this.committer.commit(chunk, loadAddon().realtimeOffset());
      this.retention.wrote(wallNs());
    }
    return !this.backlog.empty;
  }

  /** One line for STATUS= and the logs: what was recorded, dropped and held. */
  statusLine(): string {
    let line = `recording: ${this.committer.recorded} signals, ${this.dropped()} dropped`;
    if (this.committer.failure !== undefined) line += `; cannot write the database (${this.committer.failure}), holding ${this.committer.holding} in memory`;
    return line;
  }

  private dropped(): bigint {
    return this.drops.kernelDropped + this.committer.dropped;
  }

  private checkStats(final?: ProbeStats): void {
    const stats = final ?? this.probe.stats();
    if (!final) this.rotation.check(stats);
    const overflow = this.committer.settledOverflow;
    try {
      this.drops.record(stats, wallNs(), { recorded: this.committer.recorded, dropped: this.committer.dropped, overflow }, final !== undefined);
      if (overflow) this.committer.overflowRecorded();
    } catch (error) {
      // The window stays open and is written once the database takes it.
      if (this.committer.failure === undefined) this.committer.failed(error as Error);
    }
    if (!final) this.options.notifier?.status(this.statusLine());
  }

  /** A damaged file is left for a fresh one, not retried; true if the recorder went on in one. */
  private leaveIfDamaged(error: Error): boolean {
    if (!isDamageError(error) || this.reopening || this.departure || this.stopping) return false;
    return this.startAfresh({ what: 'damaged', detail: error.message });
  }

  /** Every second: the path still names the file written, or the recorder goes on in a new one. */
  private watchDatabase(): void {
    const change = this.departure ?? this.watch.check();
    if (change) this.startAfresh(change);
    else this.committer.forgetRecent();
  }

  /**
   * Leaves the database file for a fresh one at the path (fresh-database.ts):
   * the chunks the old file took since the watch last saw it in place are
   * written again when it was deleted or replaced, then held ones follow.
   * If no database can be opened there, the committer holds what it is
   * given (the spill, then memory up to --max-held) and the watch tries again
   * every second. True if the recorder goes on in a fresh file.
   */
  private startAfresh(departure: Departure): boolean {
    try {
      this.db.close();
    } catch {
      // A damaged or deleted file: nothing more goes into it either way.
    }
    this.db.recorderLock?.close();
    const run = { startedNs: wallNs(), host: hostname(), kernel: release(), version: VERSION, recorderPid: process.pid, ringBytes: this.options.ringBytes, id: this.runId };
    let reopened: { db: WritableDatabase; runId: number };
    let writer: SignalWriter;
    this.reopening = true;
    try {
      reopened = reopenAfter(departure, this.options.dbPath, { gid: this.options.gid, lock: true, warn: this.options.log }, this.options.log, run, this.watch.leftovers());
      const cgroups = new CgroupNames();
      writer = new SignalWriter(reopened.db, { nameCgroups: (ids) => cgroups.newNames(ids) });
    } catch (error) {
      this.departure = departure;
      this.committer.failed(error as Error);
      return false;
    } finally {
      this.reopening = false;
    }
    this.departure = undefined;
    this.db = reopened.db;
    this.runId = reopened.runId;
    this.ingest.writer = writer;
    this.drops.moveTo(this.db, writer, this.runId);
    this.archive.writer = writer;
    this.retention.retention = new Retention(this.db, writer, this.options.retention, this.runId);
    this.watch.rearm();
    this.committer.moveTo(this.runId, departure.what === 'deleted' || departure.what === 'replaced');
    setImmediate(() => {
      this.reopening = true;
      try {
        this.committer.resume();
      } finally {
        this.reopening = false;
      }
      this.schedulePump();
    });
    return true;
  }

  /** Detaches, drains what the kernel still holds, writes the backlog, and closes. */
  stop(): Promise<RecordSummary> {
    this.stopping ??= (async () => {
      for (const timer of this.timers) clearInterval(timer);
      this.options.notifier?.stopping(`stopping: ${this.statusLine()}`);
      const final = await this.probe.close();
      this.committer.retry();
      // A large backlog may take longer than TimeoutStopSec= to write: systemd is told of each step forward.
      while (this.pump(1)) this.options.notifier?.stillStopping();
      this.backlog.close();
      this.committer.finish(loadAddon().realtimeOffset());
      this.committer.abandon();
      this.closed = true;
      if (this.committer.failure === undefined) {
        this.checkStats(final);
        if (this.committer.failure === undefined)
          this.archive.moveAll(() => {
            this.retention.wrote(wallNs());
            this.options.notifier?.stillStopping();
          }, this.options.log);
        // Everything drained is written or counted: nothing to replay.
        this.spill.removeAll();
      } else {
        this.options.log(`stopping while ${this.options.dbPath} refuses writes (${this.committer.failure}): the signals still in the spill files are written by the next start`);
      }
      closeWriting(this.db);
      return { runId: this.runId, recorded: this.committer.recorded, dropped: this.dropped() };
    })();
    return this.stopping;
  }
}
