// migrations/0150-compact-targets.sql: a target pid or tid that is the one
// reached is stored as nothing and read back through the views, and
// sender_pid_hours keeps its comm as a names id. Rows of every target shape
// the recorder writes read back exactly, from a database migrated from 0130
// (the export writes the same bytes as before) and written anew; the pid
// rollup still labels a pid with its greatest comm by name.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { describe, it } from 'node:test';
import { exportSignals } from '../src/export';
import { topSenders } from '../src/query/top-senders';
import { closeWriting, openForWriting } from '../src/store/database';
import { latestVersion, loadMigrations, migrate } from '../src/store/migrations';
import { PID_HOUR_ORIGIN, SIGNAL_COLUMNS, SignalWriter, type SignalRow } from '../src/store/writer';
import { tempDbPath } from './helpers/recorder';

const BEFORE = 130;
const HOUR_NS = 3_600_000_000_000n;
const START_NS = 1_795_305_600_000_000_000n; // an hour's start

const base = (i: number, source: SignalRow['source'], senderPid: number | null, senderComm: string | null): SignalRow => ({
  tsNs: START_NS + BigInt(i) * 1_000_000_000n, fanout: 0, source,
  senderPid, senderTid: senderPid, senderComm, senderUid: senderPid === null ? null : 0, senderAuid: null, senderPpid: senderPid === null ? null : 1,
  senderCgroup: null, targetPid: null, targetTid: null, deliveredPid: null, deliveredTid: null, deliveredComm: null, deliveredCgroup: null,
  signal: 15, ret: source === 'kernel' ? null : 0, result: null, siCode: source === 'kernel' ? 128 : 0, origin: source === 'kernel' ? 'kernel' : null,
});
const reach = (pid: number, tid = pid, comm = `t${pid}`) => ({ deliveredPid: pid, deliveredTid: tid, deliveredComm: comm, result: 'delivered' as const });

/** One row of each shape src/store/ingest.ts writes, as the signals columns give it. */
function shapes(): SignalRow[] {
  const rows: SignalRow[] = [];
  const add = (row: SignalRow) => rows.push({ ...row, tsNs: START_NS + BigInt(rows.length) * 1_000_000_000n });
  const kill = (pid: number | null, comm = 'bash') => base(0, 'kill', pid, comm);
  add({ ...kill(100), targetPid: 200, ...reach(200) }); // kill to a pid
  for (const [i, pid] of [301, 302, 303].entries()) add({ ...kill(100), fanout: i, targetPid: -300, ...reach(pid) }); // to a process group, fanning out
  for (const [i, pid] of [100, 101].entries()) add({ ...kill(100), fanout: i, targetPid: 0, ...reach(pid) }); // kill(0, …): its own group
  add({ ...kill(100), targetPid: -1, ...reach(1) }); // kill(-1, …)
  add({ ...kill(100), targetPid: 300, ...reach(300, 300, 'sleep') });
  add({ ...kill(100), targetPid: 400, signal: 0 }); // a probe: signal 0 reaches no task
  add({ ...kill(100), targetPid: 30_001, ret: -3 }); // failed: no such process
  add({ ...kill(100), targetPid: 1, ret: -1, signal: 9 }); // failed: not permitted
  add({ ...base(0, 'tgkill', 500, 'go'), targetPid: 500, targetTid: 507, siCode: -6, signal: 23, ...reach(500, 507, 'go') }); // tgkill to a thread
  add({ ...base(0, 'tgkill', 500, 'go'), targetPid: 500, targetTid: 500, siCode: -6, signal: 23, ...reach(500, 500, 'go') }); // to the main thread
  add({ ...base(0, 'tgkill', 500, 'go'), targetPid: 500, targetTid: 509, siCode: -6, ret: -3 }); // to a thread gone
  add({ ...base(0, 'tkill', 500, 'go'), targetPid: 508, targetTid: 508, siCode: -6, ...reach(500, 508, 'go') }); // tkill names the thread only
  add({ ...base(0, 'rt_tgsigqueueinfo', 500, 'go'), targetPid: 500, targetTid: 506, siCode: -1, signal: 34, ...reach(500, 506, 'go') });
  add({ ...base(0, 'rt_sigqueueinfo', 100, 'bash'), targetPid: 600, siCode: -1, signal: 34, ...reach(600) });
  add({ ...base(0, 'pidfd_send_signal', 1, 'systemd'), targetPid: 700, ...reach(700) }); // the pid behind the pidfd
  add({ ...base(0, 'pidfd_send_signal', 1, 'systemd'), targetPid: 701, ...reach(701) }); // no pid behind it: the task reached
  add({ ...base(0, 'pidfd_send_signal', 1, 'systemd'), ret: -3 }); // no pid, nothing reached
  add({ ...base(0, 'kernel', 800, 'crash'), signal: 11, siCode: 1, origin: 'fault', ...reach(800, 800, 'crash') });
  add({ ...base(0, 'kernel', 801, 'child'), signal: 17, siCode: 1, origin: 'child', ...reach(1, 1, 'systemd') });
  add({ ...base(0, 'kernel', null, null), signal: 14, origin: 'timer', ...reach(802, 803, 'api') });
  // A recorder in a container's pid namespace: kill(86) reached host pid 123456, 86 there; from the host to one that has no pid there.
  add({ ...kill(100), senderNsPid: 7, targetPid: 86, ...reach(123456), deliveredNsPid: 86 });
  add({ ...kill(100), senderNsPid: 0, targetPid: 123457, targetNsPid: 87, ...reach(123457), deliveredNsPid: 87 });
  add({ ...kill(100), senderNsPid: 0, targetPid: 5000, targetNsPid: 0, ret: -3 });
  add({ ...base(0, 'tkill', 100, 'bash'), senderNsPid: 7, targetPid: 88, targetTid: 88, targetNsPid: null, siCode: -6, ...reach(123458, 123459), deliveredNsPid: 88 });
  return rows;
}

/** Each row as the signals view's columns, the way better-sqlite3 reads them. */
function asColumns(rows: SignalRow[]): Record<string, unknown>[] {
  return rows.map((row, i) =>
    Object.fromEntries(SIGNAL_COLUMNS.map(([column, field]) => {
      const value = field === 'id' ? i + 1 : row[field] ?? null;
      return [column, typeof value === 'bigint' ? Number(value) : value];
    })),
  );
}

function readAll(path: string, sql: string): Record<string, unknown>[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare(sql).all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

async function exported(path: string, format: 'csv' | 'jsonl'): Promise<Buffer> {
  const out = tempDbPath(`out.${format}`);
  await exportSignals({ dbPath: path, format, output: out });
  return readFileSync(out);
}

/** The stored (target_pid, target_tid) of every row, by id. */
function storedTargets(path: string): unknown[][] {
  return readAll(path, 'SELECT id, target_pid, target_tid FROM signals_archive UNION ALL SELECT id, target_pid, target_tid FROM signals_hot ORDER BY id')
    .map((row) => [row.target_pid, row.target_tid]);
}

/** What shapes() stores: nothing where the target is the pid (and tid) reached. */
const STORED = [
  [null, null], [-300, null], [-300, null], [-300, null], [0, null], [0, null], [-1, null], [null, null], [400, null], [30_001, null],
  [1, null], [null, null], [null, null], [500, 509], [508, null], [null, null], [null, null], [null, null], [null, null], [null, null],
  [null, null], [null, null], [null, null], [86, null], [null, null], [5000, null], [88, 88],
];

describe('targets stored as nothing where they are the pid and tid reached', () => {
  it('a database written at 0130 reads back every row and exports the same bytes, migrated in place', async () => {
    const path = tempDbPath();
    const old = new Database(path);
    old.pragma('auto_vacuum = INCREMENTAL');
    old.pragma('application_id = 1397311297');
    migrate(old, path, loadMigrations().filter((migration) => migration.version <= BEFORE));
    // That version's writer: rows through the view's trigger, the oldest moved into the archive with their pid rollup.
    const insert = old.prepare(`INSERT INTO hot_signals (${SIGNAL_COLUMNS.map(([column]) => column).join(', ')}) VALUES (${SIGNAL_COLUMNS.map(() => '?').join(', ')})`);
    const rows = shapes();
    old.transaction(() => {
      rows.forEach((row, i) => insert.run(SIGNAL_COLUMNS.map(([, field]) => (field === 'id' ? i + 1 : row[field] ?? null))));
      old.exec(`INSERT INTO sender_pid_hours SELECT ts_ns / 3600000000000, coalesce(sender_pid, -1), max(coalesce(sender_comm, '')),
          sum(fanout = 0 AND signal != 0), sum(delivered_pid IS NOT NULL AND signal != 0), sum(fanout = 0 AND signal = 0),
          sum(delivered_pid IS NOT NULL AND signal = 0), count(*)
        FROM hot_signals WHERE id <= 23 GROUP BY 1, 2`);
      old.exec('INSERT INTO signals_archive SELECT * FROM signals_hot WHERE id <= 23 ORDER BY id; DELETE FROM signals_hot WHERE id <= 23');
    })();
    const pidHours = old.prepare('SELECT hour, sender_pid, sender_comm, sends, deliveries, probe_sends, probe_deliveries FROM sender_pid_hours ORDER BY 1, 2').all();
    old.close();
    assert.deepEqual(readAll(path, 'SELECT * FROM signals ORDER BY id'), asColumns(rows), 'the rows as written');

    // What this sigaudit's export writes from the unmigrated file: a copy that only claims the new version.
    const unmigrated = tempDbPath();
    copyFileSync(path, unmigrated);
    const claim = new Database(unmigrated);
    claim.pragma(`user_version = ${latestVersion()}`);
    claim.close();
    const before = { csv: await exported(unmigrated, 'csv'), jsonl: await exported(unmigrated, 'jsonl') };
    assert.equal(storedTargets(unmigrated).filter(([pid]) => pid === null).length, 4, 'before: only the kernel\'s and a pidfd\'s without a pid are NULL');

    closeWriting(openForWriting(path));
    assert.deepEqual(readAll(path, 'SELECT * FROM signals ORDER BY id'), asColumns(rows));
    assert.ok((await exported(path, 'csv')).equals(before.csv), 'CSV export is byte-identical');
    assert.ok((await exported(path, 'jsonl')).equals(before.jsonl), 'JSON Lines export is byte-identical');
    assert.deepEqual(storedTargets(path), STORED, 'migrated in place: a target that is the pid or tid reached is stored as nothing');
    assert.deepEqual(
      readAll(path, `SELECT r.hour + ${PID_HOUR_ORIGIN} AS hour, r.sender_pid, coalesce(n.name, '') AS sender_comm, r.sends, r.deliveries, r.probe_sends,
          r.probe_deliveries FROM sender_pid_hours AS r LEFT JOIN names AS n ON n.id = r.sender_comm_id ORDER BY 1, 2`),
      pidHours,
      'sender_pid_hours keeps its counts and comms, as names ids, its hours counted from PID_HOUR_ORIGIN',
    );
    assert.deepEqual(readAll(path, 'SELECT DISTINCT hour FROM sender_pid_hours'), [{ hour: Number(START_NS / HOUR_NS - PID_HOUR_ORIGIN) }]);
    assert.deepEqual(readAll(path, 'SELECT sender_comm_id FROM sender_pid_hours WHERE sender_pid = -1'), [{ sender_comm_id: 0 }], 'no comm: 0');
  });

  it('rows written anew read back exactly; a row the encoding could not read back is refused', () => {
    const path = tempDbPath();
    const db = openForWriting(path);
    const writer = new SignalWriter(db);
    const rows = shapes();
    writer.write(rows.slice(0, 20));
    writer.archive(1000);
    writer.write(rows.slice(20));
    assert.throws(() => writer.write([{ ...base(0, 'kill', 100, 'bash'), ...reach(200) }]), /needs its target pid/);
    assert.throws(() => writer.write([{ ...base(0, 'tgkill', 100, 'bash'), targetPid: 200, ...reach(200, 201) }]), /target tid/);
    closeWriting(db);
    assert.deepEqual(readAll(path, 'SELECT * FROM signals ORDER BY id'), asColumns(rows));
    assert.deepEqual(storedTargets(path), STORED);
  });

  it('the pid rollup labels a pid with its greatest comm by name, whichever the mover saw first', () => {
    const path = tempDbPath();
    const db = openForWriting(path);
    const writer = new SignalWriter(db);
    const send = (i: number, pid: number, comm: string | null) => ({ ...base(i, 'kill', pid, comm), targetPid: 2, ...reach(2) });
    // 'zeta' gets the smaller names id, 'alpha' comes later in the hour: the label is 'zeta'.
    writer.write([send(0, 42, 'zeta'), send(1, 43, 'alpha')]);
    writer.archive(1000);
    writer.write([send(2, 42, 'alpha'), send(3, 43, 'zeta'), send(4, 44, null), send(5, 44, 'mid')]);
    writer.archive(1000);
    writer.write([send(3700, 42, 'alpha')]); // the next hour
    writer.archive(1000);
    const ids = db.prepare('SELECT name, id FROM names').all() as { name: string; id: number }[];
    closeWriting(db);
    assert.ok(ids.find((row) => row.name === 'zeta')!.id < ids.find((row) => row.name === 'alpha')!.id);
    const report = topSenders({ dbPath: path, filters: { since: new Date(Number(START_NS / 1_000_000n)), until: new Date(Number((START_NS + 2n * HOUR_NS) / 1_000_000n) - 1) }, by: 'pid', limit: 10, bucketMinutes: 60 });
    assert.equal(report.usedRollup, true);
    assert.deepEqual(report.senders.map((sender) => [sender.label, sender.total]).sort(), [['mid[44]', 2], ['zeta[42]', 3], ['zeta[43]', 2]].sort());
  });
});
