// The typed face of the native addon (native/probe.cc). Nothing here
// decides anything: the recorder chooses options and order.
import { join } from 'node:path';
import { NativeError } from '../errors';

export interface ProbeOptions {
  ringBytes: number;
  wakeupBytes: number;
  skipProbes: boolean;
  /** Bit (signal - 1) set for each signal to keep; 0n keeps all. */
  onlySignals: bigint;
  excludedComms: string[];
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
  spillLayout: SpillLayout;
}

let addon: Addon | undefined;

export function loadAddon(): Addon {
  if (!addon) {
    addon = require(join(__dirname, '..', '..', '..', 'build', 'Release', 'sigaudit.node')) as Addon;
    addon.setErrorClass(NativeError);
  }
  return addon;
}

/**
 * Programs in attach order: the syscall exit before the entry (an entry
 * seen without its exit would linger), and interrupt exits before entries
 * (an exit without its entry is ignored, the reverse would stick).
 */
export const PROGRAMS = [
  'sys_exit',
  'irq_handler_exit',
  'softirq_exit',
  'hrtimer_expire_exit',
  'irq_handler_entry',
  'softirq_entry',
  'hrtimer_expire_entry',
  'signal_generate',
  'mark_victim',
  'sys_enter',
] as const;
