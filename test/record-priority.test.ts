// The recorder raises its scheduling priority (--nice, default -4) so a
// signal storm from busy processes does not starve it; without the right to
// do so it says how to get it and records anyway.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { kernelTestOptions } from './helpers/kernel';
import { startRecorder, tempDbPath } from './helpers/recorder';

/** Niceness of each thread of a process, by tid (field 19 of /proc/.../stat). */
function threadNiceness(pid: number): Map<number, number> {
  const niceness = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    niceness.set(Number(tid), Number(fields[16]));
  }
  return niceness;
}

describe('record --nice', kernelTestOptions, () => {
  it('runs the JavaScript thread and the drain thread at -4 by default', async () => {
    const recorder = await startRecorder();
    const pid = recorder.process.pid!;
    const before = threadNiceness(pid);
    const stopped = await recorder.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.equal(before.get(pid), -4, 'the main thread, which writes SQLite');
    // Threads created before the change (V8, libuv) keep 0; the drain thread comes after it.
    const favoured = [...before].filter(([tid, nice]) => tid !== pid && nice === -4);
    assert.equal(favoured.length, 1, `exactly one other thread at -4 (the drain thread): ${JSON.stringify([...before])}`);
  });

  it('takes another niceness from the flag', async () => {
    const recorder = await startRecorder(tempDbPath(), ['--nice', '-9']);
    const nice = threadNiceness(recorder.process.pid!).get(recorder.process.pid!);
    assert.equal((await recorder.stop()).code, 0);
    assert.equal(nice, -9);
  });

  it('without CAP_SYS_NICE it says so and records at its niceness', async () => {
    const recorder = await startRecorder(tempDbPath(), [], ['setpriv', '--bounding-set', '-sys_nice', '--inh-caps', '-sys_nice']);
    const nice = threadNiceness(recorder.process.pid!).get(recorder.process.pid!);
    const stopped = await recorder.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.equal(nice, 0);
    assert.match(stopped.stderr, /could not set niceness -4 \(.*\): recording at 0; give the recorder CAP_SYS_NICE or start it with that niceness/);
  });

  it('refuses a niceness out of range with an example, exit 2', async () => {
    const recorder = startRecorder(tempDbPath(), ['--nice', '-30']);
    await assert.rejects(recorder, /exited with 2 before recording:\n.*expected a niceness from -20 to 19 \(e\.g\. -4\), got "-30"/);
  });
});
