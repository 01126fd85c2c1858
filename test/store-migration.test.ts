// A database written by the schema before 0080 (as that version's writer
// wrote it: rows in the archive and in the hot table, cgroups, runs) is
// migrated by opening it for writing; every row reads back the same and
// `sigaudit export` writes the same bytes, CSV and JSON Lines, as it does
// from the file with only the columns 0100 adds (namespace pids, NULL in
// every old row) and none of the rest.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { describe, it } from 'node:test';
import { exportSignals } from '../src/export';
import { closeWriting, openForWriting } from '../src/store/database';
import { latestVersion, loadMigrations, migrate } from '../src/store/migrations';
import { type SignalRow } from '../src/store/writer';
import { tempDbPath } from './helpers/recorder';

/** The last migration of the schema this test starts from. */
const BEFORE = 70;

function rows(count: number): SignalRow[] {
  const comms = ['bash', 'kill', 'systemd', 'a,b "c"', 'naïve', null];
  return Array.from({ length: count }, (_, i) => {
    const delivered = i % 3 !== 0;
    const kernel = i % 11 === 0;
    return {
      tsNs: 1_795_307_200_000_000_000n + BigInt(i) * 1_234_567_891n,
      fanout: i % 13 === 1 ? 1 : 0,
      source: kernel ? 'kernel' : (['kill', 'tgkill', 'pidfd_send_signal'] as const)[i % 3],
      senderPid: kernel && i % 2 === 0 ? null : 100 + (i % 17),
      senderTid: kernel && i % 2 === 0 ? null : 100 + (i % 19),
      senderComm: kernel && i % 2 === 0 ? null : comms[i % 5],
      senderUid: i % 2,
      senderAuid: i % 4 === 0 ? null : 1000,
      senderPpid: 1,
      senderCgroup: BigInt(1 + (i % 3)),
      targetPid: kernel ? null : 2000 + (i % 23),
      targetTid: i % 3 === 1 ? 2001 : null,
      deliveredPid: delivered ? 2000 + (i % 23) : null,
      deliveredTid: delivered ? 2000 + (i % 29) : null,
      deliveredComm: delivered ? comms[(i + 2) % 6] : null,
      deliveredCgroup: delivered ? BigInt(1 + (i % 4)) : null,
      signal: [15, 9, 0, 17, 37][i % 5],
      ret: kernel ? null : delivered ? 0 : -3,
      result: delivered ? (['delivered', 'ignored', 'already_pending'] as const)[i % 3] : null,
      siCode: kernel ? 128 : 0,
      origin: kernel ? (['kernel', 'oom', 'child'] as const)[i % 3] : null,
    };
  });
}

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

async function exported(path: string, format: 'csv' | 'jsonl'): Promise<Buffer> {
  const out = tempDbPath(`out.${format}`);
  await exportSignals({ dbPath: path, format, output: out });
  return readFileSync(out);
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
    const old = new Database(path);
    old.pragma('auto_vacuum = INCREMENTAL');
    old.pragma('application_id = 1397311297');
    migrate(old, path, loadMigrations().filter((migration) => migration.version <= BEFORE));
    assert.equal(old.pragma('user_version', { simple: true }), BEFORE);
    old.prepare('INSERT INTO runs (id, started_ns, host, kernel, version, recorder_pid, ring_bytes) VALUES (1, 1, ?, ?, ?, 1, 4096)').run('h', 'k', 'v');
    const cgroups = old.prepare('INSERT INTO cgroups (id, path, unit) VALUES (?, ?, ?)');
    cgroups.run(1, '/system.slice/x,y.service', 'x,y.service');
    cgroups.run(2, '/user.slice/"quoted"', null);
    cgroups.run(3, '/init.scope', 'init.scope');
    writeAsBefore(old, rows(5000), 1, 4500);
    writeAsBefore(old, rows(700).map((row) => ({ ...row, tsNs: row.tsNs + 10n ** 13n })), 5001, 0);
    old.close();

    // What this sigaudit's export writes from the unmigrated file: a copy
    // that only claims the new version, with the namespace pid columns
    // (0100) and nothing else of the migrations after BEFORE.
    const unmigrated = tempDbPath();
    copyFileSync(path, unmigrated);
    const claim = new Database(unmigrated);
    claim.exec(loadMigrations().find((migration) => migration.name === '0100-namespace-pids.sql')!.sql);
    claim.pragma(`user_version = ${latestVersion()}`);
    claim.close();
    const before = { rows: allRows(unmigrated), csv: await exported(unmigrated, 'csv'), jsonl: await exported(unmigrated, 'jsonl') };
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
