// sigaudit_tally and sigaudit_tallied (native/tally.c), which top-senders
// counts with: the same groups and counts as GROUP BY, NULLs and 64-bit
// values included, nothing for no rows, and a clear error for what they
// do not count.
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { describe, it } from 'node:test';
import { loadExtension } from '../src/store/extension';

function database(): Database.Database {
  const db = new Database(':memory:');
  loadExtension(db);
  db.exec('CREATE TABLE t (a INTEGER, b INTEGER, c INTEGER)');
  const insert = db.prepare('INSERT INTO t VALUES (?, ?, ?)');
  db.transaction(() => {
    // Enough groups that the table grows several times, and values at the ends of 64 bits.
    for (let i = 0; i < 20_000; i++) insert.run(i % 7 === 0 ? null : BigInt(i % 1500) * 6_148_914_691_236_517n, i % 3 === 0 ? null : -(i % 5), i % 11);
    insert.run(9_223_372_036_854_775_807n, -9_223_372_036_854_775_808n, null);
  })();
  db.defaultSafeIntegers(true);
  return db;
}

const byGroup = (rows: unknown[]) => (rows as Record<string, bigint | null>[]).map((row) => JSON.stringify(Object.values(row), (_, v) => (typeof v === 'bigint' ? v.toString() : v))).sort();

describe('sigaudit_tally', () => {
  it('counts the rows of each tuple as GROUP BY does', () => {
    const db = database();
    const tallied = db.prepare('SELECT v0, v1, v2, count FROM sigaudit_tallied((SELECT sigaudit_tally(a, b, c) FROM t))').all();
    const grouped = db.prepare('SELECT a, b, c, count(*) FROM t GROUP BY 1, 2, 3').all();
    assert.ok(grouped.length > 1000);
    assert.deepEqual(byGroup(tallied), byGroup(grouped));
    const one = db.prepare('SELECT v0, v1, count FROM sigaudit_tallied((SELECT sigaudit_tally(c) FROM t WHERE c < 3))').all();
    assert.deepEqual(byGroup(one), byGroup(db.prepare('SELECT c, NULL, count(*) FROM t WHERE c < 3 GROUP BY 1').all()));
  });

  it('yields no groups for no rows, and refuses what is not an integer or NULL', () => {
    const db = database();
    assert.deepEqual(db.prepare('SELECT * FROM sigaudit_tallied((SELECT sigaudit_tally(a) FROM t WHERE 0))').all(), []);
    assert.throws(() => db.prepare("SELECT sigaudit_tally('text')").get(), /sigaudit_tally counts integers and NULLs only/);
    assert.throws(() => db.prepare("SELECT * FROM sigaudit_tallied('text')").all(), /sigaudit_tallied reads what sigaudit_tally returns/);
  });
});
