// Facts about the machine that belong next to any number measured on it.
import * as fs from 'node:fs';
import * as os from 'node:os';

export function describeHost(tracerVersions: Record<string, string | undefined>): Record<string, string> {
  const cpuModel = /model name\s*:\s*(.*)/.exec(readOr('/proc/cpuinfo', ''))?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  const host: Record<string, string> = {
    kernel: `${os.release()} (${os.arch()})`,
    cpu: `${cpuModel}, ${os.cpus().length} CPUs`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    'load average at start': os.loadavg().map((l) => l.toFixed(2)).join(' '),
  };
  for (const [name, version] of Object.entries(tracerVersions)) {
    if (version) host[name] = version;
  }
  return host;
}

const FOREIGN_TRACER = /\bbpftrace\b|\bauditd\b|sigsnoop|killsnoop|\bindex\.js record\b|\bsigaudit record\b/;

/**
 * Tracing or auditing processes the bench did not start. They add their own
 * cost to every "bare" run, so their presence is reported with the results.
 * Call it only while none of the bench's own tracers is running.
 */
export function findForeignTracers(): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const cmdline = readOr(`/proc/${pid}/cmdline`, '').split('\0').join(' ').trim();
    if (FOREIGN_TRACER.test(cmdline)) found.push(`pid ${pid}: ${cmdline.slice(0, 120)}`);
  }
  return found;
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

/** CPU time of every user-space process, to see who else kept the CPUs busy during a round. */
export interface CpuSnapshot {
  atMs: number;
  processes: Map<number, { ticks: number; ppid: number; name: string }>;
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ, fixed at 100 on Linux for /proc

export function snapshotCpu(): CpuSnapshot {
  const processes = new Map<number, { ticks: number; ppid: number; name: string }>();
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = readOr(`/proc/${pid}/stat`, '');
    // Fields after the parenthesised comm, which may itself contain spaces.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest.length < 13) continue;
    const ppid = Number(rest[1]);
    if (pid === 2 || ppid === 2) continue; // kernel threads work on behalf of whoever traces
    const name = readOr(`/proc/${pid}/cmdline`, '').split('\0').join(' ').trim().slice(0, 100);
    processes.set(pid, { ticks: Number(rest[11]) + Number(rest[12]), ppid, name });
  }
  return { atMs: Date.now(), processes };
}

/**
 * Processes other than the bench and its children that used more than
 * minShare of a CPU between two snapshots, e.g. "pid 42 (85 % CPU): make".
 */
export function busyOthers(before: CpuSnapshot, after: CpuSnapshot, minShare = 0.1): string[] {
  const seconds = (after.atMs - before.atMs) / 1000;
  const isOurs = (pid: number) => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
      if (p === process.pid) return true;
      p = after.processes.get(p)?.ppid ?? 0;
    }
    return false;
  };
  const busy: string[] = [];
  for (const [pid, now] of after.processes) {
    const then = before.processes.get(pid);
    const share = (now.ticks - (then?.ticks ?? 0)) / CLOCK_TICKS_PER_SECOND / seconds;
    if (share > minShare && !isOurs(pid)) busy.push(`pid ${pid} (${(share * 100).toFixed(0)} % CPU): ${now.name}`);
  }
  return busy;
}
