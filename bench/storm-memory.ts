// The recorder's memory in a storm and at rest (issue 10 items 3 and 5,
// issue 15 item 4): idle RSS and CPU on a quiet recorder, then two
// processes sending signal 0 flat out (test/helpers/storm.c: kill(n, 0)
// to numbered pids that do not exist, so this run's signals are told apart
// from anything else the host sends); peak RSS (VmHWM), drops, how long
// after the storm every row is committed, and the rows/s written.
// The bench's `storm` section runs it for each ring size, side by side.
//   node dist/bench/storm-memory.js [--per-proc N] [--rounds R] [--idle-seconds S] [--ring-size 16M] [--out FILE]
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runChecked } from './proc';
import { CLOCK_TICKS_PER_SECOND, cpuPercent, Recorder, sampleProcess, type ProcSample } from './recorder';
import { findRepoRoot, scratchDir } from './workspace';

/** The two storms' sequence numbers start above any pid. */
const FIRSTS = [10_000_000, 20_000_000];

export interface Round {
  idleRssMiB: number;
  idleCpuPercent: number;
  sent: number;
  stormSeconds: number;
  peakRssMiB: number;
  drops: number;
  rows: number;
  catchUpSeconds: number;
  rowsPerSecond: number;
  /** The recorder's CPU time from the storm's start to its last row, per million rows: what the host's load does not change much. */
  cpuSecondsPerMillion: number;
}

function argument(name: string, fallback: string): string {
  const at = process.argv.indexOf(name);
  return at === -1 ? fallback : process.argv[at + 1];
}

/**
 * Counts the storms' committed rows, reading only rows past the last count
 * (by id, the rowid of both tables): a scan of every row each second kept
 * a reader on millions of rows, and the WAL from being checkpointed, while
 * it measured how fast the writer catches up.
 */
class StormRows {
  private counted = 0;
  private afterId = 0n;

  constructor(private readonly recorder: Recorder, private readonly perProc: number) {}

  count(): number {
    return this.recorder.read((db) => {
      const newest = db.prepare('SELECT max(id) AS id FROM signals').safeIntegers(true).get() as { id: bigint | null };
      if (newest.id === null || newest.id <= this.afterId) return this.counted;
      const count = db.prepare('SELECT count(*) AS n FROM signals WHERE id > ? AND id <= ? AND target_pid BETWEEN ? AND ? AND signal = 0');
      for (const first of FIRSTS) this.counted += (count.get(this.afterId, newest.id, first, first + this.perProc - 1) as { n: number }).n;
      this.afterId = newest.id;
      return this.counted;
    });
  }
}

async function buildStorm(): Promise<string> {
  const binary = path.join(scratchDir(), 'storm');
  await runChecked('cc', ['-O2', '-Wall', '-o', binary, path.join(findRepoRoot(), 'test', 'helpers', 'storm.c')]);
  return binary;
}

/** Both storms at once; resolves with the seconds from start to the last one's end. */
async function runStorms(binary: string, perProc: number): Promise<number> {
  const started = Date.now();
  await Promise.all(
    FIRSTS.map(
      (first) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(binary, ['seq', String(first), String(perProc)], { stdio: 'ignore' });
          child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`storm exited with ${code}`))));
        }),
    ),
  );
  return (Date.now() - started) / 1000;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

async function round(storm: string, perProc: number, idleSeconds: number, ringSize: string): Promise<Round> {
  const recorder = new Recorder(['--ring-size', ringSize]);
  await recorder.start();
  try {
    // Idle: let start-up settle, then measure a quiet stretch.
    await sleep(5_000);
    const idleFrom: ProcSample = recorder.sample();
    await sleep(idleSeconds * 1000);
    const idleTo = recorder.sample();
    let peak = idleTo.hwmKiB;
    const sampler = setInterval(() => {
      peak = Math.max(peak, sampleProcess(recorder.pid).hwmKiB);
    }, 100);
    const stormFrom = recorder.sample();
    const stormSeconds = await runStorms(storm, perProc);
    const sent = perProc * FIRSTS.length;
    const stormEnd = Date.now();
    // Caught up: every signal the storms sent is a committed row, or no row came for 15 s (drops).
    const stormRows = new StormRows(recorder, perProc);
    let rows = stormRows.count();
    let lastRowAt = Date.now();
    while (rows < sent && Date.now() - lastRowAt < 15_000) {
      await sleep(1000);
      const now = stormRows.count();
      if (now > rows) lastRowAt = Date.now();
      rows = now;
    }
    const catchUpSeconds = Math.max(0, lastRowAt - stormEnd) / 1000;
    const caughtUp = recorder.sample();
    clearInterval(sampler);
    peak = Math.max(peak, recorder.sample().hwmKiB);
    await recorder.stop();
    return {
      idleRssMiB: idleTo.rssKiB / 1024,
      idleCpuPercent: cpuPercent(idleFrom, idleTo),
      sent,
      stormSeconds,
      peakRssMiB: peak / 1024,
      drops: recorder.counts().drops,
      rows: stormRows.count(),
      catchUpSeconds,
      rowsPerSecond: rows / (stormSeconds + catchUpSeconds),
      cpuSecondsPerMillion: (caughtUp.cpuTicks - stormFrom.cpuTicks) / CLOCK_TICKS_PER_SECOND / (rows / 1e6),
    };
  } finally {
    await recorder.stop().catch(() => undefined);
    recorder.remove();
  }
}

export interface StormFigures {
  ringSize: string;
  perProc: number;
  rounds: Round[];
  /** Median, min and max of each figure over the rounds. */
  summary: Record<keyof Round, { median: number; min: number; max: number }>;
}

const FIELDS: (keyof Round)[] = ['idleRssMiB', 'idleCpuPercent', 'sent', 'stormSeconds', 'peakRssMiB', 'drops', 'rows', 'catchUpSeconds', 'rowsPerSecond', 'cpuSecondsPerMillion'];

/** Rounds for each ring size, interleaved so the host's load falls on each alike. */
export async function measureStorms(ringSizes: string[], perProc: number, rounds: number, idleSeconds: number, log: (line: string) => void): Promise<StormFigures[]> {
  const storm = await buildStorm();
  const results = new Map(ringSizes.map((ring) => [ring, [] as Round[]]));
  for (let i = 0; i < rounds; i++) {
    for (const ring of ringSizes) {
      log(`storm round ${i + 1}/${rounds}, --ring-size ${ring}`);
      const result = await round(storm, perProc, idleSeconds, ring);
      log(JSON.stringify(result));
      results.get(ring)!.push(result);
    }
  }
  return ringSizes.map((ringSize) => {
    const list = results.get(ringSize)!;
    const summary = Object.fromEntries(
      FIELDS.map((field) => {
        const values = list.map((r) => r[field]).sort((a, b) => a - b);
        return [field, { median: values[Math.floor(values.length / 2)], min: values[0], max: values[values.length - 1] }];
      }),
    ) as StormFigures['summary'];
    return { ringSize, perProc, rounds: list, summary };
  });
}

async function main(): Promise<void> {
  const perProc = Number(argument('--per-proc', '3000000'));
  const rounds = Number(argument('--rounds', '3'));
  const idleSeconds = Number(argument('--idle-seconds', '20'));
  const ringSize = argument('--ring-size', '16M');
  const out = argument('--out', '');
  const [figures] = await measureStorms([ringSize], perProc, rounds, idleSeconds, (line) => console.log(line));
  const show = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(2));
  const lines = [
    `| figure | median | min | max |`,
    `|---|---|---|---|`,
    ...FIELDS.map((field) => `| ${field} | ${show(figures.summary[field].median)} | ${show(figures.summary[field].min)} | ${show(figures.summary[field].max)} |`),
  ];
  console.log(lines.join('\n'));
  if (out) fs.writeFileSync(out, JSON.stringify({ perProc, rounds, idleSeconds, ringSize, results: figures.rounds }, null, 2) + '\n');
}

if (require.main === module)
  main().catch((error: Error) => {
    console.error(error.message);
    process.exitCode = 1;
  });
