// One recorder per database: a second `sigaudit record` on it is refused
// with the pid of the one recording, and the first goes on undisturbed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { kernelTestOptions } from './helpers/kernel';
import { exportedRows, runCli, startRecorder } from './helpers/recorder';

describe('one recorder at a time', kernelTestOptions, () => {
  it('refuses a second recorder on the same database, naming the first', async () => {
    const first = await startRecorder();
    try {
      const second = runCli(['record', '--db', first.dbPath]);
      assert.equal(second.code, 1);
      assert.equal(
        second.stderr,
        `sigaudit: another sigaudit record (pid ${first.process.pid}) is already recording to ${first.dbPath} (it holds ${first.dbPath}.lock) (fix: stop it first (systemctl stop sigaudit, or kill -TERM its pid), or record into another --db)\n`,
      );
      const marker = 3_996_000 + (process.pid % 1000);
      spawnSync('/bin/kill', ['-0', String(marker)]);
      const { code, stderr } = await first.stop();
      assert.equal(code, 0, stderr);
      const rows = exportedRows(first.dbPath).filter((row) => row.target_pid === marker);
      assert.equal(rows.length, 1, 'recorded once, by the first recorder only');
    } finally {
      if (first.process.exitCode === null) await first.stop();
    }
    // Released on exit: the next recorder starts.
    const next = await startRecorder(first.dbPath);
    assert.equal((await next.stop()).code, 0);
  });
});
