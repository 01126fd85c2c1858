// sigaudit tail follows the database like tail -f: a signal sent after it
// started is printed, also for a reader who is not root but in the group.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { kernelTestOptions } from './helpers/kernel';
import { CLI, runCli, startRecorder, tempDbPath } from './helpers/recorder';
import { asUser, ensureUser } from './helpers/service';

const MEMBER = 'sigaudit-test-member';

/** Collects a child's stdout and resolves when it matches. */
function waitForOutput(child: ChildProcess, pattern: RegExp, patienceMs = 15_000): Promise<{ text: string; atMs: number }> {
  let text = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no output matching ${pattern} within ${patienceMs} ms:\n${text}`)), patienceMs);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      text += chunk;
      if (pattern.test(text)) {
        clearTimeout(timer);
        resolve({ text, atMs: Date.now() });
      }
    });
  });
}

describe('sigaudit tail', kernelTestOptions, () => {
  it('prints a signal sent after it started, as a non-root member of the group', async (t) => {
    ensureUser(MEMBER, ['adm']);
    const dir = join(tempDbPath('unused'), '..');
    chmodSync(dir, 0o755);
    const recorder = await startRecorder(join(dir, 'sigaudit.db'));
    const tail = spawn(asUser(MEMBER)[0], [...asUser(MEMBER).slice(1), process.execPath, CLI, 'tail', '--db', recorder.dbPath, '-n', '0', '--include-probes'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    tail.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    try {
      // The header is printed once tail has the database open and knows where new rows start.
      await waitForOutput(tail, /^TIME\s+SIGNAL/);
      const marker = 3_999_000 + (process.pid % 1000); // a free pid: kill fails with ESRCH
      const output = waitForOutput(tail, new RegExp(`pid ${marker}`));
      const sentAt = Date.now();
      spawnSync('/bin/kill', ['-0', String(marker)]);
      const { text, atMs } = await output;
      t.diagnostic(`shown ${atMs - sentAt} ms after it was sent`);
      const line = text.split('\n').find((l) => l.includes(`pid ${marker}`))!;
      assert.match(line, new RegExp(`0 \\(probe\\)\\s+kill\\[\\d+\\]\\s+pid ${marker}\\s+kill\\s+ESRCH`));
    } finally {
      tail.kill('SIGINT');
      const code = await new Promise((resolve) => tail.once('exit', resolve));
      assert.equal(code, 0, stderr);
      assert.equal((await recorder.stop()).code, 0);
    }
  });

  it('prints the last rows with --no-follow, in a table or as jsonl, with the filters of query', async () => {
    const recorder = await startRecorder();
    spawnSync('/bin/kill', ['-0', String(process.pid)]);
    spawnSync('/bin/kill', ['-CONT', String(process.pid)]);
    assert.equal((await recorder.stop()).code, 0);
    const { code, stdout, stderr } = runCli(['tail', '--db', recorder.dbPath, '--no-follow', '-n', '5', '--signal', 'CONT', '--sender-comm', 'kill']);
    assert.equal(code, 0, stderr);
    const lines = stdout.trimEnd().split('\n');
    assert.match(lines[0], /^TIME\s+SIGNAL\s+SENDER\s+TARGET\s+VIA\s+RESULT$/);
    assert.equal(lines.length, 2, stdout);
    assert.match(lines[1], new RegExp(`SIGCONT\\s+kill\\[\\d+\\]\\s+node\\[${process.pid}\\]\\s+kill\\s+(delivered|ignored)`));
    const jsonl = runCli(['tail', '--db', recorder.dbPath, '--no-follow', '-n', '5', '--format', 'jsonl', '--include-probes', '--sender-comm', 'kill', '--source', 'kill']);
    assert.equal(jsonl.code, 0, jsonl.stderr);
    const records = jsonl.stdout.trim().split('\n').map((line) => JSON.parse(line));
    assert.deepEqual(records.map((record) => record.signal_name), ['', 'SIGCONT'], 'oldest first, like tail');
  });
});
