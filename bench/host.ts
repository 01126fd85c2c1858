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
