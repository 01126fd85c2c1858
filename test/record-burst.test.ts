// Nothing is lost silently: a burst is recorded in full with the default
// settings, and when a tiny ring buffer overflows every missing event is a
// counted drop with its time window.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import Database from 'better-sqlite3';
import { describe, it } from 'node:test';
import { kernelTestOptions, signallerPath } from './helpers/kernel';
import { EVERY_SIGNAL, startRecorder } from './helpers/recorder';

const SIGUSR2 = 12;

/** Runs `signaller burst` in several processes at once; resolves with their pids. */
async function burst(processes: number, perProcess: number): Promise<number[]> {
  const signaller = signallerPath();
  const children = Array.from({ length: processes }, () => spawn(signaller, ['burst', String(perProcess), String(SIGUSR2)], { stdio: 'inherit' }));
  const codes = await Promise.all(children.map((child) => new Promise<number | null>((resolve) => child.once('exit', resolve))));
  assert.deepEqual(codes, children.map(() => 0));
  return children.map((child) => child.pid!);
}

function countFrom(dbPath: string, pids: number[]): number {
  const db = new Database(dbPath, { readonly: true });
  try {
    const row = db
      .prepare(`SELECT count(*) AS n FROM signals WHERE signal = ? AND sender_pid IN (${pids.map(() => '?').join(',')})`)
      .get(SIGUSR2, ...pids) as { n: number };
    return row.n;
  } finally {
    db.close();
  }
}

function hotRows(dbPath: string): number {
  const db = new Database(dbPath, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM signals_hot').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

function drops(dbPath: string): { total: number; windows: { from_ns: bigint; to_ns: bigint; count: number }[] } {
  const db = new Database(dbPath, { readonly: true });
  try {
    const windows = db.prepare('SELECT from_ns, to_ns, count FROM drops WHERE reason = ?').safeIntegers(true).all('ring_buffer_full') as { from_ns: bigint; to_ns: bigint; count: bigint }[];
    return { total: windows.reduce((sum, w) => sum + Number(w.count), 0), windows: windows.map((w) => ({ ...w, count: Number(w.count) })) };
  } finally {
    db.close();
  }
}

describe('bursts', kernelTestOptions, () => {
  it('records 600 000 signals from two processes as exactly that many rows, with no drops', async () => {
    const recorder = await startRecorder(undefined, EVERY_SIGNAL);
    const pids = await burst(2, 300_000);
    const { code, stderr } = await recorder.stop();
    assert.equal(code, 0, stderr);
    assert.equal(countFrom(recorder.dbPath, pids), 600_000);
    assert.equal(drops(recorder.dbPath).total, 0);
    assert.match(stderr, /dropped 0\n/);
  });

  it('counts every event a too-small ring buffer drops: recorded + dropped = sent', async () => {
    // Only SIGUSR2 is recorded (not even the signal 0 checks a shell makes), so nothing
    // else on the host competes for the ring, and every drop is one of the burst.
    const recorder = await startRecorder(undefined, ['--ring-size', '16K', '--only-signals', 'USR2', '--skip-probes', ...EVERY_SIGNAL]);
    const pids = await burst(2, 200_000);
    const { code, stderr } = await recorder.stop();
    assert.equal(code, 0, stderr);
    const recorded = countFrom(recorder.dbPath, pids);
    const dropped = drops(recorder.dbPath);
    assert.ok(dropped.total > 0, 'a 16K ring buffer overflows under this burst');
    assert.equal(recorded + dropped.total, 400_000);
    for (const window of dropped.windows) assert.ok(window.from_ns <= window.to_ns);
    assert.match(stderr, new RegExp(`dropped ${dropped.total}\\n`));
  });

  it('moves what is still in the hot table into the archive on a clean stop right after a burst', async () => {
    const recorder = await startRecorder(undefined, EVERY_SIGNAL);
    const pids = await burst(1, 100_000);
    const { code, stderr } = await recorder.stop();
    assert.equal(code, 0, stderr);
    assert.equal(countFrom(recorder.dbPath, pids), 100_000);
    assert.equal(hotRows(recorder.dbPath), 0, 'reports on the stopped recorder\'s database scan no unindexed rows');
  });

  it('moves a burst from the hot table into the archive once it is over, with no further signal', async () => {
    const recorder = await startRecorder(undefined, EVERY_SIGNAL);
    try {
      await burst(1, 100_000);
      // Patience, not a speed check: the mover must get there by itself.
      let hot = -1;
      for (let waited = 0; waited < 60_000 && hot !== 0; waited += 250) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        hot = hotRows(recorder.dbPath);
      }
      assert.equal(hot, 0, 'the hot table is empty again');
    } finally {
      assert.equal((await recorder.stop()).code, 0);
    }
  });
});
