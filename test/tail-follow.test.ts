// sigaudit tail follows the database like tail -f: a signal sent after it
// started is printed, also for a reader who is not root but in the group,
// and so is each summary of a real flood beyond --flood-budget, once.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { NOBODY, accountOf, flood } from './helpers/flood';
import { kernelTestOptions } from './helpers/kernel';
import { CLI, runCli, settle, startRecorder, tempDbPath } from './helpers/recorder';
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

  it("prints each summary of a flood beyond --flood-budget as it is committed, once, naming the flooder's sends", async () => {
    const recorder = await startRecorder();
    const tail = spawn(process.execPath, [CLI, 'tail', '--db', recorder.dbPath, '-n', '0', '--poll-ms', '100'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    tail.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    let text = '';
    tail.stdout!.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    try {
      await waitForOutput(tail, /^TIME\s+SIGNAL/);
      const sent = await flood(['100000', '0', 'self']);
      // The flooder's lines: their counts, once tail has printed as many as the database holds (or the patience ends).
      // "any" target: the kernel keeps a coarser key when others' floods at ever new pids fill its summary map.
      const line = new RegExp(`^\\d\\d-\\d\\d \\S+\\s+flooder\\[${sent.pid}\\] \\(uid ${NOBODY}\\) sent ([\\d,]+) × kill\\((?:self|any), 0\\) between \\S+ \\S+ and \\S+ \\S+ \\(summarised\\)$`);
      const printed = () => text.split('\n').map((l) => line.exec(l)).filter((m) => m !== null).map((m) => Number(m[1].replace(/,/g, '')));
      const total = () => printed().reduce((sum, n) => sum + n, 0);
      let account = accountOf(recorder.dbPath, sent.pid, 0);
      for (let waited = 0; waited < 30_000 && (account.recorded + account.summarised < sent.sent || total() < account.summarised); waited += 250) {
        await settle(250);
        account = accountOf(recorder.dbPath, sent.pid, 0);
      }
      // A few polls more: a summary printed twice would show now.
      await settle(500);
      assert.equal(account.recorded + account.summarised + account.dropped, sent.sent, `premise: every send accounted for: ${JSON.stringify(account)}`);
      assert.ok(printed().length > 0, `a summary line for flooder[${sent.pid}]:\n${text}`);
      assert.equal(total(), account.summarised, `the lines add up to the summaries, each printed once:\n${text}`);
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
