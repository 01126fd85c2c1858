// The vocabulary shared by the recorder, queries and exports: names for
// signal numbers, errnos, sending paths and delivery results.
import { constants } from 'node:os';

// Linux numbering (x86_64, arm64 and the other generic-ABI architectures).
const STANDARD_SIGNALS = [
  '', 'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE',
  'SIGKILL', 'SIGUSR1', 'SIGSEGV', 'SIGUSR2', 'SIGPIPE', 'SIGALRM', 'SIGTERM', 'SIGSTKFLT',
  'SIGCHLD', 'SIGCONT', 'SIGSTOP', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU', 'SIGURG', 'SIGXCPU',
  'SIGXFSZ', 'SIGVTALRM', 'SIGPROF', 'SIGWINCH', 'SIGIO', 'SIGPWR', 'SIGSYS',
];
// glibc keeps 32 and 33 for itself, so user programs see SIGRTMIN as 34.
const SIGRTMIN = 34;
const SIGRTMAX = 64;

/** 'SIGTERM' for 15, 'SIGRTMIN+3' for 37, '' for 0 (a liveness probe). */
export function signalName(signal: number): string {
  if (signal === 0) return '';
  if (signal > 0 && signal < STANDARD_SIGNALS.length) return STANDARD_SIGNALS[signal];
  if (signal === SIGRTMIN) return 'SIGRTMIN';
  if (signal === SIGRTMAX) return 'SIGRTMAX';
  if (signal > SIGRTMIN && signal < SIGRTMAX) return `SIGRTMIN+${signal - SIGRTMIN}`;
  return `SIG${signal}`;
}

/** The number for 'TERM', 'SIGTERM', 'sigterm', '15', 'RTMIN+2', 'SIGRTMAX-1'; undefined if none. */
export function signalNumber(text: string): number | undefined {
  const trimmed = text.trim().toUpperCase();
  if (/^\d+$/.test(trimmed)) {
    const signal = Number(trimmed);
    return signal <= SIGRTMAX ? signal : undefined;
  }
  const name = trimmed.startsWith('SIG') ? trimmed : `SIG${trimmed}`;
  const standard = STANDARD_SIGNALS.indexOf(name);
  if (standard > 0) return standard;
  const aliases: Record<string, number> = { SIGIOT: 6, SIGPOLL: 29, SIGCLD: 17 };
  if (name in aliases) return aliases[name];
  const realtime = /^SIGRT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name);
  if (!realtime) return undefined;
  const base = realtime[1] === 'MIN' ? SIGRTMIN : SIGRTMAX;
  const offset = realtime[3] === undefined ? 0 : Number(realtime[3]) * (realtime[2] === '-' ? -1 : 1);
  const signal = base + offset;
  return signal >= SIGRTMIN && signal <= SIGRTMAX ? signal : undefined;
}

const ERRNO_NAMES = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  // The first name wins: EAGAIN before EWOULDBLOCK, as the kernel spells it.
  if (!ERRNO_NAMES.has(value)) ERRNO_NAMES.set(value, name);
}

/** 'ESRCH' for -3; '' for a success (ret >= 0) or no return value. */
export function errnoName(ret: number | null): string {
  if (ret === null || ret >= 0) return '';
  return ERRNO_NAMES.get(-ret) ?? `E${-ret}`;
}

/** Sending paths in the order of enum sigaudit_source (bpf/sigaudit.h). */
export const SOURCES = [
  'kernel',
  'kill',
  'tkill',
  'tgkill',
  'rt_sigqueueinfo',
  'rt_tgsigqueueinfo',
  'pidfd_send_signal',
] as const;
export type Source = (typeof SOURCES)[number];

/** enum trace_signal_result in the kernel's include/trace/events/signal.h. */
export const RESULTS = ['delivered', 'ignored', 'already_pending', 'overflow', 'lose_info'] as const;
export type Result = (typeof RESULTS)[number];

/** Where a kernel-generated signal came from, as far as its context tells. */
export const ORIGINS = ['fault', 'child', 'pipe', 'timer', 'tty', 'oom', 'cgroup_kill', 'kernel'] as const;
export type Origin = (typeof ORIGINS)[number];
