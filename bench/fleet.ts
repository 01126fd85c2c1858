// The fleet section (issue 11): a generated database of N realistic rows
// (bench/generate.ts, one day) forwarded into a PostgreSQL cluster started
// for the run, on this machine: the forward rate (the catch-up of N rows),
// bytes per row in PostgreSQL with its indexes and rollup, and the fleet
// reports over the last hour, timed in-process like bench/queries.ts.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { forward } from '../src/fleet/forward';
import { parseServerUrl } from '../src/fleet/connect';
import { runRemote } from '../src/fleet/remote';
import { failedPlan } from '../src/query/failed';
import { listPlan } from '../src/query/list';
import { whoKilledSteps } from '../src/query/who-killed';
import { startCluster } from '../test/helpers/postgres';
import { runCommand } from './proc';
import { generate } from './generate';
import { GENERATED_DIR } from './querysuite';
import { registerCleanup } from './cleanup';

export interface FleetQueryTiming {
  name: string;
  medianMs: number;
  minMs: number;
  maxMs: number;
}

export interface FleetResult {
  rows: number;
  forwardSeconds: number;
  rowsPerSecond: number;
  /** Signals partitions with their indexes, and everything in the schema, per row. */
  signalBytesPerRow: number;
  schemaBytesPerRow: number;
  queries: FleetQueryTiming[];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

export async function measureFleet(rows: number, runs: number, log: (line: string) => void): Promise<FleetResult> {
  const dbPath = join(GENERATED_DIR, `fleet-${rows}.db`);
  log(`generating ${rows} rows over one day in ${dbPath}`);
  const generated = generate({ dbPath, rows, days: 1 });
  const cluster = await startCluster();
  const unregister = registerCleanup('drop the fleet bench PostgreSQL cluster', () => cluster.drop());
  try {
    cluster.createDatabase('fleet');
    const init = await runCommand(process.execPath, [join(__dirname, '..', 'src', 'index.js'), 'server', 'init', '--url', cluster.ownerUrl('fleet')]);
    if (init.code !== 0) throw new Error(`server init failed: ${init.stderr}`);
    const url = parseServerUrl(cluster.ownerUrl('fleet'), 'bench');
    log(`forwarding ${rows} rows`);
    const started = process.hrtime.bigint();
    const report = await forward({ dbPath, url, hostName: 'bench', once: true, log });
    const forwardSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (report.rows !== rows) throw new Error(`forwarded ${report.rows} rows of ${rows}`);

    const owner = new Client({ connectionString: cluster.ownerUrl('fleet') });
    await owner.connect();
    await owner.query('VACUUM ANALYZE');
    const sizes = (await owner.query<{ signals: string; schema: string }>(`
      SELECT (SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = 'sigaudit.signals'::regclass) AS signals,
        (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'sigaudit' AND c.relkind IN ('r', 'm')) AS schema`)).rows[0];
    // A busy target of the last hour, as who-killed is asked in an incident.
    const busy = (await owner.query<{ pid: number }>(
      `SELECT delivered_pid AS pid FROM sigaudit.signals WHERE ts_ns >= $1 AND delivered_pid IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1`,
      [(generated.toNs - 3_600_000_000_000n).toString()],
    )).rows[0].pid;
    await owner.end();

    const since = new Date(Number(generated.toNs / 1_000_000n) - 3_600_000);
    const remote = { url, host: 'bench' };
    const cases: [string, () => Promise<unknown>][] = [
      [`who-killed ${busy} --since 1h --host`, () => runRemote(remote, (d) => whoKilledSteps(d, { pid: busy, filters: { since }, limit: 200 }))],
      ['failed --since 1h --host', () => runRemote(remote, (d) => failedPlan(d, { filters: { since } }))],
      ['list --since 1h (newest 100) --host', () => runRemote(remote, (d) => listPlan(d, { filters: { since }, limit: 100 }))],
      ['failed --since 1h (fleet)', () => runRemote({ url }, (d) => failedPlan(d, { filters: { since } }))],
    ];
    const queries: FleetQueryTiming[] = [];
    for (const [name, run] of cases) {
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t0 = process.hrtime.bigint();
        await run();
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      queries.push({ name, medianMs: median(times), minMs: Math.min(...times), maxMs: Math.max(...times) });
      log(`${name}: median ${median(times).toFixed(1)} ms`);
    }
    return {
      rows,
      forwardSeconds,
      rowsPerSecond: rows / forwardSeconds,
      signalBytesPerRow: Number(sizes.signals) / rows,
      schemaBytesPerRow: Number(sizes.schema) / rows,
      queries,
    };
  } finally {
    cluster.drop();
    unregister();
    for (const suffix of ['', '-wal', '-shm']) rmSync(dbPath + suffix, { force: true });
  }
}
