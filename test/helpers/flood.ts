// Floods as an unprivileged user would send them (test/helpers/flooder.c),
// and what the database made of one sender's sends: rows, and sends counted
// in summaries, to check against the flooder's own count.
import { spawn } from 'node:child_process';
import Database from 'better-sqlite3';
import { flooderPath } from './kernel';

export const NOBODY = 65534;
export const AS_NOBODY = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'];

export interface Flood {
  pid: number;
  sent: number;
  failed: number;
}

/** Runs the flooder through `launcher` and resolves with its own count. */
export function flood(args: string[], launcher = AS_NOBODY): Promise<Flood> {
  const child = spawn(launcher[0], [...launcher.slice(1), flooderPath(), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  // 'close', not 'exit': only then has all of stdout been read.
  return new Promise((resolve, reject) =>
    child.once('close', (code) => (code === 0 ? resolve(JSON.parse(stdout) as Flood) : reject(new Error(`flooder exited with ${code}`)))),
  );
}

export interface Account {
  recorded: number;
  summarised: number;
  dropped: number;
}

/** What the database holds of one sender's syscalls of `signal`: rows, and sends counted in summaries. */
export function accountOf(dbPath: string, pid: number, signal: number): Account {
  const db = new Database(dbPath, { readonly: true });
  try {
    const { recorded } = db.prepare("SELECT count(*) AS recorded FROM signals WHERE sender_pid = ? AND signal = ? AND fanout = 0 AND source != 'kernel'").get(pid, signal) as { recorded: number };
    const counted = db
      .prepare("SELECT outcome, sum(count) AS n FROM summaries WHERE sender_pid = ? AND signal = ? AND source != 'kernel' GROUP BY outcome")
      .all(pid, signal) as { outcome: string; n: number }[];
    const of = (outcome: string) => counted.find((row) => row.outcome === outcome)?.n ?? 0;
    return { recorded, summarised: of('summarised'), dropped: of('dropped') };
  } finally {
    db.close();
  }
}
