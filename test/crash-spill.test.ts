// The spill: signals the recorder drained but had not committed when it was
// killed -9 are written by the next recorder, once: none lost, none twice.
// A long --batch-ms keeps a whole storm uncommitted, so without the spill
// the kill would lose all of it.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import { kernelTestOptions } from './helpers/kernel';
import { EVERY_SIGNAL, settle, startRecorder, tempDbPath, type RunningRecorder } from './helpers/recorder';
import { runStorm, withDb } from './helpers/service';
import { loadAddon } from '../src/record/probe';

const STORM = 20_000;
/** Storm sequence numbers (signal 0 to pids that do not exist) start above any pid. */
const FIRST = 6_000_000;

/** The storm rows stored (sent by `sender`: the same test elsewhere on the host sends the same numbers): how many, how many different ones, and the newest. */
function readRows(dbPath: string, first: number, sender: number): { count: number; distinct: number; newestNs: bigint } {
  const row = withDb(dbPath, (db) =>
    db
      .prepare('SELECT count(*) AS count, count(DISTINCT target_pid) AS dist, coalesce(max(ts_ns), 0) AS newest FROM signals WHERE target_pid BETWEEN ? AND ? AND signal = 0 AND sender_pid = ?')
      .safeIntegers(true)
      .get(first, first + STORM - 1, sender) as { count: bigint; dist: bigint; newest: bigint },
  );
  return { count: Number(row.count), distinct: Number(row.dist), newestNs: row.newest };
}

function spillFiles(dbPath: string): string[] {
  return readdirSync(dirname(dbPath)).filter((name) => name.includes('-spill-'));
}

async function killHard(recorder: RunningRecorder): Promise<void> {
  const exited = new Promise((resolve) => recorder.process.once('exit', resolve));
  recorder.process.kill('SIGKILL');
  await exited;
}

describe('crash safety: the spill', kernelTestOptions, () => {
  it('replays what a killed recorder drained and had not committed, exactly once', async () => {
    const dbPath = tempDbPath();

    // 1. Drained, not committed: the first handover is 2.5 s after the start.
    const first = await startRecorder(dbPath, ['--batch-ms', '10000', ...EVERY_SIGNAL]);
    const firstStorm = await runStorm(FIRST, STORM);
    assert.equal(firstStorm.code, 0);
    await settle(300);
    await killHard(first);
    assert.ok(readRows(dbPath, FIRST, firstStorm.pid).count < STORM, 'premise: the kill came before the storm was committed');
    assert.ok(spillFiles(dbPath).length > 0, 'the dead run left its spill');

    const second = await startRecorder(dbPath, EVERY_SIGNAL);
    assert.match(second.stderr(), /run 1 was killed before committing everything it drained: replayed \d+ signals from its spill files/);
    const replayed = readRows(dbPath, FIRST, firstStorm.pid);
    assert.deepEqual({ count: replayed.count, distinct: replayed.distinct }, { count: STORM, distinct: STORM });
    withDb(dbPath, (db) => {
      const window = db.prepare('SELECT from_ns, to_ns FROM unclean_shutdowns WHERE run_id = 1').safeIntegers(true).get() as { from_ns: bigint; to_ns: bigint };
      assert.ok(window.from_ns >= replayed.newestNs, 'the unclean window starts after the last replayed signal');
      const run = db.prepare('SELECT events FROM runs WHERE id = 1').get() as { events: number };
      assert.ok(run.events >= STORM, `run 1 counts its replayed signals (${run.events})`);
    });

    // 2. Committed, then killed: the replay must not write them again.
    const SECOND = FIRST + STORM;
    const secondStorm = await runStorm(SECOND, STORM);
    assert.equal(secondStorm.code, 0);
    await settle(1000);
    assert.equal(readRows(dbPath, SECOND, secondStorm.pid).count, STORM, 'committed before the kill');
    await killHard(second);
    // A file the kill cut short while creating it holds nothing, and must not stop the start.
    writeFileSync(`${dbPath}-spill-2-7`, 'sigaudit-sp');

    const third = await startRecorder(dbPath, EVERY_SIGNAL);
    const stopped = await third.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stderr, /skipping \S+-spill-2-7: its header is not whole, so it holds no records/);
    assert.deepEqual(
      [readRows(dbPath, FIRST, firstStorm.pid), readRows(dbPath, SECOND, secondStorm.pid)].map(({ count, distinct }) => ({ count, distinct })),
      [{ count: STORM, distinct: STORM }, { count: STORM, distinct: STORM }],
    );
    assert.deepEqual(spillFiles(dbPath), [], 'a clean stop and the replays leave no spill files');
    withDb(dbPath, (db) => assert.equal(db.pragma('integrity_check', { simple: true }), 'ok'));
  });

  it('keeps, and neither misreads nor deletes, a spill of records of another size (another version wrote it)', async () => {
    const dbPath = tempDbPath();
    await killHard(await startRecorder(dbPath, EVERY_SIGNAL));
    // The layout of 0.1's spill: the same header fields, 128-byte records.
    const layout = loadAddon().spillLayout;
    const oldRecordSize = 128;
    assert.notEqual(layout.recordSize, oldRecordSize, 'premise: the record size changed');
    const old = Buffer.alloc(oldRecordSize * 3);
    old.write(layout.magic, layout.offsets.magic, 'latin1');
    old.writeUInt32LE(oldRecordSize, layout.offsets.record_size);
    const oldPath = `${dbPath}-spill-1-9`;
    writeFileSync(oldPath, old);

    const next = await startRecorder(dbPath, EVERY_SIGNAL);
    const stopped = await next.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stderr, /could not replay the spill of run 1 \(\S+-spill-1-9 holds 128-byte records, written by another version of sigaudit .*\): keeping .*-spill-1-9/);
    assert.ok(existsSync(oldPath), 'the file is kept for the version that wrote it');
  });
});
