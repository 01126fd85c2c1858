// While the recorder runs: rows appear in the database without stopping it,
// and sender and target are named by the cgroups they ran in.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cgroup2Mount } from '../src/record/cgroups';
import { kernelTestOptions } from './helpers/kernel';
import { exportedRows, startRecorder } from './helpers/recorder';

/** Polls the database until a row from this sender shows up, or gives up. */
async function waitForRow(dbPath: string, senderPid: number, patienceMs: number): Promise<boolean> {
  const deadline = Date.now() + patienceMs;
  while (Date.now() < deadline) {
    const db = new Database(dbPath, { readonly: true });
    const found = db.prepare('SELECT count(*) AS n FROM signals WHERE sender_pid = ?').get(senderPid) as { n: number };
    db.close();
    if (found.n > 0) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

describe('while recording', kernelTestOptions, () => {
  it('writes a signal to the database without waiting for the recorder to stop', async () => {
    const recorder = await startRecorder();
    try {
      const sender = spawnSync('/bin/kill', ['-0', String(process.pid)]);
      // Generous patience: this checks that rows arrive while recording, not how fast.
      assert.ok(await waitForRow(recorder.dbPath, sender.pid!, 10_000), 'the row is readable while the recorder runs');
    } finally {
      assert.equal((await recorder.stop()).code, 0);
    }
  });

  it('names the cgroups of sender and target, even after both cgroups are gone', async () => {
    const mount = cgroup2Mount();
    assert.ok(mount, 'a cgroup2 hierarchy is mounted');
    const senderGroup = `sigaudit-test-sender-${process.pid}`;
    const targetGroup = `sigaudit-test-target-${process.pid}.scope`;
    mkdirSync(join(mount, senderGroup));
    mkdirSync(join(mount, targetGroup));
    const recorder = await startRecorder();
    let senderPid = 0;
    try {
      const target = spawn('sleep', ['60'], { stdio: 'ignore' });
      writeFileSync(join(mount, targetGroup, 'cgroup.procs'), String(target.pid));
      const sender = spawnSync('bash', ['-c', `echo $$ > ${join(mount, senderGroup, 'cgroup.procs')} && kill -TERM ${target.pid}`]);
      senderPid = sender.pid!;
      assert.equal(sender.status, 0);
      await new Promise((resolve) => target.once('exit', resolve));
    } finally {
      assert.equal((await recorder.stop()).code, 0);
      rmdirSync(join(mount, senderGroup));
      rmdirSync(join(mount, targetGroup));
    }
    const row = exportedRows(recorder.dbPath).find((r) => r.sender_pid === senderPid && r.signal === 15);
    assert.ok(row);
    assert.equal(row.sender_cgroup, `/${senderGroup}`);
    assert.equal(row.delivered_cgroup, `/${targetGroup}`);
    assert.equal(row.delivered_unit, targetGroup);
    assert.equal(row.sender_unit, null);
  });
});
