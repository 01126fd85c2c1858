// Every reader on a damaged database: one line naming the file, that it is
// damaged, and the fix (sigaudit recover), exit 1 — never a stack trace, never
// "[object Object]" from an export thread, and query sql does not blame the
// statement. recover salvages every readable row and names what it lost.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { damageMiddlePage, damageSchemaPage, writtenDatabase } from './helpers/damage';
import { runCli, tempDbPath } from './helpers/recorder';

const ROWS = 20_000;

function assertDamageLine(result: { code: number | null; stdout: string; stderr: string }, path: string): void {
  assert.equal(result.code, 1, result.stderr);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0], new RegExp(`^sigaudit: database ${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is damaged \\(.+\\): SQLite cannot read all of it \\(fix: salvage what is readable with sigaudit recover `));
  assert.doesNotMatch(result.stderr, /object Object|this is a bug|check the statement/);
}

describe('readers on a damaged database', () => {
  it('a damaged table page: export (its threads too), who-killed, list, failed, top-senders, sql and tail each say so in one line', () => {
    const path = tempDbPath();
    writtenDatabase(path, ROWS);
    damageMiddlePage(path, 'signals_archive');
    const before = readFileSync(path);
    const commands = [
      ['export', '--db', path],
      ['export', '--db', path, '--format', 'jsonl', '--source', 'kill'], // id order: the page threads read the damage
      ['query', 'who-killed', '5001', '--db', path, '--limit', '0'],
      ['query', 'list', '--db', path, '--limit', '0'],
      ['query', 'top-senders', '--db', path, '--by', 'pid', '--since', '2026-11-18T00:00:00Z', '--bucket', '1m'],
      ['query', 'sql', 'PRAGMA integrity_check', '--db', path],
      ['query', 'sql', 'SELECT sum(sender_comm_id) FROM signals_archive', '--db', path],
      ['tail', '--no-follow', '-n', '100000', '--db', path],
    ];
    for (const command of commands) assertDamageLine(runCli(command), path);
    // Readers never write: the damaged file is as it was.
    assert.ok(readFileSync(path).equals(before));
  });

  it('a damaged schema page (page 1 past the header): status and every query refuse in one line', () => {
    const path = tempDbPath();
    writtenDatabase(path, ROWS);
    damageSchemaPage(path);
    for (const command of [['status', '--db', path], ['query', 'list', '--db', path], ['query', 'failed', '--db', path], ['export', '--db', path]])
      assertDamageLine(runCli(command), path);
  });

  it('an SQL error in a sound database still blames the statement', () => {
    const path = tempDbPath();
    writtenDatabase(path, 10);
    const result = runCli(['query', 'sql', 'SELECT nope FROM signals', '--db', path]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /SQL error: no such column: nope \(fix: check the statement/);
  });

  it('recover salvages every row off the damaged page, counts them per table, and dates what it lost', () => {
    const path = tempDbPath();
    writtenDatabase(path, ROWS);
    damageMiddlePage(path, 'signals_archive');
    const output = `${path}.recovered`;
    const result = runCli(['recover', path, '--output', output, '--utc']);
    assert.equal(result.code, 0, result.stderr);
    const recovered = Number(/signals_archive\s+([\d,]+)/.exec(result.stdout)![1].replace(/,/g, ''));
    const lost = Number(/signals lost with the damaged pages:\n.*\n\S+ \S+\s+\S+ \S+\s+([\d,]+)\s+signals_archive/.exec(result.stdout)![1].replace(/,/g, ''));
    // One page of about 60 rows is lost; the rest comes back, and the two add up.
    assert.ok(lost > 0 && lost < 200, result.stdout);
    assert.equal(recovered + lost, ROWS, result.stdout);
    // The salvaged file is a sound sigaudit database that answers queries.
    const db = new Database(output, { readonly: true });
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    assert.equal((db.prepare('SELECT count(*) AS n FROM signals').get() as { n: number }).n, recovered);
    // The per-minute id map (migrations/0140-id-windows.sql) is made from the rows salvaged.
    const truth = db.prepare('SELECT ts_ns / 60000000000 AS minute, min(id) AS first_id, max(id) AS last_id, min(ts_ns) AS first_ns, max(ts_ns) AS last_ns FROM signals_archive GROUP BY 1 ORDER BY 1').all();
    assert.ok(truth.length > 0);
    assert.deepEqual(db.prepare('SELECT minute, first_id, last_id, first_ns, last_ns FROM archive_minutes ORDER BY minute').all(), truth);
    db.close();
    const listed = runCli(['query', 'sql', 'SELECT count(*) AS n FROM signals WHERE sender_pid = 4242', '--db', output, '--format', 'csv']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(listed.stdout.trim().split('\n')[1], String(recovered));
    // Never over an existing file.
    const again = runCli(['recover', path, '--output', output]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already exists \(fix: name a new file/);
  });

  it('recover refuses a file that is not sigaudit\'s, untouched', () => {
    const path = tempDbPath('other.db');
    const other = new Database(path);
    other.exec('CREATE TABLE t (x)');
    other.close();
    const before = readFileSync(path);
    const result = runCli(['recover', path, '--output', `${path}.out`]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /is not a sigaudit database/);
    assert.ok(readFileSync(path).equals(before));
  });
});
