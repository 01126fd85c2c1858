// Completeness at speed, the lossless rate, the recorder's footprint, the
// kernel-side cost per program, and bytes per event as the recorder stores
// them (issue 5, items 2, 3 and 5). Every run starts `sigaudit record` with
// its default options on a fresh scratch database and stops it with SIGTERM,
// so what is counted is what an operator would find in the database.
import { runLoad, LoadResult } from './loadgen';
import { runChecked, runCommand } from './proc';
import { cpuPercent, ProcSample, Recorder } from './recorder';
import { summarize, Summary } from './stats';
import { measureStorage, StorageFigures } from './storage';

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface CompletenessRun {
  round: number;
  procs: number;
  sent: number;
  recorded: number;
  drops: number;
  /** Signals per second the load generator achieved with the recorder attached. */
  rate: number;
  /** Seconds from SIGTERM until the recorder had written everything and exited. */
  stopSeconds: number;
}

export interface CompletenessSummary {
  procs: number;
  signals: number;
  rounds: number;
  sent: number;
  recorded: number;
  drops: number;
  recordedShare: Summary;
  rate: Summary;
  stopSeconds: Summary;
}

/** Events recorded vs sent for `signals` kill(self,0) calls from one process and from two, rounds interleaved. */
export async function measureCompleteness(binary: string, signals: number, rounds: number): Promise<{ runs: CompletenessRun[]; summary: CompletenessSummary[] }> {
  const runs: CompletenessRun[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const procs of round % 2 ? [2, 1] : [1, 2]) {
      log(`completeness round ${round + 1}/${rounds}: ${signals.toLocaleString('en-US')} signals from ${procs} process${procs > 1 ? 'es' : ''}`);
      const recorder = new Recorder();
      try {
        await recorder.start();
        const load = await runLoad(binary, { mode: 'kill0', count: Math.ceil(signals / procs), procs });
        const stopStarted = Date.now();
        await recorder.stop();
        const stopSeconds = (Date.now() - stopStarted) / 1000;
        const counts = recorder.counts();
        runs.push({ round, procs, sent: load.sent, recorded: counts.recorded, drops: counts.drops, rate: load.sent / (load.elapsed_ns / 1e9), stopSeconds });
      } finally {
        await recorder.stop().catch(() => {});
        recorder.remove();
      }
    }
  }
  const summary = [1, 2].map((procs) => {
    const mine = runs.filter((r) => r.procs === procs);
    return {
      procs,
      signals,
      rounds: mine.length,
      sent: mine.reduce((s, r) => s + r.sent, 0),
      recorded: mine.reduce((s, r) => s + r.recorded, 0),
      drops: mine.reduce((s, r) => s + r.drops, 0),
      recordedShare: summarize(mine.map((r) => r.recorded / r.sent)),
      rate: summarize(mine.map((r) => r.rate)),
      stopSeconds: summarize(mine.map((r) => r.stopSeconds)),
    };
  });
  return { runs, summary };
}

export interface FootprintSample {
  cpuPercent: Summary;
  rssMiB: number;
  hwmMiB: number;
}

export interface RampStep {
  targetRate: number;
  achievedRate: number;
  seconds: number;
  sent: number;
  recorded: number;
  drops: number;
  /** recorded + drops = sent (drops are host-wide, so other senders may add a few). */
  accounted: boolean;
  idle: FootprintSample;
  storm: FootprintSample;
  stopSeconds: number;
}

export interface RampResult {
  steps: RampStep[];
  /** The highest achieved rate of a step without a drop. */
  maxZeroDropRate?: number;
  /** Why the ramp ended. */
  end: string;
  /** The overload check: a small ring buffer at full speed, where drops must be counted. */
  overload?: RampStep & { ringSize: string };
}

async function sampled<T>(recorder: Recorder, everyMs: number, fn: () => Promise<T>): Promise<{ result: T; samples: ProcSample[] }> {
  const samples = [recorder.sample()];
  const timer = setInterval(() => samples.push(recorder.sample()), everyMs);
  try {
    const result = await fn();
    samples.push(recorder.sample());
    return { result, samples };
  } finally {
    clearInterval(timer);
  }
}

function footprint(samples: ProcSample[]): FootprintSample {
  const shares: number[] = [];
  for (let i = 1; i < samples.length; i++) {
    if (samples[i].atMs - samples[i - 1].atMs >= 200) shares.push(cpuPercent(samples[i - 1], samples[i]));
  }
  const whole = cpuPercent(samples[0], samples[samples.length - 1]);
  const last = samples[samples.length - 1];
  // The median is over whole intervals; the overall share is what the run cost.
  const summary = shares.length ? summarize(shares) : { median: whole, min: whole, max: whole, n: 1 };
  return { cpuPercent: { ...summary, median: whole }, rssMiB: last.rssKiB / 1024, hwmMiB: last.hwmKiB / 1024 };
}

/** One sustained step: a fresh recorder, idle for idleMs, then `rate` signals/s from `procs` processes for `seconds`. */
async function rampStep(binary: string, rate: number, seconds: number, idleMs: number, procs: number, recorderArgs: string[] = []): Promise<RampStep> {
  const recorder = new Recorder(recorderArgs);
  try {
    await recorder.start();
    await sleep(200); // past start-up work
    const idle = await sampled(recorder, 1000, () => sleep(idleMs));
    // Flat out (rate Infinity): a fixed count of 600 000 calls per second asked for.
    const perProc = Math.ceil((rate === Infinity ? 600_000 : rate) / procs);
    const storm = await sampled(recorder, 1000, () =>
      runLoad(binary, { mode: 'kill0', count: Math.ceil(perProc * seconds), procs, ratePerProc: rate === Infinity ? undefined : perProc }),
    );
    const load: LoadResult = storm.result;
    const stopStarted = Date.now();
    await recorder.stop();
    const stopSeconds = (Date.now() - stopStarted) / 1000;
    const counts = recorder.counts();
    return {
      targetRate: rate,
      achievedRate: load.sent / (load.elapsed_ns / 1e9),
      seconds: load.elapsed_ns / 1e9,
      sent: load.sent,
      recorded: counts.recorded,
      drops: counts.drops,
      accounted: counts.recorded <= load.sent && counts.recorded + counts.drops >= load.sent,
      idle: footprint(idle.samples),
      storm: footprint(storm.samples),
      stopSeconds,
    };
  } finally {
    await recorder.stop().catch(() => {});
    recorder.remove();
  }
}

/**
 * Ramps the sustained rate (two sending processes, paced) until a step
 * drops events or the generator cannot reach the target, then checks the
 * accounting past the limit with a small ring buffer at full speed.
 */
export async function measureRamp(binary: string, rates: number[], seconds: number, idleMs: number): Promise<RampResult> {
  const steps: RampStep[] = [];
  let end = `every step up to ${rates[rates.length - 1].toLocaleString('en-US')}/s was lossless`;
  for (const rate of rates) {
    log(`ramp: ${rate.toLocaleString('en-US')} signals/s for ${seconds} s`);
    const step = await rampStep(binary, rate, seconds, idleMs, 2);
    steps.push(step);
    log(`  achieved ${Math.round(step.achievedRate).toLocaleString('en-US')}/s, recorded ${step.recorded}/${step.sent}, drops ${step.drops}, recorder ${step.storm.cpuPercent.median.toFixed(0)} % CPU`);
    if (step.drops > 0) {
      end = `drops began at ${rate.toLocaleString('en-US')}/s`;
      break;
    }
    if (step.achievedRate < 0.9 * rate) {
      end = `the load generator reached only ${Math.round(step.achievedRate).toLocaleString('en-US')}/s of ${rate.toLocaleString('en-US')}/s (CPU-bound), without a drop`;
      break;
    }
  }
  const lossless = steps.filter((s) => s.drops === 0);
  const ringSize = '64K';
  log(`overload check: --ring-size ${ringSize}, two processes flat out`);
  const overload = { ...(await rampStep(binary, Infinity, Math.min(seconds, 3), idleMs, 2, ['--ring-size', ringSize])), ringSize };
  log(`  sent ${overload.sent}, recorded ${overload.recorded}, drops ${overload.drops}: ${overload.accounted ? 'all accounted for' : 'NOT accounted for'}`);
  return {
    steps,
    maxZeroDropRate: lossless.length ? Math.max(...lossless.map((s) => s.achievedRate)) : undefined,
    end,
    overload,
  };
}

export interface ProgramStat {
  name: string;
  runCount: number;
  runTimeNs: number;
  nsPerRun: number;
}

export interface KernelCost {
  sent: number;
  /** ns of BPF program time per kill(self,0) call, all programs together. */
  nsPerSignal: number;
  programs: ProgramStat[];
  /** getppid calls made next, and BPF time per call during them (sys_enter + sys_exit run on every syscall). */
  unrelatedCalls: number;
  nsPerUnrelatedCall: number;
}

/**
 * Per-program run time from the kernel's BPF statistics
 * (kernel.bpf_stats_enabled, restored afterwards) during a kill(self,0) run:
 * the kernel-side cost per signal, separate from the syscall and wakeups.
 */
export async function measureKernelCost(binary: string, signals: number): Promise<KernelCost | undefined> {
  const before = (await runCommand('sysctl', ['-n', 'kernel.bpf_stats_enabled'])).stdout.trim();
  if (before === '') return undefined;
  const recorder = new Recorder();
  const snapshot = async (): Promise<ProgramStat[] | undefined> => {
    const shown = await runCommand('bpftool', ['prog', 'show', '--json']);
    if (shown.code !== 0) return undefined;
    const all = JSON.parse(shown.stdout) as { name?: string; type?: string; loaded_at?: number; run_cnt?: number; run_time_ns?: number; pids?: { pid: number }[] }[];
    // The recorder's programs: owned by its pid when bpftool can tell, else
    // the tracing programs loaded since it started (the bench runs one recorder).
    return all
      .filter((p) => (p.pids ? p.pids.some((owner) => owner.pid === recorder.pid) : p.type === 'tracing' && (p.loaded_at ?? 0) >= recorder.startedAtSec - 1))
      .map((p) => ({ name: p.name ?? '?', runCount: p.run_cnt ?? 0, runTimeNs: p.run_time_ns ?? 0, nsPerRun: (p.run_time_ns ?? 0) / Math.max(1, p.run_cnt ?? 0) }));
  };
  const diff = (after: ProgramStat[], earlier: ProgramStat[]) =>
    after.map((p) => {
      const e = earlier.find((x) => x.name === p.name);
      const runCount = p.runCount - (e?.runCount ?? 0);
      const runTimeNs = p.runTimeNs - (e?.runTimeNs ?? 0);
      return { name: p.name, runCount, runTimeNs, nsPerRun: runTimeNs / Math.max(1, runCount) };
    });
  try {
    await runChecked('sysctl', ['-q', '-w', 'kernel.bpf_stats_enabled=1']);
    await recorder.start();
    const s0 = await snapshot();
    const load = await runLoad(binary, { mode: 'kill0', count: signals, procs: 1 });
    const s1 = await snapshot();
    const unrelated = await runLoad(binary, { mode: 'getppid', count: signals, procs: 1 });
    const s2 = await snapshot();
    if (!s0 || !s1 || !s2) return undefined;
    const programs = diff(s1, s0).sort((a, b) => b.runTimeNs - a.runTimeNs);
    const other = diff(s2, s1);
    return {
      sent: load.sent,
      nsPerSignal: programs.reduce((s, p) => s + p.runTimeNs, 0) / load.sent,
      programs,
      unrelatedCalls: unrelated.count,
      nsPerUnrelatedCall: other.reduce((s, p) => s + p.runTimeNs, 0) / unrelated.count,
    };
  } finally {
    await runCommand('sysctl', ['-q', '-w', `kernel.bpf_stats_enabled=${before}`]);
    await recorder.stop().catch(() => {});
    recorder.remove();
  }
}

export interface RecorderStorage extends StorageFigures {
  /** Seconds the recorder's mover took, after the load, to move every row into the indexed archive. */
  archiveSeconds: number;
  archiveRowsPerSecond: number;
}

/** Bytes per event as the recorder stores them: record, let the mover archive everything, stop cleanly, measure. */
export async function measureRecorderStorage(binary: string, signals: number, timeoutMs: number): Promise<RecorderStorage> {
  const recorder = new Recorder();
  try {
    await recorder.start();
    log(`storage: ${signals.toLocaleString('en-US')} signals, then waiting for the recorder's mover to archive them`);
    await runLoad(binary, { mode: 'kill0', count: signals, procs: 1 });
    await sleep(500); // the last batch reaches the hot table
    // The recorder's mover waits while batches are large (a burst is on) and
    // only looks again when a batch arrives: after a burst on a quiet host it
    // would wait for the next signal. One signal, as any host sends, ends the burst.
    await sleep(300);
    await runLoad(binary, { mode: 'kill0', count: 1, procs: 1 });
    const hotAtEnd = recorder.hotRows();
    const archived = await recorder.waitArchived(timeoutMs);
    await recorder.stop();
    const figures = measureStorage(`recorder, ${signals.toLocaleString('en-US')} × kill(self,0)`, recorder.dbPath);
    return { ...figures, archiveSeconds: archived.seconds, archiveRowsPerSecond: hotAtEnd / Math.max(archived.seconds, 1e-3) };
  } finally {
    await recorder.stop().catch(() => {});
    recorder.remove();
  }
}
