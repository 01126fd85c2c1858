// Reads the records of one batch. The layout of struct sigaudit_event
// (bpf/sigaudit.h) comes from the compiled BPF object's BTF, written by
// bpf/Makefile at build time; test/decode-layout.test.ts checks it against
// the layout the addon was compiled with.
import layout from './event-layout.json';

export const EVENT_SIZE = layout.size;
export const OFFSETS = layout.offsets;

const COMM_LEN = 16;

/** enum sigaudit_kind */
export const enum Kind {
  Send = 1,
  Fanout = 2,
  Kernel = 3,
  OomVictim = 4,
  /** Counted sends of one key (src/record/summaries.ts): deliveredCgroup holds the last one's boot time. */
  Summary = 5,
}

/** enum sigaudit_flag */
export const enum Flag {
  Delivered = 1 << 0,
  InInterrupt = 1 << 1,
  AuidUnset = 1 << 2,
  TargetFromPidfd = 1 << 3,
  DuringWrite = 1 << 4,
  SummaryDropped = 1 << 5,
  SummaryCoarse = 1 << 6,
}

/** One record, as decode reads it. */
export type RawEvent = ReturnType<typeof readRecord>;

function comm(records: Buffer, start: number): string {
  const end = records.indexOf(0, start);
  return records.toString('utf8', start, end === -1 || end > start + COMM_LEN ? start + COMM_LEN : end);
}

/** Indexes of the fields in 32-bit words: records are read through typed arrays, in the host's byte order, as the kernel wrote them. */
const U32 = Object.fromEntries(Object.entries(OFFSETS).map(([name, offset]) => [name, offset / 4])) as Record<keyof typeof OFFSETS, number>;
/** Indexes of the 64-bit fields in 64-bit words. */
const U64 = { boot_ns: OFFSETS.boot_ns / 8, sender_cgroup: OFFSETS.sender_cgroup / 8, delivered_cgroup: OFFSETS.delivered_cgroup / 8 };
const WORDS = EVENT_SIZE / 4;
const QUADS = EVENT_SIZE / 8;

/** The record at word `w` (quad-word `q`, byte `at`) of a batch's typed-array views. */
function readRecord(records: Buffer, u32: Uint32Array, i32: Int32Array, u64: BigUint64Array, w: number, q: number, at: number) {
  return {
    bootNs: u64[q + U64.boot_ns],
    senderCgroup: u64[q + U64.sender_cgroup],
    /** Of a Summary record: the last counted send's boot time. */
    deliveredCgroup: u64[q + U64.delivered_cgroup],
    // These syscalls return 0 or a negative errno: the low 32 bits,
    // read signed, are the whole value, without a BigInt per record.
    ret: i32[w + U32.ret],
    kind: u32[w + U32.kind] as Kind,
    source: u32[w + U32.source],
    flags: u32[w + U32.flags],
    senderPid: u32[w + U32.sender_pid],
    senderTid: u32[w + U32.sender_tid],
    senderUid: u32[w + U32.sender_uid],
    senderAuid: u32[w + U32.sender_auid],
    senderPpid: u32[w + U32.sender_ppid],
    targetPid: i32[w + U32.target_pid],
    targetTid: i32[w + U32.target_tid],
    deliveredPid: u32[w + U32.delivered_pid],
    deliveredTid: u32[w + U32.delivered_tid],
    signal: i32[w + U32.signal],
    siCode: i32[w + U32.si_code],
    result: i32[w + U32.result],
    deliveries: u32[w + U32.deliveries],
    senderComm: comm(records, at + OFFSETS.sender_comm),
    deliveredComm: comm(records, at + OFFSETS.delivered_comm),
    /** The pids as the recorder's pid namespace numbers them (bpf/sigaudit.h); 0: none there. */
    senderNsPid: u32[w + U32.sender_ns_pid],
    targetNsPid: i32[w + U32.target_ns_pid],
    deliveredNsPid: u32[w + U32.delivered_ns_pid],
  };
}

/**
 * Typed-array views instead of Buffer's read methods: about 1.0 against
 * 1.6 µs a record. They need 8-byte alignment, which the addon's batches
 * have; any other buffer is copied first.
 */
export function decode(input: Buffer): RawEvent[] {
  if (input.length % EVENT_SIZE !== 0)
    throw new Error(`batch of ${input.length} bytes is not a whole number of ${EVENT_SIZE}-byte records`);
  // One copy into a fresh ArrayBuffer, which Buffer.from(arrayBuffer) then shares.
  const records = input.byteOffset % 8 === 0 ? input : Buffer.from(new Uint8Array(input).buffer);
  const u32 = new Uint32Array(records.buffer, records.byteOffset, records.length / 4);
  const i32 = new Int32Array(records.buffer, records.byteOffset, records.length / 4);
  const u64 = new BigUint64Array(records.buffer, records.byteOffset, records.length / 8);
  const events: RawEvent[] = new Array(records.length / EVENT_SIZE);
  for (let i = 0; i < events.length; i++) events[i] = readRecord(records, u32, i32, u64, i * WORDS, i * QUADS, i * EVENT_SIZE);
  return events;
}

/** The wall-clock span of some whole records, dated with offsetNs (CLOCK_REALTIME - CLOCK_BOOTTIME). */
export function wallSpan(records: Buffer, offsetNs: bigint): { fromNs: bigint; toNs: bigint } {
  let fromNs = records.readBigUInt64LE(OFFSETS.boot_ns);
  let toNs = fromNs;
  for (let at = EVENT_SIZE; at < records.length; at += EVENT_SIZE) {
    const bootNs = records.readBigUInt64LE(at + OFFSETS.boot_ns);
    if (bootNs < fromNs) fromNs = bootNs;
    if (bootNs > toNs) toNs = bootNs;
  }
  return { fromNs: fromNs + offsetNs, toNs: toNs + offsetNs };
}
