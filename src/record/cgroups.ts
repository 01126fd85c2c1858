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

/** A rescan walks the whole hierarchy: at most this often for unknown ids. */
const RESCAN_INTERVAL_MS = 1000;

export class CgroupNames {
  private readonly known = new Map<bigint, CgroupName>();
  private readonly stored = new Set<bigint>();
  private lastScan = 0;

  constructor(private readonly mount = cgroup2Mount()) {}

  /** Names for ids not yet stored, to be written with the batch that first uses them. */
  newNames(ids: Iterable<bigint | null>): CgroupName[] {
    const fresh: CgroupName[] = [];
    for (const id of ids) {
      if (id === null || id === 0n || this.stored.has(id)) continue;
      if (!this.known.has(id)) this.rescan();
      const name = this.known.get(id);
      if (!name) continue;
      this.stored.add(id);
      fresh.push(name);
    }
    return fresh;
  }

  private rescan(): void {
    const now = Date.now();
    if (!this.mount || now - this.lastScan < RESCAN_INTERVAL_MS) return;
    this.lastScan = now;
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
