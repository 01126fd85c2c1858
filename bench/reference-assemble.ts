// The write path before the C ingest (src/store/ingest.ts), kept as the
// writepath bench's reference: decoded records turned into row objects in
// TypeScript (fan-out joins, wall-clock time, origin labels), then written
// by SignalWriter.write, 22 bound values a row.
import { Flag, Kind, type RawEvent } from '../src/record/decode';
import { RESULTS, SOURCES, type Origin, type Source } from '../src/names';
import type { SignalRow } from '../src/store/writer';

const SI_USER = 0;
const SI_KERNEL = 0x80;
const SI_TIMER = -2;
const SIGNALS = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9,
  SIGSEGV: 11, SIGPIPE: 13, SIGALRM: 14, SIGCHLD: 17, SIGCONT: 18, SIGTSTP: 20, SIGTTIN: 21,
  SIGTTOU: 22, SIGXCPU: 24, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28,
} as const;
const FAULT_SIGNALS = new Set<number>([SIGNALS.SIGSEGV, SIGNALS.SIGBUS, SIGNALS.SIGFPE, SIGNALS.SIGILL, SIGNALS.SIGTRAP]);
const TIMER_SIGNALS = new Set<number>([SIGNALS.SIGALRM, SIGNALS.SIGVTALRM, SIGNALS.SIGPROF, SIGNALS.SIGXCPU]);
const TTY_SIGNALS = new Set<number>([
  SIGNALS.SIGINT, SIGNALS.SIGQUIT, SIGNALS.SIGTSTP, SIGNALS.SIGHUP, SIGNALS.SIGCONT,
  SIGNALS.SIGTTIN, SIGNALS.SIGTTOU, SIGNALS.SIGWINCH,
]);
const CLD_FIRST = 1; // CLD_EXITED
const CLD_LAST = 6; // CLD_CONTINUED
/** Fan-out records wait this long (boot time) for their syscall's exit. */
const ORPHAN_AFTER_NS = 2_000_000_000n;
/** Kernel SIGKILLs remembered so a later OOM mark can label them. */
const RECENT_KILLS = 256;
const AUDIT_UID_UNSET = 0xffffffff;
const TARGETS_THREAD = new Set<Source>(['tkill', 'tgkill', 'rt_tgsigqueueinfo']);

export function originOf(event: RawEvent): Origin {
  const { signal, siCode, flags } = event;
  const interrupted = (flags & Flag.InInterrupt) !== 0;
  if (siCode === SI_TIMER || (interrupted && TIMER_SIGNALS.has(signal))) return 'timer';
  if (FAULT_SIGNALS.has(signal) && siCode > 0) return 'fault';
  if (signal === SIGNALS.SIGCHLD && siCode >= CLD_FIRST && siCode <= CLD_LAST) return 'child';
  if (signal === SIGNALS.SIGPIPE && siCode === SI_USER && event.deliveredTid === event.senderTid) return 'pipe';
  if (signal === SIGNALS.SIGKILL && siCode === SI_USER && (flags & Flag.DuringWrite) !== 0) return 'cgroup_kill';
  if (TTY_SIGNALS.has(signal) && siCode === SI_KERNEL) return 'tty';
  return 'kernel';
}

function toRow(event: RawEvent, offsetNs: bigint, fanout: number, ret: number | null): SignalRow {
  const fromSyscall = event.kind !== Kind.Kernel;
  const hasSender = (event.flags & Flag.InInterrupt) === 0;
  const delivered = (event.flags & Flag.Delivered) !== 0;
  const source = SOURCES[event.source] ?? 'kernel';
  let targetPid: number | null = null;
  if (fromSyscall) {
    if (source !== 'pidfd_send_signal' || (event.flags & Flag.TargetFromPidfd) !== 0) targetPid = event.targetPid;
    else if (delivered) targetPid = event.deliveredPid;
  }
  return {
    tsNs: event.bootNs + offsetNs,
    fanout,
    source,
    senderPid: hasSender ? event.senderPid : null,
    senderTid: hasSender ? event.senderTid : null,
    senderComm: hasSender ? event.senderComm : null,
    senderUid: hasSender ? event.senderUid : null,
    senderAuid: hasSender && (event.flags & Flag.AuidUnset) === 0 && event.senderAuid !== AUDIT_UID_UNSET ? event.senderAuid : null,
    senderPpid: hasSender ? event.senderPpid : null,
    senderCgroup: hasSender ? event.senderCgroup : null,
    targetPid,
    targetTid: fromSyscall && TARGETS_THREAD.has(source) ? event.targetTid : null,
    deliveredPid: delivered ? event.deliveredPid : null,
    deliveredTid: delivered ? event.deliveredTid : null,
    deliveredComm: delivered ? event.deliveredComm : null,
    deliveredCgroup: delivered ? event.deliveredCgroup : null,
    signal: event.signal,
    ret,
    result: delivered ? (RESULTS[event.result] ?? null) : null,
    siCode: event.siCode,
    origin: fromSyscall ? null : originOf(event),
  };
}

export interface Assembled {
  rows: SignalRow[];
  /** Rows written in an earlier batch whose origin is now known. */
  relabels: { id: bigint; origin: Origin }[];
}

export class Assembler {
  /** Fan-out rows by their syscall (sender tid, entry time). */
  private readonly waiting = new Map<string, { event: RawEvent; rows: RawEvent[] }>();
  private readonly recentKills = new Map<number, SignalRow>();

  /** offsetNs: CLOCK_REALTIME - CLOCK_BOOTTIME at the time of this batch. */
  assemble(events: RawEvent[], offsetNs: bigint): Assembled {
    const out: Assembled = { rows: [], relabels: [] };
    for (const event of events) {
      switch (event.kind) {
        case Kind.Fanout: {
          const key = `${event.senderTid}:${event.bootNs}`;
          const entry = this.waiting.get(key);
          if (entry) entry.rows.push(event);
          else this.waiting.set(key, { event, rows: [event] });
          break;
        }
        case Kind.Send: {
          out.rows.push(toRow(event, offsetNs, 0, event.ret));
          if (this.waiting.size === 0) break; // the common case: no fan-out waits for a return value
          const key = `${event.senderTid}:${event.bootNs}`;
          const fanouts = this.waiting.get(key);
          if (fanouts) {
            this.waiting.delete(key);
            fanouts.rows.forEach((fanout, i) => out.rows.push(toRow(fanout, offsetNs, i + 1, event.ret)));
          }
          break;
        }
        case Kind.Kernel: {
          const row = toRow(event, offsetNs, 0, null);
          out.rows.push(row);
          if (event.signal === SIGNALS.SIGKILL && event.siCode === SI_KERNEL) this.rememberKill(row);
          break;
        }
        case Kind.OomVictim: {
          const row = this.recentKills.get(event.deliveredPid);
          if (!row) break;
          this.recentKills.delete(event.deliveredPid);
          if (row.id === undefined) row.origin = 'oom';
          else out.relabels.push({ id: row.id, origin: 'oom' });
          break;
        }
      }
    }
    const newest = events.length > 0 ? events[events.length - 1].bootNs : 0n;
    this.flushOrphans(out, offsetNs, (bootNs) => newest - bootNs > ORPHAN_AFTER_NS);
    return out;
  }

  /** Everything still waiting, as rows without a return value (at shutdown). */
  drain(offsetNs: bigint): SignalRow[] {
    const out: Assembled = { rows: [], relabels: [] };
    this.flushOrphans(out, offsetNs, () => true);
    return out.rows;
  }

  private rememberKill(row: SignalRow): void {
    if (row.deliveredPid === null) return;
    this.recentKills.delete(row.deliveredPid);
    this.recentKills.set(row.deliveredPid, row);
    if (this.recentKills.size > RECENT_KILLS) {
      const oldest = this.recentKills.keys().next().value as number;
      this.recentKills.delete(oldest);
    }
  }

  /** Fan-out rows whose syscall exit was lost (dropped, or not yet
   * attached): they become a send of their own, numbered from 0. */
  private flushOrphans(out: Assembled, offsetNs: bigint, expired: (bootNs: bigint) => boolean): void {
    for (const [key, { event, rows }] of this.waiting) {
      if (!expired(event.bootNs)) continue;
      this.waiting.delete(key);
      rows.forEach((fanout, i) => out.rows.push(toRow(fanout, offsetNs, i, null)));
    }
  }
}
