// Flood resistance (bpf/flood.h): an unprivileged user flooding signals
// costs only its own detail. Real floods from uid 65534, real kills from
// root, a deliberately small ring buffer, and the flooders' own counts
// checked against what the recorder recorded, summarised and dropped.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import Database from 'better-sqlite3';
import { describe, it } from 'node:test';
import { AS_NOBODY, NOBODY, accountOf, flood } from './helpers/flood';
import { exited } from './helpers/senders';
import { kernelTestOptions } from './helpers/kernel';
import { runCli, startRecorder } from './helpers/recorder';

const SIGUSR1 = 10;
const SIGTERM = 15;

/** A python3 process that ignores SIGUSR1 (so it is not fatal) until killed, started through `launcher`. */
async function ignoringTarget(launcher: string[]): Promise<ChildProcess> {
  const code = "import signal, sys, time\nsignal.signal(signal.SIGUSR1, signal.SIG_IGN)\nprint('ready', flush=True)\ntime.sleep(300)";
  // By path: root's PATH may lead to a python3 other users cannot run.
  const child = spawn(launcher[0], [...launcher.slice(1), '/usr/bin/python3', '-c', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`the target exited with ${code} before it was ready`)));
  });
  return child;
}

describe('flood resistance', kernelTestOptions, () => {
  it("keeps every kill by another sender while uid 65534 floods, and accounts for every one of the flood's sends", async () => {
    // A small ring, so without the budget the flood would overflow it.
    const recorder = await startRecorder(undefined, ['--ring-size', '64K']);
    const victims: ChildProcess[] = [];
    let flooding = true;
    const killer = (async () => {
      while (flooding) {
        const victim = spawn('sleep', ['600'], { stdio: 'ignore' });
        victims.push(victim);
        await exited(spawn('/bin/kill', ['-TERM', String(victim.pid)], { stdio: 'inherit' }));
        await exited(victim);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    // Long enough to outlast several kills on a quiet host too.
    const floods = await Promise.all([flood(['1000000', '0', 'self']), flood(['1000000', '0', 'self'])]);
    flooding = false;
    await killer;
    const { code, stderr } = await recorder.stop();
    assert.equal(code, 0, stderr);

    const db = new Database(recorder.dbPath, { readonly: true });
    // Other kills on the host are recorded too: only the victims' count.
    const pids = victims.map((victim) => victim.pid!);
    const killed = db
      .prepare(`SELECT delivered_pid FROM signals WHERE sender_comm = 'kill' AND signal = ? AND result = 'delivered' AND delivered_pid IN (${pids.join(', ')})`)
      .all(SIGTERM)
      .map((row) => (row as { delivered_pid: number }).delivered_pid);
    const run = db.prepare('SELECT summarised FROM runs').get() as { summarised: number };
    db.close();
    assert.ok(victims.length >= 5, `premise: the flood lasted through several kills (${victims.length})`);
    assert.deepEqual(killed.sort(), pids.sort(), 'every kill by root is recorded');

    let summarised = 0;
    for (const sent of floods) {
      const account = accountOf(recorder.dbPath, sent.pid, 0);
      assert.equal(account.recorded + account.summarised + account.dropped, sent.sent, `flooder ${sent.pid}: ${JSON.stringify(account)}`);
      assert.ok(account.summarised > 0, 'beyond the budget, sends are summarised');
      assert.ok(account.recorded < sent.sent / 10, `most of the flood is summarised, not recorded (${account.recorded} rows)`);
      summarised += account.summarised;
    }
    assert.ok(run.summarised >= summarised, `the run counts the summarised sends (${run.summarised} >= ${summarised})`);

    const [first] = floods;
    const account = accountOf(recorder.dbPath, first.pid, 0);
    const listed = runCli(['query', 'list', '--sender-pid', String(first.pid), '--limit', '1', '--db', recorder.dbPath]);
    assert.equal(listed.code, 0, listed.stderr);
    const warning = (listed.stdout + listed.stderr).replace(/\s+/g, ' ');
    // "any": the kernel keeps a coarser key when others' floods at ever new pids fill its summary map.
    const says = new RegExp(`flooder\\[${first.pid}\\] \\(uid ${NOBODY}\\) sent ${account.summarised.toLocaleString('en-US')} × kill\\((self|any), 0\\) between`);
    assert.match(warning, says, 'the answer names the summarised sends');
    const status = JSON.parse(runCli(['status', '--format', 'json', '--db', recorder.dbPath]).stdout);
    assert.equal(status.runs[0].summarised, run.summarised);
  });

  it('summarises a flood at processes of its own uid beyond the budget, but records the signal that kills one', async () => {
    const recorder = await startRecorder();
    const target = await ignoringTarget(AS_NOBODY);
    const sent = await flood(['20000', String(SIGUSR1), String(target.pid), String(SIGTERM), String(target.pid)]);
    await exited(target);
    const { code, stderr } = await recorder.stop();
    assert.equal(code, 0, stderr);

    assert.equal(sent.failed, 0);
    const usr1 = accountOf(recorder.dbPath, sent.pid, SIGUSR1);
    assert.equal(usr1.recorded + usr1.summarised + usr1.dropped, sent.sent - 1, JSON.stringify(usr1));
    assert.ok(usr1.summarised > 0, `beyond the budget, signals to its own uid are summarised: ${JSON.stringify(usr1)}`);
    const db = new Database(recorder.dbPath, { readonly: true });
    const kills = db.prepare('SELECT delivered_pid, result FROM signals WHERE sender_pid = ? AND signal = ?').all(sent.pid, SIGTERM);
    db.close();
    assert.deepEqual(kills, [{ delivered_pid: target.pid, result: 'delivered' }], 'the fatal signal is recorded, over budget or not');
  });

  it('records in full a flood at a process of another uid', async () => {
    const recorder = await startRecorder();
    // Real uid 65534, so uid 65534 may signal it; effective uid 1000: another user's process.
    const target = await ignoringTarget(['setpriv', `--ruid=${NOBODY}`, '--euid=1000', `--regid=${NOBODY}`, '--clear-groups']);
    const sent = await flood(['3000', String(SIGUSR1), String(target.pid)]);
    target.kill('SIGKILL');
    await exited(target);
    const { code, stderr } = await recorder.stop();
    assert.equal(code, 0, stderr);

    assert.equal(sent.failed, 0, 'premise: the target accepts the signals');
    const account = accountOf(recorder.dbPath, sent.pid, SIGUSR1);
    assert.equal(account.summarised, 0, 'never summarised');
    assert.equal(account.recorded + account.dropped, sent.sent, JSON.stringify(account));
  });
});
