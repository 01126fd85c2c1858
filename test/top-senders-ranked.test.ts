// top-senders by pid and by uid, where the extension chooses the senders
// of the rows (sigaudit_tally_top over one tally of the archive, the hot
// table and the summarised sends): over a window the hourly rollups do
// not serve, and over one whose whole hours come from the pid rollup and
// whose partial hours from the rows. The report must say what plain SQL
// over the signals view and the summaries says: the same senders in the
// same order (ties by key, the kernel's -1 first), totals, labels (a pid's
// greatest comm, from the summaries too), counts per bucket and the grand
// total, at every limit.
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { after, before, describe, it } from 'node:test';
import type { Filters } from '../src/query/filters';
import { topSenders, type SenderKey } from '../src/query/top-senders';
import { closeWriting, openForWriting } from '../src/store/database';
import { SignalWriter, type SignalRow } from '../src/store/writer';
import { sends } from './helpers/damage';
import { tempDbPath } from './helpers/recorder';

const MINUTE_NS = 60_000_000_000n;
/** An hour's start plus five minutes: the window below is inside one hour, so no rollup answers it. */
const START_NS = 1_795_000_000n * 1_000_000_000n - (1_795_000_000n * 1_000_000_000n) % 3_600_000_000_000n + 5n * MINUTE_NS;
const SINCE_NS = START_NS + 2n * MINUTE_NS;
const UNTIL_NS = START_NS + 38n * MINUTE_NS;

/** `count` sends of one sender, spread over minutes 3 to 36 from START_NS, inside the window (`offset` staggers senders). */
function spread(count: number, sender: Partial<SignalRow>, offset = 0): SignalRow[] {
  return sends(count, START_NS).map((row, i) => ({ ...row, ...sender, tsNs: START_NS + BigInt(3 + ((i * 37 + offset * 11) % 34)) * MINUTE_NS + BigInt(i + offset) * 1_000_000n }));
}

function fixture(path: string): void {
  const db = openForWriting(path);
  try {
    const writer = new SignalWriter(db);
    // Window: 36 sends of pid 700, and 20 each of the kernel, 703 and 800 (by its summaries), tied.
    const archived: SignalRow[] = [
      ...spread(30, { senderPid: 700, senderTid: 700, senderComm: 'alpha' }, 1),
      // Outside the window, before and after it.
      ...sends(50, START_NS + MINUTE_NS, 700),
      ...sends(50, START_NS + 39n * MINUTE_NS, 703),
      ...spread(6, { senderPid: 700, senderTid: 700, senderComm: 'zeta' }, 2),
      ...spread(20, { senderPid: 701, senderTid: 701, senderComm: 'beta', senderUid: 1000 }, 3),
      ...spread(20, { senderPid: 702, senderTid: 702, senderComm: 'gamma', senderUid: 1000 }, 4),
      ...spread(20, { senderPid: 703, senderTid: 703, senderComm: 'delta', senderUid: 1001 }, 5),
      ...spread(12, { senderPid: 704, senderTid: 704, senderComm: 'eps', senderUid: 1002 }, 6),
      // Probes: they rank only when asked for.
      ...spread(60, { senderPid: 705, senderTid: 705, senderComm: 'prober', signal: 0 }, 7),
      // The kernel, in interrupt context: no task.
      ...spread(20, { source: 'kernel', senderPid: null, senderTid: null, senderComm: null, senderUid: null, senderPpid: null }, 8),
      // Short-lived senders, one send each: most of an hour's groups.
      ...Array.from({ length: 400 }, (_, i) => spread(1, { senderPid: 10_000 + i, senderTid: 10_000 + i, senderComm: `job${i % 9}`, senderUid: 2000 + (i % 3) }, i)[0]),
    ];
    // Earlier hours, for the rollup: pid 900 busy only there, 700 busy there too, short-lived senders.
    const earlier = (hoursBefore: number, rows: SignalRow[]) => rows.map((row) => ({ ...row, tsNs: row.tsNs - BigInt(hoursBefore) * 3_600_000_000_000n }));
    archived.unshift(
      ...earlier(3, spread(25, { senderPid: 900, senderTid: 900, senderComm: 'hourly' }, 11)),
      ...earlier(2, spread(25, { senderPid: 900, senderTid: 900, senderComm: 'hourly' }, 12)),
      ...earlier(2, spread(9, { senderPid: 700, senderTid: 700, senderComm: 'alpha' }, 13)),
      ...earlier(1, spread(15, { senderPid: 703, senderTid: 703, senderComm: 'delta' }, 14)),
      ...Array.from({ length: 300 }, (_, i) => earlier(1 + (i % 3), spread(1, { senderPid: 20_000 + i, senderTid: 20_000 + i, senderComm: 'short' }, i))[0]),
    );
    writer.write(archived);
    while (writer.archive(500) > 0);
    // Not yet archived: the hot table's.
    writer.write([...spread(9, { senderPid: 701, senderTid: 701, senderComm: 'beta', senderUid: 1000 }, 9), ...spread(3, { senderPid: 10_001, senderTid: 10_001, senderComm: 'job1' }, 10)]);
    const runId = writer.beginRun({ startedNs: START_NS, host: 'test', kernel: 'test', version: 'test', recorderPid: 1, ringBytes: 1 });
    const summary = db.prepare(`INSERT INTO summaries (run_id, first_ns, last_ns, count, outcome, source, sender_pid, sender_comm, sender_uid, signal)
      VALUES (?, ?, ?, ?, ?, 'kill', ?, ?, ?, ?)`);
    const at = (minute: number) => START_NS + BigInt(minute) * MINUTE_NS + 5n;
    summary.run(runId, at(10), at(10) + 1000n, 5, 'summarised', 702, 'gamma', 1000, 15);
    // Known only by its summaries: its comm is in no row.
    summary.run(runId, at(12), at(12) + 1000n, 14, 'summarised', 800, 'flooder', 1003, 9);
    summary.run(runId, at(30), at(30) + 1000n, 6, 'summarised', 800, 'flooder', 1003, 9);
    // Outside the window, a probe, and a drop: none of them a send counted.
    summary.run(runId, at(1), at(1) + 1000n, 500, 'summarised', 801, 'early', 1003, 15);
    summary.run(runId, at(20), at(20) + 1000n, 500, 'summarised', 802, 'probing', 1003, 0);
    summary.run(runId, at(20), at(20) + 1000n, 500, 'dropped', 803, 'dropped', 1003, 15);
  } finally {
    closeWriting(db);
  }
}

interface Expected {
  key: number;
  label: string;
  total: number;
  minutes: Map<number, number>;
}

/** The report by plain SQL: every send row and summarised send in the window, grouped and ranked, counted in the report's buckets. */
function expected(db: Database.Database, by: SenderKey, filters: Filters, limit: number, firstMinute: bigint, bucketMinutes: number): { senders: Expected[]; total: number } {
  const column = by === 'pid' ? 'sender_pid' : 'sender_uid';
  const kept = `${filters.includeProbes ? '1' : 'signal != 0'} AND ${filters.perTarget ? 'delivered_pid IS NOT NULL' : 'fanout = 0'}`;
  const rows = db
    .prepare(
      `SELECT coalesce(${column}, -1) AS key, coalesce(sender_comm, '') AS comm, (ts_ns / ${MINUTE_NS} - @firstMinute) / @bucketMinutes AS minute, weight FROM (
        SELECT ts_ns, sender_pid, sender_uid, sender_comm, signal, fanout, delivered_pid, 1 AS weight FROM signals
        UNION ALL SELECT first_ns, sender_pid, sender_uid, sender_comm, signal, 0, NULL, count FROM summaries WHERE outcome = 'summarised')
      WHERE ts_ns >= @since AND ts_ns <= @until AND ${kept}`,
    )
    .all({ since: BigInt(filters.since!.getTime()) * 1_000_000n, until: BigInt(filters.until!.getTime()) * 1_000_000n, firstMinute, bucketMinutes: BigInt(bucketMinutes) }) as { key: number; comm: string; minute: number; weight: number }[];
  const senders = new Map<number, Expected>();
  for (const row of rows) {
    const sender = senders.get(row.key) ?? { key: row.key, label: '', total: 0, minutes: new Map() };
    sender.label = row.comm > sender.label ? row.comm : sender.label;
    sender.total += row.weight;
    sender.minutes.set(row.minute, (sender.minutes.get(row.minute) ?? 0) + row.weight);
    senders.set(row.key, sender);
  }
  const ranked = [...senders.values()].sort((a, b) => b.total - a.total || a.key - b.key);
  return { senders: ranked.slice(0, limit), total: rows.reduce((sum, row) => sum + row.weight, 0) };
}

describe('top-senders ranked by the extension', () => {
  let path: string;
  let db: Database.Database;

  before(() => {
    path = tempDbPath();
    fixture(path);
    db = new Database(path, { readonly: true });
  });

  after(() => db.close());

  it('chooses the senders plain SQL chooses, with their totals, labels, buckets and the grand total', () => {
    const filters: Filters = { since: new Date(Number(SINCE_NS / 1_000_000n)), until: new Date(Number(UNTIL_NS / 1_000_000n)) };
    // From 10 minutes into the hour three hours earlier: whole hours from the pid rollup, 50 minutes before them from the rows.
    const hours: Filters = { ...filters, since: new Date(Number((START_NS - 3n * 3_600_000_000_000n) / 1_000_000n) - 300_000 + 600_000) };
    const cases: { by: SenderKey; filters: Filters; rollup: boolean }[] = [
      { by: 'pid', filters, rollup: false },
      { by: 'pid', filters: { ...filters, includeProbes: true }, rollup: false },
      { by: 'pid', filters: { ...filters, perTarget: true }, rollup: false },
      { by: 'uid', filters, rollup: false },
      { by: 'pid', filters: hours, rollup: true },
      { by: 'pid', filters: { ...hours, includeProbes: true, perTarget: true }, rollup: true },
    ];
    let tiesCut = 0;
    for (const { by, filters: caseFilters, rollup } of cases) {
      for (const limit of [1, 2, 3, 4, 5, 6, 8, 1000]) {
        const report = topSenders({ dbPath: path, filters: caseFilters, by, limit });
        const want = expected(db, by, caseFilters, limit, report.firstMinute, report.bucketMinutes);
        const what = `${by} ${JSON.stringify(caseFilters)} --limit ${limit}`;
        assert.equal(report.usedRollup, rollup, what);
        assert.equal(report.bucketMinutes, rollup ? 60 : 1, what);
        assert.deepEqual(report.senders.map((sender) => sender.key), want.senders.map((sender) => sender.key), what);
        assert.deepEqual(report.senders.map((sender) => sender.total), want.senders.map((sender) => sender.total), what);
        assert.equal(report.total, want.total, what);
        if (by === 'pid')
          assert.deepEqual(report.senders.map((sender) => sender.label), want.senders.map((sender) => (sender.key === -1 ? '(kernel, no task)' : `${sender.label || '?'}[${sender.key}]`)), what);
        report.senders.forEach((sender, i) => {
          const minutes = new Map(sender.buckets.flatMap((n, bucket) => (n === 0 ? [] : [[bucket, n] as [number, number]])));
          assert.deepEqual(minutes, want.senders[i].minutes, `${what}: ${sender.key}'s buckets`);
        });
        const next = expected(db, by, caseFilters, limit + 1, report.firstMinute, report.bucketMinutes).senders[limit];
        if (next && next.total === want.senders[limit - 1].total) tiesCut++;
      }
    }
    // The limit cut through tied senders somewhere, so that the order of ties was put to the test.
    assert.ok(tiesCut >= 2, `${tiesCut} limits cut through a tie`);
  });
});
