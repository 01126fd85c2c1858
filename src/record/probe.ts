// The typed face of the native addon (native/probe.cc). Nothing here
// decides anything: the recorder chooses options and order.
import { join } from 'node:path';
import { NativeError } from '../errors';
import { addonLoadFailure } from './native-errors';

export interface ProbeOptions {
  ringBytes: number;
  wakeupBytes: number;
  skipProbes: boolean;
  /** Bit (signal - 1) set for each signal to keep; 0n keeps all. */
  onlySignals: bigint;
  excludedComms: string[];
  /** A raw sys_exit program will see compat syscalls end (see compatExitTraced). */
  compatExitTraced: boolean;
  /** One detailed record per uid every floodIntervalNs, bursts up to floodBurstNs ahead (bpf/flood.h); 0n: no budget. */
  floodIntervalNs: bigint;
  floodBurstNs: bigint;
  /** The nsfs inode number of the recorder's pid namespace: the *_ns_pid fields number tasks as it does. */
  pidnsInum: number;
  log: (level: 'warn' | 'info' | 'debug', line: string) => void;
}

export interface DrainOptions {
  /** How long the drain thread waits for a wakeup before draining anyway. */
  pollMs: number;
  /** How often JavaScript learns what was drained. */
  flushMs: number;
  /** Records drained before they are appended to the spill at once. */
  maxBatchEvents: number;
  /** Bytes drained and not yet released, past which draining pauses. */
  maxQueuedBytes: number;
  /** Of those, bytes held in memory because the spill could not take them. */
  maxMemoryBytes: number;
  /** How often the kernel's summary map is swapped out and its counts delivered as SUMMARY records; 0: never. */
  summaryMs: number;
  /** A spill file to append every drained record to (the addon owns it from now on), and its number. */
  spillFd?: number;
  spillFile?: number;
}

/**
 * A stretch of drained records, in drain order. Usually spill file
 * `spillFile` grew to byte `spillEnd` and the records are there; when the
 * spill could not take them they come in `records`, and spillEnd is -1:
 * once they are committed, nothing in that file is left uncommitted.
 * spillFile is -1 without a spill.
 */
export interface Segment {
  spillFile: number;
  spillEnd: number;
  records?: Buffer;
}

export type OnSegments = (segments: Segment[]) => void;

export interface ProbeStats {
  ringbufDrops: bigint;
  inflightDrops: bigint;
  /** Sends to summarise that found even the coarse summary key's map full. */
  summaryDrops: bigint;
  /** Why the last swap of the summary map failed (an errno), or 0. */
  summaryErrno: number;
  /** Why writing the current spill file failed (an errno), or 0. */
  spillErrno: number;
}

export interface Probe {
  attach(program: string): void;
  start(onSegments: OnSegments, options: DrainOptions): void;
  /** Later records go to this spill file (the addon owns fd from now on). */
  spillTo(fd: number, file: number): void;
  /** JavaScript took `bytes` of the queue (inMemory: of segments' records): draining may go on. */
  release(bytes: number, inMemory: boolean): void;
  stats(): ProbeStats;
  close(): Promise<ProbeStats>;
}

export interface EventLayout {
  size: number;
  offsets: Record<string, number>;
}

/** struct sigaudit_spill_header, as the addon reports it. */
export interface SpillLayout {
  size: number;
  magic: string;
  recordSize: number;
  offsets: { magic: number; record_size: number; realtime_offset_ns: number };
}

interface Addon {
  Probe: new (options: ProbeOptions) => Probe;
  setErrorClass(errorClass: typeof NativeError): void;
  realtimeOffset(): bigint;
  layout: EventLayout;
  /** How many --exclude-comm names the BPF program holds (bpf/sigaudit.h). */
  maxExcludedComms: number;
  spillLayout: SpillLayout;
}

let addon: Addon | undefined;

export function loadAddon(): Addon {
  if (!addon) {
    try {
      addon = require(join(__dirname, '..', '..', '..', 'build', 'Release', 'sigaudit.node')) as Addon;
    } catch (error) {
      throw addonLoadFailure(error as Error);
    }
    addon.setErrorClass(NativeError);
  }
  return addon;
}

/** How the six signal syscalls are seen to end. */
export interface SyscallExits {
  /** The per-syscall tracepoints (needs tracefs), or the raw sys_exit every system call passes. */
  via: 'syscalls' | 'raw';
  /** Also the raw sys_exit for ia32 compat calls, which the syscalls: tracepoints never see. */
  ia32: boolean;
}

const SYSCALL_EXITS = [
  'sys_exit_kill',
  'sys_exit_tkill',
  'sys_exit_tgkill',
  'sys_exit_rt_sigqueueinfo',
  'sys_exit_rt_tgsigqueueinfo',
  'sys_exit_pidfd_send_signal',
];

/** Whether compat sends end where a program sees them (else signal_generate records their deliveries). */
export function compatExitTraced(exits: SyscallExits): boolean {
  return exits.via === 'raw' || exits.ia32;
}

// Two copies of each hrtimer program: see hard_timer_mark in bpf/sigaudit.bpf.c.
const INTERRUPT_EXITS = ['irq_handler_exit', 'softirq_exit', 'hrtimer_expire_exit_a', 'hrtimer_expire_exit_b'];
const INTERRUPT_ENTRIES = ['irq_handler_entry', 'softirq_entry', 'hrtimer_expire_entry_a', 'hrtimer_expire_entry_b'];

/**
 * Programs in attach order: the syscall exits before signal_generate, which
 * leaves a send's first delivery for its exit to pick up, and interrupt exits
 * before entries (an exit without its entry is ignored, the reverse would stick).
 */
export function programsFor(exits: SyscallExits): string[] {
  const syscallExits = exits.via === 'raw' ? ['raw_sys_exit'] : [...SYSCALL_EXITS, ...(exits.ia32 ? ['ia32_sys_exit'] : [])];
  return [...syscallExits, ...INTERRUPT_EXITS, ...INTERRUPT_ENTRIES, 'signal_generate', 'mark_victim'];
}
