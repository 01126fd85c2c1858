// sigaudit record: load and attach the probe, turn each batch into rows,
// write them, and account for every event the kernel could not hand over.
import type Database from 'better-sqlite3';
import { hostname, release } from 'node:os';
import { NativeError } from '../errors';
import { openForWriting } from '../store/database';
import { SignalWriter, type SignalRow } from '../store/writer';
import { Assembler } from './assemble';
import { CgroupNames } from './cgroups';
import { decode, EVENT_SIZE } from './decode';
import { checkBtf, checkPrivileges, ensureTracefs } from './preflight';
import { loadAddon, PROGRAMS, type Probe, type ProbeStats } from './probe';
import { nativeFailure } from './native-errors';
import { VERSION } from '../version';

export interface RecordOptions {
  dbPath: string;
  ringBytes: number;
  batchMs: number;
  skipProbes: boolean;
  excludedComms: string[];
  /** Signal numbers to keep; empty keeps all. */
  onlySignals: number[];
  /** Most bytes of drained records waiting for SQLite before draining pauses. */
  maxQueuedBytes: number;
  log: (line: string) => void;
  verbose: boolean;
}

export interface RecordSummary {
  runId: number;
  recorded: number;
  dropped: bigint;
}

const STATS_INTERVAL_MS = 1000;
const ARCHIVE_INTERVAL_MS = 250;
const ARCHIVE_CHUNK_ROWS = 50_000;
/** A batch this large means a burst is on. */
const BURST_BATCH_EVENTS = 10_000;
const MAX_HOT_ROWS = 1_000_000;
const MAX_BATCH_EVENTS = 65_536;
const DRAIN_POLL_MS = 10;
/** Rows kept in memory while the database cannot be written. */
const MAX_UNWRITTEN_ROWS = 2_000_000;

function wallNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

function signalMask(signals: number[]): bigint {
  return signals.reduce((mask, signal) => mask | (1n << BigInt(signal - 1)), 0n);
}

export class Recorder {
  private recorded = 0;
  private dropped = 0n;
  private lastStats: ProbeStats = { ringbufDrops: 0n, inflightDrops: 0n };
  private lastStatsNs = wallNs();
  private unwritten: SignalRow[] = [];
  private writeFailure: string | undefined;
  private lastBatchEvents = 0;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly assembler = new Assembler();
  private readonly cgroups = new CgroupNames();
  private stopping: Promise<RecordSummary> | undefined;

  private constructor(
    private readonly options: RecordOptions,
    private readonly db: Database.Database,
    private readonly writer: SignalWriter,
    private readonly probe: Probe,
    private readonly runId: number,
  ) {}

  /** Resolves once every probe is attached and events flow to the database. */
  static start(options: RecordOptions): Recorder {
    checkPrivileges();
    checkBtf();
    ensureTracefs();
    const db = openForWriting(options.dbPath);
    let probe: Probe | undefined;
    try {
      const addon = loadAddon();
      probe = new addon.Probe({
        ringBytes: options.ringBytes,
        wakeupBytes: Math.max(EVENT_SIZE, Math.floor(options.ringBytes / 4)),
        skipProbes: options.skipProbes,
        onlySignals: signalMask(options.onlySignals),
        excludedComms: options.excludedComms,
        log: (level, line) => {
          if (options.verbose || level === 'warn') options.log(`libbpf ${level}: ${line.trimEnd()}`);
        },
      });
      for (const program of PROGRAMS) probe.attach(program);
      const writer = new SignalWriter(db);
      const runId = writer.beginRun({
        startedNs: wallNs(),
        host: hostname(),
        kernel: release(),
        version: VERSION,
        recorderPid: process.pid,
        ringBytes: options.ringBytes,
      });
      const recorder = new Recorder(options, db, writer, probe, runId);
      probe.start((records) => recorder.onBatch(records), {
        pollMs: DRAIN_POLL_MS,
        flushMs: options.batchMs,
        maxBatchEvents: MAX_BATCH_EVENTS,
        maxQueuedBytes: options.maxQueuedBytes,
      });
      recorder.timers.push(setInterval(() => recorder.checkStats(), STATS_INTERVAL_MS));
      recorder.timers.push(setInterval(() => recorder.archive(), ARCHIVE_INTERVAL_MS));
      options.log(`recording to ${options.dbPath}`);
      return recorder;
    } catch (error) {
      void probe?.close();
      db.close();
      if (error instanceof NativeError) throw nativeFailure(error);
      throw error;
    }
  }

  private onBatch(records: Buffer): void {
    const events = decode(records);
    this.lastBatchEvents = events.length;
    const assembled = this.assembler.assemble(events, loadAddon().realtimeOffset());
    this.store(assembled.rows);
    for (const { id, origin } of assembled.relabels) this.writer.relabel(id, origin);
  }

  private store(rows: SignalRow[]): void {
    const pending = this.unwritten.length > 0 ? this.unwritten.concat(rows) : rows;
    const cgroupIds = new Set<bigint | null>();
    for (const row of pending) {
      cgroupIds.add(row.senderCgroup);
      cgroupIds.add(row.deliveredCgroup);
    }
    try {
      this.writer.write(pending, this.cgroups.newNames(cgroupIds));
      this.recorded += pending.length;
      this.unwritten = [];
      if (this.writeFailure) {
        this.options.log(`database writable again: wrote ${pending.length} held rows`);
        this.writeFailure = undefined;
      }
    } catch (error) {
      for (const row of pending) delete row.id;
      const cause = (error as Error).message;
      if (cause !== this.writeFailure) this.options.log(`cannot write ${this.options.dbPath}: ${cause}; holding rows in memory and retrying`);
      this.writeFailure = cause;
      // Keep the newest rows up to the bound; what falls off is a counted drop.
      const overflow = pending.length - MAX_UNWRITTEN_ROWS;
      this.unwritten = overflow > 0 ? pending.slice(overflow) : pending;
      if (overflow > 0) this.dropped += BigInt(overflow);
    }
  }

  private checkStats(final?: ProbeStats): void {
    const stats = final ?? this.probe.stats();
    const now = wallNs();
    const windows: [bigint, string][] = [
      [stats.ringbufDrops - this.lastStats.ringbufDrops, 'ring_buffer_full'],
      [stats.inflightDrops - this.lastStats.inflightDrops, 'inflight_map_full'],
    ];
    try {
      for (const [count, reason] of windows) {
        if (count <= 0n) continue;
        this.writer.recordDrop(this.runId, this.lastStatsNs, now, count, reason);
        this.dropped += count;
        this.options.log(`dropped ${count} events (${reason}) between ${new Date(Number(this.lastStatsNs / 1_000_000n)).toISOString()} and ${new Date(Number(now / 1_000_000n)).toISOString()}`);
      }
      this.writer.updateRunTotals(this.runId, this.recorded, this.dropped, final ? now : null, final ? 'stopped' : null);
      this.lastStats = stats;
      this.lastStatsNs = now;
    } catch (error) {
      // The window stays open and is written once the database takes it.
      if (!this.writeFailure) this.options.log(`cannot write ${this.options.dbPath}: ${(error as Error).message}`);
    }
  }

  private archive(): void {
    if (this.writeFailure) return;
    // During a burst new rows go first; the archive catches up afterwards,
    // unless the hot table (which queries scan) grows too large.
    if (this.lastBatchEvents >= BURST_BATCH_EVENTS && this.writer.hotRows < MAX_HOT_ROWS) return;
    try {
      this.writer.archive(ARCHIVE_CHUNK_ROWS);
    } catch {
      // Rows stay in the hot table, which queries read too; the next tick retries.
    }
  }

  /** Detaches, drains what the kernel still holds, writes it, and closes. */
  stop(): Promise<RecordSummary> {
    this.stopping ??= (async () => {
      for (const timer of this.timers) clearInterval(timer);
      const final = await this.probe.close();
      const orphans = this.assembler.drain(loadAddon().realtimeOffset());
      this.store(orphans);
      if (this.unwritten.length > 0) this.store([]);
      this.checkStats(final);
      if (this.unwritten.length > 0) {
        this.dropped += BigInt(this.unwritten.length);
        this.options.log(`could not write ${this.unwritten.length} rows before stopping: ${this.writeFailure}`);
      }
      this.db.close();
      return { runId: this.runId, recorded: this.recorded, dropped: this.dropped };
    })();
    return this.stopping;
  }
}

