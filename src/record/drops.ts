// Drop accounting: turns the kernel's drop counters into drop windows (how
// many, why, between when), adds the signals the database could not take,
// and keeps the run's totals current, all in one transaction.
import { errnoName } from '../names';
import type { WritableDatabase } from '../store/database';
import type { SignalWriter } from '../store/writer';
import type { Overflow } from './committer';
import type { ProbeStats } from './probe';

export class DropAccounting {
  /** Signals the kernel dropped, as recorded so far. */
  kernelDropped = 0n;
  private last: ProbeStats = { ringbufDrops: 0n, inflightDrops: 0n, summaryDrops: 0n, spillErrno: 0, summaryErrno: 0 };
  private lastNs: bigint;

  constructor(
    private db: WritableDatabase,
    private writer: SignalWriter,
    private runId: number,
    private readonly log: (line: string) => void,
    private readonly isoTime: (ns: bigint) => string,
    nowNs: bigint,
  ) {
    this.lastNs = nowNs;
  }

  /** Going on in a fresh database: the windows still open are recorded there. */
  moveTo(db: WritableDatabase, writer: SignalWriter, runId: number): void {
    this.db = db;
    this.writer = writer;
    this.runId = runId;
  }

  /** Writes the run's totals only: whether the database takes writes at all. */
  touch(run: { recorded: number; dropped: bigint }): void {
    this.db.transaction(() => this.writer.updateRunTotals(this.runId, run.recorded, run.dropped + this.kernelDropped, null, null)).immediate();
  }

  /**
   * Records the windows since the last call, the overflow window if one is
   * settled, and the run's totals (final: the run stopped). Throws if the
   * database refuses; the windows then stay open for the next call.
   */
  record(stats: ProbeStats, nowNs: bigint, run: { recorded: number; dropped: bigint; overflow?: Overflow }, final: boolean): void {
    const windows: [bigint, string][] = [
      [stats.ringbufDrops - this.last.ringbufDrops, 'ring_buffer_full'],
      [stats.inflightDrops - this.last.inflightDrops, 'inflight_map_full'],
      [stats.summaryDrops - this.last.summaryDrops, 'summary_map_full'],
    ];
    if (stats.summaryErrno !== 0 && this.last.summaryErrno === 0)
      this.log(`cannot swap the kernel's summary map (${errnoName(-stats.summaryErrno)}): summaries stay in the kernel, and sends are dropped once it is full`);
    const kernelDropped = windows.reduce((sum, [count]) => sum + (count > 0n ? count : 0n), 0n);
    this.db.transaction(() => {
      for (const [count, reason] of windows) {
        if (count <= 0n) continue;
        this.writer.recordDrop(this.runId, this.lastNs, nowNs, count, reason);
        this.log(`dropped ${count} events (${reason}) between ${this.isoTime(this.lastNs)} and ${this.isoTime(nowNs)}`);
      }
      if (run.overflow) this.writer.recordDrop(this.runId, run.overflow.fromNs, run.overflow.toNs, run.overflow.count, 'database_unwritable');
      this.writer.updateRunTotals(this.runId, run.recorded, run.dropped + this.kernelDropped + kernelDropped, final ? nowNs : null, final ? 'stopped' : null);
    }).immediate();
    this.kernelDropped += kernelDropped;
    this.last = stats;
    this.lastNs = nowNs;
  }
}
