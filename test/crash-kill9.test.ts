// kill -9 of the recorder at random moments, during a numbered signal storm
// and during start-up (which may cut a replay short), twenty times on one
// database: every time the file passes PRAGMA integrity_check, keeps every
// row it had (the count never falls), and the next recorder starts on it,
// replays the dead run's spill and records it as an unclean shutdown. After
// that replay the storm's rows are a gap-free prefix, each once.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { kernelTestOptions } from './helpers/kernel';
import { CLI, EVERY_SIGNAL, startRecorder, stopLeftRecorders, tempDbPath } from './helpers/recorder';
import { runStorm, withDb, type StormResult } from './helpers/service';

const ROUNDS = 20;
const STORM = 200_000;
/** The storm the issue names: 100 000 signals a second (about 2 s a round). */
const RATE = 100_000;
/** Storm sequence numbers start above any pid (pid_max is at most 2^22). */
const FIRST = 5_000_000;

function integrity(dbPath: string): string {
  return withDb(dbPath, (db) => db.pragma('integrity_check', { simple: true }) as string);
}

function rowCount(dbPath: string): number {
  return withDb(dbPath, (db) => (db.prepare('SELECT count(*) AS n FROM signals').get() as { n: number }).n);
}

/** The storm rows of one round (sent by `sender`: the same test elsewhere on the host sends the same numbers): how many, and the highest sequence number. */
function stormRows(dbPath: string, first: number, sender: number): { count: number; max: number } {
  return withDb(dbPath, (db) => {
    const row = db
      .prepare('SELECT count(*) AS n, coalesce(max(target_pid), 0) AS max FROM signals WHERE target_pid BETWEEN ? AND ? AND signal = 0 AND sender_pid = ?')
      .get(first, first + STORM - 1, sender) as { n: number; max: number };
    return { count: row.n, max: row.max === 0 ? first - 1 : row.max };
  });
}

/** Seeded, so a failing round can be replayed: SEED=... */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('crash safety: kill -9 at random points', kernelTestOptions, () => {
  it(`leaves a sound database every time over ${ROUNDS} rounds, and the next run records the gap`, async (t) => {
    try {
      const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
      t.diagnostic(`seed ${seed}`);
      const next = random(seed);
      const dbPath = tempDbPath();
      let previous = 0;
      let killedRuns = 0;
      let largestGap = 0;
      let gapNote = 'none';
      /** The last storm round killed: checked once the next recorder has replayed its spill. */
      let unchecked: { round: number; first: number; at: number; storm: StormResult } | undefined;
      const checkReplayed = () => {
        if (!unchecked) return;
        const { round, first, at, storm } = unchecked;
        unchecked = undefined;
        const { count, max } = stormRows(dbPath, first, storm.pid);
        // No holes and nothing twice: the rows are the storm's first `count`.
        assert.equal(count, max - first + 1, `round ${round}: recorded storm rows form a prefix`);
        const gap = first + at - max;
        if (gap > largestGap) {
          // How long before the kill the first lost signal was sent (to the storm's 1000-signal stride).
          const lostFrom = storm.sentAt.get(Math.floor((max + 1 - first) / 1000) * 1000)!;
          const killed = storm.sentAt.get(Math.ceil(at / 1000) * 1000) ?? lostFrom;
          largestGap = gap;
          gapNote = `${gap} signals, sent in the last ${((killed - lostFrom) / 1e6).toFixed(0)} ms before the kill, at ${Math.round(storm.rate)} signals/s`;
        }
      };
      for (let round = 0; round < ROUNDS; round++) {
        if (round % 5 === 4) {
          // During start-up: opening, migrating, loading or attaching.
          const child = spawn(process.execPath, [CLI, 'record', '--db', dbPath, ...EVERY_SIGNAL], { stdio: 'ignore' });
          await new Promise((resolve) => setTimeout(resolve, Math.floor(next() * 600)));
          child.kill('SIGKILL');
          await new Promise((resolve) => child.once('exit', resolve));
        } else {
          const recorder = await startRecorder(dbPath, EVERY_SIGNAL);
          checkReplayed();
          killedRuns++;
          const first = FIRST + round * STORM;
          const at = 1000 + Math.floor(next() * (STORM - 2000));
          const exited = new Promise((resolve) => recorder.process.once('exit', (_code, signal) => resolve(signal)));
          const storm = await runStorm(first, STORM, { pid: recorder.process.pid!, at }, RATE);
          assert.equal(storm.code, 0);
          assert.equal(await exited, 'SIGKILL');
          unchecked = { round, first, at, storm };
        }
        assert.equal(integrity(dbPath), 'ok', `round ${round}: integrity_check`);
        const now = rowCount(dbPath);
        assert.ok(now >= previous, `round ${round}: rows never go away (${previous} -> ${now})`);
        previous = now;
      }
      // The next recorder replays the last round, closes every dead run as unclean, and stops cleanly.
      const last = await startRecorder(dbPath, EVERY_SIGNAL);
      checkReplayed();
      t.diagnostic(`largest gap on a hard kill: ${gapNote}`);
      // What the issue allows: one --batch-ms (200 ms) of the storm. Only what the ring buffer held is lost.
      assert.ok(largestGap <= RATE / 5, `largest gap ${gapNote}: more than one batch interval`);
      const stopped = await last.stop();
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.match(stopped.stderr, /did not stop cleanly: nothing was recorded from .* \(recorded as an unclean shutdown\)/);
      withDb(dbPath, (db) => {
        assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
        const runs = db.prepare('SELECT id, stop_reason, last_seen_ns, started_ns FROM runs ORDER BY id').safeIntegers(true).all() as { id: bigint; stop_reason: string | null; last_seen_ns: bigint | null; started_ns: bigint }[];
        assert.ok(runs.every((run) => run.stop_reason !== null), 'no run is left open');
        assert.equal(runs[runs.length - 1].stop_reason, 'stopped');
        const unclean = runs.filter((run) => run.stop_reason === 'unclean');
        // Each storm round's run, plus start-up kills that got as far as beginning a run.
        assert.ok(unclean.length >= killedRuns, `${unclean.length} unclean runs >= ${killedRuns} killed while recording`);
        const windows = db.prepare('SELECT run_id, from_ns, to_ns, found_by_run_id FROM unclean_shutdowns ORDER BY id').safeIntegers(true).all() as { run_id: bigint; from_ns: bigint; to_ns: bigint; found_by_run_id: bigint }[];
        assert.deepEqual(windows.map((w) => w.run_id), unclean.map((run) => run.id));
        for (const window of windows) {
          assert.ok(window.from_ns <= window.to_ns);
          const finder = runs.find((run) => run.id === window.found_by_run_id)!;
          assert.equal(window.to_ns, finder.started_ns, 'the gap ends when the next run started');
          assert.ok(window.found_by_run_id > window.run_id);
        }
      });
    } finally {
      // A recorder an assertion left running stops here, not after the file.
      await stopLeftRecorders();
    }
  });
});
