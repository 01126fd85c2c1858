// 32-bit (ia32) programs on x86_64 enter the kernel through the compat
// syscall table, which the syscalls: tracepoints never see; the raw syscall
// tracepoints do, so their sends are recorded like any other.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { arch } from 'node:os';
import { describe, it } from 'node:test';
import { kernelTestOptions, signallerPath } from './helpers/kernel';
import { exportedRows, startRecorder } from './helpers/recorder';

const options = arch() === 'x64' ? kernelTestOptions : { skip: 'ia32 compat syscalls exist on x86_64 only' };

describe('32-bit senders', options, () => {
  it('records their kill, tkill and rt_sigqueueinfo with return values, failures included', async () => {
    const signaller32 = signallerPath(32);
    const recorder = await startRecorder();
    const target = spawn('sleep', ['60'], { stdio: 'ignore' });
    const probe = spawnSync(signaller32, ['kill', String(target.pid), '0'], { encoding: 'utf8' });
    const queue = spawnSync(signaller32, ['sigqueue', String(target.pid), '10'], { encoding: 'utf8' });
    await new Promise((resolve) => target.once('exit', resolve));
    const gone = spawnSync(signaller32, ['tkill', String(target.pid), '15'], { encoding: 'utf8' });
    assert.equal((await recorder.stop()).code, 0);

    const rows = exportedRows(recorder.dbPath);
    const row = (pid: number) => rows.find((r) => r.sender_pid === pid);
    const pick = (pid: number, keys: string[]) => Object.fromEntries(keys.map((key) => [key, row(pid)?.[key]]));
    const keys = ['source', 'sender_comm', 'target_pid', 'target_tid', 'delivered_pid', 'signal', 'ret', 'errno_name', 'si_code'];
    assert.deepEqual(pick(probe.pid!, keys), { source: 'kill', sender_comm: 'signaller32', target_pid: target.pid, target_tid: null, delivered_pid: null, signal: 0, ret: 0, errno_name: '', si_code: 0 });
    assert.deepEqual(pick(queue.pid!, keys), { source: 'rt_sigqueueinfo', sender_comm: 'signaller32', target_pid: target.pid, target_tid: null, delivered_pid: target.pid, signal: 10, ret: 0, errno_name: '', si_code: -1 });
    assert.deepEqual(pick(gone.pid!, keys), { source: 'tkill', sender_comm: 'signaller32', target_pid: target.pid, target_tid: target.pid, delivered_pid: null, signal: 15, ret: -3, errno_name: 'ESRCH', si_code: -6 });
  });
});
