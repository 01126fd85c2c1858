// The recorder, loaded into the running kernel, records real signals sent by
// real programs; every field of each row is checked as export shows it.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { kernelTestOptions, signallerPath } from './helpers/kernel';
import { exportedRows, startRecorder, type ExportedRow, type RunningRecorder } from './helpers/recorder';
import { exited, freePid, killInitAsNobody, processGroup, run, type Sent } from './helpers/senders';

/** A process that waits to be signalled. */
function target(): ChildProcess {
  return spawn('sleep', ['60'], { stdio: 'ignore' });
}

const loginUid = Number(readFileSync('/proc/self/loginuid', 'utf8'));
const expectedAuid = loginUid === 4294967295 ? null : loginUid;
const ownCgroup = /^0::(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1] ?? null;

/** What every row sent by a program this test started has in common. */
function sentByChild(pid: number, comm: string, uid = 0): Partial<ExportedRow> {
  return {
    sender_pid: pid,
    sender_tid: pid,
    sender_comm: comm,
    sender_uid: uid,
    sender_auid: expectedAuid,
    sender_ppid: process.pid,
    sender_cgroup: ownCgroup,
  };
}

function pick(row: ExportedRow | undefined, expected: Partial<ExportedRow>): Partial<ExportedRow> {
  assert.ok(row, `no row matching ${JSON.stringify(expected)}`);
  return Object.fromEntries(Object.keys(expected).map((key) => [key, row[key]]));
}

describe('recording real signals', kernelTestOptions, () => {
  let recorder: RunningRecorder;
  let rows: ExportedRow[];
  const startedMs = Date.now();
  const scenario: Record<string, Sent & { target?: number; extra?: Record<string, number> }> = {};

  before(async () => {
    const signaller = signallerPath();
    recorder = await startRecorder();

    // coreutils/procps kill, and signal 0 probes
    const coreutilsTarget = target();
    scenario.coreutilsTerm = { ...run('/bin/kill', ['-TERM', String(coreutilsTarget.pid)]), target: coreutilsTarget.pid };
    await exited(coreutilsTarget);
    scenario.coreutilsProbe = { ...run('/bin/kill', ['-0', String(process.pid)]), target: process.pid };

    // the bash builtin
    const bashTarget = target();
    scenario.bashTerm = { ...run('bash', ['-c', 'kill -TERM "$1"; kill -0 "$2"', '_', String(bashTarget.pid), String(process.pid)]), target: bashTarget.pid };
    await exited(bashTarget);

    // Python: os.kill, pthread_kill to another thread (tgkill), pidfd
    const pythonTarget = target();
    scenario.pythonKill = { ...run('python3', ['-c', 'import os,sys,signal; os.kill(int(sys.argv[1]), signal.SIGUSR1)', String(pythonTarget.pid)]), target: pythonTarget.pid };
    await exited(pythonTarget);
    scenario.pthreadKill = run('python3', ['-c', `
import signal, threading, os
signal.signal(signal.SIGUSR2, lambda *a: None)
ready = threading.Event(); done = threading.Event()
def worker():
    ready.set(); done.wait()
t = threading.Thread(target=worker); t.start(); ready.wait()
signal.pthread_kill(t.ident, signal.SIGUSR2)
print(t.native_id, flush=True)
done.set(); t.join()
`]);
    const pidfdTarget = target();
    scenario.pidfd = { ...run('python3', ['-c', 'import os,sys,signal; fd=os.pidfd_open(int(sys.argv[1])); signal.pidfd_send_signal(fd, signal.SIGTERM)', String(pidfdTarget.pid)]), target: pidfdTarget.pid };
    await exited(pidfdTarget);
    // a pidfd whose process is gone: the send fails, the pid behind the fd is still named
    scenario.pidfdGone = run('python3', ['-c', `
import os, signal, errno
pid = os.fork()
if pid == 0:
    os._exit(0)
fd = os.pidfd_open(pid)
os.waitpid(pid, 0)
try:
    signal.pidfd_send_signal(fd, signal.SIGTERM)
except ProcessLookupError:
    pass
print(pid, flush=True)
`]);

    // tkill, rt_sigqueueinfo, rt_tgsigqueueinfo through the C helper
    const tkillTarget = target();
    scenario.tkill = { ...run(signaller, ['tkill', String(tkillTarget.pid), '15']), target: tkillTarget.pid };
    await exited(tkillTarget);
    const queueTarget = target();
    scenario.sigqueue = { ...run(signaller, ['sigqueue', String(queueTarget.pid), '10']), target: queueTarget.pid };
    await exited(queueTarget);
    const tgqueueTarget = target();
    scenario.tgsigqueue = { ...run(signaller, ['tgsigqueue', String(tgqueueTarget.pid), String(tgqueueTarget.pid), '10']), target: tgqueueTarget.pid };
    await exited(tgqueueTarget);

    // a process group of three, killed with one kill(-pgid)
    const { parent: group, members } = await processGroup();
    scenario.groupKill = { ...run('/bin/kill', ['-TERM', '--', `-${members[0]}`]), target: members[0], extra: { a: members[0], b: members[1], c: members[2] } };
    await exited(group);

    // failures: no such process, and not permitted
    const free = freePid();
    scenario.esrch = { ...run('/bin/kill', ['-TERM', String(free)]), target: free };
    scenario.eperm = killInitAsNobody();

    // the kernel's own: a segfault, and SIGCHLD to this process when a child exits
    scenario.segfault = run('python3', ['-c', 'import ctypes; ctypes.string_at(0)']);
    scenario.childExit = run('true', []);
    // a real-time interval timer: its SIGALRM comes from a hard hrtimer, in interrupt context
    scenario.itimer = run('python3', ['-c', `
import signal, time
signal.signal(signal.SIGALRM, lambda *a: None)
signal.setitimer(signal.ITIMER_REAL, 0.02)
time.sleep(0.3)
`]);

    const { code, stderr } = await recorder.stop();
    assert.equal(code, 0, stderr);
    assert.match(stderr, /stopped on SIGTERM: recorded \d+ signals, dropped 0/);
    rows = exportedRows(recorder.dbPath);
  });

  after(async () => {
    await recorder?.stop();
  });

  const bySender = (pid: number, signal?: number) =>
    rows.filter((row) => row.sender_pid === pid && (signal === undefined || row.signal === signal));

  it('records kill -TERM from /bin/kill with every field', () => {
    const sent = scenario.coreutilsTerm;
    const found = bySender(sent.pid, 15);
    assert.equal(found.length, 1);
    const expected = {
      ...sentByChild(sent.pid, 'kill'),
      source: 'kill',
      target_pid: sent.target!,
      target_tid: null,
      delivered_pid: sent.target!,
      delivered_tid: sent.target!,
      delivered_comm: 'sleep',
      delivered_cgroup: ownCgroup,
      signal: 15,
      signal_name: 'SIGTERM',
      ret: 0,
      errno_name: '',
      result: 'delivered',
      si_code: 0,
      origin: null,
    };
    assert.deepEqual(pick(found[0], expected), expected);
    assert.equal(found[0].send_id, found[0].id);
    const ms = Number(BigInt(found[0].ts_ns as string) / 1_000_000n);
    assert.ok(ms >= startedMs - 1000 && ms <= Date.now(), `time ${found[0].time} is within the test`);
    assert.equal(found[0].time, new Date(ms).toISOString().slice(0, -1) + String(BigInt(found[0].ts_ns as string) % 1_000_000n).padStart(6, '0') + 'Z');
  });

  it('records kill -0 liveness probes as sends that reached no task', () => {
    const expected = {
      source: 'kill',
      target_pid: process.pid,
      delivered_pid: null,
      delivered_comm: null,
      signal: 0,
      signal_name: '',
      ret: 0,
      errno_name: '',
      result: null,
    };
    assert.deepEqual(pick(bySender(scenario.coreutilsProbe.pid, 0)[0], expected), expected);
    assert.deepEqual(pick(bySender(scenario.bashTerm.pid, 0)[0], expected), expected);
  });

  it('records the bash builtin kill', () => {
    const sent = scenario.bashTerm;
    const expected = { ...sentByChild(sent.pid, 'bash'), source: 'kill', target_pid: sent.target!, delivered_pid: sent.target!, delivered_comm: 'sleep', signal_name: 'SIGTERM', ret: 0, result: 'delivered' };
    assert.deepEqual(pick(bySender(sent.pid, 15)[0], expected), expected);
  });

  it('records Python os.kill', () => {
    const sent = scenario.pythonKill;
    const expected = { ...sentByChild(sent.pid, 'python3'), source: 'kill', target_pid: sent.target!, delivered_pid: sent.target!, delivered_comm: 'sleep', signal: 10, signal_name: 'SIGUSR1', ret: 0, result: 'delivered' };
    assert.deepEqual(pick(bySender(sent.pid, 10)[0], expected), expected);
  });

  it('records pthread_kill to another thread as tgkill naming that thread', () => {
    const sent = scenario.pthreadKill;
    const threadId = Number(sent.stdout.trim());
    assert.notEqual(threadId, sent.pid);
    const expected = { source: 'tgkill', sender_pid: sent.pid, target_pid: sent.pid, target_tid: threadId, delivered_pid: sent.pid, delivered_tid: threadId, delivered_comm: 'python3', signal_name: 'SIGUSR2', ret: 0, result: 'delivered', si_code: -6 };
    assert.deepEqual(pick(bySender(sent.pid, 12)[0], expected), expected);
  });

  it('records pidfd_send_signal with the pid behind the pidfd', () => {
    const sent = scenario.pidfd;
    const expected = { ...sentByChild(sent.pid, 'python3'), source: 'pidfd_send_signal', target_pid: sent.target!, delivered_pid: sent.target!, delivered_comm: 'sleep', signal_name: 'SIGTERM', ret: 0, errno_name: '', result: 'delivered' };
    assert.deepEqual(pick(bySender(sent.pid, 15)[0], expected), expected);
  });

  it('names the pid behind a pidfd whose process is gone, with ESRCH', () => {
    const sent = scenario.pidfdGone;
    const expected = { source: 'pidfd_send_signal', target_pid: Number(sent.stdout.trim()), delivered_pid: null, ret: -3, errno_name: 'ESRCH', result: null };
    assert.deepEqual(pick(bySender(sent.pid, 15)[0], expected), expected);
  });

  it('records tkill, rt_sigqueueinfo and rt_tgsigqueueinfo', () => {
    const tkill = scenario.tkill;
    const tkillExpected = { source: 'tkill', sender_comm: 'signaller', target_pid: tkill.target!, target_tid: tkill.target!, delivered_pid: tkill.target!, delivered_comm: 'sleep', ret: 0, si_code: -6 };
    assert.deepEqual(pick(bySender(tkill.pid, 15)[0], tkillExpected), tkillExpected);
    const queue = scenario.sigqueue;
    const queueExpected = { source: 'rt_sigqueueinfo', target_pid: queue.target!, target_tid: null, delivered_pid: queue.target!, delivered_comm: 'sleep', signal_name: 'SIGUSR1', ret: 0, si_code: -1 };
    assert.deepEqual(pick(bySender(queue.pid, 10)[0], queueExpected), queueExpected);
    const tgqueue = scenario.tgsigqueue;
    const tgqueueExpected = { source: 'rt_tgsigqueueinfo', target_pid: tgqueue.target!, target_tid: tgqueue.target!, delivered_pid: tgqueue.target!, delivered_tid: tgqueue.target!, delivered_comm: 'sleep', ret: 0, si_code: -1 };
    assert.deepEqual(pick(bySender(tgqueue.pid, 10)[0], tgqueueExpected), tgqueueExpected);
  });

  it('records a process-group kill as one send with a row per member', () => {
    const sent = scenario.groupKill;
    const found = bySender(sent.pid, 15);
    assert.equal(found.length, 3);
    assert.deepEqual(found.map((row) => row.delivered_pid).sort(), Object.values(sent.extra!).sort());
    for (const row of found) {
      assert.equal(row.target_pid, -sent.target!);
      assert.equal(row.ret, 0);
      assert.equal(row.source, 'kill');
      assert.equal(row.delivered_comm, 'python3');
      assert.equal(row.send_id, found[0].id);
    }
    assert.deepEqual(found.map((row) => BigInt(row.id as string) - BigInt(found[0].id as string)), [0n, 1n, 2n]);
  });

  it('records a kill to a pid that does not exist as ESRCH', () => {
    const sent = scenario.esrch;
    const expected = { source: 'kill', target_pid: sent.target!, delivered_pid: null, delivered_comm: null, ret: -3, errno_name: 'ESRCH', result: null };
    assert.deepEqual(pick(bySender(sent.pid, 15)[0], expected), expected);
  });

  it('records a kill the sender may not send as EPERM, with its uid', () => {
    const sent = scenario.eperm;
    const expected = { source: 'kill', sender_uid: 65534, target_pid: 1, delivered_pid: null, ret: -1, errno_name: 'EPERM', result: null };
    assert.deepEqual(pick(bySender(sent.pid, 15)[0], expected), expected);
  });

  it('records the kernel SIGSEGV of a crashing program as a fault', () => {
    const sent = scenario.segfault;
    const expected = { source: 'kernel', sender_pid: sent.pid, sender_comm: 'python3', target_pid: null, delivered_pid: sent.pid, delivered_comm: 'python3', signal_name: 'SIGSEGV', ret: null, result: 'delivered', si_code: 1, origin: 'fault' };
    assert.deepEqual(pick(bySender(sent.pid, 11)[0], expected), expected);
  });

  it('records a timer SIGALRM as raised in interrupt context, blaming no task', () => {
    const sent = scenario.itimer;
    const alarm = rows.find((row) => row.delivered_pid === sent.pid && row.signal === 14);
    const expected = { source: 'kernel', sender_pid: null, sender_comm: null, delivered_pid: sent.pid, signal_name: 'SIGALRM', result: 'delivered', origin: 'timer' };
    assert.deepEqual(pick(alarm, expected), expected);
  });

  it('records SIGCHLD to the parent when a child exits', () => {
    const sent = scenario.childExit;
    const expected = { source: 'kernel', sender_pid: sent.pid, sender_comm: 'true', delivered_pid: process.pid, signal_name: 'SIGCHLD', result: 'delivered', si_code: 1, origin: 'child' };
    assert.deepEqual(pick(bySender(sent.pid, 17)[0], expected), expected);
  });
});
