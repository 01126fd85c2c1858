// sigaudit_tally and its weighted, merged and ranked kin, and
// sigaudit_tallied (native/tally.c), which top-senders counts with: the
// same groups and sums as GROUP BY, NULLs and 64-bit values included, the
// same choice as ORDER BY ... LIMIT (ties by the values, NULL first),
// nothing for no rows, and a clear error for what they do not count.
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { describe, it } from 'node:test';
import { loadExtension } from '../src/store/extension';

function database(): Database.Database {
  const db = new Database(':memory:');
  loadExtension(db);
  db.exec('CREATE TABLE t (a INTEGER, b INTEGER, c INTEGER, w INTEGER)');
  const insert = db.prepare('INSERT INTO t VALUES (?, ?, ?, ?)');
  db.transaction(() => {
    // Enough groups that the table grows several times, and values at the ends of 64 bits.
    for (let i = 0; i < 20_000; i++) insert.run(i % 7 === 0 ? null : BigInt(i % 1500) * 6_148_914_691_236_517n, i % 3 === 0 ? null : -(i % 5), i % 11, 1 + (i % 4));
    insert.run(9_223_372_036_854_775_807n, -9_223_372_036_854_775_808n, null, 1);
  })();
  db.defaultSafeIntegers(true);
  return db;
}

const byGroup = (rows: unknown[]) => (rows as Record<string, bigint | null>[]).map((row) => JSON.stringify(Object.values(row), (_, v) => (typeof v === 'bigint' ? v.toString() : v))).sort();

describe('sigaudit_tally', () => {
  it('counts the rows, or sums the weights, of each tuple as GROUP BY does', () => {
    const db = database();
    const tallied = db.prepare('SELECT v0, v1, v2, count FROM sigaudit_tallied((SELECT sigaudit_tally(a, b, c) FROM t))').all();
    const grouped = db.prepare('SELECT a, b, c, count(*) FROM t GROUP BY 1, 2, 3').all();
    assert.ok(grouped.length > 1000);
    assert.deepEqual(byGroup(tallied), byGroup(grouped));
    const weighted = db.prepare('SELECT v0, v1, v2, count FROM sigaudit_tallied((SELECT sigaudit_tally_weighted(w, a, b, c) FROM t))').all();
    assert.deepEqual(byGroup(weighted), byGroup(db.prepare('SELECT a, b, c, sum(w) FROM t GROUP BY 1, 2, 3').all()));
    const one = db.prepare('SELECT v0, v1, count FROM sigaudit_tallied((SELECT sigaudit_tally(c) FROM t WHERE c < 3))').all();
    assert.deepEqual(byGroup(one), byGroup(db.prepare('SELECT c, NULL, count(*) FROM t WHERE c < 3 GROUP BY 1').all()));
  });

  it('merges tallies of parts of the rows into the tally of all of them', () => {
    const db = database();
    const merged = db
      .prepare(`SELECT v0, v1, v2, count FROM sigaudit_tallied((SELECT sigaudit_tally_merge(t) FROM (
          SELECT sigaudit_tally(a, b, c) AS t FROM t WHERE rowid % 3 = 0 UNION ALL SELECT sigaudit_tally(a, b, c) FROM t WHERE 0
          UNION ALL SELECT sigaudit_tally_weighted(1, a, b, c) FROM t WHERE rowid % 3 = 1 UNION ALL SELECT sigaudit_tally(a, b, c) FROM t WHERE rowid % 3 = 2)))`)
      .all();
    assert.deepEqual(byGroup(merged), byGroup(db.prepare('SELECT a, b, c, count(*) FROM t GROUP BY 1, 2, 3').all()));
  });

  it('keeps the groups of the largest tuples of their first values, as ORDER BY sum DESC, values LIMIT chooses them', () => {
    const db = database();
    // Width 1 on a (ties among the 1,500 values of a, and NULL); width 2 on (b, c), whose sums tie often.
    const shapes = [
      { values: 'a, b, c', width: 1, key: 'a' },
      { values: 'b, c, a', width: 2, key: 'b, c' },
    ];
    for (const { values, width, key } of shapes) {
      for (const limit of [0, 1, 2, 7, 40, 100_000]) {
        const top = db
          .prepare(`SELECT v0, v1, v2, count FROM sigaudit_tallied((SELECT sigaudit_tally_top(sigaudit_tally_weighted(w, ${values}), ${width}, ${limit}) FROM t))`)
          .all();
        const chosen = new Set(byGroup(db.prepare(`SELECT ${key} FROM t GROUP BY ${key} ORDER BY sum(w) DESC, ${key} LIMIT ${limit}`).all()));
        const keyOf = (row: unknown) => byGroup([Object.values(row as object).slice(0, width)])[0];
        const expected = db.prepare(`SELECT ${values}, sum(w) FROM t GROUP BY 1, 2, 3`).all().filter((row) => chosen.has(keyOf(row)));
        assert.deepEqual(byGroup(top), byGroup(expected), `width ${width} --limit ${limit}`);
      }
    }
    // Ties at the limit: NULL first, then by value, negative ones included.
    db.exec('CREATE TABLE u (a INTEGER, w INTEGER); INSERT INTO u VALUES (2, 5), (1, 3), (NULL, 3), (-1, 3), (7, 1)');
    for (const limit of [1, 2, 3, 4]) {
      const top = db.prepare(`SELECT v0 FROM sigaudit_tallied((SELECT sigaudit_tally_top(sigaudit_tally_weighted(w, a), 1, ${limit}) FROM u))`).pluck().all();
      const ordered = db.prepare(`SELECT a FROM u GROUP BY a ORDER BY sum(w) DESC, a LIMIT ${limit}`).pluck().all();
      assert.deepEqual(byGroup(top.map((a) => [a])), byGroup(ordered.map((a) => [a])), `ties --limit ${limit}`);
    }
  });

  it('yields no groups for no rows, and refuses what is not a weight, an integer or NULL', () => {
    const db = database();
    assert.deepEqual(db.prepare('SELECT * FROM sigaudit_tallied((SELECT sigaudit_tally(a) FROM t WHERE 0))').all(), []);
    assert.deepEqual(db.prepare('SELECT * FROM sigaudit_tallied((SELECT sigaudit_tally_top(sigaudit_tally(a), 1, 5) FROM t WHERE 0))').all(), []);
    assert.deepEqual(db.prepare('SELECT * FROM sigaudit_tallied((SELECT sigaudit_tally_merge(g) FROM (SELECT sigaudit_tally(a) AS g FROM t WHERE 0)))').all(), []);
    assert.throws(() => db.prepare("SELECT sigaudit_tally('text')").get(), /sigaudit_tally counts integers and NULLs only/);
    assert.throws(() => db.prepare('SELECT sigaudit_tally_weighted(0, 1)').get(), /sigaudit_tally_weighted's weight is a count of 1 or more/);
    assert.throws(() => db.prepare("SELECT sigaudit_tally_merge('text')").get(), /sigaudit_tally_merge sums what sigaudit_tally returns/);
    assert.throws(() => db.prepare("SELECT * FROM sigaudit_tallied('text')").all(), /sigaudit_tallied reads what sigaudit_tally returns/);
    assert.throws(() => db.prepare('SELECT sigaudit_tally_top(sigaudit_tally(a), 5, 5) FROM t').get(), /sigaudit_tally_top takes a tally, a width of 1 to 4 values/);
    assert.throws(() => db.prepare("SELECT sigaudit_tally_top('text', 1, 5)").get(), /sigaudit_tally_top takes a tally/);
  });
});
