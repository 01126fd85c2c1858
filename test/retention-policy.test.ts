// Retention on a real database file, without the kernel: --retain deletes
// by age and --max-db-size by size, oldest first, from the archive and the
// hot table; the hourly sender counts stay equal to the archive; each
// deletion is recorded in prunes; freed pages go back to the file system;
// summaries and drop windows of pruned time go with it.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { describe, it } from 'node:test';
import { closeWriting, openForWriting } from '../src/store/database';
import { Retention, parseMaxDbSize, parseRetain, prunedBefore } from '../src/store/retention';
import { PID_HOUR_ORIGIN, SignalWriter, type SignalRow } from '../src/store/writer';
import { tempDbPath } from './helpers/recorder';

const HOUR = 3_600_000_000_000n;
const NOW = 1_800_000_000_000_000_000n;

function row(tsNs: bigint, i: number): SignalRow {
  return {
    tsNs, fanout: 0, source: 'kill', senderPid: 1000 + (i % 7), senderTid: 1000 + (i % 7), senderComm: `sender${i % 7}`,
    senderUid: i % 3, senderAuid: null, senderPpid: 1, senderCgroup: null, targetPid: 2000 + i, targetTid: null,
    deliveredPid: i % 2 === 0 ? 2000 + i : null, deliveredTid: null, deliveredComm: i % 2 === 0 ? 'target' : null,
    deliveredCgroup: null, signal: 15, ret: i % 2 === 0 ? 0 : -3, result: i % 2 === 0 ? 'delivered' : null, siCode: 0, origin: null,
  };
}

/** `count` rows spread evenly from `fromNs` to `toNs`, written in batches of 1000. */
function fill(writer: SignalWriter, fromNs: bigint, toNs: bigint, count: number): void {
  const step = (toNs - fromNs) / BigInt(count);
  for (let done = 0; done < count; done += 1000)
    writer.write(Array.from({ length: Math.min(1000, count - done) }, (_, j) => row(fromNs + step * BigInt(done + j), done + j)));
}

function rollupMatchesArchive(db: ReturnType<typeof openForWriting>): void {
  const fromRollup = db.prepare('SELECT hour, sender_comm, sum(sends) AS sends, sum(deliveries) AS deliveries FROM sender_hours GROUP BY 1, 2 ORDER BY 1, 2').all();
  const fromArchive = db.prepare(`SELECT ts_ns / 3600000000000 AS hour, coalesce(sender_comm, '') AS sender_comm, sum(fanout = 0) AS sends,
      sum(delivered_pid IS NOT NULL) AS deliveries FROM archived_signals GROUP BY 1, 2 ORDER BY 1, 2`).all();
  assert.deepEqual(fromRollup, fromArchive, 'sender_hours equals the archive');
  const fromPidRollup = db
    .prepare(`SELECT hour + ${PID_HOUR_ORIGIN} AS hour, sender_pid, sends + probe_sends AS sends, deliveries + probe_deliveries AS deliveries
      FROM sender_pid_hours ORDER BY 1, 2`)
    .all();
  const fromArchiveByPid = db.prepare(`SELECT ts_ns / 3600000000000 AS hour, coalesce(sender_pid, -1) AS sender_pid, sum(fanout = 0) AS sends,
      sum(delivered_pid IS NOT NULL) AS deliveries FROM signals_archive GROUP BY 1, 2 ORDER BY 1, 2`).all();
  assert.deepEqual(fromPidRollup, fromArchiveByPid, 'sender_pid_hours equals the archive');
}

/** A summary and a drop window ending at each of `ends`; returns nothing, the tables hold them. */
function account(db: ReturnType<typeof openForWriting>, runId: number, ends: bigint[]): void {
  const summary = db.prepare(`INSERT INTO summaries (run_id, first_ns, last_ns, count, outcome, source, sender_pid, sender_comm, sender_uid, signal, target_pid, ret, result)
    VALUES (?, ?, ?, 1000, 'summarised', 'kill', 4242, 'flooder', 65534, 0, 4242, 0, NULL)`);
  const drop = db.prepare("INSERT INTO drops (run_id, from_ns, to_ns, count, reason) VALUES (?, ?, ?, 7, 'ring_buffer_full')");
  for (const end of ends) {
    summary.run(runId, end - 1_000_000_000n, end);
    drop.run(runId, end - 1_000_000_000n, end);
  }
}

/** The end times left in summaries and drops. */
function accountsLeft(db: ReturnType<typeof openForWriting>): { summaries: bigint[]; drops: bigint[] } {
  const ends = (sql: string) => (db.prepare(sql).safeIntegers(true).all() as { end: bigint }[]).map((row) => row.end);
  return { summaries: ends('SELECT last_ns AS end FROM summaries ORDER BY 1'), drops: ends('SELECT to_ns AS end FROM drops ORDER BY 1') };
}

function setUp(): { db: ReturnType<typeof openForWriting>; writer: SignalWriter; runId: number; path: string } {
  const path = tempDbPath();
  const db = openForWriting(path);
  const writer = new SignalWriter(db);
  const runId = writer.beginRun({ startedNs: NOW, host: 'h', kernel: 'k', version: 'v', recorderPid: process.pid, ringBytes: 4096 });
  return { db, writer, runId, path };
}

describe('retention', () => {
  it('--retain deletes rows older than the age from archive and hot table, keeps sender_hours equal, records the prune', () => {
    const { db, writer, runId } = setUp();
    // 10 days of rows, hourly buckets; the oldest 6000 archived, the rest hot.
    fill(writer, NOW - 240n * HOUR, NOW, 10_000);
    while (writer.hotRows > 4000) writer.archive(Math.min(1000, writer.hotRows - 4000));
    rollupMatchesArchive(db);
    const retention = new Retention(db, writer, { retainNs: 3n * 24n * HOUR }, runId);
    const cutoff = NOW - 72n * HOUR;
    const expectedGone = (db.prepare('SELECT count(*) AS n FROM signals WHERE ts_ns < ?').get(cutoff) as { n: number }).n;
    assert.ok(expectedGone > 6000, 'some old rows are in the hot table too');

    let pruned = 0;
    for (let i = 0; i < 100; i++) {
      const steps = retention.run(NOW);
      if (steps.length === 0) break;
      pruned += steps.reduce((sum, step) => sum + step.rows, 0);
    }
    assert.equal(pruned, expectedGone);
    assert.equal((db.prepare('SELECT count(*) AS n FROM signals WHERE ts_ns < ?').get(cutoff) as { n: number }).n, 0);
    assert.equal((db.prepare('SELECT count(*) AS n FROM signals').get() as { n: number }).n, 10_000 - expectedGone);
    assert.equal(writer.hotRows, (db.prepare('SELECT count(*) AS n FROM signals_hot').get() as { n: number }).n);
    rollupMatchesArchive(db);

    const prunes = db.prepare('SELECT run_id, reason, from_ns, to_ns, rows FROM prunes').safeIntegers(true).all() as { run_id: bigint; reason: string; from_ns: bigint; to_ns: bigint; rows: bigint }[];
    assert.equal(prunes.length, 1, 'consecutive batches extend one prunes row');
    assert.equal(prunes[0].reason, 'age');
    assert.equal(Number(prunes[0].rows), expectedGone);
    assert.equal(prunes[0].from_ns, NOW - 240n * HOUR);
    assert.ok(prunes[0].to_ns < cutoff);
    assert.equal(prunedBefore(db, NOW - 100n * HOUR)?.beforeNs, prunes[0].to_ns, 'a window reaching into pruned time is told so');
    assert.equal(prunedBefore(db, NOW - HOUR), undefined, 'a window after it is not');
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    closeWriting(db);
  });

  it('--max-db-size deletes the oldest rows until the file is under the bound, and gives the space back', () => {
    const { db, writer, runId, path } = setUp();
    fill(writer, NOW - 48n * HOUR, NOW, 60_000);
    while (writer.archive(5000) > 0);
    db.pragma('wal_checkpoint(TRUNCATE)');
    const before = statSync(path).size;
    const maxBytes = Math.floor(before / 2);
    const retention = new Retention(db, writer, { maxBytes }, runId);
    assert.ok(retention.overSize());
    for (let i = 0; i < 200 && retention.overSize(); i++) retention.run(NOW);
    // Until the free pages are all given back.
    for (let i = 0; i < 50 && (db.pragma('freelist_count', { simple: true }) as number) > 0; i++) retention.run(NOW);
    db.pragma('wal_checkpoint(TRUNCATE)');
    const after = statSync(path).size;
    assert.ok(after <= maxBytes, `file ${after} bytes <= bound ${maxBytes} (was ${before})`);
    const left = db.prepare('SELECT count(*) AS n, min(ts_ns) AS oldest FROM signals').safeIntegers(true).get() as { n: bigint; oldest: bigint };
    assert.ok(left.n > 0n && left.n < 60_000n);
    const prune = db.prepare("SELECT sum(rows) AS rows, max(to_ns) AS to_ns FROM prunes WHERE reason = 'size'").safeIntegers(true).get() as { rows: bigint; to_ns: bigint };
    assert.equal(prune.rows + left.n, 60_000n, 'every deleted row is in prunes');
    assert.ok(prune.to_ns < left.oldest, 'the oldest went first');
    rollupMatchesArchive(db);
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    closeWriting(db);
  });

  it('--retain deletes the summaries and drop windows that end before the cutoff, also where no signal is that old', () => {
    const { db, writer, runId } = setUp();
    fill(writer, NOW - 24n * HOUR, NOW, 2000);
    // A flood's summaries from a week ago, with no signal left around them, and newer ones.
    const ends = [NOW - 170n * HOUR, NOW - 100n * HOUR, NOW - 73n * HOUR, NOW - 71n * HOUR, NOW - HOUR];
    account(db, runId, ends);
    const retention = new Retention(db, writer, { retainNs: 72n * HOUR }, runId);
    assert.deepEqual(retention.run(NOW), [], 'premise: no signal is older than the cutoff');
    const kept = ends.slice(3);
    assert.deepEqual(accountsLeft(db), { summaries: kept, drops: kept });
    closeWriting(db);
  });

  it('--max-db-size deletes the summaries and drop windows that end before the newest signal it deleted, and keeps the rest', () => {
    const { db, writer, runId, path } = setUp();
    fill(writer, NOW - 48n * HOUR, NOW, 60_000);
    while (writer.archive(5000) > 0);
    account(db, runId, Array.from({ length: 48 }, (_, hour) => NOW - BigInt(hour) * HOUR - 1n));
    db.pragma('wal_checkpoint(TRUNCATE)');
    const retention = new Retention(db, writer, { maxBytes: Math.floor(statSync(path).size / 2) }, runId);
    for (let i = 0; i < 200 && retention.overSize(); i++) retention.run(NOW);
    const pruned = db.prepare("SELECT max(to_ns) AS to_ns FROM prunes WHERE reason = 'size'").safeIntegers(true).get() as { to_ns: bigint };
    const left = accountsLeft(db);
    assert.ok(left.summaries.length > 0 && left.summaries.length < 48, `some summaries went, some stayed (${left.summaries.length} of 48)`);
    assert.ok(left.summaries.every((end) => end > pruned.to_ns), 'none left ends before the newest deleted signal');
    const expected = Array.from({ length: 48 }, (_, hour) => NOW - BigInt(hour) * HOUR - 1n).filter((end) => end > pruned.to_ns).sort((a, b) => (a < b ? -1 : 1));
    assert.deepEqual(left, { summaries: expected, drops: expected });
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    closeWriting(db);
  });

  it('parses --retain and --max-db-size, with off, and refuses nonsense naming the form', () => {
    assert.equal(parseRetain('30d'), 30n * 24n * HOUR);
    assert.equal(parseRetain('12h'), 12n * HOUR);
    assert.equal(parseRetain('off'), undefined);
    assert.throws(() => parseRetain('30 days'), (error: unknown) => error instanceof InvalidArgumentError && /30d, 12h/.test(error.message));
    assert.equal(parseMaxDbSize('2GiB'), 2 * 1024 ** 3);
    assert.equal(parseMaxDbSize('500M'), 500 * 1024 ** 2);
    assert.equal(parseMaxDbSize('0'), undefined);
    assert.throws(() => parseMaxDbSize('100K'), /at least 1MiB/);
    assert.throws(() => parseMaxDbSize('lots'), /2GiB, 500M/);
  });
});
