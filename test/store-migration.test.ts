// Databases written by earlier schemas are migrated by opening them for
// writing; every row reads back the same and `sigaudit export` writes the
// same bytes, CSV and JSON Lines, as it does from the unmigrated file:
// - before 0080 (as that version's writer wrote it: rows in the archive and
//   in the hot table, cgroups, runs), compared with the file with only the
//   columns 0100 adds (namespace pids, NULL in every old row);
// - before 0110 (0100's 25 columns a row by a positional INSERT into the hot
//   table, moved into the archive by id), migrated to the compact tables;
// - before 0130 (who-killed --comm by an index), migrated to the rollup of
//   the pids each name reached an hour;
// - before 0140 (time windows by the ts_ns index), migrated to the map of
//   each minute's first and last id, rows out of id order included.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { describe, it } from 'node:test';
import { exportSignals } from '../src/export';
import { whoKilled } from '../src/query/who-killed';
import { closeWriting, openForWriting } from '../src/store/database';
import { latestVersion, loadMigrations } from '../src/store/migrations';
import { PID_HOUR_ORIGIN, SignalWriter, SIGNAL_COLUMNS, type SignalRow } from '../src/store/writer';
import { archiveAsBefore, BEFORE_ID_WINDOWS, databaseAt, signalsOfEveryShape } from './helpers/earlier-schemas';
import { tempDbPath } from './helpers/recorder';

/** The last migration of the schema the first test starts from. */
const BEFORE = 70;
/** The schema before the compact tables. */
const BEFORE_COMPACT = 100;
/** The schema before delivered_comm_hours. */
const BEFORE_COMM_PID_HOURS = 120;

/** The rows as that version's writer stored them: its 22 columns, in order; the hot table's oldest `archived` moved to the archive. */
function writeAsBefore(db: Database.Database, signals: SignalRow[], firstId: number, archived: number): void {
  const insert = db.prepare(`INSERT INTO signals_hot VALUES (${Array(22).fill('?').join(', ')})`);
  db.transaction(() => {
    signals.forEach((row, i) =>
      insert.run(
        firstId + i, row.tsNs, row.fanout, row.source, row.senderPid, row.senderTid, row.senderComm, row.senderUid, row.senderAuid,
        row.senderPpid, row.senderCgroup, row.targetPid, row.targetTid, row.deliveredPid, row.deliveredTid, row.deliveredComm,
        row.deliveredCgroup, row.signal, row.ret, row.result, row.siCode, row.origin,
      ),
    );
    db.prepare('INSERT INTO signals_archive SELECT * FROM signals_hot WHERE id < ? ORDER BY id').run(firstId + archived);
    db.prepare('DELETE FROM signals_hot WHERE id < ?').run(firstId + archived);
  })();
}

/** What the writer before 0110 did: its tables had the view's columns, in the view's order. */
function writeBeforeCompact(db: Database.Database, signals: SignalRow[], firstId: number, archived: number): void {
  const insert = db.prepare(`INSERT INTO signals_hot VALUES (${SIGNAL_COLUMNS.map(() => '?').join(', ')})`);
  db.transaction(() => {
    signals.forEach((row, i) => insert.run(SIGNAL_COLUMNS.map(([, field]) => (field === 'id' ? firstId + i : row[field] ?? null))));
    db.prepare('INSERT INTO signals_archive SELECT * FROM signals_hot WHERE id < ? ORDER BY id').run(firstId + archived);
    db.prepare('DELETE FROM signals_hot WHERE id < ?').run(firstId + archived);
  })();
}

async function exported(path: string, format: 'csv' | 'jsonl'): Promise<Buffer> {
  const out = tempDbPath(`out.${format}`);
  await exportSignals({ dbPath: path, format, output: out });
  return readFileSync(out);
}

/**
 * What this sigaudit reads from the unmigrated file: a copy that only
 * claims the new version (after `sql`, when given); its rows and export bytes.
 */
async function readUnmigrated(path: string, sql?: string): Promise<{ copy: string; rows: unknown[]; csv: Buffer; jsonl: Buffer }> {
  const copy = tempDbPath();
  copyFileSync(path, copy);
  const claim = new Database(copy);
  if (sql) claim.exec(sql);
  claim.pragma(`user_version = ${latestVersion()}`);
  claim.close();
  return { copy, rows: allRows(copy), csv: await exported(copy, 'csv'), jsonl: await exported(copy, 'jsonl') };
}

function allRows(path: string): unknown[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT * FROM signals ORDER BY id').safeIntegers(true).all();
  } finally {
    db.close();
  }
}

describe('migrating a database written before 0080', () => {
  it('keeps every row and the export bytes', async () => {
    const path = tempDbPath();
    const old = databaseAt(path, BEFORE);
    old.prepare('INSERT INTO runs (id, started_ns, host, kernel, version, recorder_pid, ring_bytes) VALUES (1, 1, ?, ?, ?, 1, 4096)').run('h', 'k', 'v');
    const cgroups = old.prepare('INSERT INTO cgroups (id, path, unit) VALUES (?, ?, ?)');
    cgroups.run(1, '/system.slice/x,y.service', 'x,y.service');
    cgroups.run(2, '/user.slice/"quoted"', null);
    cgroups.run(3, '/init.scope', 'init.scope');
    writeAsBefore(old, signalsOfEveryShape(5000), 1, 4500);
    writeAsBefore(old, signalsOfEveryShape(700).map((row) => ({ ...row, tsNs: row.tsNs + 10n ** 13n })), 5001, 0);
    old.close();

    // The unmigrated file with the namespace pid columns (0100) and nothing else of the migrations after BEFORE.
    const before = await readUnmigrated(path, loadMigrations().find((migration) => migration.name === '0100-namespace-pids.sql')!.sql);
    assert.equal(before.rows.length, 5700);
    assert.ok(
      (before.rows as Record<string, unknown>[]).every((row) => row.sender_ns_pid === null && row.target_ns_pid === null && row.delivered_ns_pid === null),
      'rows from before 0100 have no namespace pids',
    );
    assert.match(before.csv.toString('utf8', 0, 400), /,delivered_unit,sender_ns_pid,target_ns_pid,delivered_ns_pid\n/);

    closeWriting(openForWriting(path));
    const migrated = new Database(path, { readonly: true });
    assert.equal(migrated.pragma('user_version', { simple: true }), latestVersion());
    migrated.close();
    assert.deepEqual(allRows(path), before.rows);
    assert.ok((await exported(path, 'csv')).equals(before.csv), 'CSV export is byte-identical');
    assert.ok((await exported(path, 'jsonl')).equals(before.jsonl), 'JSON Lines export is byte-identical');
  });
});

describe('migrating a database written before 0110 to the compact tables', () => {
  it('keeps every row, where it was, and the export bytes; stores each comm once', async () => {
    const path = tempDbPath();
    const old = databaseAt(path, BEFORE_COMPACT);
    old.prepare('INSERT INTO runs (id, started_ns, host, kernel, version, recorder_pid, ring_bytes) VALUES (1, 1, ?, ?, ?, 1, 4096)').run('h', 'k', 'v');
    const cgroups = old.prepare('INSERT INTO cgroups (id, path, unit) VALUES (?, ?, ?)');
    cgroups.run(1, '/system.slice/x,y.service', 'x,y.service');
    cgroups.run(2, '/user.slice/"quoted"', null);
    writeBeforeCompact(old, signalsOfEveryShape(5000), 1, 4500);
    writeBeforeCompact(old, signalsOfEveryShape(700).map((row) => ({ ...row, tsNs: row.tsNs + 10n ** 13n })), 5001, 0);
    old.close();

    const before = await readUnmigrated(path);
    assert.equal(before.rows.length, 5700);
    assert.ok((before.rows as Record<string, unknown>[]).some((row) => row.sender_ns_pid === 0n), 'a namespace pid 0 is among the rows');

    closeWriting(openForWriting(path));
    const migrated = new Database(path, { readonly: true });
    assert.equal(migrated.pragma('user_version', { simple: true }), latestVersion());
    const counts = migrated
      .prepare('SELECT (SELECT count(*) FROM signals_archive) AS archive, (SELECT count(*) FROM signals_hot) AS hot, (SELECT count(*) FROM names) AS names')
      .get();
    migrated.close();
    assert.deepEqual(counts, { archive: 5000, hot: 700, names: 5 }, 'the rows stay where they were; each comm is stored once');
    assert.deepEqual(allRows(path), before.rows);
    assert.ok((await exported(path, 'csv')).equals(before.csv), 'CSV export is byte-identical');
    assert.ok((await exported(path, 'jsonl')).equals(before.jsonl), 'JSON Lines export is byte-identical');
  });
});

describe('migrating a database written before 0130 to the name-pid rollup', () => {
  it('fills delivered_comm_hours from the archive, drops the name index, and who-killed --comm finds every row the name reached', () => {
    const path = tempDbPath();
    const old = databaseAt(path, BEFORE_COMM_PID_HOURS);
    // That version's writer: rows through the view's trigger, moved into the archive by id.
    const insert = old.prepare(`INSERT INTO hot_signals (${SIGNAL_COLUMNS.map(([column]) => column).join(', ')}) VALUES (${SIGNAL_COLUMNS.map(() => '?').join(', ')})`);
    old.transaction(() => {
      signalsOfEveryShape(3000).forEach((row, i) => insert.run(SIGNAL_COLUMNS.map(([, field]) => (field === 'id' ? i + 1 : row[field] ?? null))));
      old.prepare('INSERT INTO signals_archive SELECT * FROM signals_hot WHERE id <= 2500 ORDER BY id').run();
      old.prepare('DELETE FROM signals_hot WHERE id <= 2500').run();
    })();
    old.close();

    closeWriting(openForWriting(path));
    const migrated = new Database(path, { readonly: true });
    const indexes = migrated.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND name = 'signals_archive_hour_delivered_comm'").all();
    const fromRollup = migrated.prepare('SELECT n.name, h.hour, h.delivered_pid FROM delivered_comm_hours AS h JOIN names AS n ON n.id = h.comm_id ORDER BY 1, 2, 3').all();
    const fromArchive = migrated
      .prepare('SELECT DISTINCT delivered_comm AS name, ts_ns / 3600000000000 AS hour, delivered_pid FROM archived_signals WHERE delivered_comm IS NOT NULL ORDER BY 1, 2, 3')
      .all();
    const reached = (comm: string) =>
      (migrated.prepare('SELECT id FROM signals WHERE delivered_comm = ? ORDER BY id').safeIntegers(true).all(comm) as { id: bigint }[]).map((row) => row.id);
    const expected = { bash: reached('bash'), naive: reached('naïve') };
    migrated.close();
    assert.deepEqual(indexes, []);
    assert.ok(fromArchive.length > 0);
    assert.deepEqual(fromRollup, fromArchive);
    const found = (comm: string) =>
      whoKilled({ dbPath: path, comm, filters: { includeProbes: true } })
        .processes.flatMap((segment) => segment.rows.map((row) => row.id as bigint))
        .sort((a, b) => (a < b ? -1 : 1));
    assert.ok(expected.bash.some((id) => id > 2500n) && expected.bash.some((id) => id <= 2500n), 'the name reached rows in both tables');
    assert.deepEqual(found('bash'), expected.bash);
    assert.deepEqual(found('naïve'), expected.naive);
    assert.deepEqual(found('no-such-name'), []);
  });
});

describe('migrating a database written before 0140 to the per-minute id map', () => {
  it('keeps rows, rollups and export bytes, drops the time index for archive_minutes holding each minute\'s true first and last id', async () => {
    const path = tempDbPath();
    const old = databaseAt(path, BEFORE_ID_WINDOWS);
    // Out of id order as on a recorder: every 40th row 0.3 ms before the row written before it (rows are
    // 1.23 s apart, so some cross a minute), and a replayed spill's rows, old times with new ids.
    const signals = signalsOfEveryShape(3000).map((row, i, all) => (i % 40 === 39 ? { ...row, tsNs: all[i - 1].tsNs - 300_000n } : row));
    signals.push(...signalsOfEveryShape(3).map((row, i) => ({ ...row, tsNs: signals[100 * (i + 1)].tsNs + 1_000n })));
    signals.push({ ...signalsOfEveryShape(1)[0], tsNs: signals[0].tsNs - 3_600_000_000_000n });
    signals.push(...signalsOfEveryShape(200).map((row) => ({ ...row, tsNs: row.tsNs + 10n ** 13n })));
    const writer = new SignalWriter(old);
    for (let i = 0; i < signals.length; i += 500) writer.write(signals.slice(i, i + 500));
    // 0130's mover: the rollups of the rows it moves, then the rows (all but the newest 150).
    archiveAsBefore(old, signals.length - 150, BEFORE_ID_WINDOWS);
    old.close();
    // Each in its primary key's order; sender_pid_hours as 0130 kept it (0150 stores its hour and comm otherwise).
    const rollups = (file: string, pidHours = 'SELECT hour, sender_pid, sender_comm, sends, deliveries, probe_sends, probe_deliveries FROM sender_pid_hours') => {
      const db = new Database(file, { readonly: true });
      try {
        return [
          'SELECT * FROM sender_hours ORDER BY 1, 2, 3, 4, 5, 6',
          `${pidHours} ORDER BY 1, 2`,
          'SELECT * FROM delivered_comm_hours ORDER BY 1, 2, 3',
        ].map((sql) => db.prepare(sql).safeIntegers(true).all());
      } finally {
        db.close();
      }
    };

    const unmigrated = await readUnmigrated(path);
    const before = { ...unmigrated, rollups: rollups(unmigrated.copy) };
    assert.equal(before.rows.length, signals.length);
    assert.ok(before.rollups.every((table) => table.length > 0), 'the rollups hold rows');

    closeWriting(openForWriting(path));
    const migrated = new Database(path, { readonly: true });
    assert.equal(migrated.pragma('user_version', { simple: true }), latestVersion());
    const indexes = (migrated.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'signals_archive' ORDER BY 1").pluck().all() as string[]);
    const mapped = migrated.prepare('SELECT minute, first_id, last_id, first_ns, last_ns FROM archive_minutes ORDER BY minute').safeIntegers(true).all();
    const truth = migrated
      .prepare('SELECT ts_ns / 60000000000 AS minute, min(id) AS first_id, max(id) AS last_id, min(ts_ns) AS first_ns, max(ts_ns) AS last_ns FROM signals_archive GROUP BY 1 ORDER BY 1')
      .safeIntegers(true)
      .all() as { minute: bigint; first_id: bigint; last_id: bigint; first_ns: bigint; last_ns: bigint }[];
    const counts = migrated.prepare('SELECT (SELECT count(*) FROM signals_archive) AS archive, (SELECT count(*) FROM signals_hot) AS hot').get();
    migrated.close();
    assert.deepEqual(indexes, [
      'signals_archive_child_exit_sender_pid', 'signals_archive_delivered_ns_pid', 'signals_archive_delivered_pid',
      'signals_archive_failed_ts_ns', 'signals_archive_target_ns_pid', 'signals_archive_target_pid',
    ]);
    assert.deepEqual(counts, { archive: signals.length - 150, hot: 150 }, 'the rows stay where they were');
    assert.deepEqual(mapped, truth);
    assert.ok(truth.some((minute, i) => i > 0 && minute.first_id < truth[i - 1].last_id), 'minutes overlap in ids: rows out of id order');
    assert.deepEqual(allRows(path), before.rows);
    const pidHoursNow = `SELECT r.hour + ${PID_HOUR_ORIGIN} AS hour, r.sender_pid, coalesce(n.name, '') AS sender_comm, r.sends, r.deliveries,
      r.probe_sends, r.probe_deliveries FROM sender_pid_hours AS r LEFT JOIN names AS n ON n.id = r.sender_comm_id`;
    assert.deepEqual(rollups(path, pidHoursNow), before.rollups);
    assert.ok((await exported(path, 'csv')).equals(before.csv), 'CSV export is byte-identical');
    assert.ok((await exported(path, 'jsonl')).equals(before.jsonl), 'JSON Lines export is byte-identical');
  });
});
