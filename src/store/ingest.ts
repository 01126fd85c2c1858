// The recorder's write path: a batch of raw records (struct sigaudit_event)
// goes to SQLite in one INSERT ... SELECT over sigaudit_records
// (native/ingest.c), which decodes them in C. What the rows mean is decided
// here, in SQL: source and result codes, which target fields a sending path
// has, and where a kernel-generated signal came from. What stays in
// TypeScript is the state that spans batches: fan-out records waiting for
// their syscall's SEND, and the kernel SIGKILLs an OOM mark may relabel.
import { Flag, Kind, OFFSETS, EVENT_SIZE } from '../record/decode';
import { ORIGINS, RESULTS, SOURCES, type Origin, type Source } from '../names';

/** Fan-out records wait this long (boot time) for their syscall's SEND. */
const ORPHAN_AFTER_NS = 2_000_000_000n;
/** Kernel SIGKILLs remembered so a later OOM mark can label them. */
const RECENT_KILLS = 256;

const SIGNALS = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9,
  SIGSEGV: 11, SIGPIPE: 13, SIGALRM: 14, SIGCHLD: 17, SIGCONT: 18, SIGTSTP: 20, SIGTTIN: 21,
  SIGTTOU: 22, SIGXCPU: 24, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28,
} as const;
const SI_USER = 0;
const SI_KERNEL = 0x80;
const SI_TIMER = -2;
const CLD_EXITED = 1;
const CLD_CONTINUED = 6;
const FAULT_SIGNALS = [SIGNALS.SIGSEGV, SIGNALS.SIGBUS, SIGNALS.SIGFPE, SIGNALS.SIGILL, SIGNALS.SIGTRAP];
const TIMER_SIGNALS = [SIGNALS.SIGALRM, SIGNALS.SIGVTALRM, SIGNALS.SIGPROF, SIGNALS.SIGXCPU];
const TTY_SIGNALS = [
  SIGNALS.SIGINT, SIGNALS.SIGQUIT, SIGNALS.SIGTSTP, SIGNALS.SIGHUP, SIGNALS.SIGCONT,
  SIGNALS.SIGTTIN, SIGNALS.SIGTTOU, SIGNALS.SIGWINCH,
];
const TARGETS_THREAD: Source[] = ['tkill', 'tgkill', 'rt_tgsigqueueinfo'];

const sourceNumber = (source: Source) => SOURCES.indexOf(source);
const originNumber = (origin: Origin) => ORIGINS.indexOf(origin);
const list = (values: readonly number[]) => values.join(', ');

/**
 * Where a kernel-generated signal came from (its index in ORIGINS), as far
 * as its context tells, over sigaudit_records' columns (the 'oom' label
 * comes later, from the OOM killer's mark). A SIGPIPE the kernel sends a
 * task about its own write has the sender as its target; a SIGKILL with
 * SI_USER inside write(2) is cgroup.kill.
 */
const ORIGIN_SQL = `CASE
    WHEN kind != ${Kind.Kernel} THEN NULL
    WHEN si_code = ${SI_TIMER} OR (flags & ${Flag.InInterrupt} AND signal IN (${list(TIMER_SIGNALS)})) THEN ${originNumber('timer')}
    WHEN signal IN (${list(FAULT_SIGNALS)}) AND si_code > 0 THEN ${originNumber('fault')}
    WHEN signal = ${SIGNALS.SIGCHLD} AND si_code BETWEEN ${CLD_EXITED} AND ${CLD_CONTINUED} THEN ${originNumber('child')}
    WHEN signal = ${SIGNALS.SIGPIPE} AND si_code = ${SI_USER} AND delivered_tid IS sender_tid THEN ${originNumber('pipe')}
    WHEN signal = ${SIGNALS.SIGKILL} AND si_code = ${SI_USER} AND flags & ${Flag.DuringWrite} THEN ${originNumber('cgroup_kill')}
    WHEN signal IN (${list(TTY_SIGNALS)}) AND si_code = ${SI_KERNEL} THEN ${originNumber('tty')}
    ELSE ${originNumber('kernel')} END`;

/** The row's target from a record's fields: `target` (target_pid or target_ns_pid), or for a pidfd with no pid behind it, `delivered`. */
const targetOf = (target: string, delivered: string) => `CASE WHEN kind = ${Kind.Kernel} THEN NULL
      WHEN source != ${sourceNumber('pidfd_send_signal')} OR flags & ${Flag.TargetFromPidfd} THEN ${target}
      ELSE ${delivered} END`;

/**
 * The row of each record, stored as migrations/0110-compact-signals.sql
 * encodes a row (comms as names ids, a tid that is its pid and an auid
 * that is its uid as nothing, names as their codes). A syscall's target is
 * the pid it was given, except pidfd_send_signal without a pid behind the
 * pidfd, where it is the task reached; only the thread-directed paths have
 * a target tid; a target that is the pid or tid reached is stored as
 * nothing (0150-compact-targets.sql). The *_ns_pid columns (the pids the
 * recorder's pid namespace sees) are NULL where they equal the pid beside
 * them, so a recorder in the initial namespace stores nothing there; 0
 * stays 0: the task has no pid in that namespace.
 */
const STORED_COLUMNS = `ts_ns, fanout, CASE WHEN source BETWEEN 1 AND ${SOURCES.length - 1} THEN source ELSE 0 END,
    sender_pid, nullif(sender_tid, sender_pid), sender_comm_id, sender_uid, sender_auid - sender_uid, sender_ppid, sender_cgroup,
    nullif(${targetOf('target_pid', 'delivered_pid')}, delivered_pid),
    CASE WHEN kind != ${Kind.Kernel} AND source IN (${list(TARGETS_THREAD.map(sourceNumber))}) THEN nullif(target_tid, delivered_tid) END,
    delivered_pid, nullif(delivered_tid, delivered_pid), delivered_comm_id, delivered_cgroup, signal, ret,
    CASE WHEN result BETWEEN 0 AND ${RESULTS.length - 1} THEN result END, si_code, ${ORIGIN_SQL},
    nullif(sender_ns_pid, sender_pid),
    nullif(${targetOf('target_ns_pid', 'delivered_ns_pid')}, ${targetOf('target_pid', 'delivered_pid')}),
    nullif(delivered_ns_pid, delivered_pid)`;
const BATCH = 'FROM sigaudit_records(@records, @firstId, @offsetNs)';

/** The recorder's INSERT of a batch, each row with the id it is given. */
export const INGEST_SQL = `INSERT INTO signals_hot SELECT id, ${STORED_COLUMNS} ${BATCH}`;

/**
 * INGEST_SQL with the ids left to SQLite, for a batch that follows the
 * newest row in signals_hot: each row then gets the id before it plus one,
 * the id INGEST_SQL gives it, and SQLite appends it without first seeking
 * the id in the table (which it does for an id given, to refuse a
 * duplicate). `columns` are signals_hot's, in order, id first.
 */
export function appendingIngestSql(columns: string[]): string {
  return `INSERT INTO signals_hot (${columns.slice(1).join(', ')}) SELECT ${STORED_COLUMNS} ${BATCH}`;
}

/** A kernel SIGKILL's row, found again by its time and target when an OOM mark follows it. */
export interface KillRow {
  tsNs: bigint;
  deliveredPid: number;
  /** No row before this id can be it. */
  fromId: bigint;
}

/** What one batch needs besides its records: computed without changing any state until committed. */
export interface PreparedBatch {
  /** The records for sigaudit_records: fan-outs carried in from earlier batches first, ones carried on left out. */
  records: Buffer;
  /** cgroup ids the rows refer to. */
  cgroups: Set<bigint>;
  /** Kernel SIGKILLs the OOM killer marked. */
  oomKills: KillRow[];
  commit(): void;
}

/**
 * The cgroup ids of one batch. Most ids fit in a double: those are kept as
 * numbers, which a Set takes far faster than BigInts, and made BigInts once
 * at the end; 0 (no cgroup) is left out. Each of the record's two cgroup
 * fields remembers its last id, which a storm repeats.
 */
class CgroupIds {
  private readonly small = new Set<number>();
  private readonly large = new Set<bigint>();
  private readonly last = [-1, -1, -1, -1];

  /** The id in the two 32-bit words from `word` (little-endian), as record field `field` (0 or 1). */
  add(u32: Uint32Array, word: number, field: 0 | 1): void {
    const low = u32[word];
    const high = u32[word + 1];
    if (low === this.last[2 * field] && high === this.last[2 * field + 1]) return;
    this.last[2 * field] = low;
    this.last[2 * field + 1] = high;
    if (high < 0x200000) this.small.add(high * 0x1_0000_0000 + low);
    else this.large.add((BigInt(high) << 32n) | BigInt(low));
  }

  ids(): Set<bigint> {
    const ids = new Set(this.large);
    for (const id of this.small) if (id !== 0) ids.add(BigInt(id));
    return ids;
  }
}

/**
 * The cross-batch state. FANOUT records come before their syscall's SEND,
 * which may be in a later batch: those whose SEND is not in their batch
 * wait here and go in front of the next one, until ORPHAN_AFTER_NS have
 * passed; sigaudit_records then writes them as orphans.
 */
export class RecordIntake {
  private waiting: Buffer = Buffer.alloc(0);
  private recentKills = new Map<number, KillRow>();

  /** `drain`: nothing waits any more (at shutdown, or the end of a replay). */
  prepare(input: Buffer, offsetNs: bigint, firstId: bigint, drain = false): PreparedBatch {
    if (input.length % EVENT_SIZE !== 0)
      throw new Error(`batch of ${input.length} bytes is not a whole number of ${EVENT_SIZE}-byte records`);
    const all = this.waiting.length === 0 ? input : Buffer.concat([this.waiting, input]);
    // Typed-array views need 4-byte alignment: copy a batch that lacks it.
    const records = all.byteOffset % 8 === 0 ? all : Buffer.from(all);
    const u32 = new Uint32Array(records.buffer, records.byteOffset, records.length / 4);
    const i32 = new Int32Array(records.buffer, records.byteOffset, records.length / 4);
    const u64 = new BigUint64Array(records.buffer, records.byteOffset, records.length / 8);
    const words = EVENT_SIZE / 4;
    const count = records.length / EVENT_SIZE;
    const cgroups = new CgroupIds();
    const kills = new Map(this.recentKills);
    const oomKills: KillRow[] = [];
    // FANOUT records not yet joined to a SEND, in order: a SEND joins the ones of its syscall
    // (same sender_tid and boot_ns) seen before it, as sigaudit_records does, and takes them out.
    let unjoined: number[] = [];
    const sameSyscall = (a: number, b: number) =>
      u32[a + OFFSETS.sender_tid / 4] === u32[b + OFFSETS.sender_tid / 4] &&
      u32[a + OFFSETS.boot_ns / 4] === u32[b + OFFSETS.boot_ns / 4] &&
      u32[a + OFFSETS.boot_ns / 4 + 1] === u32[b + OFFSETS.boot_ns / 4 + 1];
    for (let i = 0; i < count; i++) {
      const w = i * words;
      const flags = u32[w + OFFSETS.flags / 4];
      const kind = u32[w + OFFSETS.kind / 4];
      if (kind === Kind.Fanout) unjoined.push(i);
      else if (kind === Kind.Send && unjoined.length > 0) unjoined = unjoined.filter((fanout) => !sameSyscall(fanout * words, w));
      if (kind === Kind.OomVictim) {
        const pid = u32[w + OFFSETS.delivered_pid / 4];
        const kill = kills.get(pid);
        if (kill) oomKills.push(kill);
        kills.delete(pid);
        continue;
      }
      if (kind !== Kind.Send && kind !== Kind.Fanout && kind !== Kind.Kernel) continue;
      if ((flags & Flag.InInterrupt) === 0) cgroups.add(u32, w + OFFSETS.sender_cgroup / 4, 0);
      if ((flags & Flag.Delivered) === 0) continue;
      cgroups.add(u32, w + OFFSETS.delivered_cgroup / 4, 1);
      if (kind === Kind.Kernel && i32[w + OFFSETS.signal / 4] === SIGNALS.SIGKILL && i32[w + OFFSETS.si_code / 4] === SI_KERNEL) {
        const deliveredPid = u32[w + OFFSETS.delivered_pid / 4];
        kills.delete(deliveredPid);
        kills.set(deliveredPid, { tsNs: u64[(w + OFFSETS.boot_ns / 4) / 2] + offsetNs, deliveredPid, fromId: firstId });
        if (kills.size > RECENT_KILLS) kills.delete(kills.keys().next().value as number);
      }
    }
    const bootNs = (i: number) => u64[(i * words + OFFSETS.boot_ns / 4) / 2];
    // Unjoined fan-outs still young enough for their SEND to come wait for the next batch; older ones are orphans.
    const waits = drain || count === 0 ? [] : unjoined.filter((i) => bootNs(count - 1) - bootNs(i) <= ORPHAN_AFTER_NS);
    const { kept, carried } = this.carry(records, waits);
    return {
      records: kept,
      cgroups: cgroups.ids(),
      oomKills,
      commit: () => {
        this.waiting = carried;
        this.recentKills = kills;
      },
    };
  }

  /** Whether fan-out records wait for a later batch. */
  get holding(): boolean {
    return this.waiting.length > 0;
  }

  /** Splits off the records at `waits` (ascending indexes), copying the runs of records between them. */
  private carry(records: Buffer, waits: number[]): { kept: Buffer; carried: Buffer } {
    if (waits.length === 0) return { kept: records, carried: Buffer.alloc(0) };
    const kept: Buffer[] = [];
    let from = 0;
    for (const i of waits) {
      kept.push(records.subarray(from * EVENT_SIZE, i * EVENT_SIZE));
      from = i + 1;
    }
    kept.push(records.subarray(from * EVENT_SIZE));
    return { kept: Buffer.concat(kept), carried: Buffer.concat(waits.map((i) => records.subarray(i * EVENT_SIZE, (i + 1) * EVENT_SIZE))) };
  }
}
