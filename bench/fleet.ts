// The fleet section (issue 11): a generated database of N realistic rows
// (bench/generate.ts, one day) forwarded into a PostgreSQL cluster started
// for the run, on this machine: the forward rate (the catch-up of N rows,
// into a fresh database each round), bytes per row in PostgreSQL with its
// indexes and rollup, the lag while a writer adds 10,000 rows/s locally
// and the forwarder follows, and the fleet reports timed in-process like
// bench/queries.ts over the forwarded rows copied on the server to more
// hosts (10 × 1M rows in the full mode).
import { copyFileSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { forward } from '../src/fleet/forward';
import { parseServerUrl } from '../src/fleet/connect';
import { COPY_COLUMN_NAMES } from '../src/fleet/local';
import { runRemote } from '../src/fleet/remote';
import { failedPlan } from '../src/query/failed';
import { listSteps } from '../src/query/list';
import { whoKilledSteps } from '../src/query/who-killed';
import { topSendersSteps } from '../src/query/top-senders';
import { openForWriting } from '../src/store/database';
import { SignalWriter, type SignalRow } from '../src/store/writer';
import { startCluster, type Cluster } from '../test/helpers/postgres';
import { runCommand } from './proc';
import { generate } from './generate';
import { GENERATED_DIR } from './querysuite';
import { registerCleanup } from './cleanup';

const CLI = join(__dirname, '..', 'src', 'index.js');
const HOUR_NS = 3_600_000_000_000n;

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export interface FleetQueryTiming {
  name: string;
  medianMs: number;
  minMs: number;
  maxMs: number;
}

export interface FleetLag {
  /** Rows per second the writer asked for, and what it wrote. */
  rate: number;
  writtenPerSecond: number;
  seconds: number;
  /** Newest local row's ts_ns minus the newest on the server, sampled every 250 ms after a 5 s warm-up. */
  lagSeconds: Spread;
  /** From the writer's stop until the server held every row. */
  drainSeconds: number;
}

export interface FleetResult {
  rows: number;
  /** Forward rounds (a fresh database each), rows/s and seconds. */
  rowsPerSecond: Spread;
  forwardSeconds: Spread;
  forwardRounds: number;
  signalBytesPerRow: number;
  schemaBytesPerRow: number;
  lag: FleetLag;
  /** Rows in PostgreSQL (hosts × rows) when the reports were timed. */
  reportRows: number;
  reportHosts: number;
  queries: FleetQueryTiming[];
  /** Load average (1 min) at the start of each part. */
  load: Record<string, number>;
}

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], max: sorted[sorted.length - 1] };
}

async function initDatabase(cluster: Cluster, name: string): Promise<void> {
  cluster.createDatabase(name);
  const init = await runCommand(process.execPath, [CLI, 'server', 'init', '--url', cluster.ownerUrl(name)]);
  if (init.code !== 0) throw new Error(`server init failed: ${init.stderr}`);
}

async function timeForward(cluster: Cluster, generatedPath: string, database: string, rows: number, log: (line: string) => void): Promise<number> {
  const dbPath = join(GENERATED_DIR, `fleet-forward-${database}.db`);
  copyFileSync(generatedPath, dbPath);
  try {
    await initDatabase(cluster, database);
    const url = parseServerUrl(cluster.ownerUrl(database), 'bench');
    const started = process.hrtime.bigint();
    const report = await forward({ dbPath, url, hostName: 'bench', once: true, log });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (report.rows !== rows) throw new Error(`forwarded ${report.rows} rows of ${rows}`);
    log(`forwarded ${rows} rows in ${seconds.toFixed(1)} s: ${Math.round(rows / seconds)} rows/s`);
    return seconds;
  } finally {
    for (const suffix of ['', '-wal', '-shm']) rmSync(dbPath + suffix, { force: true });
  }
}

/** Rows like a busy host's: a few senders killing many targets, now. */
function liveRows(count: number, startNs: bigint, seq: number): SignalRow[] {
  return Array.from({ length: count }, (_, i) => {
    const n = seq + i;
    return {
      tsNs: startNs + BigInt(i), fanout: 0, source: 'kill', senderPid: 1000 + (n % 50), senderTid: 1000 + (n % 50), senderComm: `worker${n % 50}`,
      senderUid: 1000, senderAuid: 1000, senderPpid: 1, senderCgroup: null, targetPid: 20_000 + (n % 5000), targetTid: null,
      deliveredPid: 20_000 + (n % 5000), deliveredTid: 20_000 + (n % 5000), deliveredComm: 'sleep', deliveredCgroup: null,
      signal: 15, ret: 0, result: 'delivered', siCode: 0, origin: null,
    };
  });
}

/** A writer adds `rate` rows/s for `seconds` while `sigaudit forward` follows in its own process. */
async function measureLag(cluster: Cluster, rate: number, seconds: number, log: (line: string) => void): Promise<FleetLag> {
  const dbPath = join(GENERATED_DIR, 'fleet-lag.db');
  for (const suffix of ['', '-wal', '-shm']) rmSync(dbPath + suffix, { force: true });
  await initDatabase(cluster, 'fleetlag');
  const db = openForWriting(dbPath);
  const writer = new SignalWriter(db);
  const owner = new Client({ connectionString: cluster.ownerUrl('fleetlag') });
  await owner.connect();
  const child = spawn(process.execPath, [CLI, 'forward', '--to', cluster.ownerUrl('fleetlag'), '--db', dbPath, '--host', 'lag'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const unregister = registerCleanup('stop the fleet bench forwarder', () => child.kill('SIGKILL'));
  try {
    const tickMs = 100;
    const perTick = Math.round((rate * tickMs) / 1000);
    let written = 0;
    let newestNs = 0n;
    const samples: number[] = [];
    const started = Date.now();
    let nextTick = started;
    let nextSample = started + 5000;
    const serverNewest = async () =>
      BigInt((await owner.query<{ ts: string | null }>("SELECT max(s.last_ts_ns) AS ts FROM sigaudit.sources s JOIN sigaudit.hosts h ON h.id = s.host_id WHERE h.name = 'lag'")).rows[0].ts ?? '0');
    while (Date.now() - started < seconds * 1000) {
      if (child.exitCode !== null) throw new Error(`the forwarder exited: ${stderr}`);
      const now = Date.now();
      if (now >= nextTick) {
        const nowNs = BigInt(now) * 1_000_000n;
        writer.write(liveRows(perTick, nowNs, written));
        written += perTick;
        newestNs = nowNs + BigInt(perTick - 1);
        nextTick += tickMs;
      }
      if (now >= nextSample) {
        const held = await serverNewest();
        if (held > 0n) samples.push(Number(newestNs - held) / 1e9);
        nextSample += 250;
      }
      await sleep(Math.max(0, Math.min(nextTick, nextSample) - Date.now()));
    }
    const writtenPerSecond = written / ((Date.now() - started) / 1000);
    const stopped = Date.now();
    while ((await serverNewest()) < newestNs) {
      if (child.exitCode !== null) throw new Error(`the forwarder exited: ${stderr}`);
      await sleep(50);
    }
    const drainSeconds = (Date.now() - stopped) / 1000;
    const lag = { rate, writtenPerSecond, seconds, lagSeconds: spread(samples), drainSeconds };
    log(`lag at ${Math.round(writtenPerSecond)} rows/s: median ${lag.lagSeconds.median.toFixed(2)} s (${lag.lagSeconds.min.toFixed(2)}–${lag.lagSeconds.max.toFixed(2)}), drained in ${drainSeconds.toFixed(1)} s`);
    return lag;
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
    unregister();
    await owner.end();
    db.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(dbPath + suffix, { force: true });
  }
}

/** The forwarded host's rows again as hosts bench-2 … bench-N, on the server (a fleet, without N forwards). */
async function copyHosts(owner: Client, hosts: number, log: (line: string) => void): Promise<void> {
  const columns = COPY_COLUMN_NAMES.join(', ');
  const select = COPY_COLUMN_NAMES.map((column) => (column === 'source_id' ? '$1' : column)).join(', ');
  for (let n = 2; n <= hosts; n++) {
    const host = (await owner.query<{ id: number }>('INSERT INTO sigaudit.hosts (name) VALUES ($1) RETURNING id', [`bench-${n}`])).rows[0].id;
    const source = (await owner.query<{ id: number }>(
      `INSERT INTO sigaudit.sources (uuid, host_id, last_id, first_ts_ns, last_ts_ns)
       SELECT gen_random_uuid(), $1, last_id, first_ts_ns, last_ts_ns FROM sigaudit.sources WHERE id = 1 RETURNING id`,
      [host],
    )).rows[0].id;
    await owner.query(`INSERT INTO sigaudit.signals (${columns}) SELECT ${select} FROM sigaudit.signals WHERE source_id = 1`, [source]);
    log(`copied the rows as host bench-${n}`);
  }
}

export async function measureFleet(rows: number, runs: number, log: (line: string) => void, forwardRounds = 3): Promise<FleetResult> {
  const dbPath = join(GENERATED_DIR, `fleet-${rows}.db`);
  const load: Record<string, number> = {};
  log(`generating ${rows} rows over one day in ${dbPath}`);
  const generated = generate({ dbPath, rows, days: 1 });
  const cluster = await startCluster();
  const unregister = registerCleanup('drop the fleet bench PostgreSQL cluster', () => cluster.drop());
  try {
    const seconds: number[] = [];
    load.forward = loadavg()[0];
    for (let round = 1; round <= forwardRounds; round++) seconds.push(await timeForward(cluster, dbPath, `fleet${round}`, rows, log));

    const owner = new Client({ connectionString: cluster.ownerUrl('fleet1') });
    await owner.connect();
    await owner.query('VACUUM ANALYZE');
    const sizes = (await owner.query<{ signals: string; schema: string }>(`
      SELECT (SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = 'sigaudit.signals'::regclass) AS signals,
        (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'sigaudit' AND c.relkind IN ('r', 'm')) AS schema`)).rows[0];

    load.lag = loadavg()[0];
    const lag = await measureLag(cluster, 10_000, rows >= 1_000_000 ? 60 : 20, log);

    load.reports = loadavg()[0];
    const reportHosts = rows >= 1_000_000 ? 10 : 1;
    await copyHosts(owner, reportHosts, log);
    await owner.query('VACUUM ANALYZE');
    // A busy target of the last hour, as who-killed is asked in an incident.
    const busy = (await owner.query<{ pid: number }>(
      `SELECT delivered_pid AS pid FROM sigaudit.signals WHERE source_id = 1 AND ts_ns >= $1 AND delivered_pid IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1`,
      [(generated.toNs - HOUR_NS).toString()],
    )).rows[0].pid;
    const reportRows = Number((await owner.query<{ n: string }>('SELECT count(*) AS n FROM sigaudit.signals')).rows[0].n);
    await owner.end();

    const url = parseServerUrl(cluster.ownerUrl('fleet1'), 'bench');
    const since = new Date(Number(generated.toNs / 1_000_000n) - 3_600_000);
    const remote = { url, host: 'bench' };
    const cases: [string, () => Promise<unknown>][] = [
      [`who-killed ${busy} --since 1h --host`, () => runRemote(remote, (d) => whoKilledSteps(d, { pid: busy, filters: { since }, limit: 200 }))],
      ['failed --since 1h --host', () => runRemote(remote, (d) => failedPlan(d, { filters: { since } }))],
      ['list --since 1h (newest 100) --host', () => runRemote(remote, (d) => listSteps(d, { filters: { since }, limit: 100 }))],
      ['failed --since 1h (fleet)', () => runRemote({ url }, (d) => failedPlan(d, { filters: { since } }))],
      ['top-senders over everything (fleet)', () => runRemote({ url }, (d) => topSendersSteps(d, { filters: {}, by: 'comm', limit: 10 }))],
      ['top-senders --since 1h (fleet)', () => runRemote({ url }, (d) => topSendersSteps(d, { filters: { since }, by: 'comm', limit: 10 }))],
    ];
    const queries: FleetQueryTiming[] = [];
    for (const [name, run] of cases) {
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t0 = process.hrtime.bigint();
        await run();
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      const { median, min, max } = spread(times);
      queries.push({ name, medianMs: median, minMs: min, maxMs: max });
      log(`${name}: median ${median.toFixed(1)} ms`);
    }
    return {
      rows,
      rowsPerSecond: spread(seconds.map((s) => rows / s)),
      forwardSeconds: spread(seconds),
      forwardRounds,
      signalBytesPerRow: Number(sizes.signals) / rows,
      schemaBytesPerRow: Number(sizes.schema) / rows,
      lag,
      reportRows,
      reportHosts,
      queries,
      load,
    };
  } finally {
    cluster.drop();
    unregister();
    for (const suffix of ['', '-wal', '-shm']) rmSync(dbPath + suffix, { force: true });
  }
}
