// Reads the records of one batch. The offsets mirror struct sigaudit_event
// in bpf/sigaudit.h; test/decode-layout.test.ts checks them against the
// addon's offsetof values.

export const EVENT_SIZE = 144;

export const OFFSETS = {
  boot_ns: 0,
  sender_cgroup: 8,
  delivered_cgroup: 16,
  ret: 24,
  kind: 32,
  source: 36,
  flags: 40,
  sender_pid: 44,
  sender_tid: 48,
  sender_uid: 52,
  sender_auid: 56,
  sender_ppid: 60,
  target_pid: 64,
  target_tid: 68,
  delivered_pid: 72,
  delivered_tid: 76,
  signal: 80,
  si_code: 84,
  result: 88,
  deliveries: 92,
  sender_comm: 96,
  delivered_comm: 112,
  sender_ns_pid: 128,
  target_ns_pid: 132,
  delivered_ns_pid: 136,
} as const;

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

export interface RawEvent {
  bootNs: bigint;
  senderCgroup: bigint;
  deliveredCgroup: bigint;
  ret: number;
  kind: Kind;
  source: number;
  flags: number;
  senderPid: number;
  senderTid: number;
  senderUid: number;
  senderAuid: number;
  senderPpid: number;
  targetPid: number;
  targetTid: number;
  deliveredPid: number;
  deliveredTid: number;
  signal: number;
  siCode: number;
  result: number;
  deliveries: number;
  senderComm: string;
  deliveredComm: string;
  /** The pids as the recorder's pid namespace numbers them (bpf/sigaudit.h); 0: none there. */
  senderNsPid: number;
  targetNsPid: number;
  deliveredNsPid: number;
}

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
  for (let i = 0; i < events.length; i++) {
    const w = i * WORDS;
    const q = i * QUADS;
    const at = i * EVENT_SIZE;
    events[i] = {
      bootNs: u64[q + U64.boot_ns],
      senderCgroup: u64[q + U64.sender_cgroup],
      deliveredCgroup: u64[q + U64.delivered_cgroup],
      // These syscalls return 0 or a negative errno: the low 32 bits,
      // read signed, are the whole value, without a BigInt per record.
      ret: i32[w + U32.ret],
      kind: u32[w + U32.kind],
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
      senderNsPid: u32[w + U32.sender_ns_pid],
      targetNsPid: i32[w + U32.target_ns_pid],
      deliveredNsPid: u32[w + U32.delivered_ns_pid],
    };
  }
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
