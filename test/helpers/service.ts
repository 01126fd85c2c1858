// Helpers for the service tests: the numbered storm, users and groups for
// permission checks, reading a database the way an operator would, and
// reading units.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';

let storm: string | undefined;

/** Builds test/helpers/storm.c once per test process. */
export function stormPath(): string {
  if (!storm) {
    const dir = mkdtempSync(join(tmpdir(), 'sigaudit-storm-'));
    storm = join(dir, 'storm');
    execFileSync('cc', ['-O2', '-Wall', '-o', storm, join(__dirname, '..', '..', '..', 'test', 'helpers', 'storm.c')]);
  }
  return storm;
}

export interface StormResult {
  code: number | null;
  /** The storm's pid: other tests on the host may storm the same numbers. */
  pid: number;
  /** Wall-clock ns at which signal i (a multiple of 1000) had been sent. */
  sentAt: Map<number, number>;
  /** Signals per second over the whole storm. */
  rate: number;
}

/** Runs `storm seq FIRST COUNT [VICTIM AT] [RATE]` to the end (rate 0: as fast as it can); `program` is a copy of it under another name. */
export function runStorm(first: number, count: number, victim?: { pid: number; at: number }, rate = 0, program = stormPath()): Promise<StormResult> {
  const args = ['seq', String(first), String(count), String(victim?.pid ?? 0), String(victim?.at ?? -1), String(rate)];
  const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  return new Promise((resolve) =>
    child.once('close', (code) => {
      const sentAt = new Map<number, number>();
      for (const line of out.trim().split('\n')) {
        const [i, ns] = line.split(' ').map(Number);
        if (!Number.isNaN(i)) sentAt.set(i, ns);
      }
      const stamps = [...sentAt.values()];
      const span = (stamps[stamps.length - 1] - stamps[0]) / 1e9;
      resolve({ code, pid: child.pid!, sentAt, rate: span > 0 ? (stamps.length - 1) * 1000 / span : 0 });
    }),
  );
}

/** Creates a system user (and group) if missing; returns uid and gid. */
export function ensureUser(name: string, groups: string[] = []): { uid: number; gid: number } {
  if (spawnSync('id', ['-u', name]).status !== 0) execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name]);
  for (const group of groups) execFileSync('usermod', ['-aG', group, name]);
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

export function ensureGroup(name: string): number {
  if (spawnSync('getent', ['group', name]).status !== 0) execFileSync('groupadd', ['--system', name]);
  return Number(execFileSync('getent', ['group', name], { encoding: 'utf8' }).split(':')[2]);
}

/** The argv prefix that runs a command as `user` with that user's groups from /etc/group. */
export function asUser(user: string): string[] {
  return ['setpriv', `--reuid=${user}`, `--regid=${user}`, '--init-groups', '--'];
}

/** Opens the database read-only for a check and closes it again. */
export function withDb<T>(path: string, read: (db: Database.Database) => T): T {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;
/** Under CI a unit is always verified: a missing systemd-analyze fails the test. */
export const analyzeOptions: { skip?: string } = hasAnalyze || process.env.CI ? {} : { skip: 'systemd-analyze is not installed (apt-get install systemd)' };

/** Every value a unit gives a key. */
export function directive(unit: string, key: string): string[] {
  return [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((match) => match[1]);
}
