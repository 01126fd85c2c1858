// A real PostgreSQL cluster for the fleet tests, started without systemd by
// Debian's pg_createcluster on a free port in a temporary directory, and
// dropped afterwards. Local (unix socket) logins are trusted, TCP logins
// need a password, so the tests can log in as the owner and as roles.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const postgresOptions: { skip?: string } =
  process.env.CI || (process.getuid?.() === 0 && pgVersion() !== undefined) ? {} : { skip: 'the fleet tests need root and PostgreSQL (apt-get install postgresql)' };

function pgVersion(): string | undefined {
  try {
    return readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(a) - Number(b)).pop();
  } catch {
    return undefined;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

export interface Cluster {
  port: number;
  /** The owner (postgres, trusted over the socket) on a database. */
  ownerUrl(database: string): string;
  /** A role over TCP, which needs its password. */
  tcpUrl(user: string, database: string): string;
  /** Runs SQL as postgres through psql; returns its output (unaligned, tuples only). */
  psql(sql: string, database?: string): string;
  createDatabase(name: string): void;
  stop(): void;
  start(): void;
  drop(): void;
}

export async function startCluster(): Promise<Cluster> {
  const version = pgVersion();
  if (!version) throw new Error('PostgreSQL is not installed (apt-get install postgresql)');
  const port = await freePort();
  const name = `sigaudit${port}`;
  const dir = mkdtempSync(join(tmpdir(), 'sigaudit-pg-'));
  chownSync(dir, uidOf('postgres'), -1);
  const ctl = (action: string) => execFileSync('pg_ctlcluster', [version, name, action], { stdio: 'pipe' });
  execFileSync('pg_createcluster', [version, name, '-p', String(port), '-d', join(dir, 'data'), '--', '--auth-local=trust', '--auth-host=scram-sha-256'], { stdio: 'pipe' });
  ctl('start');
  const socketDir = '/var/run/postgresql';
  const cluster: Cluster = {
    port,
    ownerUrl: (database) => `postgresql://postgres@localhost:${port}/${database}?host=${socketDir}`,
    tcpUrl: (user, database) => `postgresql://${user}@127.0.0.1:${port}/${database}`,
    psql(sql, database = 'postgres') {
      const result = spawnSync('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', socketDir, '-p', String(port), '-U', 'postgres', '-d', database, '-c', sql], { encoding: 'utf8' });
      if (result.status !== 0) throw new Error(`psql failed: ${result.stderr}`);
      return result.stdout.trim();
    },
    createDatabase(db) {
      cluster.psql(`CREATE DATABASE ${db}`);
    },
    stop: () => ctl('stop'),
    start: () => ctl('start'),
    drop() {
      spawnSync('pg_ctlcluster', [version, name, 'stop', '-m', 'immediate'], { stdio: 'ignore' });
      spawnSync('pg_dropcluster', [version, name], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}

function uidOf(user: string): number {
  return Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
}
