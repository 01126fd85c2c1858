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
  /** One detailed record per uid every floodIntervalNs, bursts up to floodBurstNs ahead (bpf/flood.h); 0n: no budget. */
  floodIntervalNs: bigint;
  floodBurstNs: bigint;
  log: (level: 'warn' | 'info' | 'debug', line: string) => void;
}

export interface DrainOptions {
  /** How long the drain thread waits for a wakeup before draining anyway. */
  pollMs: number;
  /** How often a partial batch is handed to JavaScript. */
  flushMs: number;
  maxBatchEvents: number;
  /** Batches handed over but not yet written, past which draining pauses. */
  maxQueuedBytes: number;
  /** How often the kernel's summary map is swapped out and its counts delivered as SUMMARY records; 0: never. */
  summaryMs: number;
  /** A spill file to append every drained record to (the addon owns it from now on), and its number. */
  spillFd?: number;
  spillFile?: number;
}

/**
 * A batch of records, and where it ends in the spill: once it is
 * committed, spill file `spillFile` holds nothing uncommitted before byte
 * `spillEnd` (-1: nothing at all). spillFile is -1 without a spill.
 */
export type OnBatch = (records: Buffer, spillFile: number, spillEnd: number) => void;

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
  start(onBatch: OnBatch, options: DrainOptions): void;
  /** Later records go to this spill file (the addon owns fd from now on). */
  spillTo(fd: number, file: number): void;
  stats(): ProbeStats;
  close(): Promise<ProbeStats>;
}

export interface EventLayout {
  size: number;
  offsets: Record<string, number>;
}

interface Addon {
  Probe: new (options: ProbeOptions) => Probe;
  setErrorClass(errorClass: typeof NativeError): void;
  realtimeOffset(): bigint;
  layout: EventLayout;
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
