// Reads the records of one batch. The offsets mirror struct sigaudit_event
// in bpf/sigaudit.h; test/decode-layout.test.ts checks them against the
// addon's offsetof values.

export const EVENT_SIZE = 128;

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
} as const;

const COMM_LEN = 16;

/** enum sigaudit_kind */
export const enum Kind {
  Send = 1,
  Fanout = 2,
  Kernel = 3,
  OomVictim = 4,
}

/** enum sigaudit_flag */
export const enum Flag {
  Delivered = 1 << 0,
  InInterrupt = 1 << 1,
  AuidUnset = 1 << 2,
  TargetFromPidfd = 1 << 3,
  DuringWrite = 1 << 4,
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
}

function comm(records: Buffer, start: number): string {
  const end = records.indexOf(0, start);
  return records.toString('utf8', start, end === -1 || end > start + COMM_LEN ? start + COMM_LEN : end);
}

export function decode(records: Buffer): RawEvent[] {
  if (records.length % EVENT_SIZE !== 0)
    throw new Error(`batch of ${records.length} bytes is not a whole number of ${EVENT_SIZE}-byte records`);
  const events: RawEvent[] = new Array(records.length / EVENT_SIZE);
  for (let i = 0, at = 0; at < records.length; i++, at += EVENT_SIZE) {
    events[i] = {
      bootNs: records.readBigUInt64LE(at + OFFSETS.boot_ns),
      senderCgroup: records.readBigUInt64LE(at + OFFSETS.sender_cgroup),
      deliveredCgroup: records.readBigUInt64LE(at + OFFSETS.delivered_cgroup),
      // These syscalls return 0 or a negative errno: the low 32 bits,
      // read signed, are the whole value, without a BigInt per record.
      ret: records.readInt32LE(at + OFFSETS.ret),
      kind: records.readUInt32LE(at + OFFSETS.kind),
      source: records.readUInt32LE(at + OFFSETS.source),
      flags: records.readUInt32LE(at + OFFSETS.flags),
      senderPid: records.readUInt32LE(at + OFFSETS.sender_pid),
      senderTid: records.readUInt32LE(at + OFFSETS.sender_tid),
      senderUid: records.readUInt32LE(at + OFFSETS.sender_uid),
      senderAuid: records.readUInt32LE(at + OFFSETS.sender_auid),
      senderPpid: records.readUInt32LE(at + OFFSETS.sender_ppid),
      targetPid: records.readInt32LE(at + OFFSETS.target_pid),
      targetTid: records.readInt32LE(at + OFFSETS.target_tid),
      deliveredPid: records.readUInt32LE(at + OFFSETS.delivered_pid),
      deliveredTid: records.readUInt32LE(at + OFFSETS.delivered_tid),
      signal: records.readInt32LE(at + OFFSETS.signal),
      siCode: records.readInt32LE(at + OFFSETS.si_code),
      result: records.readInt32LE(at + OFFSETS.result),
      deliveries: records.readUInt32LE(at + OFFSETS.deliveries),
      senderComm: comm(records, at + OFFSETS.sender_comm),
      deliveredComm: comm(records, at + OFFSETS.delivered_comm),
    };
  }
  return events;
}
