// The spill: signals the recorder drained but had not committed when it was
// killed -9 are written by the next recorder, once: none lost, none twice.
// A long --batch-ms keeps a whole storm uncommitted, so without the spill
// the kill would lose all of it. The same holds for the kernel's summaries
// of a real flood beyond --flood-budget: the flood's sends add up to the
// flooder's own count after each restart, never more.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import { accountOf, flood, type Account, type Flood } from './helpers/flood';
import { kernelTestOptions } from './helpers/kernel';
import { EVERY_SIGNAL, settle, startRecorder, stopLeftRecorders, tempDbPath, type RunningRecorder } from './helpers/recorder';
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

/** Sends of the flood the database accounts for: recorded, summarised or dropped. */
function accounted(dbPath: string, sent: Flood): number {
  const account: Account = accountOf(dbPath, sent.pid, 0);
  return account.recorded + account.summarised + account.dropped;
}

/** Per run: runs.summarised, and what its summaries count as summarised; they must agree. */
function summarisedPerRun(dbPath: string): { run: number; counted: number; rows: number }[] {
  return withDb(dbPath, (db) =>
    db
      .prepare(`SELECT id AS run, summarised AS counted,
          (SELECT coalesce(sum(count), 0) FROM summaries WHERE run_id = runs.id AND outcome = 'summarised') AS rows
        FROM runs ORDER BY id`)
      .all() as { run: number; counted: number; rows: number }[],
  );
}

/** The flood's sends, as its own count says, once the database accounts for all of them (or the patience ends). */
async function untilAccounted(dbPath: string, sent: Flood, patienceMs = 30_000): Promise<number> {
  const started = Date.now();
  let seen = accounted(dbPath, sent);
  while (seen < sent.sent && Date.now() - started < patienceMs) {
    await settle(250);
    seen = accounted(dbPath, sent);
  }
  return seen;
}

describe('crash safety: the spill', kernelTestOptions, () => {
  it('replays what a killed recorder drained and had not committed, exactly once', async () => {
    try {
      await replaysStorms();
    } finally {
      await stopLeftRecorders();
    }
  });

  it("replays a killed recorder's summaries of a real flood exactly once: recorded + summarised + dropped = sent", async () => {
    try {
      await replaysSummaries();
    } finally {
      await stopLeftRecorders();
    }
  });

  it('keeps, and neither misreads nor deletes, a spill of records of another size (another version wrote it)', async () => {
    try {
      await keepsForeignSpill();
    } finally {
      await stopLeftRecorders();
    }
  });
});

async function keepsForeignSpill(): Promise<void> {
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
}

async function replaysSummaries(): Promise<void> {
  const dbPath = tempDbPath();

  // 1. Counted, spilled, not committed: with --batch-ms 60000 the first handover is 15 s after the start.
  const first = await startRecorder(dbPath, ['--batch-ms', '60000']);
  const firstFlood = await flood(['200000', '0', 'self']);
  // The kernel's summary map is swapped out every second: after two, every count is in the spill.
  await settle(2500);
  await killHard(first);
  assert.ok(accounted(dbPath, firstFlood) < firstFlood.sent, 'premise: the kill came before the flood was committed');

  const second = await startRecorder(dbPath);
  assert.match(second.stderr(), /run 1 was killed before committing everything it drained: replayed \d+ signals/);
  const replayed = accountOf(dbPath, firstFlood.pid, 0);
  assert.ok(replayed.summarised > 0, `beyond the budget, sends are summarised: ${JSON.stringify(replayed)}`);
  assert.equal(replayed.recorded + replayed.summarised + replayed.dropped, firstFlood.sent, `the replay accounts for every send: ${JSON.stringify(replayed)}`);

  // 2. Committed, then killed: the next replay must not count them again.
  const secondFlood = await flood(['200000', '0', 'self']);
  assert.equal(await untilAccounted(dbPath, secondFlood), secondFlood.sent, 'committed before the kill');
  await killHard(second);

  const third = await startRecorder(dbPath);
  const stopped = await third.stop();
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.deepEqual(
    [firstFlood, secondFlood].map((sent) => accounted(dbPath, sent)),
    [firstFlood.sent, secondFlood.sent],
    'each flood counted once, after both restarts',
  );
  for (const run of summarisedPerRun(dbPath)) assert.equal(run.counted, run.rows, `run ${run.run}: runs.summarised equals its summaries`);
  assert.deepEqual(spillFiles(dbPath), [], 'a clean stop and the replays leave no spill files');
}

async function replaysStorms(): Promise<void> {
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
}
