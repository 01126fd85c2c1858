// Checks made before loading: each names what is missing and how to get it,
// instead of leaving the user with a bare errno from the kernel.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SigauditError } from '../errors';

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

function effectiveCapabilities(): bigint {
  const status = readFileSync('/proc/self/status', 'utf8');
  const match = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return match ? BigInt(`0x${match[1]}`) : 0n;
}

function hasCapability(cap: bigint): boolean {
  return (effectiveCapabilities() & (1n << cap)) !== 0n;
}

export function checkPrivileges(): void {
  if (hasCapability(CAP_SYS_ADMIN) || (hasCapability(CAP_BPF) && hasCapability(CAP_PERFMON))) return;
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

const TRACEFS = '/sys/kernel/tracing';
// Where libbpf looks for tracepoint ids, in its own order of preference.
const TRACEFS_PLACES = ['/sys/kernel/debug/tracing', TRACEFS];

function syscallTracepointsVisible(): boolean {
  return TRACEFS_PLACES.some((place) => existsSync(join(place, 'events', 'syscalls')));
}

/**
 * The syscalls: tracepoints attach through tracefs: mounts it when it is
 * missing and this process may, else falls back to the raw sys_exit
 * tracepoint, which every system call on the host then pays for, and says so.
 */
export function chooseSyscallExitsVia(log: (line: string) => void): 'syscalls' | 'raw' {
  if (syscallTracepointsVisible()) return 'syscalls';
  let why: string;
  if (!hasCapability(CAP_SYS_ADMIN)) {
    why = 'mounting it needs CAP_SYS_ADMIN';
  } else {
    const mount = spawnSync('mount', ['-t', 'tracefs', 'tracefs', TRACEFS], { encoding: 'utf8' });
    if (mount.status === 0 && syscallTracepointsVisible()) {
      log(`mounted tracefs at ${TRACEFS}: the per-syscall tracepoints attach through it`);
      return 'syscalls';
    }
    why = mount.status === 0 ? 'it has no syscalls: tracepoints (CONFIG_FTRACE_SYSCALLS)' : `mounting it failed (${(mount.stderr || mount.error?.message || '').trim()})`;
  }
  log(
    `tracefs is not mounted at ${TRACEFS} and ${why}: signal syscalls are traced on the raw sys_exit tracepoint instead, ` +
      `which runs a BPF program on every system call of the host; mount tracefs to avoid that (systemctl start sys-kernel-tracing.mount)`,
  );
  return 'raw';
}

/**
 * The nsfs inode number of this process's pid namespace, which the BPF
 * program numbers pids by (the *_ns_pid fields): users in a container type
 * the pids they see there.
 */
export function ownPidNamespace(): number {
  try {
    return statSync('/proc/self/ns/pid').ino;
  } catch (error) {
    throw new SigauditError(
      'ENOPROC',
      `cannot read this process's pid namespace from /proc/self/ns/pid (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      'mount a procfs for the namespace the recorder runs in (mount -t proc proc /proc, or unshare --mount-proc)',
    );
  }
}
