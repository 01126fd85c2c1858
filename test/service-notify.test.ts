// Type=notify for real: a unix datagram socket bound by the test (as
// systemd binds NOTIFY_SOCKET) receives READY=1 only once every probe is
// attached (a signal sent the moment READY arrives is recorded), STATUS=
// lines with counts, WATCHDOG=1 pings when WATCHDOG_USEC is set,
// STOPPING=1 on SIGTERM, and EXTEND_TIMEOUT_USEC while a stop writes a
// large backlog.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { kernelTestOptions } from './helpers/kernel';
import { CLI, EVERY_SIGNAL, exportedRows, tempDbPath } from './helpers/recorder';
import { runStorm, withDb } from './helpers/service';

interface Socket {
  process: ChildProcess;
  messages: string[];
  /** Resolves with the index of the first message (from `from` on) that satisfies `match`. */
  next(match: (message: string) => boolean, from?: number): Promise<number>;
}

async function bindNotifySocket(path: string): Promise<Socket> {
  const child = spawn('python3', [join(__dirname, '..', '..', 'test', 'helpers', 'notify-socket.py'), path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: string[] = [];
  const waiters: (() => void)[] = [];
  let buffer = '';
  let bound: () => void;
  const ready = new Promise<void>((resolve) => (bound = resolve));
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let end: number;
    while ((end = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 1);
      if (line === 'bound') bound();
      else messages.push(JSON.parse(line) as string);
      for (const waiter of waiters.splice(0)) waiter();
    }
  });
  await ready;
  const socket: Socket = {
    process: child,
    messages,
    next(match, from = 0) {
      return new Promise((resolve) => {
        const check = () => {
          const index = messages.findIndex((message, i) => i >= from && match(message));
          if (index >= 0) resolve(index);
          else waiters.push(check);
        };
        check();
      });
    },
  };
  return socket;
}

async function notifyRun(socketPath: string, watchdogUsec?: number, extraArgs: string[] = []) {
  const socket = await bindNotifySocket(socketPath);
  const dbPath = tempDbPath();
  const env = { ...process.env, NOTIFY_SOCKET: socketPath, ...(watchdogUsec ? { WATCHDOG_USEC: String(watchdogUsec) } : {}) };
  const recorder = spawn(process.execPath, [CLI, 'record', '--db', dbPath, ...extraArgs], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  recorder.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => recorder.once('exit', resolve));
  try {
    const ready = await socket.next((message) => message.split('\n').includes('READY=1'));
    // The moment READY=1 arrives, a signal must already be seen.
    const marker = 3_998_000 + (process.pid % 1000);
    spawnSync('/bin/kill', ['-0', String(marker)]);
    return { socket, ready, marker, dbPath, recorder, exited, stderr: () => stderr };
  } catch (error) {
    recorder.kill('SIGKILL');
    throw error;
  }
}

describe('systemd notification (Type=notify)', kernelTestOptions, () => {
  it('READY=1 only once recording, STATUS= with counts, WATCHDOG=1, then STOPPING=1', async () => {
    const run = await notifyRun(join(tempDbPath('notify'), '..', 'notify.sock'), 300_000);
    try {
      assert.equal(run.ready, 0, `READY=1 is the first message: ${JSON.stringify(run.socket.messages)}`);
      assert.match(run.socket.messages[0], /^READY=1\nSTATUS=recording: \d+ signals, 0 dropped\nMAINPID=\d+$/);
      assert.match(run.stderr(), /recording to /, '"recording to" is printed before READY=1 is sent');
      // Pings at half of WATCHDOG_USEC, and a STATUS= line each second.
      const firstPing = await run.socket.next((message) => message === 'WATCHDOG=1');
      await run.socket.next((message) => message === 'WATCHDOG=1', firstPing + 1);
      await run.socket.next((message) => /^STATUS=recording: [1-9]\d* signals, 0 dropped$/.test(message));
      run.recorder.kill('SIGTERM');
      await run.socket.next((message) => message.startsWith('STOPPING=1\nSTATUS=stopping: recording: '));
      assert.equal(await run.exited, 0, run.stderr());
      const marked = exportedRows(run.dbPath).filter((row) => row.target_pid === run.marker && row.signal === 0);
      assert.equal(marked.length, 1, 'the signal sent when READY=1 arrived was recorded');
    } finally {
      run.socket.process.kill();
      if (run.recorder.exitCode === null) run.recorder.kill('SIGKILL');
    }
  });

  it('talks to an abstract socket (@name), without watchdog pings when WATCHDOG_USEC is unset', async () => {
    const run = await notifyRun(`@sigaudit-test-${process.pid}-${Date.now()}`);
    try {
      assert.equal(run.ready, 0);
      run.recorder.kill('SIGTERM');
      await run.socket.next((message) => message.startsWith('STOPPING=1'));
      assert.equal(await run.exited, 0, run.stderr());
      assert.ok(!run.socket.messages.includes('WATCHDOG=1'), 'no pings unless asked');
      assert.equal(exportedRows(run.dbPath).filter((row) => row.target_pid === run.marker).length, 1);
    } finally {
      run.socket.process.kill();
    }
  });

  it('asks for more time (EXTEND_TIMEOUT_USEC) while a stop writes a large backlog, and writes all of it', async () => {
    // A long --batch-ms keeps the storm in the backlog until the stop.
    const run = await notifyRun(join(tempDbPath('extend'), '..', 'extend.sock'), undefined, ['--batch-ms', '10000', ...EVERY_SIGNAL]);
    const first = 7_000_000;
    const count = 40_000;
    try {
      const storm = await runStorm(first, count);
      assert.equal(storm.code, 0);
      run.recorder.kill('SIGTERM');
      const stopping = await run.socket.next((message) => message.startsWith('STOPPING=1'));
      assert.equal(await run.exited, 0, run.stderr());
      // Sent before the exit: the socket's reader has it a moment later, or never will.
      const extended = run.socket.next((message) => message === 'EXTEND_TIMEOUT_USEC=30000000', stopping + 1).then(() => true);
      const gaveUp = new Promise<false>((resolve) => setTimeout(() => resolve(false), 5000).unref());
      assert.ok(await Promise.race([extended, gaveUp]), `no EXTEND_TIMEOUT_USEC while stopping: ${JSON.stringify(run.socket.messages.slice(stopping))}`);
      const stored = withDb(run.dbPath, (db) =>
        db.prepare('SELECT count(DISTINCT target_pid) AS n FROM signals WHERE target_pid BETWEEN ? AND ? AND signal = 0 AND sender_pid = ?').get(first, first + count - 1, storm.pid) as { n: number });
      assert.equal(stored.n, count);
    } finally {
      run.socket.process.kill();
      if (run.recorder.exitCode === null) run.recorder.kill('SIGKILL');
    }
  });

  it('keeps recording when the notify socket is gone, and says so once', async () => {
    const socketPath = join(tempDbPath('gone'), '..', 'gone.sock');
    const run = await notifyRun(socketPath);
    try {
      run.socket.process.kill();
      await new Promise((resolve) => run.socket.process.once('exit', resolve));
      spawnSync('rm', ['-f', socketPath]);
      spawnSync('/bin/kill', ['-0', String(run.marker + 1)]);
      await new Promise((resolve) => setTimeout(resolve, 2500)); // STATUS= updates each second fail
      run.recorder.kill('SIGTERM');
      assert.equal(await run.exited, 0, run.stderr());
      assert.equal(run.stderr().match(/cannot notify systemd/g)?.length, 1, run.stderr());
      assert.equal(exportedRows(run.dbPath).filter((row) => row.target_pid === run.marker + 1).length, 1);
    } finally {
      if (run.recorder.exitCode === null) run.recorder.kill('SIGKILL');
    }
  });
});
