// Time windows read through the archive's id map (src/query/id-windows.ts)
// answer exactly what the signals view says within the window's times,
// where ids are out of time order: a row with a smaller id and a later time
// across a minute's edge, and replayed spill rows (old times, new ids), in
// the archive and in the hot table; windows whose edges cut minutes.
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { before, describe, it } from 'node:test';
import { exportQuery, exportSignals } from '../src/export';
import { COLUMNS } from '../src/export/columns';
import { loadLineFunctions } from '../src/export/sql-format';
import { failed } from '../src/query/failed';
import { dateToNs } from '../src/query/time';
import { bindIdWindows, nextChunk, type Chunk } from '../src/query/id-windows';
import { list } from '../src/query/list';
import { runLocal } from '../src/query/read';
import { topSenders } from '../src/query/top-senders';
import { whoKilled } from '../src/query/who-killed';
import { openForReading, openForWriting } from '../src/store/database';
import { SignalWriter, type SignalRow } from '../src/store/writer';
import { tempDbPath } from './helpers/recorder';

const MINUTE_NS = 60_000_000_000n;
const MS_NS = 1_000_000n;
/** Seven minutes past an hour: the rows' minutes and hours are not the windows'. */
const START_NS = 500_000n * 3_600_000_000_000n + 7n * MINUTE_NS;
/** The pid most rows reach, and who-killed is asked about. */
const TARGET = 2001;

function row(i: number, tsNs: bigint): SignalRow {
  const reached = i % 4 !== 0;
  const target = i % 3 === 0 ? TARGET : 2000 + (i % 5);
  return {
    tsNs, fanout: i % 10 === 9 ? 1 : 0, source: 'kill', senderPid: 100 + (i % 7), senderTid: 100 + (i % 7), senderComm: ['bash', 'kill', 'systemd'][i % 3],
    senderUid: i % 2, senderAuid: null, senderPpid: 1, senderCgroup: null, targetPid: target, targetTid: null,
    deliveredPid: reached ? target : null, deliveredTid: reached ? target : null, deliveredComm: reached ? 'sleep' : null,
    deliveredCgroup: null, signal: [15, 9, 0, 1, 10][i % 5], ret: reached ? 0 : -3, result: reached ? 'delivered' : null, siCode: 0, origin: null,
  };
}

/** Minutes whose edge a pair of rows crosses out of id order: the smaller id 1.5 ms after the edge, the next 1.5 ms before it. */
const CROSSED_MINUTES = [3n, 29n, 30n, 61n, 100n];
/** Old times written with new ids, as a replayed spill is: archived, then left in the hot table. */
const REPLAYED_ARCHIVED = [START_NS + 29n * MINUTE_NS + 12_345_678n, START_NS + 30n * MINUTE_NS - 700_000n, START_NS + 75n * MINUTE_NS];
const REPLAYED_HOT = [START_NS + 30n * MINUTE_NS + 400_000n, START_NS + 2n * MINUTE_NS];

/** Windows (ms, as --since/--until give them) that cut minutes, hours, and the crossed pairs; open at either end or both. */
const WINDOWS: { since?: bigint; until?: bigint }[] = [
  { since: START_NS + 29n * MINUTE_NS + 59_998n * MS_NS, until: START_NS + 30n * MINUTE_NS + 2n * MS_NS },
  { since: START_NS + 30n * MINUTE_NS - 2n * MS_NS, until: START_NS + 30n * MINUTE_NS - MS_NS },
  { since: START_NS + 30n * MINUTE_NS + MS_NS, until: START_NS + 30n * MINUTE_NS + 2n * MS_NS },
  { since: START_NS + 17n * MINUTE_NS + 29_500n * MS_NS, until: START_NS + 77n * MINUTE_NS + 18_250n * MS_NS },
  { since: START_NS + 61n * MINUTE_NS + 7n * MS_NS },
  { until: START_NS + 29n * MINUTE_NS + 13n * MS_NS },
  {},
];

const filtersOf = (window: (typeof WINDOWS)[number]) => ({
  ...(window.since === undefined ? {} : { since: new Date(Number(window.since / MS_NS)) }),
  ...(window.until === undefined ? {} : { until: new Date(Number(window.until / MS_NS)) }),
});

describe('time windows through id bounds', () => {
  let path: string;
  let db: Database.Database;

  /** The ids the signals view gives for the window's times (no id terms), with `where`, in `order`. */
  function expected(window: (typeof WINDOWS)[number], where: string, order: string): bigint[] {
    const filters = filtersOf(window);
    const terms = [where];
    if (filters.since) terms.push(`ts_ns >= ${dateToNs(filters.since)}`);
    if (filters.until) terms.push(`ts_ns <= ${dateToNs(filters.until)}`);
    return db.prepare(`SELECT id FROM signals WHERE ${terms.join(' AND ')} ORDER BY ${order}`).pluck().safeIntegers(true).all() as bigint[];
  }

  before(() => {
    path = tempDbPath();
    const writing = openForWriting(path);
    const writer = new SignalWriter(writing);
    // 2,400 rows 3 s apart (two hours), in id order but for the crossed pairs.
    const rows = Array.from({ length: 2400 }, (_, i) => row(i, START_NS + BigInt(i) * 3_000_000_000n + 1_000_000n));
    for (const minute of CROSSED_MINUTES) {
      const i = Number((minute * MINUTE_NS) / 3_000_000_000n);
      rows[i].tsNs = START_NS + minute * MINUTE_NS + 1_500_000n;
      rows[i + 1].tsNs = START_NS + minute * MINUTE_NS - 1_500_000n;
    }
    writer.write(rows);
    while (writer.archive(500) > 0);
    writer.write(REPLAYED_ARCHIVED.map((tsNs, i) => row(3 * i, tsNs)));
    while (writer.archive(500) > 0);
    // Newer rows and replayed ones, not yet archived.
    writer.write([...Array.from({ length: 30 }, (_, i) => row(i, START_NS + 7200n * 1_000_000_000n + BigInt(i) * 1_000_000_000n)), ...REPLAYED_HOT.map((tsNs, i) => row(3 * i, tsNs))]);
    writing.close();
    db = openForReading(path);
    // What the test is about: ids out of time order across minutes, in both tables.
    const hot = db.prepare('SELECT count(*) FROM signals_hot WHERE ts_ns < (SELECT max(ts_ns) FROM signals_archive)').pluck().get() as number;
    assert.equal(hot, REPLAYED_HOT.length);
    const crossed = db.prepare(`SELECT count(*) FROM archive_minutes AS a JOIN archive_minutes AS b ON b.minute = a.minute + 1 WHERE b.first_id < a.last_id`).pluck().get() as number;
    assert.ok(crossed >= CROSSED_MINUTES.length, `${crossed} minutes overlap the next's ids`);
  });

  it('list, newest first, in one chunk and in many', () => {
    for (const window of WINDOWS) {
      const all = expected(window, 'signal != 0 AND fanout = 0', 'ts_ns DESC, id DESC');
      assert.ok(all.length > 0, JSON.stringify(window, (_key, value) => (typeof value === 'bigint' ? String(value) : value)));
      for (const limit of [0, 1, 7, 200]) {
        const report = list({ dbPath: path, filters: filtersOf(window), limit });
        const shown = limit === 0 ? all : all.slice(0, limit);
        assert.deepEqual(report.rows.map((row) => row.id), shown, `limit ${limit}`);
        assert.equal(report.more, limit > 0 && all.length > limit);
      }
    }
  });

  it('export in time order, and its chunks walked either way', async () => {
    loadLineFunctions(db);
    for (const window of WINDOWS.slice(0, -1)) {
      const ids = expected(window, 'true', 'ts_ns, id');
      const output = tempDbPath('export.csv');
      const written = await exportSignals({ dbPath: path, format: 'csv', output, filters: filtersOf(window) });
      const exported = (parse(readFileSync(output), { columns: true }) as { id: string }[]).map((record) => BigInt(record.id));
      assert.deepEqual(exported, ids);
      assert.equal(written, ids.length);
      // Chunks of a few ids: many of them, each sorted on its own, in order across them.
      const query = exportQuery(filtersOf(window));
      for (const direction of ['oldest', 'newest'] as const) {
        const lines: string[] = [];
        for (let rest: Chunk | undefined = query.window; rest !== undefined; ) {
          const next: { chunk: Chunk; rest: Chunk | undefined } = runLocal(db, nextChunk(rest, direction, 7));
          const chunk = query.chunkSql(next.chunk);
          const chunkLines = db.prepare(chunk.sql).pluck().all(bindIdWindows(db, chunk)) as string[];
          lines.push(...(direction === 'oldest' ? chunkLines : chunkLines.reverse()));
          rest = next.rest;
        }
        const walked = (parse(lines.join(''), { columns: [...COLUMNS] }) as { id: string }[]).map((record) => BigInt(record.id));
        assert.deepEqual(walked, direction === 'oldest' ? ids : [...ids].reverse(), direction);
      }
    }
  });

  it('who-killed, newest rows first and all of them', () => {
    for (const window of WINDOWS) {
      const ids = expected(window, `(delivered_pid = ${TARGET} OR (delivered_pid IS NULL AND target_pid = ${TARGET})) AND signal != 0`, 'ts_ns, id');
      for (const limit of [0, 3, 200]) {
        const report = whoKilled({ dbPath: path, pid: TARGET, filters: filtersOf(window), limit });
        const rows = report.processes.flatMap((segment) => segment.rows).sort((a, b) => (a.ts_ns < b.ts_ns ? -1 : a.ts_ns > b.ts_ns ? 1 : a.id < b.id ? -1 : 1));
        assert.deepEqual(rows.map((row) => row.id), limit === 0 ? ids : ids.slice(Math.max(0, ids.length - limit)), `limit ${limit}`);
        assert.equal(report.more, limit > 0 && ids.length > limit);
      }
    }
  });

  it('failed, each send and in groups', () => {
    for (const window of WINDOWS) {
      const ids = expected(window, 'ret < 0 AND signal != 0 AND fanout = 0', 'ts_ns DESC, id DESC');
      const raw = failed({ dbPath: path, filters: filtersOf(window), raw: true, limit: 0 });
      assert.deepEqual(raw.rows!.map((row) => row.id), ids);
      assert.equal(failed({ dbPath: path, filters: filtersOf(window) }).total, ids.length);
    }
  });

  it('top-senders, over rollup hours and partial hours, and by the minute', () => {
    for (const window of WINDOWS) {
      const filters = filtersOf(window);
      const terms = ['signal != 0', 'fanout = 0'];
      if (filters.since) terms.push(`ts_ns >= ${dateToNs(filters.since)}`);
      if (filters.until) terms.push(`ts_ns <= ${dateToNs(filters.until)}`);
      const counts = db.prepare(`SELECT sender_comm AS key, count(*) AS n FROM signals WHERE ${terms.join(' AND ')} GROUP BY 1 ORDER BY 2 DESC, 1`).all() as { key: string; n: number }[];
      for (const bucketMinutes of [60, 1]) {
        const report = topSenders({ dbPath: path, filters, by: 'comm', limit: 10, bucketMinutes });
        assert.deepEqual(report.senders.map((sender) => ({ key: sender.key, n: sender.total })), counts, `${bucketMinutes} min buckets`);
        assert.equal(report.total, counts.reduce((sum, count) => sum + count.n, 0));
      }
    }
  });
});
