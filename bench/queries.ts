// Times each report on a generated database (bench/generate.ts), over one
// hour in the middle of the data and over everything, and the CSV export's
// rate and memory. Each time is the median of --runs runs, with the
// fastest and slowest under it.
//
//   node dist/bench/queries.js [--db /tmp/sigaudit-bench/10m.db] [--runs 5] [--no-export | --export-only] [--storm-db PATH]
import { rmSync, statSync } from 'node:fs';
import { exportSignals } from '../src/export';
import { failed } from '../src/query/failed';
import { HOUR_NS, dataSpan, type Filters } from '../src/query/filters';
import { bindIdWindows, idWindowTerm } from '../src/query/id-windows';
import { list } from '../src/query/list';
import { topSenders } from '../src/query/top-senders';
import { whoKilled } from '../src/query/who-killed';
import { openForReading } from '../src/store/database';
import { status } from '../src/status';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : process.argv[i + 1];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function time(runs: number, fn: () => unknown): { ms: number; spread: string; result: unknown } {
  let result: unknown;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = process.hrtime.bigint();
    result = fn();
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return { ms: median(times), spread: `${Math.min(...times).toFixed(1)}–${Math.max(...times).toFixed(1)}`, result };
}

async function main(): Promise<void> {
  const dbPath = flag('--db', '/tmp/sigaudit-bench/10m.db');
  const runs = Number(flag('--runs', '5'));
  const db = openForReading(dbPath);
  const span = dataSpan(db)!;
  // A busy pid to ask about: the most signalled target in the middle hour.
  const middle = (span.fromNs + span.toNs) / 2n;
  const hourFrom = (middle / HOUR_NS) * HOUR_NS + HOUR_NS / 4n; // not aligned to the rollup's hours
  const hourTo = hourFrom + HOUR_NS - 1n;
  // The hour's rows through their ids (archive_minutes), as the reports read them.
  const inHour = `ts_ns BETWEEN @fromNs AND @toNs AND ${idWindowTerm('id')}`;
  const hourParams = (sql: string) => bindIdWindows(db, { sql, params: { fromNs: hourFrom, toNs: hourTo } });
  const busySql = `SELECT delivered_pid AS pid, delivered_comm AS comm FROM archived_signals WHERE ${inHour} AND delivered_pid > 1000 GROUP BY 1 ORDER BY count(*) DESC LIMIT 1`;
  const busy = db.prepare(busySql).safeIntegers(false).get(hourParams(busySql)) as { pid: number; comm: string };
  const rows = (db.prepare('SELECT count(*) AS n FROM signals').get() as { n: number }).n;
  const hourSql = `SELECT count(*) AS n FROM signals_archive WHERE ${inHour}`;
  const hourRows = (db.prepare(hourSql).get(hourParams(hourSql)) as { n: number }).n;
  db.close();

  const hour: Filters = { since: new Date(Number(hourFrom / 1_000_000n)), until: new Date(Number(hourTo / 1_000_000n)) };
  const all: Filters = {};
  const cases: [string, (filters: Filters) => unknown][] = [
    [`who-killed ${busy.pid}`, (filters) => whoKilled({ dbPath, pid: busy.pid, filters, limit: 200 })],
    [`who-killed --comm ${busy.comm}`, (filters) => whoKilled({ dbPath, comm: busy.comm, filters, limit: 200 })],
    ['who-killed 1 (systemd)', (filters) => whoKilled({ dbPath, pid: 1, filters, limit: 200 })],
    ['failed', (filters) => failed({ dbPath, filters })],
    ['failed --raw', (filters) => failed({ dbPath, filters, raw: true })],
    ['top-senders --by comm', (filters) => topSenders({ dbPath, filters, by: 'comm', limit: 10 })],
    ['top-senders --by uid --per-target', (filters) => topSenders({ dbPath, filters: { ...filters, perTarget: true }, by: 'uid', limit: 10 })],
    ['top-senders --by unit --signal KILL', (filters) => topSenders({ dbPath, filters: { ...filters, signals: [9] }, by: 'unit', limit: 10 })],
    ['top-senders --by pid', (filters) => topSenders({ dbPath, filters, by: 'pid', limit: 10 })],
    ['list (newest 100)', (filters) => list({ dbPath, filters, limit: 100 })],
  ];
  process.stdout.write(`${dbPath}: ${rows.toLocaleString('en-US')} rows, ${(statSync(dbPath).size / 1024 ** 2).toFixed(0)} MiB; the hour: ${hourRows.toLocaleString('en-US')} rows\n`);
  process.stdout.write(`${'report'.padEnd(40)} ${'1 hour'.padStart(10)} ${'all rows'.padStart(10)}\n`);
  for (const [name, run] of process.argv.includes('--export-only') ? [] : cases) {
    const inHour = time(runs, () => run(hour));
    const overAll = time(name.includes('--by pid') ? 1 : runs, () => run(all));
    process.stdout.write(`${name.padEnd(40)} ${`${inHour.ms.toFixed(1)} ms`.padStart(10)} ${`${overAll.ms.toFixed(1)} ms`.padStart(10)}\n`);
    process.stdout.write(`${''.padEnd(40)} (${inHour.spread}; ${overAll.spread})\n`);
  }
  // A day around the hour, not on hours: 23 whole hours from the rollups, the two partial ones from rows.
  const day: Filters = { since: new Date(Number((hourFrom - 12n * HOUR_NS) / 1_000_000n)), until: new Date(Number((hourTo + 12n * HOUR_NS) / 1_000_000n)) };
  for (const by of process.argv.includes('--export-only') ? [] : (['comm', 'pid'] as const)) {
    const overDay = time(runs, () => topSenders({ dbPath, filters: day, by, limit: 10 }));
    process.stdout.write(`${`top-senders --by ${by}, a day`.padEnd(40)} ${''.padStart(10)} ${`${overDay.ms.toFixed(1)} ms`.padStart(10)}\n${''.padEnd(40)} (${overDay.spread})\n`);
  }
  const statusTime = time(runs, () => status({ dbPath }));
  if (!process.argv.includes('--export-only')) process.stdout.write(`${'status'.padEnd(40)} ${''.padStart(10)} ${`${statusTime.ms.toFixed(1)} ms`.padStart(10)}\n${''.padEnd(40)} (${statusTime.spread})\n`);

  // A storm's database (1M kill(self, 0) rows within seconds: one partial hour, no rollup), when given.
  const stormDb = process.argv.includes('--storm-db') ? flag('--storm-db', '') : undefined;
  if (stormDb !== undefined) {
    for (const by of ['comm', 'pid'] as const) {
      const storm = time(runs, () => topSenders({ dbPath: stormDb, filters: { includeProbes: true }, by, limit: 10 }));
      process.stdout.write(`${`top-senders --by ${by} --include-probes, storm`.padEnd(40)} ${''.padStart(10)} ${`${storm.ms.toFixed(1)} ms`.padStart(10)}\n${''.padEnd(40)} (${storm.spread})\n`);
    }
  }

  if (!process.argv.includes('--no-export')) {
    for (const format of ['csv', 'jsonl'] as const) {
      const output = `/tmp/sigaudit-bench/export.${format}`;
      const rssBefore = process.memoryUsage().rss;
      const started = process.hrtime.bigint();
      let peak = rssBefore;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
      const written = await exportSignals({ dbPath, format, output });
      clearInterval(sampler);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      process.stdout.write(
        `export ${format}: ${written.toLocaleString('en-US')} rows in ${seconds.toFixed(1)} s = ${Math.round(written / seconds).toLocaleString('en-US')} rows/s, ` +
          `${(statSync(output).size / 1024 ** 2).toFixed(0)} MiB, peak RSS during it ${(peak / 1024 ** 2).toFixed(0)} MiB, sampled every 100 ms (before: ${(rssBefore / 1024 ** 2).toFixed(0)} MiB)\n`,
      );
      rmSync(output);
    }
  }
}

void main();
