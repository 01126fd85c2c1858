// --max-db-size with a tiny bound during a real signal storm: the database
// file stays under the bound (its WAL comes on top), queries keep working
// while rows are deleted, and every deletion is in prunes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { describe, it } from 'node:test';
import { kernelTestOptions, signallerPath } from './helpers/kernel';
import { EVERY_SIGNAL, runCli, startRecorder } from './helpers/recorder';
import { withDb } from './helpers/service';

const BOUND = 8 * 1024 * 1024;
const SIGNAL = 42; // SIGRTMIN+8: nothing else here sends it

describe('retention during a storm', kernelTestOptions, () => {
  it('keeps the file under --max-db-size 8MiB through 600 000 signals, answering queries meanwhile', async (t) => {
    const recorder = await startRecorder(undefined, ['--max-db-size', '8MiB', '--only-signals', 'RTMIN+8', '--skip-probes', ...EVERY_SIGNAL]);
    const size = (suffix = '') => (existsSync(recorder.dbPath + suffix) ? statSync(recorder.dbPath + suffix).size : 0);
    let largest = 0;
    let largestWal = 0;
    let queries = 0;
    const senders = Array.from({ length: 2 }, () => spawn(signallerPath(), ['burst', '300000', String(SIGNAL)], { stdio: 'inherit' }));
    const done = Promise.all(senders.map((child) => new Promise((resolve) => child.once('exit', resolve))));
    let finished = false;
    void done.then(() => (finished = true));
    while (!finished) {
      largest = Math.max(largest, size());
      largestWal = Math.max(largestWal, size('-wal'));
      const query = runCli(['query', 'list', '--db', recorder.dbPath, '--limit', '3', '--signal', String(SIGNAL)]);
      assert.equal(query.code, 0, query.stderr);
      queries++;
      await new Promise((resolve) => setTimeout(resolve, 20)); // let the senders' exits be seen
    }
    assert.deepEqual(await done, [0, 0]);
    const { code, stderr } = await recorder.stop();
    assert.equal(code, 0, stderr);
    largest = Math.max(largest, size());
    t.diagnostic(`largest file ${largest} bytes, largest WAL ${largestWal} bytes, ${queries} queries during the storm`);
    assert.ok(largest <= BOUND, `the file stayed under the bound: ${largest} <= ${BOUND}`);
    assert.ok(queries > 0);

    withDb(recorder.dbPath, (db) => {
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
      const kept = (db.prepare('SELECT count(*) AS n FROM signals WHERE signal = ?').get(SIGNAL) as { n: number }).n;
      const pruned = db.prepare("SELECT coalesce(sum(rows), 0) AS rows, count(*) AS n FROM prunes WHERE reason = 'size'").get() as { rows: number; n: number };
      const dropped = (db.prepare('SELECT coalesce(sum(count), 0) AS n FROM drops').get() as { n: number }).n;
      t.diagnostic(`kept ${kept}, pruned ${pruned.rows} in ${pruned.n} prunes rows, dropped ${dropped}`);
      assert.ok(pruned.rows > 0, 'rows were pruned');
      assert.ok(kept > 0, 'the newest rows are kept');
      // Other signals on the host are not recorded (--only-signals, and --skip-probes for the
      // signal 0 checks a shell makes), so the storm is all there is.
      assert.equal(kept + pruned.rows + dropped, 600_000, 'kept + pruned + dropped = sent');
      const rollup = db.prepare('SELECT coalesce(sum(sends), 0) AS n FROM sender_hours').get() as { n: number };
      const archived = db.prepare('SELECT count(*) AS n FROM signals_archive WHERE fanout = 0').get() as { n: number };
      assert.equal(rollup.n, archived.n, 'sender_hours still equals the archive');
      const pidRollup = db.prepare('SELECT coalesce(sum(sends + probe_sends), 0) AS n FROM sender_pid_hours').get() as { n: number };
      assert.equal(pidRollup.n, archived.n, 'sender_pid_hours still equals the archive');
    });
  });
});
