// Checks made before loading: each names what is missing and how to get it,
// instead of leaving the user with a bare errno from the kernel.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { SigauditError } from '../errors';

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;
export const TRACEFS_MOUNTS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

function effectiveCapabilities(): bigint {
  const status = readFileSync('/proc/self/status', 'utf8');
  const match = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return match ? BigInt(`0x${match[1]}`) : 0n;
}

export function checkPrivileges(): void {
  const caps = effectiveCapabilities();
  const has = (cap: bigint) => (caps & (1n << cap)) !== 0n;
  if (has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))) return;
  throw new SigauditError(
    'EPRIVILEGE',
    'recording needs privileges to load BPF programs, and this process has neither root nor CAP_BPF with CAP_PERFMON',
    'run it as root (sudo sigaudit record), or grant CAP_BPF and CAP_PERFMON (e.g. AmbientCapabilities= in the systemd unit)',
  );
}

export function checkBtf(path = '/sys/kernel/btf/vmlinux'): void {
  if (existsSync(path)) return;
  throw new SigauditError(
    'ENOBTF',
    `the kernel exposes no BTF type information (${path} is missing)`,
    'use a kernel built with CONFIG_DEBUG_INFO_BTF=y (Linux 5.5 or newer; most distributions since 2020 ship it)',
  );
}

/** Finds the syscall tracepoints, mounting tracefs if nobody has. Returns the tracefs path. */
export function ensureTracefs(): string {
  const mounted = () => TRACEFS_MOUNTS.find((dir) => existsSync(`${dir}/events`));
  let found = mounted();
  if (!found) {
    try {
      execFileSync('mount', ['-t', 'tracefs', 'tracefs', TRACEFS_MOUNTS[0]], { stdio: 'pipe' });
    } catch (error) {
      throw new SigauditError(
        'ENOTRACEFS',
        `tracefs is not mounted and mounting it failed: ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`,
        `mount it (mount -t tracefs tracefs ${TRACEFS_MOUNTS[0]}) or run as root so sigaudit can`,
      );
    }
    found = mounted();
    if (!found)
      throw new SigauditError('ENOTRACEFS', 'tracefs was mounted but shows no events', 'check that the kernel has CONFIG_FTRACE enabled');
  }
  if (!existsSync(`${found}/events/syscalls/sys_enter_kill`))
    throw new SigauditError(
      'ENOTRACEPOINT',
      `the kernel has no syscall tracepoints (${found}/events/syscalls/sys_enter_kill is missing)`,
      'use a kernel built with CONFIG_FTRACE_SYSCALLS=y',
    );
  if (!existsSync(`${found}/events/signal/signal_generate`))
    throw new SigauditError(
      'ENOTRACEPOINT',
      `the kernel has no signal:signal_generate tracepoint (${found}/events/signal/signal_generate is missing)`,
      'use a kernel built with CONFIG_TRACEPOINTS=y (Linux 3.2 or newer)',
    );
  return found;
}
