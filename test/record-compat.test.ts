// 32-bit (ia32) programs on x86_64 enter the kernel through the compat
// syscall table, which the syscalls: tracepoints never see. With --ia32 the
// raw sys_exit sees them end, so their sends are recorded like any other;
// without it only the sends that reached a task are (signal_generate sees
// those), and failures and signal 0 probes are the documented gap.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { arch } from 'node:os';
import { describe, it } from 'node:test';
import { kernelTestOptions, signallerPath } from './helpers/kernel';
import { exportedRows, startRecorder } from './helpers/recorder';

const options = arch() === 'x64' ? kernelTestOptions : { skip: 'ia32 compat syscalls exist on x86_64 only' };

/** A probe, a delivered sigqueue and a failed tkill from a 32-bit sender, recorded with extraArgs. */
async function sendFrom32Bit(extraArgs: string[]) {
  const signaller32 = signallerPath(32);
  const recorder = await startRecorder(undefined, extraArgs);
  const target = spawn('sleep', ['60'], { stdio: 'ignore' });
  const probe = spawnSync(signaller32, ['kill', String(target.pid), '0'], { encoding: 'utf8' });
  const queue = spawnSync(signaller32, ['sigqueue', String(target.pid), '10'], { encoding: 'utf8' });
  await new Promise((resolve) => target.once('exit', resolve));
  const gone = spawnSync(signaller32, ['tkill', String(target.pid), '15'], { encoding: 'utf8' });
  assert.equal((await recorder.stop()).code, 0);

  const rows = exportedRows(recorder.dbPath);
  const keys = ['source', 'sender_comm', 'target_pid', 'target_tid', 'delivered_pid', 'signal', 'ret', 'errno_name', 'si_code'];
  // Each sender's own exit SIGCHLD is the kernel's, not its send.
  const sent = (pid: number) => rows.filter((r) => r.sender_pid === pid && r.origin !== 'child').map((row) => Object.fromEntries(keys.map((key) => [key, row[key]])));
  return { target: target.pid!, probe: sent(probe.pid!), queue: sent(queue.pid!), gone: sent(gone.pid!) };
}

describe('32-bit senders', options, () => {
  it('with --ia32: records their kill, tkill and rt_sigqueueinfo with return values, failures included', async () => {
    const { target, probe, queue, gone } = await sendFrom32Bit(['--ia32']);
    assert.deepEqual(probe, [{ source: 'kill', sender_comm: 'signaller32', target_pid: target, target_tid: null, delivered_pid: null, signal: 0, ret: 0, errno_name: '', si_code: 0 }]);
    assert.deepEqual(queue, [{ source: 'rt_sigqueueinfo', sender_comm: 'signaller32', target_pid: target, target_tid: null, delivered_pid: target, signal: 10, ret: 0, errno_name: '', si_code: -1 }]);
    assert.deepEqual(gone, [{ source: 'tkill', sender_comm: 'signaller32', target_pid: target, target_tid: target, delivered_pid: null, signal: 15, ret: -3, errno_name: 'ESRCH', si_code: -6 }]);
  });

  it('without --ia32: records the sends that reached a task, and not their probes or failures', async () => {
    const { target, probe, queue, gone } = await sendFrom32Bit([]);
    assert.deepEqual(queue, [{ source: 'rt_sigqueueinfo', sender_comm: 'signaller32', target_pid: target, target_tid: null, delivered_pid: target, signal: 10, ret: 0, errno_name: '', si_code: -1 }]);
    assert.deepEqual(probe, []);
    assert.deepEqual(gone, []);
  });
});
