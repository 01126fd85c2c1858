// The recorder's background work on the database, each on its own timer:
// moving rows from the hot table to the archive, and retention.
import type { Retention } from '../store/retention';
import type { SignalWriter } from '../store/writer';

/**
 * The mover moves one chunk per turn of the event loop and yields between
 * chunks, so chunks of new signals are written in between: a chunk held
 * the loop under 30 ms in the kill -9 storms (5 000 rows took ~50 ms, and
 * a tick of several up to 250 ms), so a hard kill loses one batch interval
 * at most, not a mover's pass.
 */
const ARCHIVE_CHUNK_ROWS = 2_000;
/** Signals arriving faster than this mean a burst is on: the mover waits. */
const BURST_EVENTS_PER_SECOND = 40_000;
const MAX_HOT_ROWS = 1_000_000;
/**
 * A clean stop moves what is left in the hot table into the indexed
 * archive, so reports on a stopped recorder's database never scan it, in
 * chunks this large, for at most this long (the unit's TimeoutStopSec= is
 * 60 s, extended by each chunk under systemd: src/service/notify.ts
 * stillStopping); what is left then is moved by the next recorder.
 */
const STOP_ARCHIVE_CHUNK_ROWS = 20_000;
const STOP_ARCHIVE_BUDGET_MS = 40_000;

/** Moves rows from the hot table to the indexed archive, except during a burst. */
export class ArchiveSchedule {
  /** Signals received since the last tick, and when that was. */
  private eventsSinceTick = 0;
  private lastTickMs = Date.now();
  /**
   * Signals arrive faster than BURST_EVENTS_PER_SECOND: set by a chunk
   * that large (so the mover stops at once when a storm begins), cleared
   * by a tick that saw fewer.
   */
  private burst = false;
  /** A next turn is queued behind the chunks waiting now. */
  private queued = false;

  constructor(
    /** Replaced when the recorder goes on in a fresh database. */
    public writer: SignalWriter,
    /** The mover waits while this says so (the database refuses writes, the recorder stops). */
    private readonly paused: () => boolean,
    /**
     * Drained records wait to be written (the backlog in the spill after a
     * storm): they go first, like a burst's. Moving while they waited took
     * most of the CPU a catch-up had (a moved row costs several written ones:
     * the archive's indexes and the rollups), so it ran at a fraction of the
     * write path's rate.
     */
    private readonly behind: () => boolean,
    /** A failed move: damage is the recorder's to handle (rows otherwise stay hot and the next tick retries). */
    private readonly failed: (error: Error) => void,
  ) {}

  /** `events` signals arrived within `spanMs`. */
  saw(events: number, spanMs: number): void {
    this.eventsSinceTick += events;
    if (events * 1000 >= BURST_EVENTS_PER_SECOND * spanMs) this.burst = true;
  }

  tick(): void {
    const now = Date.now();
    this.burst = (this.eventsSinceTick * 1000) / Math.max(1, now - this.lastTickMs) >= BURST_EVENTS_PER_SECOND;
    this.eventsSinceTick = 0;
    this.lastTickMs = now;
    if (!this.queued) this.move();
  }

  /**
   * At a clean stop: moves the hot table into the archive, within
   * STOP_ARCHIVE_BUDGET_MS. `moved` runs after each chunk: the archive's
   * indexes make moved rows larger, so --max-db-size holds through the move too.
   */
  moveAll(moved: () => void, log: (line: string) => void): void {
    const started = Date.now();
    try {
      while (this.writer.hotRows > 0 && Date.now() - started < STOP_ARCHIVE_BUDGET_MS) {
        this.writer.archive(STOP_ARCHIVE_CHUNK_ROWS);
        moved();
      }
    } catch (error) {
      log(`could not move the last rows into the indexed archive (${(error as Error).message}): the next recorder moves them`);
      return;
    }
    if (this.writer.hotRows > 0)
      log(`stopping with ${this.writer.hotRows} rows not yet moved into the indexed archive (${STOP_ARCHIVE_BUDGET_MS / 1000}s spent moving): reports scan them until the next recorder moves them`);
  }

  /** One chunk, then another turn after the chunks that arrived meanwhile. */
  private move(): void {
    // An empty hot table: a move would still prepare and run its statements (a third of an idle recorder's JavaScript time).
    if (this.paused() || this.writer.hotRows === 0) return;
    // During a burst, and while its backlog is written, new rows go first; the
    // archive catches up afterwards, unless the hot table (which queries scan)
    // grows too large.
    const busy = this.burst || this.behind();
    if (busy && this.writer.hotRows < MAX_HOT_ROWS) return;
    let moved: number;
    try {
      moved = this.writer.archive(ARCHIVE_CHUNK_ROWS);
    } catch (error) {
      // Rows stay in the hot table, which queries read too; the next tick retries.
      this.failed(error as Error);
      return;
    }
    // In a burst with too many hot rows, one chunk per tick is enough.
    if (moved === ARCHIVE_CHUNK_ROWS && !busy) {
      this.queued = true;
      setImmediate(() => {
        this.queued = false;
        this.move();
      });
    }
  }
}

/** Applies --retain and --max-db-size; a failure is logged once and retried next time. */
export class RetentionSchedule {
  private failure: string | undefined;

  constructor(
    /** Replaced when the recorder goes on in a fresh database. */
    public retention: Retention,
    private readonly log: (line: string) => void,
    private readonly verbose: boolean,
    private readonly isoTime: (ns: bigint) => string,
    private readonly paused: () => boolean,
    /** A damaged file is the recorder's to handle; true if it took the error. */
    private readonly damaged: (error: Error) => boolean,
  ) {}

  /** After a write: prunes at once if the database grew past its cap. */
  wrote(nowNs: bigint): void {
    if (!this.paused() && this.retention.overSize()) this.prune(nowNs);
  }

  prune(nowNs: bigint): void {
    if (this.paused()) return;
    try {
      for (const pruned of this.retention.run(nowNs)) {
        if (this.verbose) this.log(`pruned ${pruned.rows} rows by ${pruned.reason} from ${this.isoTime(pruned.fromNs)} to ${this.isoTime(pruned.toNs)}`);
      }
      this.failure = undefined;
    } catch (error) {
      if (this.damaged(error as Error)) return;
      const cause = (error as Error).message;
      if (cause !== this.failure) this.log(`retention could not delete old rows: ${cause}; retrying`);
      this.failure = cause;
    }
  }
}
