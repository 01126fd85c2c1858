// Checks made before loading: each names what is missing and how to get it,
// instead of leaving the user with a bare errno from the kernel.
import { existsSync, readFileSync } from 'node:fs';
import { SigauditError } from '../errors';

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

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
