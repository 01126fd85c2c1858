// Turns measurements into the stdout table, bench/results/latest.md and
// bench/results/latest.json. The markdown is meant to be pasted into the
// README's Performance section as is.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LoadResult } from './loadgen';
import { summarize, Summary } from './stats';
import type { TracerSessionStats } from './tracers';
import { auditStateLine } from './collateral';
import { extraSections, sectionMarkdown, sectionText, hostTargets, targets, targetSection, type ExtraResults } from './sections';

export interface Workload {
  /** Stable identifier used in JSON. */
  id: string;
  /** What the table calls it. */
  label: string;
  mode: LoadResult['mode'];
  procs: number;
}

/** One bare run and the traced run that followed it in the same round. */
export interface PairedRun {
  round: number;
  tracer: string;
  workload: string;
  bare: LoadResult;
  traced: LoadResult;
}

/** One start()…stop() of a tracer: what it saw while the traced runs ran. */
export interface TracerSession {
  round: number;
  tracer: string;
  sent: number;
  stats: TracerSessionStats;
}

export interface BenchMeta {
  mode: 'quick' | 'full';
  rounds: number;
  date: string;
  durationSeconds: number;
  host: Record<string, string>;
  tracerDescriptions: Record<string, string>;
  /** Tracing or auditing processes not started by the bench, which would skew every figure. */
  foreignTracers: string[];
  /** Rounds during which processes outside the bench used over 10 % of a CPU. */
  busyRounds: { round: number; processes: string[] }[];
}

export interface CostSummary {
  tracer: string;
  workload: string;
  label: string;
  bareNsPerOp: Summary;
  tracedNsPerOp: Summary;
  ratio: Summary;
}

export interface CompletenessSummary {
  tracer: string;
  sent: number;
  recorded?: number;
  dropped?: number;
}

export interface BenchReport {
  meta: BenchMeta;
  cost: CostSummary[];
  completeness: CompletenessSummary[];
  runs: PairedRun[];
  sessions: TracerSession[];
  /** Completeness, lossless rate, footprint, storage and queries, when measured. */
  extra?: ExtraResults;
}

export function buildReport(meta: BenchMeta, tracers: string[], workloads: Workload[], runs: PairedRun[], sessions: TracerSession[]): BenchReport {
  const cost: CostSummary[] = [];
  for (const tracer of tracers) {
    for (const workload of workloads) {
      const pairs = runs.filter((run) => run.tracer === tracer && run.workload === workload.id);
      if (pairs.length === 0) continue;
      cost.push({
        tracer,
        workload: workload.id,
        label: workload.label,
        bareNsPerOp: summarize(pairs.map((p) => p.bare.ns_per_op)),
        tracedNsPerOp: summarize(pairs.map((p) => p.traced.ns_per_op)),
        ratio: summarize(pairs.map((p) => p.traced.ns_per_op / p.bare.ns_per_op)),
      });
    }
  }
  const completeness = tracers.map((tracer) => {
    const mine = sessions.filter((s) => s.tracer === tracer);
    const total = (pick: (s: TracerSessionStats) => number | undefined): number | undefined =>
      mine.every((s) => pick(s.stats) !== undefined) && mine.length > 0
        ? mine.reduce((sum, s) => sum + pick(s.stats)!, 0)
        : undefined;
    return {
      tracer,
      sent: mine.reduce((sum, s) => sum + s.sent, 0),
      recorded: total((s) => s.recorded),
      dropped: total((s) => s.dropped),
    };
  });
  return { meta, cost, completeness, runs, sessions };
}

const ns = (value: number) => (value >= 100 ? value.toFixed(0) : value.toFixed(1));
const factor = (value: number) => (value >= 10 ? value.toFixed(1) : value.toFixed(2));
const withRange = (s: Summary, format: (v: number) => string) => `${format(s.median)} (${format(s.min)}–${format(s.max)})`;
const ratioWithRange = (s: Summary) => `${factor(s.median)}× (${factor(s.min)}–${factor(s.max)})`;
const percent = (value: number) => `${value >= 1 ? '+' : ''}${((value - 1) * 100).toFixed(0)} %`;

function costRows(report: BenchReport): string[][] {
  return report.cost.map((c) => [
    c.tracer,
    c.label,
    withRange(c.bareNsPerOp, ns),
    withRange(c.tracedNsPerOp, ns),
    ratioWithRange(c.ratio),
    percent(c.ratio.median),
  ]);
}
const COST_HEADERS = ['tracer', 'workload', 'bare ns/op', 'traced ns/op', 'slowdown (traced ÷ bare)', 'overhead'];

function completenessRows(report: BenchReport): string[][] {
  return report.completeness
    .filter((c) => c.tracer !== 'none')
    .map((c) => [
      c.tracer,
      String(c.sent),
      c.recorded === undefined ? 'not counted' : `${c.recorded} (${((100 * c.recorded) / Math.max(1, c.sent)).toFixed(1)} %)`,
      c.dropped === undefined ? 'not reported' : String(c.dropped),
    ]);
}
const COMPLETENESS_HEADERS = ['tracer', 'signal syscalls sent', 'recorded (load generator)', 'drops the tracer reports'];

/** Why the figures may not be trusted, one sentence each; empty on a quiet machine. */
function warnings(meta: BenchMeta): string[] {
  const found: string[] = [];
  if (meta.foreignTracers.length) found.push(`other tracers were running and skew every figure: ${meta.foreignTracers.join('; ')}`);
  if (meta.busyRounds.length) {
    found.push(
      `in ${meta.busyRounds.length} of ${meta.rounds} rounds other processes kept the CPUs busy: ` +
        meta.busyRounds.map((b) => `round ${b.round + 1}: ${b.processes.join(', ')}`).join('; '),
    );
  }
  return found;
}

export function formatText(report: BenchReport): string {
  const table = (headers: string[], rows: string[][]) => {
    const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd();
    return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
  };
  const extra = report.extra
    ? [targetSection(targets(report.cost, report.extra, report.meta.mode)), targetSection(hostTargets(report.extra), 'Targets (issue 10)'), ...extraSections(report.extra)]
    : [];
  // The auditd comparison comes last, as it runs last (bench/run.ts).
  return [
    ...auditLines(report.extra),
    ...extra.flatMap((section) => [sectionText(section), '']),
    ...(report.cost.length
      ? [
          `Cost per call, median of ${report.meta.rounds} rounds (min–max); each traced run is divided by the bare run just before it:`,
          '',
          table(COST_HEADERS, costRows(report)),
          '',
          'Completeness during those runs (all rounds together):',
          '',
          table(COMPLETENESS_HEADERS, completenessRows(report)),
          '',
        ]
      : []),
    ...warnings(report.meta).map((warning) => `\nWARNING: ${warning}`),
  ].join('\n');
}

/** The audit state the host-cost figures were taken in, first: it decides what they mean. */
function auditLines(extra: ExtraResults | undefined): string[] {
  return extra?.hostCost ? [auditStateLine(extra.hostCost.audit), ''] : [];
}

export function formatMarkdown(report: BenchReport): string {
  const table = (headers: string[], rows: string[][]) =>
    [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  const { meta } = report;
  return [
    `# sigaudit bench — ${meta.mode} run, ${meta.date}`,
    '',
    `Reproduce with \`npm run bench${meta.mode === 'quick' ? ' -- --quick' : ''}\` (as root).`,
    '',
    ...auditLines(report.extra),
    ...(report.extra
      ? [sectionMarkdown(targetSection(targets(report.cost, report.extra, meta.mode))), '', sectionMarkdown(targetSection(hostTargets(report.extra), 'Targets (issue 10)')), '']
      : []),
    ...(report.extra ? extraSections(report.extra).flatMap((section) => [sectionMarkdown(section), '']) : []),
    ...(report.cost.length ? [
      '## Cost per call',
      '',
      `Each figure is the median of ${meta.rounds} interleaved rounds, with min–max. In every round each tracer gets a bare run ` +
        'immediately followed by the same load with the tracer attached; the slowdown is that traced run divided by that bare run. ' +
        '`getppid` sends no signal: its overhead is what a tracer costs every other system call.',
      '',
      table(COST_HEADERS, costRows(report)),
      '',
      '## Completeness during the cost runs',
      '',
      table(COMPLETENESS_HEADERS, completenessRows(report)),
      '',
    ] : []),
    '## Tracers',
    '',
    ...Object.entries(meta.tracerDescriptions).map(([name, description]) => `- **${name}**: ${description}`),
    '',
    '## Machine',
    '',
    ...Object.entries(meta.host).map(([key, value]) => `- ${key}: ${value}`),
    `- bench duration: ${meta.durationSeconds.toFixed(0)} s`,
    ...Object.entries(report.extra?.sectionSeconds ?? {}).map(
      ([name, seconds]) => `- ${name}: ${seconds.toFixed(0)} s, load average (1/5/15 min) when it began: ${report.extra!.sectionLoad[name]}`,
    ),
    ...warnings(meta).map((warning) => `\n**Warning:** ${warning}`),
    '',
  ].join('\n');
}

export function writeReport(report: BenchReport, directory: string): { markdown: string; json: string } {
  fs.mkdirSync(directory, { recursive: true });
  const markdown = path.join(directory, 'latest.md');
  const json = path.join(directory, 'latest.json');
  fs.writeFileSync(markdown, formatMarkdown(report));
  fs.writeFileSync(json, JSON.stringify(report, null, 2) + '\n');
  return { markdown, json };
}
