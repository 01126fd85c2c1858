// Opening databases: new ones are created with the schema once; files that
// are not sigaudit's, or are from a newer sigaudit, are refused untouched.
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SigauditError } from '../src/errors';
import { APPLICATION_ID, openForReading, openForWriting } from '../src/store/database';
import { latestVersion, loadMigrations } from '../src/store/migrations';
import { tempDbPath } from './helpers/recorder';
import { SIGNAL_COLUMNS } from '../src/store/writer';

function refusedWith(code: string) {
  return (error: unknown) => error instanceof SigauditError && error.code === code;
}

describe('opening the store', () => {
  it('creates a new database with WAL, incremental auto-vacuum and the whole schema', () => {
    const path = join(tempDbPath(), 'nested', 'dirs', 'new.db');
    const db = openForWriting(path);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('auto_vacuum', { simple: true }), 2);
    assert.equal(db.pragma('application_id', { simple: true }), APPLICATION_ID);
    assert.equal(db.pragma('user_version', { simple: true }), latestVersion());
    const tables = (db.prepare("SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') ORDER BY name").all() as { name: string }[]).map((t) => t.name);
    for (const table of ['cgroups', 'drops', 'runs', 'signals', 'signals_archive', 'signals_hot']) assert.ok(tables.includes(table), `${table} exists`);
    db.close();
  });

  it('gives the signals view, and each table\'s view, the columns of SIGNAL_COLUMNS in order', () => {
    const db = openForWriting(tempDbPath());
    for (const view of ['signals', 'archived_signals', 'hot_signals']) {
      const columns = (db.prepare('SELECT name FROM pragma_table_info(?)').all(view) as { name: string }[]).map((c) => c.name);
      assert.deepEqual(columns, SIGNAL_COLUMNS.map(([column]) => column), view);
    }
    db.close();
  });

  it('applies migrations once: reopening changes nothing and keeps rows', () => {
    const path = tempDbPath();
    const first = openForWriting(path);
    first.prepare("INSERT INTO cgroups VALUES (7, '/x', NULL)").run();
    const schema = first.prepare('SELECT sql FROM sqlite_schema ORDER BY name').all();
    first.close();
    const second = openForWriting(path);
    assert.deepEqual(second.prepare('SELECT sql FROM sqlite_schema ORDER BY name').all(), schema);
    assert.deepEqual(second.prepare('SELECT id, path FROM cgroups').all(), [{ id: 7, path: '/x' }]);
    second.close();
  });

  it('refuses a database from a newer sigaudit and leaves it byte for byte', () => {
    const path = tempDbPath();
    openForWriting(path).close();
    const raw = new Database(path);
    raw.pragma('user_version = 9990');
    raw.pragma('wal_checkpoint(TRUNCATE)');
    raw.close();
    const before = readFileSync(path);
    assert.throws(() => openForWriting(path), refusedWith('EDBNEWER'));
    assert.throws(() => openForReading(path), refusedWith('EDBNEWER'));
    assert.deepEqual(readFileSync(path), before);
  });

  it('refuses an SQLite database that is not sigaudit\'s, untouched', () => {
    const path = tempDbPath();
    const other = new Database(path);
    other.exec('CREATE TABLE invoices (id INTEGER PRIMARY KEY)');
    other.close();
    const before = readFileSync(path);
    assert.throws(() => openForWriting(path), refusedWith('EDBFOREIGN'));
    assert.throws(() => openForReading(path), refusedWith('EDBFOREIGN'));
    assert.deepEqual(readFileSync(path), before);
  });

  it('refuses a file that is not SQLite at all, untouched', () => {
    const path = tempDbPath();
    writeFileSync(path, 'this is a text file, not a database\n'.repeat(200));
    const before = readFileSync(path);
    assert.throws(() => openForWriting(path), refusedWith('EDBFOREIGN'));
    assert.throws(() => openForReading(path), refusedWith('EDBFOREIGN'));
    assert.deepEqual(readFileSync(path), before);
  });

  it('says a missing database is missing when reading', () => {
    assert.throws(() => openForReading(tempDbPath()), refusedWith('EDBMISSING'));
  });

  it('numbers migrations strictly increasing, NNNN-slug.sql', () => {
    const versions = loadMigrations().map((m) => m.version);
    assert.deepEqual(versions, [...versions].sort((a, b) => a - b));
    const dir = mkdtempSync(join(tmpdir(), 'sigaudit-migrations-'));
    writeFileSync(join(dir, '0010-a.sql'), '');
    writeFileSync(join(dir, 'oops.sql'), '');
    assert.throws(() => loadMigrations(dir), /NNNN-slug/);
  });
});
