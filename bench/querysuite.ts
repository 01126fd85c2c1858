// The query figures: a realistic database from generate.ts (reused when one
// of the right size and schema is already there, since 10M rows take minutes
// to generate), then bench/queries.ts run as is, its output parsed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { generate } from './generate';
import { runChecked } from './proc';
import { findRepoRoot } from './workspace';

/** Where generated databases are kept between runs (queries.ts writes its exports here too). */
export const GENERATED_DIR = '/tmp/sigaudit-bench';

export interface QueryTiming {
  report: string;
  /** Over the busy hour; absent for a report timed over one window of its own (a day). */
  hourMs?: number;
  allMs: number;
}

export interface ExportRate {
  format: string;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  maxRssMiB: number;
}

export interface QueryFigures {
  dbPath: string;
  rows: number;
  hourRows: number;
  runs: number;
  generated: { seconds: number; archiveRowsPerSecond: number } | 'reused';
  timings: QueryTiming[];
  statusMs?: number;
  exports: ExportRate[];
}

function latestSchemaVersion(): number {
  const numbers = fs
    .readdirSync(path.join(findRepoRoot(), 'migrations'))
    .map((file) => Number(/^(\d+)-/.exec(file)?.[1]))
    .filter((n) => Number.isInteger(n));
  return Math.max(...numbers);
}

/** A database generate.ts made with this many rows, at the current schema. */
function reusable(dbPath: string, rows: number): boolean {
  if (!fs.existsSync(dbPath)) return false;
  try {
    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      const version = Number(db.pragma('user_version', { simple: true }));
      const count = (db.prepare('SELECT count(*) AS n FROM signals').get() as { n: number }).n;
      const bench = db.prepare("SELECT 1 FROM runs WHERE host = 'bench'").get() !== undefined;
      return version === latestSchemaVersion() && count === rows && bench;
    } finally {
      db.close();
    }
  } catch {
    return false;
  }
}

export function ensureGenerated(rows: number, log: (line: string) => void): { dbPath: string; generated: QueryFigures['generated'] } {
  fs.mkdirSync(GENERATED_DIR, { recursive: true });
  const name = rows % 1_000_000 === 0 ? `${rows / 1_000_000}m.db` : `${rows}.db`;
  const dbPath = path.join(GENERATED_DIR, name);
  if (reusable(dbPath, rows)) {
    log(`reusing ${dbPath} (${rows.toLocaleString('en-US')} rows, current schema); delete it to regenerate`);
    return { dbPath, generated: 'reused' };
  }
  log(`generating ${rows.toLocaleString('en-US')} rows into ${dbPath} through the recorder's writer and mover`);
  const started = Date.now();
  const result = generate({ dbPath, rows, days: 7, progress: process.stderr.isTTY });
  return { dbPath, generated: { seconds: (Date.now() - started) / 1000, archiveRowsPerSecond: result.archiveRowsPerSecond } };
}

export function parseQueriesOutput(stdout: string): Omit<QueryFigures, 'dbPath' | 'runs' | 'generated'> {
  const figures: Omit<QueryFigures, 'dbPath' | 'runs' | 'generated'> = { rows: NaN, hourRows: NaN, timings: [], exports: [] };
  const int = (text: string) => Number(text.replace(/,/g, ''));
  for (const line of stdout.split('\n')) {
    let m = /: ([\d,]+) rows, \d+ MiB; the hour: ([\d,]+) rows$/.exec(line);
    if (m) {
      figures.rows = int(m[1]);
      figures.hourRows = int(m[2]);
      continue;
    }
    m = /^(.+?)\s+([\d.]+) ms\s+([\d.]+) ms$/.exec(line);
    if (m) {
      figures.timings.push({ report: m[1].trim(), hourMs: Number(m[2]), allMs: Number(m[3]) });
      continue;
    }
    m = /^(.+?)\s+([\d.]+) ms$/.exec(line);
    if (m) {
      if (m[1].trim() === 'status') figures.statusMs = Number(m[2]);
      else figures.timings.push({ report: m[1].trim(), allMs: Number(m[2]) });
      continue;
    }
    m = /^export (\w+): ([\d,]+) rows in ([\d.]+) s = ([\d,]+) rows\/s, \d+ MiB, max RSS (\d+) MiB/.exec(line);
    if (m) figures.exports.push({ format: m[1], rows: int(m[2]), seconds: Number(m[3]), rowsPerSecond: int(m[4]), maxRssMiB: Number(m[5]) });
  }
  return figures;
}

export async function runQueries(rows: number, runs: number, log: (line: string) => void): Promise<QueryFigures> {
  const { dbPath, generated } = ensureGenerated(rows, log);
  log(`timing the reports on ${dbPath} (bench/queries.ts, median of ${runs} runs each)`);
  const script = path.join(findRepoRoot(), 'dist', 'bench', 'queries.js');
  const { stdout } = await runChecked(process.execPath, [script, '--db', dbPath, '--runs', String(runs)]);
  return { dbPath, runs, generated, ...parseQueriesOutput(stdout) };
}
