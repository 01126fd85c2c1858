// The recorder's write path: raw records decoded in C (native/ingest.c),
// mapped to rows in SQL (src/store/ingest.ts). Records are written at the
// offsets the addon reports, and every column of the stored rows is read
// back: the mechanical parts (absent fields, comms, fan-out joins across
// batches, orphans) and the policy (targets, origins, the OOM relabel).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { loadAddon } from '../src/record/probe';
import { Flag, Kind, OFFSETS, EVENT_SIZE } from '../src/record/decode';
import { openForWriting } from '../src/store/database';
import { loadExtension } from '../src/store/extension';
import { SignalWriter } from '../src/store/writer';
import { tempDbPath } from './helpers/recorder';

const { layout } = loadAddon();
const OFFSET_NS = 1_795_000_000_000_000_000n;

interface Fields {
  kind: number;
  bootNs: bigint;
  source?: number;
  flags?: number;
  senderPid?: number;
  senderTid?: number;
  senderUid?: number;
  senderAuid?: number;
  senderPpid?: number;
  senderCgroup?: bigint;
  targetPid?: number;
  targetTid?: number;
  deliveredPid?: number;
  deliveredTid?: number;
  deliveredCgroup?: bigint;
  signal?: number;
  siCode?: number;
  result?: number;
  ret?: bigint;
  senderComm?: Buffer | string;
  deliveredComm?: Buffer | string;
  /** As the recorder's pid namespace numbers them; by default the global ones, as a recorder in the initial namespace reads them. */
  senderNsPid?: number;
  targetNsPid?: number;
  deliveredNsPid?: number;
}

/** One record, written at the addon's offsets (not decode.ts's). */
function record(fields: Fields): Buffer {
  const at = layout.offsets as Record<string, number>;
  const buffer = Buffer.alloc(layout.size);
  buffer.writeBigUInt64LE(fields.bootNs, at.boot_ns);
  buffer.writeBigUInt64LE(fields.senderCgroup ?? 0n, at.sender_cgroup);
  buffer.writeBigUInt64LE(fields.deliveredCgroup ?? 0n, at.delivered_cgroup);
  buffer.writeBigInt64LE(fields.ret ?? 0n, at.ret);
  buffer.writeUInt32LE(fields.kind, at.kind);
  buffer.writeUInt32LE(fields.source ?? 0, at.source);
  buffer.writeUInt32LE(fields.flags ?? 0, at.flags);
  buffer.writeUInt32LE(fields.senderPid ?? 0, at.sender_pid);
  buffer.writeUInt32LE(fields.senderTid ?? 0, at.sender_tid);
  buffer.writeUInt32LE(fields.senderUid ?? 0, at.sender_uid);
  buffer.writeUInt32LE(fields.senderAuid ?? 0, at.sender_auid);
  buffer.writeUInt32LE(fields.senderPpid ?? 0, at.sender_ppid);
  buffer.writeInt32LE(fields.targetPid ?? 0, at.target_pid);
  buffer.writeInt32LE(fields.targetTid ?? 0, at.target_tid);
  buffer.writeUInt32LE(fields.deliveredPid ?? 0, at.delivered_pid);
  buffer.writeUInt32LE(fields.deliveredTid ?? 0, at.delivered_tid);
  buffer.writeInt32LE(fields.signal ?? 0, at.signal);
  buffer.writeInt32LE(fields.siCode ?? 0, at.si_code);
  buffer.writeInt32LE(fields.result ?? -1, at.result);
  Buffer.from(fields.senderComm ?? '').copy(buffer, at.sender_comm, 0, 16);
  Buffer.from(fields.deliveredComm ?? '').copy(buffer, at.delivered_comm, 0, 16);
  buffer.writeUInt32LE(fields.senderNsPid ?? fields.senderPid ?? 0, at.sender_ns_pid);
  buffer.writeInt32LE(fields.targetNsPid ?? fields.targetPid ?? 0, at.target_ns_pid);
  buffer.writeUInt32LE(fields.deliveredNsPid ?? fields.deliveredPid ?? 0, at.delivered_ns_pid);
  return buffer;
}

const sender = { senderPid: 100, senderTid: 101, senderUid: 1000, senderAuid: 1000, senderPpid: 1, senderCgroup: 7n, senderComm: 'sender' };
const reached = (pid: number) => ({ deliveredPid: pid, deliveredTid: pid, deliveredCgroup: 8n, deliveredComm: `t${pid}`, result: 0 });

function rowsOf(db: Database.Database) {
  return db.prepare('SELECT * FROM signals ORDER BY id').all() as Record<string, unknown>[];
}

describe('ingest', () => {
  it('is compiled against the layout the addon reports', () => {
    const db = new Database(':memory:');
    loadExtension(db);
    assert.deepEqual(JSON.parse(db.prepare('SELECT sigaudit_event_layout() AS layout').pluck().get() as string), layout);
    assert.equal(EVENT_SIZE, layout.size);
    assert.deepEqual(OFFSETS, layout.offsets);
  });

  it('stores every field of sends and kernel signals, with absent fields NULL', () => {
    const db = openForWriting(tempDbPath());
    const writer = new SignalWriter(db);
    const delivered = Flag.Delivered;
    const batch = Buffer.concat([
      // kill(200, SIGTERM) reached 200; login uid unset
      record({ kind: Kind.Send, bootNs: 10n, source: 1, flags: delivered | Flag.AuidUnset, ...sender, targetPid: 200, signal: 15, ...reached(200) }),
      // tgkill(300, 301, SIGUSR1) failed
      record({ kind: Kind.Send, bootNs: 11n, source: 3, ...sender, targetPid: 300, targetTid: 301, signal: 10, ret: -3n }),
      // pidfd_send_signal: the pid behind the pidfd
      record({ kind: Kind.Send, bootNs: 12n, source: 6, flags: delivered | Flag.TargetFromPidfd, ...sender, targetPid: 400, signal: 9, ...reached(400) }),
      // pidfd_send_signal without one: the task reached
      record({ kind: Kind.Send, bootNs: 13n, source: 6, flags: delivered, ...sender, targetPid: 77, signal: 9, ...reached(401) }),
      // a timer signal in interrupt context: no sender
      record({ kind: Kind.Kernel, bootNs: 14n, flags: delivered | Flag.InInterrupt, signal: 14, siCode: 0x80, ...reached(500), ...{ senderPid: 0, senderTid: 0 } }),
      // SIGSEGV, SIGCHLD, SIGPIPE to itself, cgroup.kill, a tty SIGINT, another kernel signal
      record({ kind: Kind.Kernel, bootNs: 15n, flags: delivered, ...sender, signal: 11, siCode: 1, ...reached(101) }),
      record({ kind: Kind.Kernel, bootNs: 16n, flags: delivered, ...sender, signal: 17, siCode: 1, ...reached(1) }),
      record({ kind: Kind.Kernel, bootNs: 17n, flags: delivered, ...sender, signal: 13, siCode: 0, deliveredPid: 100, deliveredTid: 101 }),
      record({ kind: Kind.Kernel, bootNs: 18n, flags: delivered | Flag.DuringWrite, ...sender, signal: 9, siCode: 0, ...reached(600) }),
      record({ kind: Kind.Kernel, bootNs: 19n, flags: delivered, ...sender, signal: 2, siCode: 0x80, ...reached(700) }),
      record({ kind: Kind.Kernel, bootNs: 20n, flags: delivered, ...sender, signal: 10, siCode: -6, result: 2, ...{ deliveredPid: 800, deliveredTid: 801 } }),
      // a kind this version does not know (e.g. a later SUMMARY record): no row
      record({ kind: 99, bootNs: 21n, ...sender, signal: 15 }),
    ]);
    assert.deepEqual(writer.ingest(batch, OFFSET_NS), { rows: 11 });
    const rows = rowsOf(db);
    const ts = (boot: number) => Number(OFFSET_NS + BigInt(boot));
    const senderColumns = { sender_pid: 100, sender_tid: 101, sender_comm: 'sender', sender_uid: 1000, sender_auid: 1000, sender_ppid: 1, sender_cgroup: 7 };
    const noSender = { sender_pid: null, sender_tid: null, sender_comm: null, sender_uid: null, sender_auid: null, sender_ppid: null, sender_cgroup: null };
    const to = (pid: number, tid = pid, comm: string | null = `t${pid}`) => ({ delivered_pid: pid, delivered_tid: tid, delivered_comm: comm, delivered_cgroup: 8 });
    const nowhere = { delivered_pid: null, delivered_tid: null, delivered_comm: null, delivered_cgroup: null, result: null };
    const sameNs = { sender_ns_pid: null, target_ns_pid: null, delivered_ns_pid: null };
    assert.deepEqual(rows, [
      { id: 1, ts_ns: ts(10), fanout: 0, source: 'kill', ...senderColumns, sender_auid: null, target_pid: 200, target_tid: null, ...to(200), signal: 15, ret: 0, result: 'delivered', si_code: 0, origin: null, ...sameNs },
      { id: 2, ts_ns: ts(11), fanout: 0, source: 'tgkill', ...senderColumns, target_pid: 300, target_tid: 301, ...nowhere, signal: 10, ret: -3, si_code: 0, origin: null, ...sameNs },
      { id: 3, ts_ns: ts(12), fanout: 0, source: 'pidfd_send_signal', ...senderColumns, target_pid: 400, target_tid: null, ...to(400), signal: 9, ret: 0, result: 'delivered', si_code: 0, origin: null, ...sameNs },
      { id: 4, ts_ns: ts(13), fanout: 0, source: 'pidfd_send_signal', ...senderColumns, target_pid: 401, target_tid: null, ...to(401), signal: 9, ret: 0, result: 'delivered', si_code: 0, origin: null, ...sameNs },
      { id: 5, ts_ns: ts(14), fanout: 0, source: 'kernel', ...noSender, target_pid: null, target_tid: null, ...to(500), signal: 14, ret: null, result: 'delivered', si_code: 128, origin: 'timer', ...sameNs },
      { id: 6, ts_ns: ts(15), fanout: 0, source: 'kernel', ...senderColumns, target_pid: null, target_tid: null, ...to(101), signal: 11, ret: null, result: 'delivered', si_code: 1, origin: 'fault', ...sameNs },
      { id: 7, ts_ns: ts(16), fanout: 0, source: 'kernel', ...senderColumns, target_pid: null, target_tid: null, ...to(1), signal: 17, ret: null, result: 'delivered', si_code: 1, origin: 'child', ...sameNs },
      { id: 8, ts_ns: ts(17), fanout: 0, source: 'kernel', ...senderColumns, target_pid: null, target_tid: null, delivered_pid: 100, delivered_tid: 101, delivered_comm: '', delivered_cgroup: 0, signal: 13, ret: null, result: null, si_code: 0, origin: 'pipe', ...sameNs },
      { id: 9, ts_ns: ts(18), fanout: 0, source: 'kernel', ...senderColumns, target_pid: null, target_tid: null, ...to(600), signal: 9, ret: null, result: 'delivered', si_code: 0, origin: 'cgroup_kill', ...sameNs },
      { id: 10, ts_ns: ts(19), fanout: 0, source: 'kernel', ...senderColumns, target_pid: null, target_tid: null, ...to(700), signal: 2, ret: null, result: 'delivered', si_code: 128, origin: 'tty', ...sameNs },
      { id: 11, ts_ns: ts(20), fanout: 0, source: 'kernel', ...senderColumns, target_pid: null, target_tid: null, delivered_pid: 800, delivered_tid: 801, delivered_comm: '', delivered_cgroup: 0, signal: 10, ret: null, result: 'already_pending', si_code: -6, origin: 'kernel', ...sameNs },
    ]);
    db.close();
  });

  it('stores the pids the recorder\'s pid namespace gives where they differ, 0 where it gives none', () => {
    const db = openForWriting(tempDbPath());
    const writer = new SignalWriter(db);
    const inside = { ...sender, senderNsPid: 7 };
    const batch = Buffer.concat([
      // inside a container: kill(86, SIGTERM) reached host pid 123456, pid 86 there
      record({ kind: Kind.Send, bootNs: 10n, source: 1, flags: Flag.Delivered, ...inside, targetPid: 86, signal: 15, ...reached(123456), deliveredNsPid: 86 }),
      // from the host: kill(123457) reached pid 87 there; the sender has no pid there
      record({ kind: Kind.Send, bootNs: 11n, source: 1, flags: Flag.Delivered, ...sender, senderNsPid: 0, targetPid: 123457, targetNsPid: 87, signal: 9, ...reached(123457), deliveredNsPid: 87 }),
      // from the host to a host process that exited: nothing names it there
      record({ kind: Kind.Send, bootNs: 12n, source: 1, ...sender, senderNsPid: 0, targetPid: 5000, targetNsPid: 0, signal: 15, ret: -3n }),
      // pidfd_send_signal without a pid behind the pidfd: the task reached, in both
      record({ kind: Kind.Send, bootNs: 13n, source: 6, flags: Flag.Delivered, ...inside, targetPid: 0, targetNsPid: 0, signal: 9, ...reached(123458), deliveredNsPid: 88 }),
      // a kernel signal: no target, whatever the record holds
      record({ kind: Kind.Kernel, bootNs: 14n, flags: Flag.Delivered, ...inside, targetNsPid: 99, signal: 17, siCode: 1, ...reached(123456), deliveredNsPid: 86 }),
    ]);
    assert.deepEqual(writer.ingest(batch, OFFSET_NS), { rows: 5 });
    const columns = db.prepare('SELECT sender_pid, sender_ns_pid, target_pid, target_ns_pid, delivered_pid, delivered_ns_pid FROM signals ORDER BY id').raw().all();
    assert.deepEqual(columns, [
      [100, 7, 86, null, 123456, 86],
      [100, 0, 123457, 87, 123457, 87],
      [100, 0, 5000, 0, null, null],
      [100, 7, 123458, 88, 123458, 88],
      [100, 7, null, null, 123456, 86],
    ]);
    db.close();
  });

  it('stores a target that is the pid or thread reached as nothing, and the views read it back (migrations/0150)', () => {
    const db = openForWriting(tempDbPath());
    const writer = new SignalWriter(db);
    const thread = (pid: number, tid: number) => ({ ...reached(pid), deliveredTid: tid });
    const batch = Buffer.concat([
      record({ kind: Kind.Send, bootNs: 1n, source: 1, flags: Flag.Delivered, ...sender, targetPid: 200, signal: 15, ...reached(200) }),
      record({ kind: Kind.Send, bootNs: 2n, source: 3, flags: Flag.Delivered, ...sender, targetPid: 300, targetTid: 302, signal: 10, ...thread(300, 302) }),
      record({ kind: Kind.Send, bootNs: 3n, source: 2, flags: Flag.Delivered, ...sender, targetPid: 303, targetTid: 303, signal: 10, ...thread(300, 303) }),
      record({ kind: Kind.Send, bootNs: 4n, source: 5, flags: Flag.Delivered, ...sender, targetPid: 300, targetTid: 300, signal: 34, ...thread(300, 300) }),
      record({ kind: Kind.Send, bootNs: 5n, source: 3, ...sender, targetPid: 300, targetTid: 309, signal: 10, ret: -3n }),
      record({ kind: Kind.Fanout, bootNs: 6n, source: 1, flags: Flag.Delivered, ...sender, targetPid: -50, signal: 1, ...reached(51) }),
      record({ kind: Kind.Send, bootNs: 6n, source: 1, flags: Flag.Delivered, ...sender, targetPid: -50, signal: 1, ret: 0n, ...reached(50) }),
      record({ kind: Kind.Send, bootNs: 7n, source: 6, flags: Flag.Delivered, ...sender, targetPid: 0, signal: 9, ...reached(401) }),
      record({ kind: Kind.Send, bootNs: 8n, source: 6, ...sender, targetPid: 0, signal: 9, ret: -3n }),
      record({ kind: Kind.Kernel, bootNs: 9n, flags: Flag.Delivered, ...sender, targetPid: 99, signal: 17, siCode: 1, ...reached(1) }),
    ]);
    assert.equal(writer.ingest(batch, OFFSET_NS).rows, 10);
    assert.deepEqual(db.prepare('SELECT target_pid, target_tid FROM signals_hot ORDER BY id').raw().all(), [
      [null, null], [null, null], [303, null], [null, null], [300, 309], [-50, null], [-50, null], [null, null], [null, null], [null, null],
    ]);
    assert.deepEqual(db.prepare('SELECT source, target_pid, target_tid, delivered_pid, delivered_tid FROM signals ORDER BY id').raw().all(), [
      ['kill', 200, null, 200, 200], ['tgkill', 300, 302, 300, 302], ['tkill', 303, 303, 300, 303], ['rt_tgsigqueueinfo', 300, 300, 300, 300],
      ['tgkill', 300, 309, null, null], ['kill', -50, null, 50, 50], ['kill', -50, null, 51, 51], ['pidfd_send_signal', 401, null, 401, 401],
      ['pidfd_send_signal', null, null, null, null], ['kernel', null, null, 1, 1],
    ]);
    db.close();
  });

  it('joins fan-out records to their SEND across batches, and writes the rest as orphans', () => {
    const db = openForWriting(tempDbPath());
    const writer = new SignalWriter(db);
    const group = { kind: Kind.Fanout, source: 1, flags: Flag.Delivered, ...sender, targetPid: -50, signal: 1 };
    // kill(-50, SIGHUP) reached 51, 52 and 53: two fan-outs in one batch, the third and the SEND in the next.
    assert.equal(writer.ingest(Buffer.concat([record({ ...group, bootNs: 1_000n, ...reached(51) }), record({ ...group, bootNs: 1_000n, ...reached(52) })]), OFFSET_NS).rows, 0);
    assert.equal(writer.waitingFanouts, true);
    // A fan-out of a syscall whose SEND never comes, older than 2 s by the end of the batch: an orphan of its own.
    const lost = record({ ...group, senderTid: 999, bootNs: 2_000n, ...reached(90) });
    assert.equal(writer.ingest(Buffer.concat([
      record({ ...group, bootNs: 1_000n, ...reached(53) }),
      lost,
      record({ ...group, kind: Kind.Send, bootNs: 1_000n, ret: 0n, ...reached(54) }),
      record({ kind: Kind.Send, bootNs: 3_000_000_000n, source: 1, ...sender, targetPid: 60, signal: 0 }),
    ]), OFFSET_NS).rows, 6);
    assert.equal(writer.waitingFanouts, false);
    // A fan-out still waiting at shutdown is written by a draining ingest.
    writer.ingest(record({ ...group, bootNs: 3_000_000_001n, ...reached(70) }), OFFSET_NS);
    assert.equal(writer.waitingFanouts, true);
    assert.equal(writer.ingest(Buffer.alloc(0), OFFSET_NS, undefined, true).rows, 1);
    const rows = rowsOf(db).map((row) => [row.id, row.fanout, row.delivered_pid, row.ret]);
    assert.deepEqual(rows, [
      [1, 0, 54, 0],
      [2, 1, 51, 0],
      [3, 2, 52, 0],
      [4, 3, 53, 0],
      [5, 0, null, 0],
      [6, 0, 90, null],
      [7, 0, 70, null],
    ]);
    db.close();
  });

  it('numbers rows on from the newest id, after rows in the hot table, after the mover emptied it, and after a restart', () => {
    const path = tempDbPath();
    let db = openForWriting(path);
    let writer = new SignalWriter(db);
    const sends = (...pids: number[]) => Buffer.concat(pids.map((pid) => record({ kind: Kind.Send, bootNs: BigInt(pid), source: 1, flags: Flag.Delivered, ...sender, targetPid: pid, signal: 15, ...reached(pid) })));
    writer.ingest(sends(1, 2, 3), OFFSET_NS);
    writer.ingest(sends(4, 5), OFFSET_NS);
    assert.equal(writer.archive(10), 5);
    writer.ingest(sends(6), OFFSET_NS);
    writer.ingest(sends(7, 8), OFFSET_NS);
    db.close();
    db = openForWriting(path);
    writer = new SignalWriter(db);
    writer.ingest(sends(9), OFFSET_NS);
    assert.deepEqual(rowsOf(db).map((row) => [row.id, row.delivered_pid]), [1, 2, 3, 4, 5, 6, 7, 8, 9].map((pid) => [pid, pid]));
    db.close();
  });

  it('labels a kernel SIGKILL the OOM killer marked, in the same batch or an earlier one', () => {
    const db = openForWriting(tempDbPath());
    const writer = new SignalWriter(db);
    const kill = (pid: number, bootNs: bigint) => record({ kind: Kind.Kernel, bootNs, flags: Flag.Delivered, ...sender, signal: 9, siCode: 0x80, ...reached(pid) });
    const mark = (pid: number, bootNs: bigint) => record({ kind: Kind.OomVictim, bootNs, deliveredPid: pid });
    writer.ingest(Buffer.concat([kill(10, 1n), mark(10, 2n), kill(11, 3n), kill(12, 4n)]), OFFSET_NS);
    writer.archive(10);
    writer.ingest(Buffer.concat([mark(11, 5n), kill(13, 6n)]), OFFSET_NS);
    writer.ingest(mark(13, 7n), OFFSET_NS);
    assert.deepEqual(rowsOf(db).map((row) => [row.delivered_pid, row.origin]), [[10, 'oom'], [11, 'oom'], [12, 'kernel'], [13, 'oom']]);
    db.close();
  });

  it('writes comms as Node decodes them, invalid UTF-8 replaced', () => {
    const db = openForWriting(tempDbPath());
    const writer = new SignalWriter(db);
    const comms = [
      Buffer.from('plain'),
      Buffer.from('fifteen-chars!!'),
      Buffer.from('sixteen-byte-nam'),
      Buffer.from('naïve→日本'),
      Buffer.from([0x61, 0xff, 0x62, 0xc3, 0x28, 0xe2, 0x82, 0x63, 0xf0, 0x9f, 0x98, 0x80, 0xed, 0xa0, 0x80, 0x7a]),
      Buffer.from([0xe0, 0x80, 0xf4, 0x90, 0x80, 0x80, 0xc0, 0xaf, 0xf0, 0x9f, 0x98]),
    ];
    writer.ingest(Buffer.concat(comms.map((comm, i) => record({ kind: Kind.Send, bootNs: BigInt(i), source: 1, ...sender, senderComm: comm, signal: 0 }))), OFFSET_NS);
    const stored = rowsOf(db).map((row) => row.sender_comm);
    assert.deepEqual(stored, comms.map((comm) => comm.subarray(0, 16).toString('utf8')));
    db.close();
  });

  it('leaves nothing changed when a batch cannot be written, so it can be ingested again', () => {
    const path = tempDbPath();
    const db = openForWriting(path);
    const writer = new SignalWriter(db);
    const fanout = record({ kind: Kind.Fanout, bootNs: 5n, source: 1, flags: Flag.Delivered, ...sender, targetPid: -5, signal: 1, ...reached(5) });
    const send = record({ kind: Kind.Send, bootNs: 5n, source: 1, flags: Flag.Delivered, ...sender, targetPid: -5, signal: 1, ...reached(6) });
    writer.ingest(fanout, OFFSET_NS);
    const other = new Database(path);
    other.prepare('BEGIN IMMEDIATE').run();
    db.pragma('busy_timeout = 0');
    assert.throws(() => writer.ingest(send, OFFSET_NS), /locked|busy/i);
    other.prepare('ROLLBACK').run();
    other.close();
    assert.equal(writer.ingest(send, OFFSET_NS).rows, 2);
    assert.deepEqual(rowsOf(db).map((row) => [row.id, row.fanout, row.delivered_pid]), [[1, 0, 6], [2, 1, 5]]);
    db.close();
  });
});
