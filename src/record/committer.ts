// Commits chunks of drained records in drain order. While the database
// refuses writes (disk full, I/O error, read-only) it holds what it was
// given: records the spill holds too wait there (the recorder stops
// reading the spill), records that exist only in memory are held up to
// --max-held, and what does not fit is counted and recorded as a drop
// window once the database takes writes again. Every write failure goes
// through one place, failed(), which reports it.
import { EVENT_SIZE, Flag, Kind, OFFSETS, wallSpan } from './decode';
import type { Chunk } from './backlog';
import type { Ingest } from './ingest';
import type { SpillPosition } from '../store/writer';

/** Records that did not fit in the hold: recorded as a drop window once the database takes it. */
export interface Overflow {
  count: bigint;
  fromNs: bigint;
  toNs: bigint;
}

export interface CommitterOptions {
  dbPath: string;
  runId: number;
  maxHeldRecords: number;
  retryMs: number;
  log: (line: string) => void;
  wallNs: () => bigint;
  /** A commit reached `position` in the spill. */
  committed: (position: SpillPosition) => void;
  /** The database refused a write, or (cause undefined) takes writes again. */
  writable: (cause: string | undefined) => void;
  /** A small write that throws while the database still refuses (tried when nothing is held). */
  probe: () => void;
  /** The file is damaged: the recorder went on in a fresh one (true), so the write is tried again there. */
  damaged: (error: Error) => boolean;
  /** Whether the path still names the file written (no deletion or replacement since it was last seen). */
  inPlace: () => boolean;
}

/**
 * Copies of recent commits kept before the file is looked at again, out of
 * turn: the watch's timer does not run while a stop writes the whole
 * backlog, nor often enough in a storm, and the copies of a second of a
 * storm, or of a whole backlog, would otherwise all be in memory. The
 * copies go into one buffer of this size, used again once they are
 * forgotten: a fresh copy per chunk was garbage the collector let pile up
 * to tens of MB in a storm.
 */
const MAX_RECENT_BYTES = 4 << 20;

/**
 * The signals some records stand for: one per record that becomes a row
 * (every kind but the OOM killer's mark, which labels another), and the
 * sends a kernel summary counted as summarised, which are lost with it
 * (the sends it counted as dropped are in the kernel's drop counter).
 */
function signalsIn(records: Buffer): number {
  let count = 0;
  for (let at = 0; at < records.length; at += EVENT_SIZE) {
    const kind = records.readUInt32LE(at + OFFSETS.kind);
    if (kind === Kind.Summary) {
      if ((records.readUInt32LE(at + OFFSETS.flags) & Flag.SummaryDropped) === 0) count += records.readUInt32LE(at + OFFSETS.deliveries);
    } else if (kind !== Kind.OomVictim) count++;
  }
  return count;
}

export class Committer {
  /** Rows committed by this run. */
  recorded = 0;
  /** Signals this run counted as dropped because the database could not take them. */
  dropped = 0n;
  overflow: Overflow | undefined;
  /** Why the database refuses writes; undefined while it takes them. */
  failure: string | undefined;
  private failingSinceMs = 0;
  private held: { chunk: Chunk; realtimeOffsetNs: bigint }[] = [];
  private heldRecords = 0;
  /**
   * Copies of the chunks committed since the recorder last saw its file in
   * place: if the file was deleted or replaced meanwhile they went with it,
   * and are written again in the fresh one.
   */
  private recent: { chunk: Chunk; realtimeOffsetNs: bigint }[] = [];
  private recentBytes = 0;
  /** Where the copies of recent spill chunks go; its first recentCopied bytes are in use. */
  private copies = Buffer.allocUnsafe(MAX_RECENT_BYTES);
  private recentCopied = 0;
  private runId: number;

  constructor(
    private readonly ingest: Ingest,
    private readonly options: CommitterOptions,
  ) {
    this.runId = options.runId;
  }

  get holding(): number {
    return this.heldRecords;
  }

  /** Writes the chunk after anything held; holds it if the database refuses. */
  commit(chunk: Chunk, realtimeOffsetNs: bigint): void {
    if (this.held.length === 0 && this.failure === undefined && this.write(chunk, realtimeOffsetNs) !== undefined) return;
    this.hold(chunk, realtimeOffsetNs);
    if (this.failure === undefined) this.flush();
  }

  /** While the database refuses writes: try what is held again. */
  retry(): void {
    if (this.failure !== undefined) this.flush();
  }

  /** The file was seen in place: what was committed so far is in it. */
  forgetRecent(): void {
    this.recent = [];
    this.recentBytes = 0;
    this.recentCopied = 0;
  }

  /**
   * Going on in a fresh database under `runId`; `rewrite`: the old file
   * was deleted or replaced, so the chunks committed since it was last
   * seen are written again, ahead of what is held.
   */
  moveTo(runId: number, rewrite: boolean): void {
    this.runId = runId;
    if (rewrite) {
      for (const { chunk } of this.recent) this.recorded -= signalsIn(chunk.records);
      this.held.unshift(...this.recent);
      this.heldRecords += this.recent.reduce((sum, { chunk }) => sum + chunk.records.length / EVENT_SIZE, 0);
      // The held chunks keep their copies: later ones go elsewhere.
      this.copies = Buffer.allocUnsafe(MAX_RECENT_BYTES);
    }
    this.forgetRecent();
  }

  /** After moving to a fresh database: writes what is held there. */
  resume(): void {
    if (this.failure === undefined) this.flush();
  }

  /** At the end: fan-out records still waiting for their syscall's exit become rows without a return value. */
  finish(realtimeOffsetNs: bigint): void {
    if (this.failure !== undefined) return;
    try {
      this.recorded += this.ingest.finish(realtimeOffsetNs, { runId: this.runId, seenNs: this.options.wallNs() });
    } catch (error) {
      this.failed(error as Error);
    }
  }

  /** At the end: what is still held is lost when this process ends; counted as dropped. */
  abandon(): void {
    if (this.held.length === 0) return;
    const lost = this.held.reduce((sum, { chunk }) => sum + signalsIn(chunk.records), 0);
    this.options.log(`could not write ${lost} held rows before stopping (${this.failure}); they are lost and counted as dropped`);
    this.dropped += BigInt(lost);
    this.held = [];
    this.heldRecords = 0;
  }

  private write(chunk: Chunk, realtimeOffsetNs: bigint): number | undefined {
    let rows: number;
    try {
      rows = this.ingest.ingest(chunk.records, realtimeOffsetNs, { runId: this.runId, seenNs: this.options.wallNs(), spill: chunk.position });
    } catch (error) {
      this.failed(error as Error);
      return undefined;
    }
    if (this.recentBytes + chunk.records.length > MAX_RECENT_BYTES && this.options.inPlace()) this.forgetRecent();
    // The spill reader reuses its buffer: the copy outlives it.
    this.recent.push({ chunk: { ...chunk, records: chunk.inMemory ? chunk.records : this.copy(chunk.records) }, realtimeOffsetNs });
    this.recentBytes += chunk.records.length;
    this.recorded += rows;
    if (chunk.position) this.options.committed(chunk.position);
    return rows;
  }

  /** A copy of `records` in the copies buffer while it has room, else on its own. */
  private copy(records: Buffer): Buffer {
    if (this.recentCopied + records.length > this.copies.length) return Buffer.from(records);
    const copy = this.copies.subarray(this.recentCopied, this.recentCopied + records.length);
    records.copy(copy);
    this.recentCopied += records.length;
    return copy;
  }

  /**
   * Records read from the spill are copied (the reader reuses its buffer)
   * and always kept: the recorder reads no more of the spill until the
   * database takes them. Records only in memory are kept up to --max-held.
   */
  private hold(chunk: Chunk, realtimeOffsetNs: bigint): void {
    let records = chunk.inMemory ? chunk.records : Buffer.from(chunk.records);
    const count = records.length / EVENT_SIZE;
    const room = this.options.maxHeldRecords - this.heldRecords;
    if (chunk.inMemory && count > room) {
      // Cut at the start of a send: its fan-out records come before it.
      let cut = Math.max(0, room);
      while (cut > 0 && records.readUInt32LE((cut - 1) * EVENT_SIZE + OFFSETS.kind) === Kind.Fanout) cut--;
      const lost = records.subarray(cut * EVENT_SIZE);
      records = records.subarray(0, cut * EVENT_SIZE);
      this.overflowed(lost, realtimeOffsetNs);
    }
    if (records.length === 0) return;
    this.held.push({ chunk: { ...chunk, records }, realtimeOffsetNs });
    this.heldRecords += records.length / EVENT_SIZE;
  }

  private overflowed(lost: Buffer, realtimeOffsetNs: bigint): void {
    const { fromNs, toNs } = wallSpan(lost, realtimeOffsetNs);
    if (!this.overflow) {
      this.overflow = { count: 0n, fromNs, toNs };
      this.options.log(`memory hold full (${this.heldRecords} rows, --max-held ${this.options.maxHeldRecords}): counting further signals as dropped until ${this.options.dbPath} takes writes`);
    }
    const count = BigInt(signalsIn(lost));
    this.overflow.count += count;
    if (fromNs < this.overflow.fromNs) this.overflow.fromNs = fromNs;
    if (toNs > this.overflow.toNs) this.overflow.toNs = toNs;
    this.dropped += count;
  }

  /** The overflow window, once nothing is held any more, to be recorded; taken back with overflowRecorded(). */
  get settledOverflow(): Overflow | undefined {
    return this.held.length === 0 ? this.overflow : undefined;
  }

  overflowRecorded(): void {
    this.overflow = undefined;
  }

  /** Writes what is held, in order, until done or refused. */
  private flush(): void {
    const catchingUp = this.failure !== undefined;
    if (catchingUp && this.held.length === 0) {
      try {
        this.options.probe();
      } catch (error) {
        this.failed(error as Error);
        return;
      }
    }
    let written = 0;
    while (this.held.length > 0) {
      const { chunk, realtimeOffsetNs } = this.held[0];
      const rows = this.write(chunk, realtimeOffsetNs);
      if (rows === undefined) return;
      this.held.shift();
      this.heldRecords -= chunk.records.length / EVENT_SIZE;
      written += rows;
    }
    if (catchingUp) {
      const seconds = ((Date.now() - this.failingSinceMs) / 1000).toFixed(0);
      this.options.log(`database writable again after ${seconds}s: wrote ${written} held rows${this.overflow ? `, ${this.overflow.count} did not fit in memory and are recorded as dropped` : ''}`);
      this.failure = undefined;
      this.options.writable(undefined);
    }
  }

  /** The one place a refused write is reported: logged once per cause, retried by retry(). */
  failed(error: Error): void {
    if (this.options.damaged(error)) return;
    const code = (error as { code?: string }).code;
    const cause = code ? `${code}: ${error.message}` : error.message;
    if (this.failure === undefined) this.failingSinceMs = Date.now();
    if (cause === this.failure) return;
    this.options.log(`cannot write ${this.options.dbPath}: ${cause}; keeping signals in the spill file (or, when it cannot take them, in memory up to ${this.options.maxHeldRecords} rows) and retrying every ${this.options.retryMs / 1000}s`);
    this.failure = cause;
    this.options.writable(cause);
  }
}
