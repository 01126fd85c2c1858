// The reports answer exactly, from a database the real recorder filled
// with real signals: kill(1), a pidfd, a process-group kill, a reused pid,
// a kernel SIGSEGV, an ESRCH, an EPERM and liveness probes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { after, before, describe, it } from 'node:test';
import { kernelTestOptions, signallerPath } from './helpers/kernel';
import { runCli, settle, startRecorder, type RunningRecorder } from './helpers/recorder';
import { exited, freePid, killInitAsNobody, processGroup, run } from './helpers/senders';

/** Runs the CLI and parses its json output. */
function queryJson(args: string[]): any {
  const { code, stdout, stderr } = runCli([...args, '--format', 'json']);
  assert.equal(code, 0, stderr);
  if (process.env.DEBUG_JSON) require('node:fs').writeFileSync(process.env.DEBUG_JSON, stdout);
  return JSON.parse(stdout.replace(/"(ts_ns|id|send_id)":(\d+)/g, '"$1":"$2"'));
}

// Kills a sleep with SIGTERM, then gets the same pid again (writing
// ns_last_pid, retried if another fork takes it first) for a second sleep,
// and kills that one with SIGKILL. Prints the pid, or "none".
const REUSE_PID = `
import os, signal, time
def sleeper():
    pid = os.fork()
    if pid == 0:
        os.execvp('sleep', ['sleep', '60'])
    return pid
first = sleeper()
time.sleep(0.2)
os.kill(first, signal.SIGTERM)
os.waitpid(first, 0)
for attempt in range(50):
    with open('/proc/sys/kernel/ns_last_pid', 'w') as f:
        f.write(str(first - 1))
    second = sleeper()
    if second == first:
        break
    os.kill(second, signal.SIGKILL)
    os.waitpid(second, 0)
else:
    print('none', flush=True)
    raise SystemExit(0)
time.sleep(0.2)
os.kill(second, signal.SIGKILL)
os.waitpid(second, 0)
print(first, flush=True)
`;

describe('query reports on real signals', kernelTestOptions, () => {
  let recorder: RunningRecorder;
  let db: string;
  const pids: Record<string, number> = {};
  let group: number[] = [];
  let groupKiller = 0;

  before(async () => {
    recorder = await startRecorder();
    db = recorder.dbPath;

    // kill(1) with a liveness probe before it
    const termTarget = spawn('sleep', ['60'], { stdio: 'ignore' });
    pids.termTarget = termTarget.pid!;
    pids.prober = run('/bin/kill', ['-0', String(termTarget.pid)]).pid;
    pids.termKiller = run('/bin/kill', ['-TERM', String(termTarget.pid)]).pid;
    await exited(termTarget);

    // pidfd_send_signal
    const pidfdTarget = spawn('sleep', ['60'], { stdio: 'ignore' });
    pids.pidfdTarget = pidfdTarget.pid!;
    pids.pidfdKiller = run('python3', ['-c', 'import os,sys,signal; signal.pidfd_send_signal(os.pidfd_open(int(sys.argv[1])), signal.SIGKILL)', String(pidfdTarget.pid)]).pid;
    await exited(pidfdTarget);

    // a process group of three, killed with one kill(-pgid)
    const { parent, members } = await processGroup();
    group = members;
    groupKiller = run('/bin/kill', ['-TERM', '--', `-${group[0]}`]).pid;
    await exited(parent);

    // the kernel's SIGSEGV
    pids.segfault = run('python3', ['-c', 'import ctypes; ctypes.string_at(0)']).pid;

    // ESRCH and EPERM
    pids.free = freePid();
    pids.esrchKiller = run('/bin/kill', ['-TERM', String(pids.free)]).pid;
    pids.epermKiller = killInitAsNobody().pid;

    // a burst from one sender, for exact top-senders counts
    pids.burst = run(signallerPath(), ['burst', '250', '12']).pid; // and its exit's SIGCHLD

    // a reused pid
    const reuse = run('python3', ['-c', REUSE_PID]);
    pids.reused = reuse.stdout.trim() === 'none' ? 0 : Number(reuse.stdout.trim());
    pids.reuser = reuse.pid;

    await settle();
    const status = queryJson(['status', '--db', db]);
    assert.equal(status.recording, true, 'status sees the running recorder');
    const { code, stderr } = await recorder.stop();
    assert.equal(code, 0, stderr);
  });

  after(async () => {
    await recorder?.stop();
  });

  it('who-killed: kill -TERM, newest first, probe left out, and the verdict', () => {
    const report = queryJson(['query', 'who-killed', String(pids.termTarget), '--db', db]);
    assert.deepEqual(
      report.rows.map((row: any) => [row.sender_pid, row.sender_comm, row.signal_name, row.source, row.ret, row.result]),
      [[pids.termKiller, 'kill', 'SIGTERM', 'kill', 0, 'delivered']],
    );
    assert.equal(report.processes.length, 1);
    assert.equal(report.processes[0].comm, 'sleep');
    assert.equal(report.processes[0].exit.how, 'killed by a signal');
    assert.match(report.verdict, new RegExp(`^pid ${pids.termTarget} \\(sleep\\) was killed by SIGTERM from kill\\[${pids.termKiller}\\] \\(uid 0`));
    const withProbes = queryJson(['query', 'who-killed', String(pids.termTarget), '--include-probes', '--db', db]);
    assert.deepEqual(withProbes.rows.map((row: any) => [row.sender_pid, row.signal]), [[pids.termKiller, 15], [pids.prober, 0]]);
  });

  it('who-killed: a pidfd SIGKILL names the pidfd path', () => {
    const report = queryJson(['query', 'who-killed', String(pids.pidfdTarget), '--db', db]);
    assert.deepEqual(report.rows.map((row: any) => [row.sender_pid, row.signal_name, row.source]), [[pids.pidfdKiller, 'SIGKILL', 'pidfd_send_signal']]);
    assert.match(report.verdict, /was killed by SIGKILL from python3\[\d+\] .* via pidfd/);
  });

  it('who-killed: a process-group kill reached each member', () => {
    for (const member of group) {
      const report = queryJson(['query', 'who-killed', String(member), '--db', db]);
      assert.deepEqual(report.rows.map((row: any) => [row.sender_pid, row.target_pid, row.delivered_pid, row.signal_name]), [[groupKiller, -group[0], member, 'SIGTERM']]);
    }
    const table = runCli(['query', 'who-killed', String(group[1]), '--db', db]).stdout;
    assert.match(table, /SIGTERM\s+kill\[\d+\]\s+0\s+kill\(-pg\)\s+delivered/);
  });

  it('who-killed: the kernel SIGSEGV of a crash', () => {

    const report = queryJson(['query', 'who-killed', String(pids.segfault), '--db', db]);
    // (python3 may be a wrapper script that execs it: rows to its earlier name are kept apart)
    const rows = report.rows.filter((row: any) => row.signal !== 17);
    assert.deepEqual(rows.map((row: any) => [row.source, row.origin, row.signal_name, row.delivered_comm]), [['kernel', 'fault', 'SIGSEGV', 'python3']]);
    assert.equal(new Set(report.rows.map((row: any) => row.process)).size, 1, 'an exec is the same process');
    assert.match(report.verdict, /was killed by SIGSEGV from the kernel \(a fault in the process itself\)/);
  });

  it('who-killed: a reused pid is two processes, never mixed', (t) => {
    if (pids.reused === 0) return t.skip('could not get the same pid twice (another process forked in between each time)');
    const report = queryJson(['query', 'who-killed', String(pids.reused), '--db', db]);
    assert.deepEqual(report.processes.map((p: any) => [p.process, p.comm, p.exit?.how]), [[1, 'sleep', 'killed by a signal'], [2, 'sleep', 'killed by a signal']]);
    assert.deepEqual(report.rows.map((row: any) => [row.process, row.signal_name, row.sender_pid]), [[2, 'SIGKILL', pids.reuser], [1, 'SIGTERM', pids.reuser]]);
    assert.match(report.verdict, new RegExp(`^pid ${pids.reused} belonged to 2 processes .* was killed by SIGKILL from python3\\[${pids.reuser}\\]`));
  });

  it('who-killed: an ESRCH to a free pid is shown as a send that reached nothing', () => {
    const report = queryJson(['query', 'who-killed', String(pids.free), '--db', db]);
    assert.deepEqual(report.rows.map((row: any) => [row.sender_pid, row.errno_name, row.delivered_pid]), [[pids.esrchKiller, 'ESRCH', null]]);
  });

  it('failed: ESRCH and EPERM grouped by sender and target', () => {
    const report = queryJson(['query', 'failed', '--db', db]);
    const mine = report.groups.filter((group: any) => group.last_sender_pid === pids.esrchKiller || group.last_sender_pid === pids.epermKiller);
    assert.deepEqual(
      mine.map((group: any) => [group.sender_comm, group.sender_uid, group.target_pid, group.errno_name, group.count, group.signals]).sort(),
      [['kill', 0, pids.free, 'ESRCH', 1, 'SIGTERM'], ['python3', 65534, 1, 'EPERM', 1, 'SIGTERM']].sort(),
    );
    const raw = queryJson(['query', 'failed', '--raw', '--uid', '65534', '--db', db]);
    assert.deepEqual(raw.rows.map((row: any) => [row.sender_pid, row.target_pid, row.ret]), [[pids.epermKiller, 1, -1]]);
  });

  it('top-senders: exact totals for one sender, sends against deliveries', () => {
    const burst = queryJson(['query', 'top-senders', '--by', 'pid', '--sender-pid', String(pids.burst), '--db', db]);
    assert.deepEqual(burst.senders.map((s: any) => [s.sender_pid, s.label, s.total]), [[pids.burst, `signaller[${pids.burst}]`, 251]]);
    assert.equal(burst.senders[0].counts.reduce((a: number, b: number) => a + b, 0), 251);
    const sends = queryJson(['query', 'top-senders', '--sender-pid', String(groupKiller), '--source', 'syscall', '--db', db]);
    assert.deepEqual(sends.senders.map((s: any) => [s.sender_comm, s.total]), [['kill', 1]]);
    const deliveries = queryJson(['query', 'top-senders', '--sender-pid', String(groupKiller), '--source', 'syscall', '--per-target', '--db', db]);
    assert.deepEqual(deliveries.senders.map((s: any) => [s.sender_comm, s.total]), [['kill', 3]]);
    const byComm = queryJson(['query', 'top-senders', '--by', 'comm', '--sender-comm', 'signaller', '--signal', 'USR2', '--db', db]);
    assert.deepEqual(byComm.senders.map((s: any) => [s.sender_comm, s.total]), [['signaller', 250]]);
  });

  it('list: csv parses back to the same rows as json', () => {
    const args = ['query', 'list', '--limit', '0', '--per-target', '--include-probes', '--db', db];
    const fromJson = queryJson(args).rows;
    const { stdout } = runCli([...args, '--format', 'csv']);
    const fromCsv = parse(stdout, { columns: true }) as Record<string, string>[];
    assert.ok(fromJson.length > 250);
    assert.equal(fromCsv.length, fromJson.length);
    const asText = (row: Record<string, unknown>) => Object.fromEntries(Object.entries(row).map(([key, value]) => [key, value === null ? '' : String(value)]));
    assert.deepEqual(fromCsv, fromJson.map(asText));
  });

  it('list and export take the same filters', () => {
    const listed = queryJson(['query', 'list', '--sender-pid', String(pids.burst), '--signal', '12', '--limit', '0', '--db', db]).rows;
    assert.equal(listed.length, 250);
    const { code, stdout } = runCli(['export', '--format', 'jsonl', '--sender-pid', String(pids.burst), '--signal', 'SIGUSR2', '--db', db]);
    assert.equal(code, 0);
    assert.equal(stdout.trim().split('\n').length, 250);
    assert.equal(runCli(['export', '--format', 'jsonl', '--sender-pid', String(pids.prober), '--source', 'kill', '--no-probes', '--db', db]).stdout, '');
    assert.equal(runCli(['export', '--format', 'jsonl', '--sender-pid', String(pids.prober), '--source', 'kill', '--db', db]).stdout.split('\n').length, 2);
  });

  it('sql: answers a SELECT and refuses a write, leaving the file untouched', () => {
    const rows = queryJson(['query', 'sql', `SELECT count(*) AS n FROM signals WHERE sender_pid = ${pids.burst} AND signal = 12`, '--db', db]);
    assert.deepEqual(rows, [{ n: 250 }]);
    const before = statSync(db).mtimeMs;
    for (const statement of ['DELETE FROM signals_hot', 'DROP TABLE runs', "UPDATE runs SET host = 'x'", 'SELECT 1; DELETE FROM runs']) {
      const { code, stderr } = runCli(['query', 'sql', statement, '--db', db]);
      assert.equal(code, 2, statement);
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
      assert.match(stderr, /refuses|one statement|SQL error/);
    }
    assert.equal(statSync(db).mtimeMs, before);
    assert.equal(queryJson(['query', 'sql', 'SELECT count(*) AS n FROM runs', '--db', db])[0].n, 1);
  });

  it('status: rows, the run that stopped, no drops', () => {
    const status = queryJson(['status', '--db', db]);
    assert.equal(status.recording, false);
    assert.deepEqual(status.runs.map((run: any) => [run.stop_reason, run.crashed]), [['stopped', false]]);
    assert.equal(status.dropped, 0);
    assert.ok(status.rows > 250);
    assert.ok(status.from <= status.to);
  });

  it('tables fit in 80 columns', () => {
    for (const args of [
      ['query', 'who-killed', String(group[0])],
      ['query', 'failed'],
      ['query', 'failed', '--raw'],
      ['query', 'top-senders'],
      ['query', 'top-senders', '--by', 'unit'],
      ['query', 'list', '--details'],
      ['status'],
    ]) {
      const { code, stdout, stderr } = runCli([...args, '--db', db]);
      assert.equal(code, 0, stderr);
      for (const line of stdout.split('\n')) assert.ok([...line].length <= 80, `${args.join(' ')}: ${line}`);
    }
  });
});
