// Which spill file the addon appends to: the first at start, the next once
// one has grown long enough (so committed files can be deleted), and a new
// one after a failed write, retried every few seconds. A spill that cannot
// be written is logged once per cause: recording goes on, with the backlog
// in bounded memory and weaker crash recovery.
import { errnoName } from '../names';
import type { SpillPosition } from '../store/writer';
import type { ProbeStats } from './probe';
import type { SpillFiles } from './spill';

export class SpillRotation {
  /** Why the spill cannot be written, once logged. */
  private failure: string | undefined;
  private lastAttemptMs = 0;

  constructor(
    private readonly files: SpillFiles,
    private readonly spillTo: (fd: number, file: number) => void,
    private readonly log: (line: string) => void,
    private readonly retryMs: number,
    private readonly memoryBytes: number,
  ) {}

  /** The first spill file for the addon, or nothing (logged) if it cannot be created. */
  first(): { spillFd: number; spillFile: number } | Record<string, never> {
    this.lastAttemptMs = Date.now();
    try {
      const { fd, file } = this.files.next();
      return { spillFd: fd, spillFile: file };
    } catch (error) {
      this.failed(this.files.path(this.files.current + 1), (error as NodeJS.ErrnoException).code ?? (error as Error).message);
      return {};
    }
  }

  /** The addon appended up to `position`. */
  grew(position: SpillPosition): void {
    if (this.files.grew(position)) this.moveOn();
  }

  /** A commit reached `position`: committed files go; a failed current file is retried with a new one. */
  committed(position: SpillPosition): void {
    if (!this.files.committed(position)) return;
    if (Date.now() - this.lastAttemptMs >= this.retryMs) this.moveOn();
  }

  /** Every stats interval: logs a failing spill, and tries again to create one if there is none. */
  check(stats: ProbeStats): void {
    if (stats.spillErrno !== 0) this.failed(this.files.path(this.files.current), errnoName(-stats.spillErrno));
    if (this.files.current === -1 && Date.now() - this.lastAttemptMs >= this.retryMs) this.moveOn();
  }

  /** Later records go to a new spill file, if one can be created. */
  private moveOn(): void {
    const next = this.first();
    if (next.spillFd === undefined) return;
    this.spillTo(next.spillFd, next.spillFile);
    this.failure = undefined;
  }

  private failed(path: string, cause: string): void {
    if (cause === this.failure) return;
    this.failure = cause;
    this.log(
      `cannot write spill file ${path} (${cause}): until it can, signals wait for the database in memory (up to ${this.memoryBytes >> 20} MiB, then the kernel counts drops) and a kill -9 loses those drained but not yet committed; retrying every ${this.retryMs / 1000}s`,
    );
  }
}
