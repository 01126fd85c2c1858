// Small process helpers shared by the load generator and the tracers.
import { spawn, ChildProcess, SpawnOptions } from 'node:child_process';
import { registerCleanup } from './cleanup';

export interface CommandOptions extends SpawnOptions {
  /**
   * Run the command in its own process group and kill the whole group if the
   * bench exits first: the load generator forks workers that would otherwise
   * keep sending signals after the bench is gone.
   */
  killGroupOnExit?: boolean;
}

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion without blocking the event loop: tracers
 * started by the bench write to pipes that must keep being drained while a
 * load runs, which a *Sync call would stall.
 */
export function runCommand(command: string, args: string[], options: CommandOptions = {}): Promise<CommandResult> {
  const { killGroupOnExit, ...spawnOptions } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...spawnOptions, detached: killGroupOnExit, stdio: ['ignore', 'pipe', 'pipe'] });
    const unregister =
      killGroupOnExit && child.pid !== undefined
        ? registerCleanup(`kill ${command}`, () => process.kill(-child.pid!, 'SIGKILL'))
        : () => {};
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (error) => {
      unregister();
      reject(error);
    });
    child.on('close', (code, signal) => {
      unregister();
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Like runCommand, but a non-zero exit is an error that quotes the command's stderr. */
export async function runChecked(command: string, args: string[], options: CommandOptions = {}): Promise<CommandResult> {
  const result = await runCommand(command, args, options);
  if (result.code !== 0) {
    const how = result.signal ? `was killed by ${result.signal}` : `exited with ${result.code}`;
    throw new Error(`\`${[command, ...args].join(' ')}\` ${how}: ${result.stderr.trim() || result.stdout.trim()}`);
  }
  return result;
}

/** Resolves when the child has exited; sends SIGKILL if it outlives the timeout. */
export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

/** Polls until check() returns a value other than undefined, or fails naming what it waited for. */
export async function pollUntil<T>(what: string, timeoutMs: number, check: () => T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Whether an executable is on PATH. */
export async function commandExists(command: string): Promise<boolean> {
  const result = await runCommand('sh', ['-c', `command -v ${command}`]);
  return result.code === 0;
}
