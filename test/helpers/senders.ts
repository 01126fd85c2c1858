// Real processes for the kernel tests: run a sender to completion, wait for
// a target to die, find a pid nobody has, and build a process group.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface Sent {
  pid: number;
  stdout: string;
}

/** Runs a program to completion (as uid, if given) and returns its pid and output. */
export function run(command: string, args: string[], uid?: number): Sent {
  const result = spawnSync(command, args, { encoding: 'utf8', uid });
  assert.equal(result.error, undefined, `${command} failed to start`);
  return { pid: result.pid!, stdout: result.stdout };
}

export function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
}

/** A pid no process has: a kill to it fails with ESRCH. */
export function freePid(): number {
  const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  for (let pid = pidMax - 1; pid > 1; pid--) {
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return pid;
    }
  }
  throw new Error('no free pid');
}

/**
 * Three sleeping processes in one process group (the first leads it),
 * children of a Python parent that waits for them.
 */
export async function processGroup(): Promise<{ parent: ChildProcess; members: number[] }> {
  const parent = spawn('python3', ['-c', `
import os, time
members = []
for i in range(3):
    pid = os.fork()
    if pid == 0:
        time.sleep(60); os._exit(0)
    os.setpgid(pid, members[0] if members else pid)
    members.append(pid)
print(' '.join(map(str, members)), flush=True)
for _ in members:
    os.wait()
`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const members = await new Promise<number[]>((resolve) => parent.stdout!.once('data', (data: Buffer) => resolve(data.toString().trim().split(' ').map(Number))));
  return { parent, members };
}

/** Python dropping to uid/gid 65534 and sending SIGTERM to pid 1: the kill fails with EPERM. */
export function killInitAsNobody(): Sent {
  return run('python3', ['-c', `
import os, signal
os.setgid(65534); os.setuid(65534)
try:
    os.kill(1, signal.SIGTERM)
except PermissionError:
    pass
`]);
}
