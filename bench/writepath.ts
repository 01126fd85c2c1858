// Rows per second the write path sustains: the same records, in the
// recorder's batch size, ingested into a fresh database by
// SignalWriter.ingest (decoded in C, one INSERT ... SELECT per batch) and by
// the path before it (bench/reference-assemble.ts: decode, row objects,
// SignalWriter.write), interleaved round by round.
//
// The records are synthetic, shaped like what the recorder drains: the
// storm's kill(self, 0) from two processes, and a realistic mix (kills that
// reach a task, failed sends, kernel SIGCHLDs, process-group kills that fan
// out). Run alone: node dist/bench/writepath.js [--records N] [--rounds N].
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { decode, EVENT_SIZE, Flag, Kind, OFFSETS } from '../src/record/decode';
import { openForWriting, closeWriting } from '../src/store/database';
import { SignalWriter } from '../src/store/writer';
import { Assembler } from './reference-assemble';
import { summarize, type Summary } from './stats';

/** The recorder's largest batch is 65 536 records; a storm hands over batches of about this many. */
const BATCH_RECORDS = 16_384;
const OFFSET_NS = 1_795_000_000_000_000_000n;

export interface WritePathFigures {
  mix: string;
  records: number;
  rows: number;
  rounds: number;
  /** Rows per second of wall-clock time, and per second of the process's CPU time. */
  ingest: { wall: Summary; cpu: Summary };
  reference: { wall: Summary; cpu: Summary };
}

interface Shape {
  kind: number;
  source: number;
  flags: number;
  pid: number;
  signal: number;
  siCode?: number;
  ret?: bigint;
  target?: number;
  delivered?: number;
  comm: string;
  deliveredComm?: string;
  cgroup: bigint;
}

function put(records: Buffer, index: number, bootNs: bigint, shape: Shape): void {
  const at = index * EVENT_SIZE;
  records.writeBigUInt64LE(bootNs, at + OFFSETS.boot_ns);
  records.writeBigUInt64LE(shape.cgroup, at + OFFSETS.sender_cgroup);
  records.writeBigUInt64LE(shape.cgroup + 1n, at + OFFSETS.delivered_cgroup);
  records.writeBigInt64LE(shape.ret ?? 0n, at + OFFSETS.ret);
  records.writeUInt32LE(shape.kind, at + OFFSETS.kind);
  records.writeUInt32LE(shape.source, at + OFFSETS.source);
  records.writeUInt32LE(shape.flags, at + OFFSETS.flags);
  records.writeUInt32LE(shape.pid, at + OFFSETS.sender_pid);
  records.writeUInt32LE(shape.pid, at + OFFSETS.sender_tid);
  records.writeUInt32LE(shape.pid % 3 === 0 ? 0 : 1000, at + OFFSETS.sender_uid);
  records.writeUInt32LE(0xffffffff, at + OFFSETS.sender_auid);
  records.writeUInt32LE(1, at + OFFSETS.sender_ppid);
  records.writeInt32LE(shape.target ?? shape.pid, at + OFFSETS.target_pid);
  records.writeUInt32LE(shape.delivered ?? 0, at + OFFSETS.delivered_pid);
  records.writeUInt32LE(shape.delivered ?? 0, at + OFFSETS.delivered_tid);
  records.writeInt32LE(shape.signal, at + OFFSETS.signal);
  records.writeInt32LE(shape.siCode ?? 0, at + OFFSETS.si_code);
  records.writeInt32LE(shape.delivered === undefined ? -1 : 0, at + OFFSETS.result);
  // A recorder in the initial pid namespace: every task's pid there is its global pid.
  records.writeUInt32LE(shape.pid, at + OFFSETS.sender_ns_pid);
  records.writeInt32LE(shape.target ?? shape.pid, at + OFFSETS.target_ns_pid);
  records.writeUInt32LE(shape.delivered ?? 0, at + OFFSETS.delivered_ns_pid);
  records.write(shape.comm, at + OFFSETS.sender_comm);
  if (shape.deliveredComm) records.write(shape.deliveredComm, at + OFFSETS.delivered_comm);
}

/** kill(self, 0) from two processes: a send that reaches no task. */
export function stormRecords(count: number): Buffer {
  const records = Buffer.alloc(count * EVENT_SIZE);
  for (let i = 0; i < count; i++)
    put(records, i, 10_000_000_000n + BigInt(i) * 2_000n, { kind: Kind.Send, source: 1, flags: Flag.AuidUnset, pid: 4000 + (i % 2), signal: 0, comm: 'loadgen', cgroup: 4242n });
  return records;
}

const COMMS = ['systemd', 'containerd', 'bash', 'sshd', 'postgres', 'nginx', 'python3', 'java', 'kworker/0:1', 'cron'];

/** Kills that reach a task, failed sends, kernel SIGCHLDs, and a process-group kill fanning out to three tasks now and then. */
export function mixedRecords(count: number): Buffer {
  const records = Buffer.alloc(count * EVENT_SIZE);
  const delivered = Flag.Delivered | Flag.AuidUnset;
  for (let i = 0; i < count; ) {
    const bootNs = 10_000_000_000n + BigInt(i) * 50_000n;
    const pid = 1000 + ((i * 7919) % 30_000);
    const comm = COMMS[i % COMMS.length];
    const cgroup = BigInt(100 + (i % 40));
    const kind = i % 10;
    if (kind === 9 && i + 4 <= count) {
      for (let fanout = 1; fanout <= 3; fanout++)
        put(records, i++, bootNs, { kind: Kind.Fanout, source: 1, flags: delivered, pid, signal: 1, target: -pid, delivered: pid + fanout, comm, deliveredComm: 'worker', cgroup });
      put(records, i++, bootNs, { kind: Kind.Send, source: 1, flags: delivered, pid, signal: 1, target: -pid, delivered: pid + 4, comm, deliveredComm: 'worker', cgroup });
    } else if (kind < 5) {
      put(records, i++, bootNs, { kind: Kind.Send, source: 1 + (i % 3), flags: delivered, pid, signal: 15, target: pid + 1, delivered: pid + 1, comm, deliveredComm: COMMS[(i + 3) % COMMS.length], cgroup });
    } else if (kind < 7) {
      put(records, i++, bootNs, { kind: Kind.Send, source: 1, flags: Flag.AuidUnset, pid, signal: 0, target: pid + 2, ret: -3n, comm, cgroup });
    } else {
      put(records, i++, bootNs, { kind: Kind.Kernel, source: 0, flags: delivered, pid, signal: 17, siCode: 1, delivered: 1, comm, deliveredComm: 'systemd', cgroup });
    }
  }
  return records;
}

function freshDatabase(path: string) {
  for (const file of [path, `${path}-wal`, `${path}-shm`]) rmSync(file, { force: true });
  return openForWriting(path);
}

function timed(run: () => number): { rows: number; wallSeconds: number; cpuSeconds: number } {
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const rows = run();
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  return { rows, wallSeconds, cpuSeconds: (used.user + used.system) / 1e6 };
}

function batchesOf(records: Buffer): Buffer[] {
  const batches: Buffer[] = [];
  for (let at = 0; at < records.length; at += BATCH_RECORDS * EVENT_SIZE) batches.push(records.subarray(at, Math.min(records.length, at + BATCH_RECORDS * EVENT_SIZE)));
  return batches;
}

/** One round: the records through the ingest, then through the reference path (or the other way round). */
export function measureWritePath(mix: string, records: Buffer, rounds: number, dir = tmpdir()): WritePathFigures {
  const path = join(dir, 'sigaudit-writepath.db');
  const batches = batchesOf(records);
  const ingest = { wall: [] as number[], cpu: [] as number[] };
  const reference = { wall: [] as number[], cpu: [] as number[] };
  let rows = 0;
  const paths = {
    ingest: () => {
      const db = freshDatabase(path);
      const writer = new SignalWriter(db);
      const result = timed(() => {
        let written = 0;
        for (const batch of batches) written += writer.ingest(batch, OFFSET_NS).rows;
        return written + writer.ingest(Buffer.alloc(0), OFFSET_NS, undefined, true).rows;
      });
      closeWriting(db);
      return result;
    },
    reference: () => {
      const db = freshDatabase(path);
      const writer = new SignalWriter(db);
      const assembler = new Assembler();
      const result = timed(() => {
        let written = 0;
        for (const batch of batches) {
          const { rows: batchRows } = assembler.assemble(decode(batch), OFFSET_NS);
          writer.write(batchRows);
          written += batchRows.length;
        }
        const orphans = assembler.drain(OFFSET_NS);
        writer.write(orphans);
        return written + orphans.length;
      });
      closeWriting(db);
      return result;
    },
  };
  for (let round = 0; round < rounds; round++) {
    for (const name of round % 2 === 0 ? (['ingest', 'reference'] as const) : (['reference', 'ingest'] as const)) {
      const result = paths[name]();
      if (name === 'ingest') rows = result.rows;
      else if (result.rows !== rows && rows !== 0) throw new Error(`writepath: the reference wrote ${result.rows} rows, the ingest ${rows}`);
      const figures = name === 'ingest' ? ingest : reference;
      figures.wall.push(result.rows / result.wallSeconds);
      figures.cpu.push(result.rows / result.cpuSeconds);
    }
  }
  for (const file of [path, `${path}-wal`, `${path}-shm`]) rmSync(file, { force: true });
  return {
    mix,
    records: records.length / EVENT_SIZE,
    rows,
    rounds,
    ingest: { wall: summarize(ingest.wall), cpu: summarize(ingest.cpu) },
    reference: { wall: summarize(reference.wall), cpu: summarize(reference.cpu) },
  };
}

export function measureWritePaths(records: number, rounds: number): WritePathFigures[] {
  return [measureWritePath('storm: kill(self, 0), 2 processes', stormRecords(records), rounds), measureWritePath('realistic mix', mixedRecords(records), rounds)];
}

if (require.main === module) {
  const { values } = parseArgs({ options: { records: { type: 'string', default: '2000000' }, rounds: { type: 'string', default: '7' } } });
  const k = (s: Summary) => `${Math.round(s.median / 1000)}k (${Math.round(s.min / 1000)}k–${Math.round(s.max / 1000)}k)`;
  for (const figures of measureWritePaths(Number(values.records), Number(values.rounds))) {
    process.stdout.write(`${figures.mix}: ${figures.records} records, ${figures.rows} rows, ${figures.rounds} rounds\n`);
    process.stdout.write(`  ingest     rows/s wall ${k(figures.ingest.wall)}  per CPU-second ${k(figures.ingest.cpu)}\n`);
    process.stdout.write(`  reference  rows/s wall ${k(figures.reference.wall)}  per CPU-second ${k(figures.reference.cpu)}\n`);
  }
}
