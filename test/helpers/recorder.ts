// Runs the real recorder (the built CLI) on a temporary database, as a user
// would, and reads back what it stored through the real export. A recorder
// a test leaves running (an assertion failed before its stop) is stopped
// after the test file, so it neither records on nor keeps the file running.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

export const CLI = join(__dirname, '..', '..', 'src', 'index.js');

export function tempDbPath(name = 'sigaudit.db'): string {
  return join(mkdtempSync(join(tmpdir(), 'sigaudit-test-')), name);
}

export interface RunningRecorder {
  process: ChildProcess;
  dbPath: string;
  stderr(): string;
  /** SIGTERM, then the exit code and everything printed on stderr. */
  stop(): Promise<{ code: number | null; stderr: string }>;
}

/** Recorders started and not yet exited. */
const running = new Set<ChildProcess>();
/** How long a recorder left running gets to stop on SIGTERM before SIGKILL. */
const STOP_PATIENCE_MS = 30_000;

/** Stops every recorder a test started and left running: SIGTERM, then SIGKILL. */
export async function stopLeftRecorders(): Promise<void> {
  await Promise.all([...running].map(async (child) => {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_PATIENCE_MS);
    await exited;
    clearTimeout(timer);
  }));
}

after(stopLeftRecorders);

/** A recorder a test spawned itself: stopped after the file if the test leaves it running. */
export function stopAfterFile<T extends ChildProcess>(child: T): T {
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** Recorder flags for tests that expect every signal of a storm as a row: no sender is summarised. */
export const EVERY_SIGNAL = ['--flood-budget', 'off'];

/**
 * Starts `sigaudit record` and resolves once it printed "recording to";
 * `launcher` runs it through another command, e.g. setpriv.
 */
export function startRecorder(dbPath = tempDbPath(), extraArgs: string[] = [], launcher: string[] = []): Promise<RunningRecorder> {
  const command = [...launcher, process.execPath, CLI, 'record', '--db', dbPath, ...extraArgs];
  const child = spawn(command[0], command.slice(1), {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  stopAfterFile(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const recorder: RunningRecorder = {
    process: child,
    dbPath,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const code = await exited;
      return { code, stderr };
    },
  };
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (chunk: string) => {
      stderr += chunk;
      if (stderr.includes(`recording to ${dbPath}`)) resolve(recorder);
    });
    void exited.then((code) => reject(new Error(`recorder exited with ${code} before recording:\n${stderr}`)));
  });
}

/** Runs the CLI to completion. */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; uid?: number; gid?: number } = {}) {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: options.env ?? process.env,
    uid: options.uid,
    gid: options.gid,
    maxBuffer: 1024 ** 3,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

export type ExportedRow = Record<string, string | number | null>;

/** Every stored row, through `sigaudit export --format jsonl` (ts_ns, id and send_id as exact strings). */
export function exportedRows(dbPath: string): ExportedRow[] {
  const { code, stdout, stderr } = runCli(['export', '--db', dbPath, '--format', 'jsonl']);
  if (code !== 0) throw new Error(`export failed (${code}): ${stderr}`);
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line.replace(/"(ts_ns|id|send_id)":(\d+)/g, '"$1":"$2"')) as ExportedRow);
}

/** Waits until the recorder has had time to write what was sent (its batches flush every --batch-ms). */
export function settle(ms = 600): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
