// The backlog lives on disk: while the database takes no writes (another
// connection holds its write lock), a storm's records queue in the spill
// file and the recorder's memory does not grow with them; once the lock is
// released every signal becomes a row, none dropped.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { kernelTestOptions } from './helpers/kernel';
import { EVERY_SIGNAL, startRecorder, tempDbPath, type RunningRecorder } from './helpers/recorder';
import { runStorm, withDb } from './helpers/service';

/** 1.5M records of 128 bytes: 192 MB queued, and as rows in memory it would be about 450 MB. */
const STORM = 1_500_000;
/** Storm sequence numbers (signal 0 to pids that do not exist) start above any pid. */
const FIRST = 7_000_000;
/** Growth allowed while the backlog queues: well under the backlog itself. */
const MAX_GROWTH_KIB = 96 * 1024;

function memoryKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s*(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(match, `no ${field} for ${pid}`);
  return Number(match[1]);
}

function spillBytes(dbPath: string): number {
  const dir = dirname(dbPath);
  return readdirSync(dir)
    .filter((name) => name.includes('-spill-'))
    .reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
}

/** Polls until `check` holds (a state, not a timing: the patience only bounds a hung test). */
async function waitFor(what: string, check: () => boolean, recorder: RunningRecorder, patienceMs = 300_000): Promise<void> {
  const deadline = Date.now() + patienceMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${patienceMs} ms:\n${recorder.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('backlog on disk', kernelTestOptions, () => {
  it('queues a storm in the spill file, not in memory, while the database is locked, then writes all of it', async () => {
    const dbPath = tempDbPath();
    const recorder = await startRecorder(dbPath, EVERY_SIGNAL);
    const pid = recorder.process.pid!;
    let lock: Database.Database | undefined = new Database(dbPath);
    try {
      lock.exec('BEGIN IMMEDIATE');
      const before = memoryKiB(pid, 'VmRSS');
      const storm = await runStorm(FIRST, STORM);
      assert.equal(storm.code, 0);
      // Every storm record is drained: the spill files hold them (and whatever else the host sent).
      await waitFor('the storm queued in the spill', () => spillBytes(dbPath) >= STORM * 128, recorder);
      await waitFor('the recorder noticing the lock', () => /cannot write \S+: SQLITE_BUSY/.test(recorder.stderr()), recorder);
      const peak = memoryKiB(pid, 'VmHWM');
      assert.ok(
        peak - before < MAX_GROWTH_KIB,
        `recorder memory grew by ${((peak - before) / 1024).toFixed(0)} MiB with ${((STORM * 128) / 2 ** 20).toFixed(0)} MiB of backlog (RSS ${before} kB before, peak ${peak} kB)`,
      );
      lock.exec('ROLLBACK');
      lock.close();
      lock = undefined;
      await waitFor('the recorder writing again', () => /database writable again/.test(recorder.stderr()), recorder);
      const { code, stderr } = await recorder.stop();
      assert.equal(code, 0, stderr);
      const { rows, dist, drops } = withDb(dbPath, (db) => ({
        ...(db.prepare('SELECT count(*) AS rows, count(DISTINCT target_pid) AS dist FROM signals WHERE target_pid BETWEEN ? AND ? AND signal = 0 AND sender_pid = ?').get(FIRST, FIRST + STORM - 1, storm.pid) as { rows: number; dist: number }),
        drops: (db.prepare('SELECT coalesce(sum(count), 0) AS n FROM drops').get() as { n: number }).n,
      }));
      assert.equal(drops, 0, stderr);
      assert.equal(rows, STORM, 'every signal of the storm is a row');
      assert.equal(dist, STORM, 'none twice');
      assert.equal(spillBytes(dbPath), 0, 'a clean stop leaves no spill');
    } finally {
      lock?.close();
      if (recorder.process.exitCode === null) await recorder.stop();
    }
  });
});
