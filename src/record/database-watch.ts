// Noticing that the database path no longer names the file the recorder
// writes: deleted (rm, a tmp cleaner, the directory removed) or replaced
// (mv over it). SQLite keeps writing into the unlinked inode, where nobody
// can read it, so the recorder checks the path's device and inode itself.
import { statSync } from 'node:fs';

/** How often the path is checked: a stat of two files. */
export const WATCH_INTERVAL_MS = 1000;

export interface PathChange {
  /** 'wal' when only the -wal went: the database is still there, the WAL must be made again. */
  what: 'deleted' | 'replaced' | 'wal';
  detail: string;
}

interface Identity {
  dev: number;
  ino: number;
}

function identityOf(path: string): Identity | undefined {
  try {
    const stat = statSync(path);
    return { dev: stat.dev, ino: stat.ino };
  } catch {
    // ENOENT, or ENOTDIR/ENOENT for a removed directory: the path names nothing.
    return undefined;
  }
}

const same = (a: Identity, b: Identity) => a.dev === b.dev && a.ino === b.ino;

export class DatabaseWatch {
  private file: Identity | undefined;
  private wal: Identity | undefined;
  private shm: Identity | undefined;

  constructor(private readonly path: string) {
    this.rearm();
  }

  /** The files at the path now are the recorder's (after it opened them). */
  rearm(): void {
    this.file = identityOf(this.path);
    this.wal = identityOf(`${this.path}-wal`);
    this.shm = identityOf(`${this.path}-shm`);
  }

  /**
   * The old file's -wal and -shm if they are still at the path after it was
   * deleted or replaced: a connection opening the new file would read the
   * old file's pages from them.
   */
  leftovers(): string[] {
    const stale: string[] = [];
    for (const [suffix, known] of [['-wal', this.wal], ['-shm', this.shm]] as const) {
      const now = identityOf(`${this.path}${suffix}`);
      if (known !== undefined && now !== undefined && same(now, known)) stale.push(`${this.path}${suffix}`);
    }
    return stale;
  }

  /** What happened to the path since the last check, if anything. */
  check(): PathChange | undefined {
    const now = identityOf(this.path);
    if (this.file === undefined) {
      this.rearm();
      return undefined;
    }
    if (now === undefined) return { what: 'deleted', detail: `${this.path} was deleted while recording` };
    if (!same(now, this.file)) return { what: 'replaced', detail: `${this.path} was replaced while recording (inode ${this.file.ino} is now ${now.ino})` };
    const wal = identityOf(`${this.path}-wal`);
    // A WAL SQLite made since the last check is the recorder's own.
    if (this.wal === undefined) this.wal = wal;
    else if (wal === undefined || !same(wal, this.wal)) return { what: 'wal', detail: `${this.path}-wal was ${wal === undefined ? 'deleted' : 'replaced'} while recording` };
    return undefined;
  }
}
