// `sigaudit record` as a measured subject: started on a scratch database,
// sampled through /proc (CPU time, RSS), its database read while it runs,
// stopped cleanly. Used by the completeness, ramp, footprint and storage
// measurements; the cost runs use SigauditTracer in tracers.ts.
import { spawn, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { registerCleanup } from './cleanup';
import { pollUntil, waitForExit } from './proc';
import { LOADGEN_COMM } from './tracers';
import { findRepoRoot, scratchDir } from './workspace';

export const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ

export interface ProcSample {
  atMs: number;
  /** utime + stime of every thread, in clock ticks. */
  cpuTicks: number;
  rssKiB: number;
  hwmKiB: number;
}

/** CPU use between two samples, in % of one CPU. */
export function cpuPercent(before: ProcSample, after: ProcSample): number {
  const seconds = (after.atMs - before.atMs) / 1000;
  return seconds > 0 ? (100 * (after.cpuTicks - before.cpuTicks)) / CLOCK_TICKS_PER_SECOND / seconds : 0;
}

export function sampleProcess(pid: number): ProcSample {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s*(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { atMs: Date.now(), cpuTicks: Number(rest[11]) + Number(rest[12]), rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') };
}

export interface RecorderSummary {
  /** What the recorder said it recorded and dropped on SIGTERM. */
  recorded: number;
  dropped: number;
}

export class Recorder {
  readonly dbPath: string;
  private child?: ChildProcess;
  private stderr = '';
  private unregister?: () => void;

  constructor(private readonly extraArgs: string[] = []) {
    this.dbPath = path.join(fs.mkdtempSync(path.join(scratchDir(), 'recorder-')), 'bench.db');
  }

  /** Unix seconds when start() was called. */
  startedAtSec = 0;

  get pid(): number {
    if (!this.child?.pid) throw new Error('the recorder is not running');
    return this.child.pid;
  }

  async start(): Promise<void> {
    this.startedAtSec = Math.floor(Date.now() / 1000);
    const cli = path.join(findRepoRoot(), 'dist', 'src', 'index.js');
    // Sections count every loadgen signal as a row, so no sender is
    // summarised unless extraArgs (later, so it wins) sets a budget.
    const child = spawn(process.execPath, [cli, 'record', '--db', this.dbPath, '--flood-budget', 'off', ...this.extraArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    child.on('error', () => {});
    this.unregister = registerCleanup('kill sigaudit record', () => child.kill('SIGKILL'));
    await pollUntil('`sigaudit record` to print "recording to"', 60_000, () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`sigaudit record exited at start with ${child.exitCode ?? child.signalCode}: ${this.stderr.trim()}`);
      }
      return /recording to /.test(this.stderr) ? true : undefined;
    });
  }

  sample(): ProcSample {
    return sampleProcess(this.pid);
  }

  /** Runs fn against the database read-only (WAL: concurrent with the recorder). */
  read<T>(fn: (db: Database.Database) => T): T {
    const db = new Database(this.dbPath, { readonly: true, fileMustExist: true });
    try {
      db.pragma('busy_timeout = 5000');
      return fn(db);
    } finally {
      db.close();
    }
  }

  hotRows(): number {
    return this.read((db) => (db.prepare('SELECT count(*) AS n FROM signals_hot').get() as { n: number }).n);
  }

  /**
   * Waits until the recorder's mover has emptied the hot table (or the
   * timeout passes); returns the seconds it took and the rows left.
   */
  async waitArchived(timeoutMs: number): Promise<{ seconds: number; left: number }> {
    const started = Date.now();
    let left = this.hotRows();
    while (left > 0 && Date.now() - started < timeoutMs) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      left = this.hotRows();
    }
    return { seconds: (Date.now() - started) / 1000, left };
  }

  async stop(): Promise<RecorderSummary> {
    const child = this.child;
    this.child = undefined;
    if (!child) return { recorded: 0, dropped: 0 };
    try {
      child.kill('SIGTERM');
      const exit = await waitForExit(child, 300_000);
      if (exit.code !== 0) throw new Error(`sigaudit record exited with ${exit.code ?? exit.signal} on SIGTERM: ${this.stderr.trim()}`);
      const summary = /recorded (\d+) signals, dropped (\d+)/.exec(this.stderr);
      return { recorded: Number(summary?.[1] ?? NaN), dropped: Number(summary?.[2] ?? NaN) };
    } finally {
      child.kill('SIGKILL');
      this.unregister?.();
      this.unregister = undefined;
    }
  }

  /** After stop(): rows the load generator sent that were stored, and drops recorded in the database. */
  counts(): { recorded: number; drops: number; hot: number } {
    return this.read((db) => ({
      // source = 'kill': the load generator's kill(2) calls, not the SIGCHLD its workers send when they exit.
      recorded: (db.prepare("SELECT count(*) AS n FROM signals WHERE sender_comm = ? AND source = 'kill'").get(LOADGEN_COMM) as { n: number }).n,
      drops: (db.prepare('SELECT coalesce(sum(count), 0) AS n FROM drops').get() as { n: number }).n,
      hot: (db.prepare('SELECT count(*) AS n FROM signals_hot').get() as { n: number }).n,
    }));
  }

  remove(): void {
    fs.rmSync(path.dirname(this.dbPath), { recursive: true, force: true });
  }
}
