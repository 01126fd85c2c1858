// A database written by the schema before 0110 (as that version's writer
// wrote it: its 22 columns a row by a positional INSERT into the hot table,
// moved into the archive by id; cgroups, a run) is migrated to the compact
// tables by opening it for writing; every row of the signals view reads
// back the same and `sigaudit export` writes the same bytes, CSV and JSON
// Lines, as it did from the unmigrated file.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { describe, it } from 'node:test';
import { exportSignals } from '../src/export';
import { closeWriting, openForWriting } from '../src/store/database';
import { latestVersion, loadMigrations, migrate } from '../src/store/migrations';
import { SIGNAL_COLUMNS, type SignalRow } from '../src/store/writer';
import { tempDbPath } from './helpers/recorder';

/** The last migration of the schema this test starts from. */
const BEFORE = 90;

function rows(count: number): SignalRow[] {
  const comms = ['bash', 'kill', 'systemd', 'a,b "c"', 'naïve', null];
  return Array.from({ length: count }, (_, i) => {
    const delivered = i % 3 !== 0;
    const kernel = i % 11 === 0;
    return {
      tsNs: 1_795_307_200_000_000_000n + BigInt(i) * 1_234_567_891n,
      fanout: i % 13 === 1 ? 1 : 0,
      source: kernel ? 'kernel' : (['kill', 'tkill', 'tgkill', 'rt_sigqueueinfo', 'rt_tgsigqueueinfo', 'pidfd_send_signal'] as const)[i % 6],
      senderPid: kernel && i % 2 === 0 ? null : 100 + (i % 17),
      // Every fourth sender's tid is its pid, and its auid its uid: stored as nothing.
      senderTid: kernel && i % 2 === 0 ? null : i % 4 === 1 ? 100 + (i % 17) : 100 + (i % 19),
      senderComm: kernel && i % 2 === 0 ? null : comms[i % 5],
      senderUid: i % 2,
      senderAuid: i % 4 === 0 ? null : i % 4 === 1 ? i % 2 : 1000,
      senderPpid: 1,
      senderCgroup: BigInt(1 + (i % 3)),
      targetPid: kernel ? null : 2000 + (i % 23),
      targetTid: i % 3 === 1 ? 2001 : null,
      deliveredPid: delivered ? 2000 + (i % 23) : null,
      deliveredTid: delivered ? (i % 5 === 0 ? 2000 + (i % 23) : 2000 + (i % 29)) : null,
      deliveredComm: delivered ? comms[(i + 2) % 6] : null,
      deliveredCgroup: delivered ? BigInt(1 + (i % 4)) : null,
      signal: [15, 9, 0, 17, 37][i % 5],
      ret: kernel ? null : delivered ? 0 : -3,
      result: delivered ? (['delivered', 'ignored', 'already_pending', 'overflow', 'lose_info'] as const)[i % 5] : null,
      siCode: kernel ? 128 : 0,
      origin: kernel ? (['fault', 'child', 'pipe', 'timer', 'tty', 'oom', 'cgroup_kill', 'kernel'] as const)[i % 8] : null,
    };
  });
}

/** What the writer before 0110 did: rows into signals_hot, 22 values each, then moved into the archive by id. */
function writeAsBefore(db: Database.Database, rows: SignalRow[], firstId: number, archiveUpTo?: number): void {
  // Its tables had the view's columns, in the view's order.
  const insert = db.prepare(`INSERT INTO signals_hot VALUES (${SIGNAL_COLUMNS.map(() => '?').join(', ')})`);
  db.transaction(() => {
    rows.forEach((row, i) => insert.run(SIGNAL_COLUMNS.map(([, field]) => (field === 'id' ? firstId + i : row[field]))));
    if (archiveUpTo === undefined) return;
    db.prepare('INSERT INTO signals_archive SELECT * FROM signals_hot WHERE id <= ? ORDER BY id').run(archiveUpTo);
    db.prepare('DELETE FROM signals_hot WHERE id <= ?').run(archiveUpTo);
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

describe('migrating a database written before 0110', () => {
  it('keeps every row and the export bytes', async () => {
    const path = tempDbPath();
    const old = new Database(path);
    old.pragma('auto_vacuum = INCREMENTAL');
    old.pragma('application_id = 1397311297');
    migrate(old, path, loadMigrations().filter((migration) => migration.version <= BEFORE));
    assert.equal(old.pragma('user_version', { simple: true }), BEFORE);
    old.prepare("INSERT INTO runs (started_ns, host, kernel, version, recorder_pid, ring_bytes) VALUES (1, 'h', 'k', 'v', 1, 4096)").run();
    const cgroups = old.prepare('INSERT INTO cgroups (id, path, unit) VALUES (?, ?, ?)');
    cgroups.run(1, '/system.slice/x,y.service', 'x,y.service');
    cgroups.run(2, '/user.slice/"quoted"', null);
    cgroups.run(3, '/init.scope', 'init.scope');
    writeAsBefore(old, rows(5000), 1, 4500);
    writeAsBefore(old, rows(700).map((row) => ({ ...row, tsNs: row.tsNs + 10n ** 13n })), 5001);
    old.close();

    // What this sigaudit's export writes from the unmigrated file: a copy
    // that only claims the new version, its schema and rows untouched.
    const unmigrated = tempDbPath();
    copyFileSync(path, unmigrated);
    const claim = new Database(unmigrated);
    claim.pragma(`user_version = ${latestVersion()}`);
    claim.close();
    const before = { rows: allRows(unmigrated), csv: await exported(unmigrated, 'csv'), jsonl: await exported(unmigrated, 'jsonl') };
    assert.equal(before.rows.length, 5700);

    closeWriting(openForWriting(path));
    const migrated = new Database(path, { readonly: true });
    assert.equal(migrated.pragma('user_version', { simple: true }), latestVersion());
    migrated.close();
    assert.deepEqual(allRows(path), before.rows);
    const stored = new Database(path, { readonly: true });
    const counts = stored.prepare('SELECT (SELECT count(*) FROM signals_archive) AS archive, (SELECT count(*) FROM signals_hot) AS hot, (SELECT count(*) FROM names) AS names').get();
    stored.close();
    assert.deepEqual(counts, { archive: 4500, hot: 1200, names: 5 }, 'the rows stay where they were; each comm is stored once');
    assert.ok((await exported(path, 'csv')).equals(before.csv), 'CSV export is byte-identical');
    assert.ok((await exported(path, 'jsonl')).equals(before.jsonl), 'JSON Lines export is byte-identical');
  });
});
