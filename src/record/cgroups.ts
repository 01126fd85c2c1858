// Names cgroup v2 ids (the kernfs inode numbers the BPF side reports) as a
// path and, where the path shows one, a systemd unit. The cgroup is often
// gone by the time someone asks, so names are resolved while recording.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupName } from '../store/writer';

/** The cgroup2 mount point: /sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts. */
export function cgroup2Mount(mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): string | undefined {
  for (const line of mountinfo.split('\n')) {
    const [mountFields, fsFields] = line.split(' - ');
    if (fsFields?.startsWith('cgroup2 ')) return mountFields.split(' ')[4];
  }
  return undefined;
}

/** The innermost systemd unit in a cgroup path: a service, scope or slice. */
export function unitOf(path: string): string | null {
  const parts = path.split('/').reverse();
  return (
    parts.find((part) => /\.(service|scope)$/.test(part)) ?? parts.find((part) => part.endsWith('.slice')) ?? null
  );
}

/** A rescan walks the whole hierarchy: at most this often. */
const RESCAN_INTERVAL_MS = 100;

export class CgroupNames {
  private readonly known = new Map<bigint, CgroupName>();
  private readonly stored = new Set<bigint>();
  /** Ids seen but not yet named, with when they were first seen. */
  private readonly pending = new Map<bigint, number>();
  /** Ids a scan made after their first sighting did not find: the cgroup was gone. */
  private readonly gone = new Set<bigint>();
  private lastScan = 0;

  constructor(private readonly mount = cgroup2Mount()) {}

  /**
   * Names for the cgroup ids a batch refers to that are not yet stored, to
   * be written with the batch that first uses them. An id the last scan
   * missed waits for the next one, so a cgroup created just before its
   * first signal is still named.
   */
  newNames(ids: Iterable<bigint>): CgroupName[] {
    const now = Date.now();
    for (const id of ids) {
      if (id !== 0n && !this.stored.has(id) && !this.gone.has(id) && !this.pending.has(id)) this.pending.set(id, now);
    }
    if (this.pending.size === 0) return [];
    if ([...this.pending.keys()].some((id) => !this.known.has(id)) && now - this.lastScan >= RESCAN_INTERVAL_MS) this.rescan(now);
    const fresh: CgroupName[] = [];
    for (const [id, seen] of this.pending) {
      const name = this.known.get(id);
      if (name) {
        fresh.push(name);
        this.stored.add(id);
        this.pending.delete(id);
      } else if (this.lastScan >= seen) {
        this.gone.add(id);
        this.pending.delete(id);
      }
    }
    return fresh;
  }

  private rescan(now: number): void {
    this.lastScan = now;
    if (!this.mount) return;
    const walk = (dir: string, path: string): void => {
      let inode: bigint;
      try {
        inode = statSync(dir, { bigint: true }).ino;
      } catch {
        return; // removed while walking
      }
      this.known.set(inode, { id: inode, path, unit: unitOf(path) });
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const entry of entries)
        if (entry.isDirectory()) walk(join(dir, entry.name), path === '/' ? `/${entry.name}` : `${path}/${entry.name}`);
    };
    walk(this.mount, '/');
  }
}
