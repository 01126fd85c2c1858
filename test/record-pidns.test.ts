// A recorder inside a pid namespace (unshare --pid --mount-proc, as a
// container runs it) records each pid also as that namespace numbers it, and
// `who-killed <pid>` run there answers for the pids its users see; a sender
// outside has no pid there (0), and a recorder in the initial namespace
// stores no namespace pids for its own processes.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { kernelTestOptions } from './helpers/kernel';
import { CLI, exportedRows, settle, startRecorder, tempDbPath, type ExportedRow, type RunningRecorder } from './helpers/recorder';
import { exited, freePid, run } from './helpers/senders';

/** The host pids of a process's children (it has forked once it has one). */
async function childOf(pid: number): Promise<number> {
  for (let tries = 0; tries < 100; tries++) {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    if (children !== '') return Number(children.split(' ')[0]);
    await settle(50);
  }
  throw new Error(`process ${pid} never forked`);
}

/** Its pids, from the outermost namespace in: NSpid in /proc/<pid>/status. */
function nsPids(hostPid: number): number[] {
  return /^NSpid:\s*(.*)$/m.exec(readFileSync(`/proc/${hostPid}/status`, 'utf8'))![1].split(/\s+/).map(Number);
}

describe('pids inside a pid namespace', kernelTestOptions, () => {
  let namespace: ChildProcess;
  /** The namespace's pid 1, by its host pid: nsenter's target. */
  let init: number;
  let enter: string[];
  let inside: RunningRecorder;
  let host: RunningRecorder;
  let insideRows: ExportedRow[];
  let hostRows: ExportedRow[];
  const sent: Record<string, number> = {};

  before(async () => {
    namespace = spawn('unshare', ['--pid', '--fork', '--kill-child', '--mount-proc', 'sleep', 'infinity'], { stdio: 'ignore' });
    init = await childOf(namespace.pid!);
    assert.deepEqual(nsPids(init).slice(1), [1], 'premise: the namespace has its own pid 1');
    enter = ['nsenter', '-t', String(init), '--pid', '--mount'];
    inside = await startRecorder(tempDbPath(), [], enter);
    host = await startRecorder();

    // Inside: bash kills its own child, by the pid it sees.
    const inNamespace = spawnSync(enter[0], [...enter.slice(1), 'bash', '-c', 'sleep 60 & victim=$!; kill -TERM $victim; wait $victim; echo $$ $victim'], { encoding: 'utf8' });
    assert.equal(inNamespace.status, 0, inNamespace.stderr);
    [sent.insideSender, sent.insideVictim] = inNamespace.stdout.trim().split(' ').map(Number);

    // Outside: kill(1) from the host reaches a process of the namespace by its host pid.
    const victim = spawn(enter[0], [...enter.slice(1), 'sh', '-c', 'exec sleep 60'], { stdio: 'ignore' });
    sent.outsideVictimHost = await childOf(victim.pid!);
    sent.outsideVictim = nsPids(sent.outsideVictimHost)[1];
    sent.outsideSender = run('/bin/kill', ['-USR1', String(sent.outsideVictimHost)]).pid;
    await exited(victim);
    // ... and a host pid no process has: the namespace cannot name it.
    sent.free = freePid();
    sent.failedSender = run('/bin/kill', ['-TERM', String(sent.free)]).pid;

    await settle(1500);
    // nsenter waits for the recorder it forked but passes no signal on: stop the recorder itself.
    const insideExited = exited(inside.process);
    process.kill(await childOf(inside.process.pid!), 'SIGTERM');
    await insideExited;
    for (const recorder of [inside, host]) {
      const stopped = await recorder.stop();
      assert.equal(stopped.code, 0, stopped.stderr);
    }
    insideRows = exportedRows(inside.dbPath);
    hostRows = exportedRows(host.dbPath);
  });

  after(() => {
    // The namespace ends with its pid 1, and every process left in it with it.
    if (init) process.kill(init, 'SIGKILL');
    namespace?.kill('SIGKILL');
  });

  const columns = ['sender_pid', 'sender_ns_pid', 'target_pid', 'target_ns_pid', 'delivered_pid', 'delivered_ns_pid', 'signal_name'];
  const pick = (row: ExportedRow | undefined) => {
    assert.ok(row, 'the row was recorded');
    return Object.fromEntries(columns.map((column) => [column, row[column]]));
  };

  it('a send inside carries the namespace pids, the global ones beside them', () => {
    const row = insideRows.find((r) => r.delivered_ns_pid === sent.insideVictim && r.signal_name === 'SIGTERM' && r.source === 'kill');
    const victimHost = Number(row?.delivered_pid);
    const senderHost = Number(row?.sender_pid);
    assert.notEqual(victimHost, sent.insideVictim, 'the global pid differs from the namespace pid');
    assert.deepEqual(pick(row), {
      sender_pid: senderHost, sender_ns_pid: sent.insideSender,
      // The sender gave the pid it sees, which is the recorder's too: nothing to add.
      target_pid: sent.insideVictim, target_ns_pid: null,
      delivered_pid: victimHost, delivered_ns_pid: sent.insideVictim, signal_name: 'SIGTERM',
    });
  });

  it('who-killed <namespace pid>, run inside the namespace, names the sender by the pids seen there', () => {
    const result = spawnSync(enter[0], [...enter.slice(1), process.execPath, CLI, 'query', 'who-killed', String(sent.insideVictim), '--db', inside.dbPath, '--format', 'json'], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    const mine = report.rows.filter((row: ExportedRow) => row.signal_name === 'SIGTERM' && row.sender_ns_pid === sent.insideSender);
    assert.equal(mine.length, 1, result.stdout);
    assert.ok(report.processes.some((segment: { ns_pid: number }) => segment.ns_pid === sent.insideVictim));
    // (the victim may not have exec'd sleep yet when the kill came: its name is left open)
    assert.match(report.verdict, new RegExp(`^pid ${sent.insideVictim} \\((?:[\\w-]+; )?host pid ${mine[0].delivered_pid}\\) was killed by SIGTERM from bash\\[${sent.insideSender}\\] \\(host ${mine[0].sender_pid}\\)`));
  });

  it('a sender outside the namespace has no pid there (0), and its target is named by the task reached', () => {
    const row = insideRows.find((r) => r.sender_pid === sent.outsideSender && r.signal_name === 'SIGUSR1');
    assert.deepEqual(pick(row), {
      sender_pid: sent.outsideSender, sender_ns_pid: 0,
      target_pid: sent.outsideVictimHost, target_ns_pid: sent.outsideVictim,
      delivered_pid: sent.outsideVictimHost, delivered_ns_pid: sent.outsideVictim, signal_name: 'SIGUSR1',
    });
    const failed = insideRows.find((r) => r.sender_pid === sent.failedSender && r.signal_name === 'SIGTERM');
    assert.deepEqual(pick(failed), {
      sender_pid: sent.failedSender, sender_ns_pid: 0, target_pid: sent.free, target_ns_pid: 0,
      delivered_pid: null, delivered_ns_pid: null, signal_name: 'SIGTERM',
    });
    const result = spawnSync(enter[0], [...enter.slice(1), process.execPath, CLI, 'query', 'who-killed', String(sent.outsideVictim), '--db', inside.dbPath, '--format', 'json'], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.match(JSON.parse(result.stdout).verdict, new RegExp(`was killed by SIGUSR1 from kill\\[host ${sent.outsideSender}\\]`));
  });

  it('--sender-pid and --target-pid take the namespace pid as well as the global one', () => {
    const query = (args: string[]) => {
      const result = spawnSync(process.execPath, [CLI, 'query', 'list', '--db', inside.dbPath, '--format', 'json', ...args], { encoding: 'utf8' });
      assert.equal(result.status, 0, result.stderr);
      return (JSON.parse(result.stdout).rows as ExportedRow[]).filter((row) => row.signal_name === 'SIGTERM' && row.delivered_ns_pid === sent.insideVictim);
    };
    const byNamespace = query(['--sender-pid', String(sent.insideSender), '--target-pid', String(sent.insideVictim)]);
    assert.equal(byNamespace.length, 1);
    assert.equal(query(['--sender-pid', String(byNamespace[0].sender_pid), '--target-pid', String(byNamespace[0].delivered_pid)]).length, 1);
  });

  it('a recorder in the initial namespace stores no namespace pids for its own tasks, and names a given pid from inside by the task reached', () => {
    const inner = insideRows.find((r) => r.delivered_ns_pid === sent.insideVictim && r.signal_name === 'SIGTERM' && r.source === 'kill')!;
    const row = hostRows.find((r) => r.sender_pid === inner.sender_pid && r.signal_name === 'SIGTERM');
    assert.deepEqual(pick(row), {
      sender_pid: inner.sender_pid, sender_ns_pid: null,
      // The sender gave its own namespace's pid; the host numbers that task otherwise.
      target_pid: sent.insideVictim, target_ns_pid: inner.delivered_pid,
      delivered_pid: inner.delivered_pid, delivered_ns_pid: null, signal_name: 'SIGTERM',
    });
    const outside = hostRows.find((r) => r.sender_pid === sent.outsideSender && r.signal_name === 'SIGUSR1');
    assert.deepEqual(pick(outside), {
      sender_pid: sent.outsideSender, sender_ns_pid: null, target_pid: sent.outsideVictimHost, target_ns_pid: null,
      delivered_pid: sent.outsideVictimHost, delivered_ns_pid: null, signal_name: 'SIGUSR1',
    });
  });
});
