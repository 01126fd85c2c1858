// The one step from drained records to committed rows: decode, assemble,
// write, in one transaction. Everything that writes signals calls it, so a
// faster writer (records decoded in C) replaces its body and nothing else.
import type { WritableDatabase } from '../store/database';
import type { RunProgress, SignalWriter } from '../store/writer';
import { Assembler } from './assemble';
import { CgroupNames } from './cgroups';
import { decode } from './decode';

export class Ingest {
  private readonly assembler = new Assembler();
  private readonly cgroups = new CgroupNames();

  constructor(
    private readonly db: WritableDatabase,
    readonly writer: SignalWriter,
  ) {}

  /**
   * Writes whole 128-byte records, and `progress`, in one transaction;
   * returns how many rows that made. On failure nothing is written and
   * nothing is remembered: the same records can be ingested again.
   */
  ingest(records: Buffer, realtimeOffsetNs: bigint, progress: RunProgress): number {
    const restore = this.assembler.checkpoint();
    try {
      return this.db.transaction(() => {
        const { rows, relabels } = this.assembler.assemble(decode(records), realtimeOffsetNs);
        this.writer.write(rows, this.cgroups.newNames(rows), progress);
        for (const { id, origin } of relabels) this.writer.relabel(id, origin);
        return rows.length;
      }).immediate();
    } catch (error) {
      restore();
      throw error;
    }
  }

  /** Fan-out records still waiting for their syscall's exit, written as rows without a return value (at the end). */
  finish(realtimeOffsetNs: bigint, progress: RunProgress): number {
    const rows = this.assembler.drain(realtimeOffsetNs);
    if (rows.length > 0) this.writer.write(rows, this.cgroups.newNames(rows), progress);
    return rows.length;
  }
}
