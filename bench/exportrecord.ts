// exportRecord and the JavaScript-formatted export page (exportLines: the
// fleet's export, CSV and JSON Lines) per row, on rows of a generated
// database as better-sqlite3 gives them, for this build and for other
// builds' dist directories (--against) in the same run: each round runs
// every build in a fresh process, in an order rotated per round, so that
// one build's JIT state cannot favour another's.
//
//   node dist/bench/exportrecord.js [--rows 10000] [--rounds 7] [--against DIST]...
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { generate } from './generate';
import { summarize, type Summary } from './stats';

/** Rows per page, as the export's PAGE_ROWS. */
const PAGE_ROWS = 5000;
/** Passes over the rows before timing: the JIT has settled by then. */
const WARMUP_PASSES = 3;
/** Timed passes per process; a process reports their median. */
const TIMED_PASSES = 5;

const MEASURES = ['exportRecord', 'csv page', 'jsonl page', 'csv page, fleet'] as const;
type Measure = (typeof MEASURES)[number];
type Figures = Record<Measure, number>;

interface Build {
  exportRecord: (row: unknown) => unknown;
  exportLines: (rows: unknown[], format: 'csv' | 'jsonl', fleet: boolean) => string;
  SELECT_ROWS: string;
}

/** µs per row of one pass of `work` over `rows`, the median of TIMED_PASSES after WARMUP_PASSES. */
function perRow(rows: number, work: () => number): number {
  let sink = 0;
  const passes: number[] = [];
  for (let pass = 0; pass < WARMUP_PASSES + TIMED_PASSES; pass++) {
    const started = process.hrtime.bigint();
    sink += work();
    if (pass >= WARMUP_PASSES) passes.push(Number(process.hrtime.bigint() - started) / 1e3 / rows);
  }
  if (sink === 0) throw new Error('nothing was formatted');
  return summarize(passes).median;
}

/** In a child process: one build's figures on the database's rows, as one JSON line. */
function measureBuild(dist: string, dbPath: string): Figures {
  const build: Build = { ...require(join(dist, 'src/export/columns.js')), ...require(join(dist, 'src/export/index.js')) };
  const db = new Database(dbPath, { readonly: true });
  const select = (host: string) => db.prepare(`SELECT r.*${host} FROM (${build.SELECT_ROWS}) AS r ORDER BY r.id`).safeIntegers(true).all();
  const rows = select('');
  const fleetRows = select(", 'host-' || (r.id % 3) AS host");
  db.close();
  const pages = (all: unknown[]) => Array.from({ length: Math.ceil(all.length / PAGE_ROWS) }, (_, i) => all.slice(i * PAGE_ROWS, (i + 1) * PAGE_ROWS));
  const local = pages(rows);
  const fleet = pages(fleetRows);
  const linesOf = (list: unknown[][], format: 'csv' | 'jsonl', isFleet: boolean) => () => list.reduce((bytes: number, page) => bytes + Buffer.from(build.exportLines(page, format, isFleet)).length, 0);
  return {
    exportRecord: perRow(rows.length, () => rows.reduce((n: number, row) => n + (build.exportRecord(row) === undefined ? 0 : 1), 0)),
    'csv page': perRow(rows.length, linesOf(local, 'csv', false)),
    'jsonl page': perRow(rows.length, linesOf(local, 'jsonl', false)),
    'csv page, fleet': perRow(fleetRows.length, linesOf(fleet, 'csv', true)),
  };
}

function main(): void {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '10000' },
      rounds: { type: 'string', default: '7' },
      against: { type: 'string', multiple: true, default: [] },
      child: { type: 'string' },
      db: { type: 'string' },
    },
  });
  if (values.child !== undefined) {
    process.stdout.write(`${JSON.stringify(measureBuild(values.child, values.db!))}\n`);
    return;
  }
  const builds = [resolve(__dirname, '..'), ...values.against.map((dist) => resolve(dist))];
  const dir = mkdtempSync(join(tmpdir(), 'sigaudit-exportrecord-'));
  const dbPath = join(dir, 'rows.db');
  try {
    generate({ dbPath, rows: Number(values.rows), days: 1 });
    const figures = builds.map(() => MEASURES.map((): number[] => []));
    for (let round = 0; round < Number(values.rounds); round++) {
      for (let k = 0; k < builds.length; k++) {
        const b = (round + k) % builds.length;
        const child = spawnSync(process.execPath, [__filename, '--child', builds[b], '--db', dbPath], { encoding: 'utf8' });
        if (child.status !== 0) throw new Error(`${builds[b]}: ${child.stderr}`);
        const result = JSON.parse(child.stdout) as Figures;
        MEASURES.forEach((measure, m) => figures[b][m].push(result[measure]));
      }
      process.stderr.write(`round ${round + 1} done\n`);
    }
    const us = (s: Summary) => `${s.median.toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)})`;
    process.stdout.write(`| µs per row, median (min–max) of ${values.rounds} rounds, ${values.rows} rows | ${MEASURES.join(' | ')} |\n`);
    process.stdout.write(`|---|${MEASURES.map(() => '---').join('|')}|\n`);
    builds.forEach((build, b) => process.stdout.write(`| ${build} | ${figures[b].map((values) => us(summarize(values))).join(' | ')} |\n`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
