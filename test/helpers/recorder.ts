// Runs the real recorder (the built CLI) on a temporary database, as a user
// would, and reads back what it stored through the real export.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
