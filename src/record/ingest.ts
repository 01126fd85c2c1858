// The one step from drained records to committed rows, in one transaction:
// the writer's C ingest (src/store/ingest.ts), and the kernel's summaries
// among the records (src/record/summaries.ts). Everything that writes
// signals calls it.
import type { RunProgress, SignalWriter } from '../store/writer';
import { summaryRowsIn } from './summaries';

export class Ingest {
  /** Replaced when the recorder goes on in a fresh database. */
  constructor(public writer: SignalWriter) {}

  /**
   * Writes whole 128-byte records, their summaries (credited to the run
   * that drained them), and `progress`, in one transaction; returns how
   * many signal rows that made. On failure nothing is written and
   * nothing is remembered: the same records can be ingested again.
   */
  ingest(records: Buffer, realtimeOffsetNs: bigint, progress: RunProgress): number {
    const summaries = summaryRowsIn(records, realtimeOffsetNs, progress.runId);
    return this.writer.ingest(records, realtimeOffsetNs, progress, false, summaries).rows;
  }

  /** Fan-out records still waiting for their syscall's exit, written as rows without a return value (at the end). */
  finish(realtimeOffsetNs: bigint, progress: RunProgress): number {
    return this.writer.ingest(Buffer.alloc(0), realtimeOffsetNs, progress, true).rows;
  }
}
