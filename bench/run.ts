// npm run bench [-- --quick] : cost per signal of sigaudit next to bpftrace,
// auditd and nothing, on the same machine in the same run (issue 5).
//
// The machines this runs on drift by ±20 % in absolute speed, so no figure is
// an absolute time compared across runs: every traced run is divided by a
// bare run taken just before it, rounds interleave the tracers (in a rotating
// order) and each figure is the median over the rounds, with min–max.
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { COLLATERAL_WORKLOADS, KILLLOOP_WORKLOADS, measureHostCost } from './collateral';
import { measureCompleteness, measureKernelCost, measureRamp, measureRecorderStorage } from './completeness';
import { buildLoadgen, runLoad, LoadResult } from './loadgen';
import { runQueries } from './querysuite';
import type { ExtraResults } from './sections';
import { measureStorage } from './storage';
import { measureStorms } from './storm-memory';
import { measureWritePaths } from './writepath';
import { measureFlood, type FloodRun } from './flood';
import { measureFleet } from './fleet';
import { busyOthers, describeHost, findForeignTracers, snapshotCpu } from './host';
import { runCommand } from './proc';
import { buildReport, formatText, writeReport, PairedRun, TracerSession, Workload } from './report';
import { createTracer, NoTracer, Tracer, TracerName, TracerSessionStats, TRACER_NAMES } from './tracers';
import { findRepoRoot } from './workspace';

interface BenchConfig {
  mode: 'quick' | 'full';
  rounds: number;
  /** How long each measured run should last; counts are calibrated to it. */
  runMs: number;
  workloads: Workload[];
  tracers: TracerName[];
  outputDir: string;
  sections: SectionName[];
  /** Signals per completeness run (from one process, and from two together). */
  completenessSignals: number;
  /** Rates of the lossless-rate ramp, and how long each step lasts. */
  rampRates: number[];
  rampSeconds: number;
  rampIdleMs: number;
  /** Signals recorded for the storage figure, and how long to wait for the mover. */
  storageSignals: number;
  storageTimeoutMs: number;
  /** Rows of the generated database the queries run on. */
  queryRows: number;
  /** Records replayed through each write path per round. */
  writePathRecords: number;
  /** Lengths of the floods of the flood section. */
  floods: FloodRun[];
  /** Rows forwarded to PostgreSQL by the fleet section. */
  fleetRows: number;
}

const SECTION_NAMES = ['cost', 'collateral', 'killloop', 'completeness', 'ramp', 'writepath', 'storm', 'storage', 'queries', 'flood', 'fleet'] as const;
type SectionName = (typeof SECTION_NAMES)[number];

const KILL0: Workload = { id: 'kill0', label: 'kill(self, 0)', mode: 'kill0', procs: 1 };
const GETPPID: Workload = { id: 'getppid', label: 'getppid (collateral)', mode: 'getppid', procs: 1 };
const FULL_EXTRA: Workload[] = [
  { id: 'esrch', label: 'kill(free pid) → ESRCH', mode: 'esrch', procs: 1 },
  { id: 'tgkill', label: 'tgkill(self, SIGUSR1 ignored)', mode: 'tgkill', procs: 1 },
  { id: 'ignored', label: 'kill(self, SIGUSR2 ignored)', mode: 'ignored', procs: 1 },
  { id: 'kill0x2', label: 'kill(self, 0), 2 processes', mode: 'kill0', procs: 2 },
];

// Calibration runs are short: under auditd one kill costs ~30 µs.
const CALIBRATION_COUNT = 20_000;
// Bounds on a calibrated count: enough calls to dwarf the loop's setup, few
// enough that a mis-calibration cannot stall the bench.
const MIN_COUNT = 10_000;
const MAX_COUNT = 50_000_000;

const USAGE = `usage: npm run bench -- [--quick] [--rounds N] [--run-ms MS] [--tracers LIST] [--only LIST | --skip LIST] [--floods LIST] [--output DIR]

  --quick         about 2 minutes: cost of kill(self,0) and getppid (5 rounds of ~300 ms
                  runs), completeness with 200k signals, a ramp of 1 s steps, storage of
                  100k recorded signals, 500k records through each write path,
                  queries on a 1M-row generated database, a 1-minute flood
                  (default is the full mode, ~45 minutes: more workloads, 11 rounds of
                  ~1 s runs, 2M signals, 10 s steps, 2M records through each write path,
                  1M recorded signals, 10M-row database, floods of 1 and 10 minutes)
  --only LIST     comma-separated subset of ${SECTION_NAMES.join(',')} (default: all)
  --skip LIST     every section but these; --skip cost leaves out the only one that
                  starts auditd (which puts every process of this boot on the audit
                  slow path: the cost section, auditd included, runs last)
  --rounds N      rounds to take the median over (at least 5 for published figures)
  --run-ms MS     target length of each measured run
  --floods LIST   the flood section's floods, SECONDS or SECONDS:off (no --flood-budget),
                  e.g. 60:off (default 60,600,60:off; with --quick 60)
  --tracers LIST  comma-separated subset of ${TRACER_NAMES.join(',')} (default: all)
  --output DIR    where latest.md and latest.json go (default: bench/results)

Runs as root: it attaches probes, starts auditd, and installs bpftrace and
auditd with apt-get when they are missing.`;

class UsageError extends Error {}

/** --floods: '60,600,60:off'. */
function parseFloods(text: string): FloodRun[] {
  return text.split(',').map((part) => {
    const match = /^\s*(\d+)(:off)?\s*$/.exec(part);
    if (!match || Number(match[1]) < 1) throw new UsageError(`--floods: expected SECONDS or SECONDS:off (e.g. 60:off), got "${part}"`);
    return { seconds: Number(match[1]), budget: !match[2] };
  });
}

function parseConfig(argv: string[]): BenchConfig | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      'run-ms': { type: 'string' },
      floods: { type: 'string' },
      tracers: { type: 'string' },
      only: { type: 'string' },
      skip: { type: 'string' },
      output: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return undefined;

  const positiveInt = (flag: string, text: string | undefined, fallback: number) => {
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < 1) throw new UsageError(`--${flag} expects a positive integer, got "${text}"`);
    return value;
  };
  const tracers = (values.tracers ?? TRACER_NAMES.join(',')).split(',').map((name) => name.trim());
  for (const name of tracers) {
    if (!(TRACER_NAMES as readonly string[]).includes(name)) {
      throw new UsageError(`--tracers: unknown tracer "${name}"; choose from ${TRACER_NAMES.join(', ')}`);
    }
  }
  const sectionList = (flag: string, text: string) =>
    text.split(',').map((name) => {
      const trimmed = name.trim();
      if (!(SECTION_NAMES as readonly string[]).includes(trimmed)) throw new UsageError(`--${flag}: unknown section "${trimmed}"; choose from ${SECTION_NAMES.join(', ')}`);
      return trimmed as SectionName;
    });
  if (values.only !== undefined && values.skip !== undefined) throw new UsageError('--only and --skip exclude each other: give one');
  const skipped = values.skip === undefined ? [] : sectionList('skip', values.skip);
  const sections = (values.only === undefined ? [...SECTION_NAMES] : sectionList('only', values.only)).filter((name) => !skipped.includes(name));
  const quick = values.quick;
  return {
    mode: quick ? 'quick' : 'full',
    rounds: positiveInt('rounds', values.rounds, quick ? 5 : 11),
    runMs: positiveInt('run-ms', values['run-ms'], quick ? 300 : 1000),
    sections,
    completenessSignals: quick ? 200_000 : 2_000_000,
    rampRates: quick
      ? [100_000, 500_000, 1_000_000]
      : [100_000, 250_000, 500_000, 750_000, 1_000_000, 1_250_000, 1_500_000, 2_000_000],
    rampSeconds: quick ? 1 : 10,
    rampIdleMs: quick ? 1000 : 3000,
    storageSignals: quick ? 100_000 : 1_000_000,
    storageTimeoutMs: quick ? 30_000 : 300_000,
    queryRows: quick ? 1_000_000 : 10_000_000,
    writePathRecords: quick ? 500_000 : 2_000_000,
    floods: parseFloods(values.floods ?? (quick ? '60' : '60,600,60:off')),
    fleetRows: quick ? 200_000 : 1_000_000,
    workloads: quick ? [KILL0, GETPPID] : [KILL0, ...FULL_EXTRA, GETPPID],
    tracers: tracers as TracerName[],
    outputDir: path.resolve(values.output ?? path.join(findRepoRoot(), 'bench', 'results')),
  };
}

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

// Wait before each bare run: a tracer that just stopped leaves work behind
// (dirty log or database pages being written back, exiting threads), and in
// a first version bare runs right after auditd or sigaudit were up to 2x
// slower than the others, which understated those tracers' successors.
const SETTLE_MS = 500;

async function settle(): Promise<void> {
  await runCommand('sync', []);
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
}

function countFor(nsPerOp: number, runMs: number): number {
  return Math.min(MAX_COUNT, Math.max(MIN_COUNT, Math.round((runMs * 1e6) / nsPerOp)));
}

/** Runs fn with the tracer attached; the tracer is stopped (and its changes undone) even when start() or fn fails. */
async function withTracer<T>(tracer: Tracer, fn: () => Promise<T>): Promise<{ result: T; stats: TracerSessionStats }> {
  let result: T;
  try {
    await tracer.start();
    result = await fn();
  } catch (error) {
    await tracer.stop().catch(() => {}); // the first failure is the one worth reporting
    throw error;
  }
  return { result, stats: await tracer.stop() };
}

async function runWorkloads(binary: string, workloads: Workload[], counts: Map<string, number>): Promise<Map<string, LoadResult>> {
  const results = new Map<string, LoadResult>();
  for (const workload of workloads) {
    results.set(workload.id, await runLoad(binary, { mode: workload.mode, count: counts.get(workload.id)!, procs: workload.procs }));
  }
  return results;
}

/**
 * A short round, not scored: warms caches and the tracers' first-start
 * paths, and measures ns/op so each later run can be sized to config.runMs.
 */
async function calibrate(binary: string, config: BenchConfig, tracers: Tracer[]) {
  const fixed = new Map(config.workloads.map((w) => [w.id, CALIBRATION_COUNT]));
  const sized = (results: Map<string, LoadResult>) =>
    new Map([...results].map(([id, result]) => [id, countFor(result.ns_per_op, config.runMs)]));

  await settle();
  const bareCounts = sized(await runWorkloads(binary, config.workloads, fixed));
  const tracedCounts = new Map<string, Map<string, number>>();
  for (const tracer of tracers) {
    if (tracer instanceof NoTracer) {
      tracedCounts.set(tracer.name, bareCounts);
      continue;
    }
    log(`calibrating ${tracer.name}`);
    const { result } = await withTracer(tracer, () => runWorkloads(binary, config.workloads, fixed));
    tracedCounts.set(tracer.name, sized(result));
  }
  return { bareCounts, tracedCounts };
}

async function main(argv: string[]): Promise<number> {
  const config = parseConfig(argv);
  if (!config) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (process.getuid?.() !== 0) {
    throw new UsageError('the bench attaches probes and starts auditd: run it as root (sudo npm run bench)');
  }
  const startedAt = Date.now();

  log('building the load generator');
  const binary = await buildLoadgen();
  const foreign = new Set(findForeignTracers());
  if (foreign.size) log(`WARNING: other tracers are running and will skew every figure:\n  ${[...foreign].join('\n  ')}`);

  const sectionSeconds: Record<string, number> = {};
  const sectionLoad: Record<string, string> = {};
  const section = async <T>(name: SectionName, fn: () => Promise<T>): Promise<T | undefined> => {
    if (!config.sections.includes(name)) return undefined;
    sectionLoad[name] = os.loadavg().map((l) => l.toFixed(2)).join(' ');
    log(`--- ${name} (load average ${sectionLoad[name]})`);
    const started = Date.now();
    try {
      return await fn();
    } finally {
      sectionSeconds[name] = (Date.now() - started) / 1000;
    }
  };

  let tracers: Tracer[] = [];
  const runs: PairedRun[] = [];
  const sessions: TracerSession[] = [];
  const busyRounds: { round: number; processes: string[] }[] = [];
  const extra: ExtraResults = { sectionSeconds, sectionLoad, rampSeconds: config.rampSeconds };
  // Both host-cost sections share their rounds: one tracer start serves every workload.
  const hostSections = (['collateral', 'killloop'] as const).filter((name) => config.sections.includes(name));
  if (hostSections.length)
    await section(hostSections[0], async () => {
      const workloads = [
        ...(hostSections.includes('collateral') ? COLLATERAL_WORKLOADS : []),
        ...(hostSections.includes('killloop') ? KILLLOOP_WORKLOADS : []),
      ];
      extra.hostCost = await measureHostCost(binary, workloads, config.rounds, config.runMs, log);
    });
  extra.completeness = (await section('completeness', () => measureCompleteness(binary, config.completenessSignals, config.rounds)))?.summary;
  await section('ramp', async () => {
    extra.ramp = await measureRamp(binary, config.rampRates, config.rampSeconds, config.rampIdleMs);
    extra.kernelCost = await measureKernelCost(binary, Math.min(config.completenessSignals, 1_000_000));
  });
  await section('writepath', async () => {
    extra.writePath = measureWritePaths(config.writePathRecords, Math.max(7, config.rounds));
  });
  await section('storm', async () => {
    // Two senders flat out (3M signals each; quick: 300k), idle before each; the default ring next to twice it.
    extra.storm = await measureStorms(['8M', '16M'], config.mode === 'quick' ? 300_000 : 3_000_000, config.mode === 'quick' ? 1 : 3, config.mode === 'quick' ? 5 : 20, log);
  });
  await section('storage', async () => {
    extra.recorderStorage = await measureRecorderStorage(binary, config.storageSignals, config.storageTimeoutMs);
  });
  await section('queries', async () => {
    extra.queries = await runQueries(config.queryRows, 5, log);
    log(`storage of ${extra.queries.dbPath} (dbstat reads every page)`);
    extra.generatedStorage = measureStorage(`generated, ${(config.queryRows / 1e6).toFixed(0)}M realistic rows`, extra.queries.dbPath);
  });

  await section('flood', async () => {
    extra.flood = [];
    for (const flood of config.floods) extra.flood.push(await measureFlood(binary, flood, log));
  });

  await section('fleet', async () => {
    extra.fleet = await measureFleet(config.fleetRows, 5, log);
  });

  // Last: it starts auditd, and once audit is on in a boot every process takes
  // the audit slow path until reboot, which would skew every section after it.
  await section('cost', async () => {
  tracers = config.tracers.map((name) => createTracer(name, { countSigauditRows: config.mode === 'full' }));
  for (const tracer of tracers) await tracer.prepare();
  const { bareCounts, tracedCounts } = await calibrate(binary, config, tracers);
  for (let round = 0; round < config.rounds; round++) {
    const cpuBefore = snapshotCpu();
    // Rotate the order so no tracer always runs first, or right after auditd.
    const order = tracers.map((_, i) => tracers[(i + round) % tracers.length]);
    for (const tracer of order) {
      log(`round ${round + 1}/${config.rounds}: ${tracer.name}`);
      await settle();
      const bare = await runWorkloads(binary, config.workloads, bareCounts);
      const { result: traced, stats } = await withTracer(tracer, () =>
        runWorkloads(binary, config.workloads, tracedCounts.get(tracer.name)!),
      );
      for (const workload of config.workloads) {
        runs.push({ round, tracer: tracer.name, workload: workload.id, bare: bare.get(workload.id)!, traced: traced.get(workload.id)! });
      }
      sessions.push({ round, tracer: tracer.name, sent: [...traced.values()].reduce((sum, r) => sum + r.sent, 0), stats });
    }
    for (const entry of findForeignTracers()) foreign.add(entry);
    const busy = busyOthers(cpuBefore, snapshotCpu());
    if (busy.length) {
      busyRounds.push({ round, processes: busy });
      log(`WARNING: other processes kept the CPUs busy during round ${round + 1}: ${busy.join('; ')}`);
    }
  }
  });

  const report = buildReport(
    {
      mode: config.mode,
      rounds: config.rounds,
      date: new Date().toISOString(),
      durationSeconds: (Date.now() - startedAt) / 1000,
      host: describeHost(Object.fromEntries(tracers.map((t) => [t.name, t.version?.()]))),
      tracerDescriptions: Object.fromEntries(tracers.map((t) => [t.name, t.description])),
      foreignTracers: [...foreign],
      busyRounds,
    },
    config.tracers,
    config.workloads,
    runs,
    sessions,
  );
  report.extra = extra;
  process.stdout.write(formatText(report) + '\n');
  const written = writeReport(report, config.outputDir);
  log(`wrote ${written.markdown} and ${written.json} in ${report.meta.durationSeconds.toFixed(0)} s`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    if (usage) process.stderr.write('(run with --help for usage)\n');
    process.exit(usage ? 2 : 1); // the 'exit' handler in cleanup.ts undoes any tracer left attached
  },
);
