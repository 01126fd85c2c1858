// Each index of migrations/0110-compact-signals.sql (with 0100's
// namespace-pid ones and 0150's on the view's target_pid) and the rollups of
// 0030-sender-rollups.sql, 0050-sender-pid-rollups.sql and
// 0130-comm-pid-hours.sql serve the
// queries that depend on them, as EXPLAIN QUERY PLAN shows; and the rollups
// the mover keeps equal the archive they were built from.
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { before, describe, it } from 'node:test';
import { SELECT_ROWS } from '../src/export/columns';
import { exportQuery } from '../src/export';
import { loadLineFunctions } from '../src/export/sql-format';
import { failedGroupsSql } from '../src/query/failed';
import { HOUR_TERM, filterTerms, type Filters } from '../src/query/filters';
import { listSql } from '../src/query/list';
import { SQLITE } from '../src/query/read';
import { COMM_PIDS_TERM, PID_LOOKUPS } from '../src/query/who-killed';
import { BUSY_PIDS_SQL, TAIL_BOUND_SQL, topSenders } from '../src/query/top-senders';
import { openForWriting } from '../src/store/database';
import { PID_HOUR_ORIGIN, SignalWriter, type SignalRow } from '../src/store/writer';
import { tempDbPath } from './helpers/recorder';

function plan(db: Database.Database, sql: string, params: Record<string, unknown> = {}): string {
  return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(params) as { detail: string }[]).map((row) => row.detail).join('\n');
}

const HOURS = { hours: '[500000,500001]' };

function row(i: number, overrides: Partial<SignalRow> = {}): SignalRow {
  return {
    tsNs: 1_800_000_000_000_000_000n + BigInt(i) * 7_000_000_000n,
    fanout: 0, source: 'kill', senderPid: 100 + (i % 7), senderTid: 100 + (i % 7), senderComm: ['bash', 'kill', 'systemd'][i % 3],
    senderUid: i % 2, senderAuid: null, senderPpid: 1, senderCgroup: BigInt(1 + (i % 2)), targetPid: 2000 + (i % 5), targetTid: null,
    deliveredPid: i % 4 === 0 ? null : 2000 + (i % 5), deliveredTid: i % 4 === 0 ? null : 2000 + (i % 5), deliveredComm: i % 4 === 0 ? null : 'sleep',
    deliveredCgroup: null, signal: [15, 9, 0, 17][i % 4], ret: i % 4 === 0 ? -3 : 0, result: i % 4 === 0 ? null : 'delivered', siCode: 0, origin: null,
    ...overrides,
  };
}

describe('query plans', () => {
  let db: Database.Database;
  let path: string;

  before(() => {
    path = tempDbPath();
    db = openForWriting(path);
    loadLineFunctions(db); // the page queries call its functions, as exportSignals loads them
    const writer = new SignalWriter(db);
    writer.write(Array.from({ length: 3000 }, (_, i) => row(i)), [{ id: 1n, path: '/system.slice/a.service', unit: 'a.service' }]);
    // Short-lived senders, one row each: the tail the pid rollup bounds instead of reading.
    writer.write(Array.from({ length: 400 }, (_, i) => row(3000 + i, { senderPid: 10_000 + i, senderTid: 10_000 + i })));
    while (writer.archive(700) > 0);
    writer.write(Array.from({ length: 50 }, (_, i) => row(3400 + i)));
  });

  it('who-killed <pid> seeks signals_archive_hour_delivered_pid per hour', () => {
    const sql = `${SELECT_ROWS} WHERE s.${HOUR_TERM} AND s.delivered_pid = @pid AND s.signal != 0`;
    assert.match(plan(db, sql, { ...HOURS, pid: 2001 }), /SEARCH s USING INDEX signals_archive_hour_delivered_pid \((?:<expr>=\?|ANY\(<expr>\)) AND delivered_pid=\?\)/);
  });

  it('who-killed <pid> finds signals that reached nothing with signals_archive_hour_target_pid (keyed by the view\'s target_pid), probes left out', () => {
    const sql = `${SELECT_ROWS} WHERE s.${HOUR_TERM} AND s.delivered_pid IS NULL AND s.target_pid = @pid AND s.signal != 0`;
    assert.match(plan(db, sql, { ...HOURS, pid: 2001 }), /USING INDEX signals_archive_hour_target_pid \((?:<expr>=\?|ANY\(<expr>\)) AND <expr>=\?\)/);
  });

  it('who-killed <pid> seeks one index per hour for each of its lookups, global and namespace pids', () => {
    const indexes = {
      reached: 'signals_archive_hour_delivered_pid', reachedInNamespace: 'signals_archive_hour_delivered_ns_pid_ts_ns',
      unreached: 'signals_archive_hour_target_pid', unreachedInNamespace: 'signals_archive_hour_target_ns_pid_ts_ns',
    };
    for (const [lookup, terms] of Object.entries(PID_LOOKUPS)) {
      const sql = `${SELECT_ROWS} WHERE s.${HOUR_TERM} AND ${terms.join(' AND ')} AND s.signal != 0`;
      // The view's target_pid is decoded (migrations/0150-compact-targets.sql): its index is on that expression.
      const column = lookup === 'unreached' ? '<expr>' : terms[terms.length - 1].replace(/^s\.(\w+) = @pid$/, '$1');
      assert.match(plan(db, sql, { ...HOURS, pid: 86 }), new RegExp(`SEARCH s USING INDEX ${indexes[lookup as keyof typeof indexes]} \\((?:<expr>=\\?|ANY\\(<expr>\\)) AND ${column}=\\?\\)`), lookup);
    }
  });

  it('who-killed --comm finds the pids the name reached in delivered_comm_hours, then seeks signals_archive_hour_delivered_pid by them', () => {
    const pids = plan(db, SQLITE.commPidsSql!, { ...HOURS, comm: 'sleep' });
    assert.match(pids, /SEARCH delivered_comm_hours USING PRIMARY KEY \(hour=\? AND comm_id=\?\)/);
    const sql = `${SELECT_ROWS} WHERE s.${HOUR_TERM} AND s.delivered_comm = @comm AND ${COMM_PIDS_TERM}`;
    const text = plan(db, sql, { ...HOURS, comm: 'sleep', pids: '[86]' });
    assert.match(text, /USING INDEX signals_archive_hour_delivered_pid \((?:<expr>=\?|ANY\(<expr>\)) AND delivered_pid=\?\)/);
  });

  it("who-killed finds a pid's exits with signals_archive_hour_child_exit_sender_pid", () => {
    const sql = `SELECT ts_ns FROM signals WHERE ${HOUR_TERM} AND sender_pid = @pid AND signal = 17 AND source = 'kernel' AND origin = 'child' AND ts_ns >= @fromNs AND ts_ns <= @toNs`;
    assert.match(plan(db, sql, { ...HOURS, pid: 101, fromNs: 0, toNs: 1 }), /USING INDEX signals_archive_hour_child_exit_sender_pid \((?:<expr>=\?|ANY\(<expr>\)) AND sender_pid=\?\)/);
  });

  it('failed groups read only signals_archive_failed_ts_ns (covering)', () => {
    const where = filterTerms({ since: new Date(0) }, { fromNs: 1n });
    assert.match(plan(db, failedGroupsSql(where.terms, 50), where.params), /SEARCH s USING COVERING INDEX signals_archive_failed_ts_ns \(ts_ns>\?\)/);
    const all = filterTerms({}, {});
    assert.match(plan(db, failedGroupsSql(all.terms, 50), all.params), /SCAN s USING COVERING INDEX signals_archive_failed_ts_ns/);
  });

  it('list walks signals_archive_ts_ns newest first without sorting the archive', () => {
    const where = filterTerms({}, { fromNs: 1n }, { alias: 's' });
    const text = plan(db, listSql(where.terms, 100), where.params);
    assert.match(text, /SEARCH s USING INDEX signals_archive_ts_ns \(ts_ns>\?\)/);
    assert.match(text, /MERGE \(UNION ALL\)/);
  });

  it('export streams in id order, or time order through signals_archive_ts_ns in a window', () => {
    const all = exportQuery(undefined);
    assert.match(plan(db, all.rangeSql, { ...all.params, fromId: 0, toId: 5000 }), /SEARCH s USING INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)/);
    const windowed = exportQuery({ since: new Date(0) });
    assert.match(plan(db, windowed.pageSql, { ...windowed.params, afterTs: 0, afterId: 0 }), /SEARCH s USING INDEX signals_archive_ts_ns \(ts_ns>\?\)/);
  });

  it('reading on by id (the fleet forwarder: WHERE id > ? ORDER BY id LIMIT n) seeks both tables by rowid, without sorting', () => {
    const text = plan(db, 'SELECT * FROM signals WHERE id > @after ORDER BY id LIMIT 500', { after: 100 });
    assert.match(text, /MERGE \(UNION ALL\)/);
    assert.equal(text.match(/SEARCH s USING INTEGER PRIMARY KEY \(rowid>\?\)/g)?.length, 2);
    assert.doesNotMatch(text, /TEMP B-TREE/);
  });

  it('top-senders reads whole hours from sender_hours by its primary key', () => {
    assert.match(plan(db, 'SELECT sender_comm, sum(sends) FROM sender_hours WHERE hour >= 1 AND hour < 2 GROUP BY 1'), /SEARCH sender_hours USING PRIMARY KEY \(hour>\? AND hour<\?\)/);
  });

  it('the mover keeps sender_hours equal to the archive', () => {
    const fromRollup = db.prepare('SELECT hour, source, signal, sender_comm, sender_uid, sender_cgroup, sends, deliveries FROM sender_hours ORDER BY 1, 2, 3, 4, 5, 6').all();
    const fromArchive = db
      .prepare(`SELECT ts_ns / 3600000000000 AS hour, source, signal, coalesce(sender_comm, '') AS sender_comm, coalesce(sender_uid, -1) AS sender_uid,
          coalesce(sender_cgroup, 0) AS sender_cgroup, sum(fanout = 0) AS sends, sum(delivered_pid IS NOT NULL) AS deliveries
        FROM archived_signals GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6`)
      .all();
    assert.deepEqual(fromRollup, fromArchive);
  });

  it('top-senders --by pid takes busy pids and the tail bound from sender_pid_hours by its index, and looks pids up by its primary key', () => {
    assert.match(plan(db, BUSY_PIDS_SQL, HOURS), /SEARCH sender_pid_hours USING COVERING INDEX sender_pid_hours_hour_bound \(hour=\? AND <expr>>\?\)/);
    assert.doesNotMatch(plan(db, BUSY_PIDS_SQL, HOURS), /SCAN sender_pid_hours/);
    assert.match(plan(db, TAIL_BOUND_SQL, HOURS), /SEARCH sender_pid_hours USING COVERING INDEX sender_pid_hours_hour_bound \(hour=\? AND <expr>>\? AND <expr><\?\)/);
    const lookup = plan(db, 'SELECT sender_pid, sum(sends) FROM sender_pid_hours WHERE hour IN (SELECT value FROM json_each(@hours)) AND sender_pid IN (SELECT value FROM json_each(@keys)) GROUP BY 1', { ...HOURS, keys: '[100,101]' });
    assert.match(lookup, /SEARCH sender_pid_hours USING PRIMARY KEY \(hour=\? AND sender_pid=\?\)/);
  });

  it('the mover keeps sender_pid_hours equal to the archive', () => {
    const fromRollup = db
      .prepare(`SELECT r.hour + ${PID_HOUR_ORIGIN} AS hour, r.sender_pid, coalesce(n.name, '') AS sender_comm, r.sends, r.deliveries, r.probe_sends, r.probe_deliveries
        FROM sender_pid_hours AS r LEFT JOIN names AS n ON n.id = r.sender_comm_id ORDER BY 1, 2`)
      .all();
    const fromArchive = db
      .prepare(`SELECT ts_ns / 3600000000000 AS hour, coalesce(sender_pid, -1) AS sender_pid, max(coalesce(sender_comm, '')) AS sender_comm,
          sum(fanout = 0 AND signal != 0) AS sends, sum(delivered_pid IS NOT NULL AND signal != 0) AS deliveries,
          sum(fanout = 0 AND signal = 0) AS probe_sends, sum(delivered_pid IS NOT NULL AND signal = 0) AS probe_deliveries
        FROM archived_signals GROUP BY 1, 2 ORDER BY 1, 2`)
      .all();
    assert.deepEqual(fromRollup, fromArchive);
  });

  it('the mover keeps delivered_comm_hours equal to the archive', () => {
    const fromRollup = db.prepare('SELECT n.name, h.hour, h.delivered_pid FROM delivered_comm_hours AS h JOIN names AS n ON n.id = h.comm_id ORDER BY 1, 2, 3').all();
    const fromArchive = db
      .prepare(`SELECT DISTINCT delivered_comm AS name, ts_ns / 3600000000000 AS hour, delivered_pid FROM archived_signals
        WHERE delivered_comm IS NOT NULL ORDER BY 1, 2, 3`)
      .all();
    assert.ok(fromArchive.length > 0);
    assert.deepEqual(fromRollup, fromArchive);
  });

  it('top-senders gives the same answer from the rollup as from every row', () => {
    const since = new Date(Number(1_800_000_000_000_000_000n / 1_000_000n) + 1234); // not on an hour
    const cases = [
      ...(['comm', 'uid', 'unit', 'pid'] as const).map((by) => ({ by, limit: 10, filters: { since } })),
      // --by pid: probes and deliveries, and limits past the busy pids, where the tail could rank.
      { by: 'pid' as const, limit: 3, filters: { since, includeProbes: true, perTarget: true } },
      { by: 'pid' as const, limit: 50, filters: { since } },
      { by: 'pid' as const, limit: 10, filters: {} },
    ];
    for (const { by, limit, filters } of cases) {
      const rolled = topSenders({ dbPath: path, filters, by, limit, bucketMinutes: 60 });
      const raw = topSenders({ dbPath: path, filters, by, limit, bucketMinutes: 10 });
      assert.equal(rolled.usedRollup, true);
      assert.equal(raw.usedRollup, false);
      assert.deepEqual(rolled.senders.map((s) => [s.key, s.label, s.total]), raw.senders.map((s) => [s.key, s.label, s.total]), `${by} --limit ${limit}`);
      assert.equal(rolled.total, raw.total);
      assert.equal(rolled.senders.reduce((sum, s) => sum + s.buckets.reduce((a, b) => a + b, 0), 0), rolled.senders.reduce((sum, s) => sum + s.total, 0));
    }
    const expected = db.prepare("SELECT count(*) AS n FROM signals WHERE ts_ns >= ? AND signal != 0 AND fanout = 0").get(BigInt(since.getTime()) * 1_000_000n) as { n: number };
    assert.equal(topSenders({ dbPath: path, filters: { since }, by: 'comm', limit: 10 }).total, expected.n);
  });

  it('top-senders counts each stored table by its own columns (sigaudit_tally) as the signals view counts its rows', () => {
    const keys = { comm: "coalesce(sender_comm, '')", uid: 'coalesce(sender_uid, -1)', pid: 'coalesce(sender_pid, -1)' };
    const cases: { by: keyof typeof keys; filters: Filters; where: string }[] = [
      { by: 'comm', filters: {}, where: 'signal != 0 AND fanout = 0' },
      { by: 'comm', filters: { source: 'kill', includeProbes: true }, where: "source = 'kill' AND fanout = 0" },
      { by: 'comm', filters: { source: 'syscall' }, where: "source != 'kernel' AND signal != 0 AND fanout = 0" },
      { by: 'uid', filters: { source: 'tkill' }, where: "source = 'tkill' AND signal != 0 AND fanout = 0" },
      { by: 'pid', filters: { senderComm: 'bash', perTarget: true }, where: "sender_comm = 'bash' AND signal != 0 AND delivered_pid IS NOT NULL" },
      { by: 'uid', filters: { signals: [9, 15] }, where: 'signal IN (9, 15) AND fanout = 0' },
    ];
    for (const { by, filters, where } of cases) {
      const report = topSenders({ dbPath: path, filters, by, limit: 1000, bucketMinutes: 10 });
      assert.equal(report.usedRollup, false);
      const expected = db.prepare(`SELECT ${keys[by]} AS key, count(*) AS n FROM signals WHERE ${where} GROUP BY 1 ORDER BY 2 DESC, 1`).all() as { key: string | number; n: number }[];
      assert.deepEqual(report.senders.map((sender) => ({ key: sender.key, n: sender.total })), expected, `${by} ${JSON.stringify(filters)}`);
      assert.equal(report.total, expected.reduce((sum, row) => sum + row.n, 0));
    }
  });
});
