// A full disk on a real, small file system (tmpfs of 4 MiB): the recorder
// keeps running, says why once, holds the signals in bounded memory, and
// writes them when space returns; what did not fit is recorded as dropped,
// so rows + recorded drops = signals sent.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { kernelTestOptions, signallerPath } from './helpers/kernel';
import { EVERY_SIGNAL, startRecorder, type RunningRecorder } from './helpers/recorder';
import { withDb } from './helpers/service';

/** A signal nothing else on the host sends (the benchmarks here use SIGUSR2). */
const SIGNAL = 41; // SIGRTMIN+7

/** Polls the recorder's stderr until it matches (a log line, not a timing). */
async function waitForLog(recorder: RunningRecorder, pattern: RegExp, patienceMs = 30_000): Promise<void> {
  const deadline = Date.now() + patienceMs;
  while (!pattern.test(recorder.stderr())) {
    if (Date.now() > deadline) throw new Error(`no log line matching ${pattern} within ${patienceMs} ms:\n${recorder.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Fills the file system with one file until ENOSPC; returns its path. */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  const result = spawnSync('dd', ['if=/dev/zero', `of=${path}`, 'bs=64k'], { encoding: 'utf8' });
  assert.match(result.stderr, /No space left on device/);
  return path;
}

/** `count` SIGRTMIN+7s from one process to itself (ignored); resolves with its pid. */
async function burst(count: number): Promise<number> {
  const child = spawn(signallerPath(), ['burst', String(count), String(SIGNAL)], { stdio: 'inherit' });
  const code = await new Promise((resolve) => child.once('exit', resolve));
  assert.equal(code, 0);
  return child.pid!;
}

/** Bursts of `count` until the recorder logs `pattern` (at most 100); returns the senders' pids. */
async function sendUntil(recorder: RunningRecorder, pattern: RegExp, count: number): Promise<number[]> {
  const pids: number[] = [];
  while (!pattern.test(recorder.stderr())) {
    assert.ok(pids.length < 100, `no log line matching ${pattern} after ${pids.length} bursts:\n${recorder.stderr()}`);
    pids.push(await burst(count));
    await new Promise((resolve) => setTimeout(resolve, 300)); // a batch interval, for the write to be tried
  }
  return pids;
}

function accounted(dbPath: string, pids: number[]): { rows: number; dropped: number; reasons: string[] } {
  return withDb(dbPath, (db) => {
    const rows = (db.prepare(`SELECT count(*) AS n FROM signals WHERE signal = ? AND sender_pid IN (${pids.join(',')})`).get(SIGNAL) as { n: number }).n;
    const drops = db.prepare('SELECT reason, sum(count) AS n FROM drops GROUP BY reason').all() as { reason: string; n: number }[];
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    return { rows, dropped: drops.reduce((sum, d) => sum + d.n, 0), reasons: drops.map((d) => d.reason) };
  });
}

describe('disk full', kernelTestOptions, () => {
  let mount = '';
  before(() => {
    mount = mkdtempSync(join(tmpdir(), 'sigaudit-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mount]);
  });
  after(() => {
    spawnSync('umount', [mount]);
    rmSync(mount, { recursive: true, force: true });
  });

  it('holds signals while the disk is full and writes every one once space is freed', async () => {
    const dir = join(mount, 'held');
    const recorder = await startRecorder(join(dir, 'sigaudit.db'), ['--only-signals', 'RTMIN+7', '--skip-probes', ...EVERY_SIGNAL]);
    try {
      const filler = fill(mount);
      // The WAL reuses the space it has: send until a write needs more.
      const pids = await sendUntil(recorder, /cannot write .*sigaudit\.db: SQLITE_FULL/, 2_000);
      // More signals while it cannot write: held too, and the cause is not logged again.
      pids.push(await burst(2_000));
      await new Promise((resolve) => setTimeout(resolve, 2500)); // retries fail meanwhile
      rmSync(filler);
      await waitForLog(recorder, /database writable again after \d+s: wrote \d+ held rows/);
      const { code, stderr } = await recorder.stop();
      assert.equal(code, 0, stderr);
      assert.equal(stderr.match(/cannot write \S+sigaudit\.db:/g)?.length, 1, `the cause is logged once:\n${stderr}`);
      assert.ok((stderr.match(/cannot write spill file/g)?.length ?? 0) <= 1, `the spill's cause is logged once at most:\n${stderr}`);
      const { rows, dropped } = accounted(recorder.dbPath, pids);
      assert.equal(dropped, 0, 'nothing dropped: the hold was big enough');
      assert.equal(rows, pids.length * 2_000, 'every signal sent is a row');
    } finally {
      if (recorder.process.exitCode === null) await recorder.stop();
      // A clean stop moves the rows into the indexed archive, which takes room: leave the tmpfs to the next test.
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('counts and records what does not fit in --max-held: rows + drops = sent', async () => {
    const dir = join(mount, 'overflow');
    // --skip-probes: other processes' kill(pid, 0) would count in the hold and the drops.
    const recorder = await startRecorder(join(dir, 'sigaudit.db'), ['--only-signals', 'RTMIN+7', '--skip-probes', '--max-held', '3000', ...EVERY_SIGNAL]);
    try {
      const filler = fill(mount);
      const pids = await sendUntil(recorder, /cannot write .*sigaudit\.db: SQLITE_FULL/, 2_000);
      pids.push(...(await sendUntil(recorder, /memory hold full \(\d+ rows, --max-held 3000\)/, 2_000)));
      rmSync(filler);
      await waitForLog(recorder, /database writable again after \d+s: wrote \d+ held rows, \d+ did not fit in memory and are recorded as dropped/);
      const { code, stderr } = await recorder.stop();
      assert.equal(code, 0, stderr);
      const { rows, dropped, reasons } = accounted(recorder.dbPath, pids);
      assert.ok(reasons.includes('database_unwritable'), reasons.join());
      assert.ok(dropped > 0);
      assert.equal(rows + dropped, pids.length * 2_000, `rows ${rows} + dropped ${dropped} = sent`);
      assert.match(stderr, new RegExp(`dropped ${dropped}\\n`));
    } finally {
      if (recorder.process.exitCode === null) await recorder.stop();
    }
  });

  it('says which file system is full when the database cannot even be created', () => {
    const filler = fill(mount);
    try {
      writeFileSync(join(mount, 'probe'), ''); // an empty file still fits: inodes are not the limit
      const result = spawnSync(process.execPath, [join(__dirname, '..', 'src', 'index.js'), 'record', '--db', join(mount, 'new', 'sigaudit.db')], { encoding: 'utf8' });
      assert.equal(result.status, 1, result.stderr);
      assert.match(result.stderr, /sigaudit: cannot (write|open|lock|create the directory of) .*new\/sigaudit\.db.*(full|space).*fix: free space there/i);
    } finally {
      rmSync(filler);
    }
  });
});
