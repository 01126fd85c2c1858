// archive_minutes (migrations/0140-id-windows.sql) on a real database file:
// the mover and retention keep each minute's first and last id equal to the
// archived rows' true smallest and largest id in that minute, with rows out
// of id order (slips across minute boundaries, replayed rows with old times
// and new ids), and the data span read from it equals the rows' own.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type Database from 'better-sqlite3';
import { SQLITE } from '../src/query/read';
import { openForWriting } from '../src/store/database';
import { Retention } from '../src/store/retention';
import { SignalWriter, type SignalRow } from '../src/store/writer';
import { tempDbPath } from './helpers/recorder';

const MINUTE = 60_000_000_000n;
/** The first row's minute starts here. */
const START = 29_921_000n * MINUTE;
const GAP = 20_000_000n;
const ROWS = 60_000;

function row(tsNs: bigint, i: number): SignalRow {
  return {
    tsNs, fanout: 0, source: 'kill', senderPid: 1000 + (i % 7), senderTid: 1000 + (i % 7), senderComm: `sender${i % 7}`,
    senderUid: i % 3, senderAuid: null, senderPpid: 1, senderCgroup: null, targetPid: 2000 + (i % 50), targetTid: null,
    deliveredPid: i % 2 === 0 ? 2000 + (i % 50) : null, deliveredTid: null, deliveredComm: i % 2 === 0 ? 'target' : null,
    deliveredCgroup: null, signal: 15, ret: i % 2 === 0 ? 0 : -3, result: i % 2 === 0 ? 'delivered' : null, siCode: 0, origin: null,
  };
}

/**
 * ROWS rows GAP apart from START in id order, except: the row after each
 * minute's first row comes 0.2 ms before that minute (its id is above the
 * next minute's first id), and every 97th row slips 0.3 ms before the row
 * written before it.
 */
function times(): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < ROWS; i++) {
    const ts = START + BigInt(i) * GAP;
    const previous = out[i - 1];
    if (previous !== undefined && previous % MINUTE < GAP && ts % MINUTE >= GAP) out.push(previous - (previous % MINUTE) - 200_000n);
    else if (previous !== undefined && i % 97 === 0) out.push(previous - 300_000n);
    else out.push(ts);
  }
  return out;
}

interface MinuteRow { minute: bigint; first_id: bigint; last_id: bigint; first_ns: bigint; last_ns: bigint }

function map(db: Database.Database): MinuteRow[] {
  return db.prepare('SELECT minute, first_id, last_id, first_ns, last_ns FROM archive_minutes ORDER BY minute').safeIntegers(true).all() as MinuteRow[];
}

/** The map's bounds equal the archive's rows' true ones, and the data span read through it equals the rows' own. */
function assertExact(db: Database.Database, when: string): void {
  const truth = db
    .prepare('SELECT ts_ns / 60000000000 AS minute, min(id) AS first_id, max(id) AS last_id, min(ts_ns) AS first_ns, max(ts_ns) AS last_ns FROM signals_archive GROUP BY 1 ORDER BY 1')
    .safeIntegers(true)
    .all();
  assert.deepEqual(map(db), truth, `archive_minutes is exact ${when}`);
  const span = db.prepare(SQLITE.spanSql).safeIntegers(true).get() as Record<string, bigint | null>;
  const ends = db.prepare('SELECT min(ts_ns) AS archive_from, max(ts_ns) AS archive_to FROM signals_archive').safeIntegers(true).get();
  assert.deepEqual({ archive_from: span.archive_from, archive_to: span.archive_to }, ends, `the data span is the archive's ${when}`);
}

describe('archive_minutes', () => {
  it('stays exact through the mover and retention, rows out of id order and replayed rows included', () => {
    const db = openForWriting(tempDbPath());
    const writer = new SignalWriter(db);
    const runId = writer.beginRun({ startedNs: START, host: 'h', kernel: 'k', version: 'v', recorderPid: process.pid, ringBytes: 4096 });
    const stamps = times();
    const overlapping = stamps.filter((ts, i) => i > 0 && ts / MINUTE < stamps[i - 1] / MINUTE).length;
    assert.ok(overlapping > 15, `rows after the next minute's first row: ${overlapping}`);
    for (let i = 0; i < ROWS; i += 1000) writer.write(stamps.slice(i, i + 1000).map((ts, j) => row(ts, i + j)));
    // A spill replayed at start-up: a dead run's rows with old times (minute 3, and before every row) and new ids.
    const replayedAt = [START + 3n * MINUTE + 7_000_000_000n, START + 3n * MINUTE + 8_000_000_000n, START - 5n * MINUTE];
    writer.write(replayedAt.map((ts, i) => row(ts, i)));
    const replayedIds = replayedAt.map((_, i) => BigInt(ROWS + 1 + i));
    writer.write(Array.from({ length: 2000 }, (_, i) => row(START + BigInt(ROWS + i) * GAP, i)));

    assertExact(db, 'before anything is archived');
    assert.deepEqual(map(db), []);
    while (writer.hotRows > 2000) {
      writer.archive(Math.min(7_001, writer.hotRows - 2000));
      assertExact(db, `with ${writer.hotRows} rows hot`);
    }
    const minute3 = START / MINUTE + 3n;
    assert.deepEqual(map(db).find((entry) => entry.minute === minute3)?.last_id, replayedIds[1], 'the replayed rows widen their minute');
    const { first_ns: replayedNs, ...replayedMinute } = map(db)[0];
    assert.deepEqual(replayedMinute, { minute: START / MINUTE - 5n, first_id: replayedIds[2], last_id: replayedIds[2], last_ns: replayedNs });

    // Retention to a cutoff in the middle of minute 10, a batch (20,000 rows) per run.
    const cutoff = START + 10n * MINUTE + 30_000_000_123n;
    const now = cutoff + 3_600_000_000_000n;
    const retention = new Retention(db, writer, { retainNs: now - cutoff }, runId);
    const older = () => (db.prepare('SELECT count(*) AS n FROM signals WHERE ts_ns < ?').get(cutoff) as { n: number }).n;
    let batches = 0;
    let replayedAlone = false;
    for (let runs = 0; runs < 100 && older() > 0; runs++) {
      if (retention.run(now, 1).length === 0) continue; // the millisecond ran out before a batch
      batches++;
      assertExact(db, `after retention batch ${batches}`);
      const entry = map(db).find((minute) => minute.minute === minute3);
      if (entry && entry.first_id === replayedIds[0]) replayedAlone = true;
    }
    assert.ok(batches >= 2, `retention took ${batches} batches`);
    assert.ok(replayedAlone, 'a batch left minute 3 with only its replayed rows, and its first id moved up to them');
    assert.equal(older(), 0);
    assert.equal(map(db)[0].minute, cutoff / MINUTE, 'the cutoff minute, partly deleted, is the first');
    assertExact(db, 'after retention');

    // The mover goes on after retention; the hot rows' minutes join the map.
    while (writer.archive(500) > 0);
    assertExact(db, 'after the last rows moved');
    db.close();
  });
});
