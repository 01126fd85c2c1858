// A second run on the same database keeps what the first recorded, applies
// no migration again, and is recorded as a run of its own.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { describe, it } from 'node:test';
import { latestVersion } from '../src/store/migrations';
import { kernelTestOptions } from './helpers/kernel';
import { exportedRows, startRecorder, tempDbPath } from './helpers/recorder';

function probeFromKill(): number {
  const marker = execFileSync('bash', ['-c', '/bin/kill -0 $$; echo $$'], { encoding: 'utf8' });
  return Number(marker.trim());
}

describe('restarting the recorder', kernelTestOptions, () => {
  it('keeps earlier rows and records each run', async () => {
    const dbPath = tempDbPath();
    const first = await startRecorder(dbPath);
    const firstSender = probeFromKill();
    assert.equal((await first.stop()).code, 0);
    const second = await startRecorder(dbPath);
    const secondSender = probeFromKill();
    assert.equal((await second.stop()).code, 0);

    const rows = exportedRows(dbPath);
    for (const sender of [firstSender, secondSender])
      assert.equal(rows.filter((row) => row.target_pid === sender && row.signal === 0 && row.source === 'kill').length, 1);
    const ids = rows.map((row) => BigInt(row.id as string));
    assert.equal(new Set(ids).size, ids.length, 'ids stay unique across runs');

    const db = new Database(dbPath, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), latestVersion());
    const runs = db.prepare('SELECT stop_reason, events, recorder_pid FROM runs ORDER BY id').all() as { stop_reason: string; events: number; recorder_pid: number }[];
    assert.deepEqual(runs.map((run) => run.stop_reason), ['stopped', 'stopped']);
    assert.ok(runs.every((run) => run.events >= 1));
    assert.deepEqual(runs.map((r) => r.recorder_pid), [first.process.pid, second.process.pid]);
    db.close();
  });
});
