// Each index of migrations/0110-compact-signals.sql, 0140-id-windows.sql
// (the archive's per-minute id map and the pid-led indexes) and 0150's on
// the view's target_pid, and the rollups of
// 0030-sender-rollups.sql, 0050-sender-pid-rollups.sql and
// 0130-comm-pid-hours.sql serve the queries that depend on them, as
// EXPLAIN QUERY PLAN shows (the reports' own queries, with the id bounds
// runLocal binds: a window read is a rowid range, never a scan of the
// archive); and the rollups the mover keeps equal the archive they were
// built from.
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { before, describe, it } from 'node:test';
import { SELECT_ROWS } from '../src/export/columns';
import { exportQuery } from '../src/export';
import { loadLineFunctions } from '../src/export/sql-format';
import { failedGroupsSql } from '../src/query/failed';
import { filterTerms, type Filters } from '../src/query/filters';
import { failedPlan } from '../src/query/failed';
import { bindIdWindows } from '../src/query/id-windows';
import { listSteps } from '../src/query/list';
import { SQLITE, type Query, type Row, type Steps } from '../src/query/read';
import { COMM_PIDS_TERM, PID_LOOKUPS, childExitSql, lookupTerms, whoKilledSteps } from '../src/query/who-killed';
import { BUSY_PIDS_SQL, TAIL_BOUND_SQL, topSenders, topSendersSteps } from '../src/query/top-senders';
import { loadExtension } from '../src/store/extension';
import { openForWriting } from '../src/store/database';
import { PID_HOUR_ORIGIN, SignalWriter, type SignalRow } from '../src/store/writer';
import { tempDbPath } from './helpers/recorder';

function plan(db: Database.Database, sql: string, params: Record<string, unknown> = {}): string {
  return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(params) as { detail: string }[]).map((row) => row.detail).join('\n');
}

/** Runs a report's steps as runLocal does, and gives the plan of each query it ran, with the query. */
function plansOf<R>(db: Database.Database, steps: Steps<R>): { sql: string; plan: string }[] {
  const plans: { sql: string; plan: string }[] = [];
  const run = (query: Query) => {
    const params = bindIdWindows(db, query);
    plans.push({ sql: query.sql, plan: plan(db, query.sql, params) });
    return db.prepare(query.sql).safeIntegers(true).all(params) as Row[];
  };
  for (let step = steps.next(undefined as unknown as Row[]); !step.done; step = steps.next(run(step.value)));
  return plans;
}

const HOURS = { hours: '[500000,500001]' };
/** Id bounds as bindIdWindows gives them (the plan does not depend on their values). */
const IDS = { fromId: 1, toId: 100, archivedToId: 3400 };
/** A window read through its ids: two rowid ranges (the window's, and past the archive), never a scan; once for each table of the signals view. */
const ID_RANGES = /MULTI-INDEX OR\n\s*INDEX 1\n\s*SEARCH s USING INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)\n\s*INDEX 2\n\s*SEARCH s USING INTEGER PRIMARY KEY \(rowid>\?\)/g;
/** A window of a stored hour (test rows start at hour 500000). */
const HOUR_WINDOW = { since: new Date(Number(500_000n * 3_600_000_000_000n / 1_000_000n) + 600_000), until: new Date(Number(500_000n * 3_600_000_000_000n / 1_000_000n) + 4_200_000) };

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

  it('who-killed <pid> seeks signals_archive_delivered_pid by pid and the window\'s ids', () => {
    const sql = `${SELECT_ROWS} WHERE ${lookupTerms(SQLITE, ['s.delivered_pid = @pid', 's.signal != 0']).join(' AND ')}`;
    const text = plan(db, sql, { ...IDS, pid: 2001 });
    assert.match(text, /SEARCH s USING INDEX signals_archive_delivered_pid \(delivered_pid=\? AND rowid>\? AND rowid<\?\)/);
    assert.match(text, /SEARCH s USING INDEX signals_archive_delivered_pid \(delivered_pid=\? AND rowid>\?\)/);
    assert.doesNotMatch(text, /SCAN s/);
  });

  it('who-killed <pid> seeks one index by pid and id range for each of its lookups, global and namespace pids, probes left out', () => {
    const indexes = {
      reached: 'signals_archive_delivered_pid', reachedInNamespace: 'signals_archive_delivered_ns_pid',
      unreached: 'signals_archive_target_pid', unreachedInNamespace: 'signals_archive_target_ns_pid',
    };
    for (const [lookup, terms] of Object.entries(PID_LOOKUPS)) {
      const sql = `${SELECT_ROWS} WHERE ${lookupTerms(SQLITE, [...terms, 's.signal != 0']).join(' AND ')}`;
      // The view's target_pid is decoded (migrations/0150-compact-targets.sql): its index is on that expression.
      const column = lookup === 'unreached' ? '<expr>' : terms[terms.length - 1].replace(/^s\.(\w+) = @pid$/, '$1');
      const text = plan(db, sql, { ...IDS, pid: 86 });
      assert.match(text, new RegExp(`SEARCH s USING INDEX ${indexes[lookup as keyof typeof indexes]} \\(${column}=\\? AND rowid>\\? AND rowid<\\?\\)`), lookup);
      assert.doesNotMatch(text, /SCAN s/, lookup);
    }
  });

  it('who-killed runs only those seeks, and exits by signals_archive_child_exit_sender_pid', () => {
    const plans = plansOf(db, whoKilledSteps(SQLITE, { pid: 2001, filters: HOUR_WINDOW, limit: 10 }));
    const rows = plans.filter((query) => query.sql.includes('@pid'));
    assert.ok(rows.length >= 5);
    for (const { plan: text } of rows) {
      assert.match(text, /SEARCH s USING INDEX signals_archive_\w+ \((?:\w+|<expr>)=\? AND rowid>\? AND rowid<\?\)/);
      assert.doesNotMatch(text, /SCAN s/);
    }
    assert.match(plan(db, childExitSql(SQLITE), { ...IDS, hours: '[]', pid: 101, fromNs: 0, toNs: 1 }), /SEARCH s USING INDEX signals_archive_child_exit_sender_pid \(sender_pid=\? AND rowid>\? AND rowid<\?\)/);
  });

  it('who-killed --comm finds the pids the name reached in delivered_comm_hours, then seeks signals_archive_delivered_pid by them and the ids', () => {
    const pids = plan(db, SQLITE.commPidsSql!, { ...HOURS, comm: 'sleep' });
    assert.match(pids, /SEARCH delivered_comm_hours USING PRIMARY KEY \(hour=\? AND comm_id=\?\)/);
    const sql = `${SELECT_ROWS} WHERE ${lookupTerms(SQLITE, [COMM_PIDS_TERM]).join(' AND ')} AND s.delivered_comm = @comm`;
    const text = plan(db, sql, { ...IDS, comm: 'sleep', pids: '[86]' });
    assert.match(text, /USING INDEX signals_archive_delivered_pid \(delivered_pid=\? AND rowid>\? AND rowid<\?\)/);
    assert.doesNotMatch(text, /SCAN s/);
  });

  it('failed groups read only signals_archive_failed_ts_ns (covering)', () => {
    const where = filterTerms({ since: new Date(0) }, { fromNs: 1n });
    assert.match(plan(db, failedGroupsSql(where.terms, 50), where.params), /SEARCH s USING COVERING INDEX signals_archive_failed_ts_ns \(ts_ns>\?\)/);
    const all = filterTerms({}, {});
    assert.match(plan(db, failedGroupsSql(all.terms, 50), all.params), /SCAN s USING COVERING INDEX signals_archive_failed_ts_ns/);
  });

  it('failed --raw walks signals_archive_failed_ts_ns', () => {
    const { rows } = failedPlan(SQLITE, { filters: HOUR_WINDOW, raw: true }).queries;
    assert.match(plan(db, rows.sql, rows.params), /SEARCH s USING INDEX signals_archive_failed_ts_ns \(ts_ns>\? AND ts_ns<\?\)/);
  });

  it('list reads chunks of the window newest first, each through its ids from archive_minutes, never a scan', () => {
    for (const filters of [HOUR_WINDOW, {}]) {
      const plans = plansOf(db, listSteps(SQLITE, { filters, limit: 3 }));
      const chunks = plans.filter((query) => query.sql.includes('ORDER BY s.ts_ns DESC'));
      const minutes = plans.filter((query) => query.sql.includes('FROM archive_minutes'));
      assert.ok(chunks.length >= 1 && minutes.length >= 1);
      for (const { plan: text } of minutes) assert.match(text, /SEARCH archive_minutes USING INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)/);
      // The last chunk of an open window is open at its start: past the archive's ids, and up to its ids.
      for (const { plan: text } of chunks) assert.equal(text.match(ID_RANGES)?.length, 2);
    }
  });

  it('export streams in id order, or in time order by chunks through their ids', () => {
    const all = exportQuery(undefined);
    assert.match(plan(db, all.rangeSql, { ...all.params, fromId: 0, toId: 5000 }), /SEARCH s USING INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)/);
    const windowed = exportQuery({ since: new Date(0) });
    const chunk = windowed.chunkSql({ fromNs: 1n, toNs: 2n });
    assert.equal(plan(db, chunk.sql, bindIdWindows(db, chunk)).match(ID_RANGES)?.length, 2);
  });

  it('top-senders reads the partial hours of signals_archive through their ids, each id range in an arm of its own', () => {
    loadExtension(db);
    for (const by of ['comm', 'pid'] as const) {
      for (const bucketMinutes of [60, 10]) {
        const plans = plansOf(db, topSendersSteps(SQLITE, { filters: HOUR_WINDOW, by, limit: 10, bucketMinutes }));
        const archive = plans.filter((query) => query.sql.includes('sigaudit_tally') && query.sql.includes('FROM signals_archive'));
        assert.ok(archive.length >= 1);
        for (const { plan: text } of archive) {
          assert.match(text, /SEARCH signals_archive USING INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)/);
          assert.match(text, /SEARCH signals_archive USING INTEGER PRIMARY KEY \(rowid>\?\)\n/);
          assert.doesNotMatch(text, /SCAN signals_archive|MULTI-INDEX OR/);
        }
      }
    }
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
