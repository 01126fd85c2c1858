// The measurements beyond cost per call (completeness, lossless rate,
// footprint, kernel cost, storage, queries) and the targets of issue 5,
// as tables for the terminal and for latest.md.
import { auditStateLine, type HostCost } from './collateral';
import type { CompletenessSummary, KernelCost, RampResult, RecorderStorage } from './completeness';
import type { FloodResult } from './flood';
import type { FleetResult } from './fleet';
import type { QueryFigures } from './querysuite';
import type { CostSummary } from './report';
import type { Summary } from './stats';
import type { StorageFigures } from './storage';
import type { StormFigures } from './storm-memory';
import type { WritePathFigures } from './writepath';

export interface ExtraResults {
  /** Collateral (unrelated syscalls) and the kill loop, sigaudit next to the reference tracer. */
  hostCost?: HostCost;
  completeness?: CompletenessSummary[];
  ramp?: RampResult;
  kernelCost?: KernelCost;
  recorderStorage?: RecorderStorage;
  generatedStorage?: StorageFigures;
  queries?: QueryFigures;
  writePath?: WritePathFigures[];
  /** Two senders flat out, per ring size: peak RSS, drops, catch-up; and the idle recorder before. */
  storm?: StormFigures[];
  flood?: FloodResult[];
  fleet?: FleetResult;
  /** Seconds each section took, and the load average when it began. */
  sectionSeconds: Record<string, number>;
  sectionLoad: Record<string, string>;
  /** The ramp's step length in seconds (10 in the full mode). */
  rampSeconds?: number;
}

export interface Section {
  title: string;
  intro?: string;
  headers: string[];
  rows: string[][];
  notes?: string[];
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const rate = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M/s` : `${Math.round(n / 1000)} k/s`);
const range = (s: Summary, f: (v: number) => string) => `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
const pct = (v: number) => `${v.toFixed(v >= 10 ? 0 : 1)} %`;
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

export interface Target {
  target: string;
  measured: string;
  met: boolean | undefined;
}

/** Every target of issue 5 with what this run measured; met is undefined when not measured. */
export function targets(cost: CostSummary[], extra: ExtraResults, mode: 'quick' | 'full'): Target[] {
  const find = (tracer: string, workload: string) => cost.find((c) => c.tracer === tracer && c.workload === workload);
  const sig = find('sigaudit', 'kill0');
  const out: Target[] = [];
  out.push({
    target: 'slowdown of the kill(self,0) loop ≤ 2.5×',
    measured: sig ? `${sig.ratio.median.toFixed(2)}× (${sig.ratio.min.toFixed(2)}–${sig.ratio.max.toFixed(2)})` : 'not measured',
    met: sig ? sig.ratio.median <= 2.5 : undefined,
  });
  for (const [peer, want] of [['bpftrace', 6], ['auditd', 25]] as const) {
    const other = find(peer, 'kill0');
    const lighter = sig && other ? other.ratio.median / sig.ratio.median : undefined;
    out.push({
      target: `≥ ${want}× lighter than ${peer} (its slowdown ÷ sigaudit's)`,
      measured: lighter === undefined ? 'not measured' : `${lighter.toFixed(1)}× (${peer} ${other!.ratio.median.toFixed(1)}× vs ${sig!.ratio.median.toFixed(2)}×)`,
      met: lighter === undefined ? undefined : lighter >= want,
    });
  }
  const ramp = extra.ramp;
  if (ramp) {
    const oneM = ramp.steps.filter((s) => s.targetRate >= 1e6 && s.achievedRate >= 0.95e6);
    const lossless = oneM.find((s) => s.drops === 0);
    const short = (extra.rampSeconds ?? 10) < 10 ? ` (${mode} mode: ${extra.rampSeconds} s steps)` : '';
    out.push({
      target: 'zero drops at 1M signals/s sustained for 10 s',
      measured:
        (lossless
          ? `${int(lossless.recorded)} of ${int(lossless.sent)} recorded, 0 drops at ${rate(lossless.achievedRate)}`
          : oneM.length
            ? `${int(oneM[0].drops)} drops at ${rate(oneM[0].achievedRate)}`
            : `1M/s not reached: ${ramp.end}; highest lossless ${ramp.maxZeroDropRate ? rate(ramp.maxZeroDropRate) : 'none'}`) + short,
      met: lossless ? (extra.rampSeconds ?? 10) >= 10 || undefined : false,
    });
  } else out.push({ target: 'zero drops at 1M signals/s sustained for 10 s', measured: 'not measured', met: undefined });
  const collateral = find('sigaudit', 'getppid');
  out.push({
    target: 'collateral cost on getppid ≤ +20 %',
    measured: collateral ? `${((collateral.ratio.median - 1) * 100).toFixed(0)} % (${((collateral.ratio.min - 1) * 100).toFixed(0)} to ${((collateral.ratio.max - 1) * 100).toFixed(0)} %)` : 'not measured',
    met: collateral ? collateral.ratio.median <= 1.2 : undefined,
  });
  const stored = [extra.generatedStorage, extra.recorderStorage].filter((s): s is StorageFigures => s !== undefined);
  out.push({
    target: '≤ 60 bytes per stored event, indexes included',
    measured: stored.length ? stored.map((s) => `${s.bytesPerRow.toFixed(0)} B (${s.label})`).join('; ') : 'not measured',
    met: stored.length ? stored.every((s) => s.bytesPerRow <= 60) : undefined,
  });
  return out;
}

/** Issue 10's targets (light on the host) with what this run measured. */
export function hostTargets(extra: ExtraResults): Target[] {
  const out: Target[] = [];
  const host = extra.hostCost;
  for (const [workload, target, limit] of [
    ['getppid', "getppid slowdown ≤ 1.10 × the reference tracer's (same run)", 1.1],
    ['kill0', "kill(self,0) loop slowdown ≤ the reference tracer's (same run)", 1.0],
  ] as const) {
    const rel = host?.relative.find((r) => r.workload === workload);
    const of = (tracer: string) => host!.rows.find((r) => r.workload === workload && r.tracer === tracer)!.ratio;
    out.push({
      target,
      measured: rel ? `${rel.sigauditOverReference.toFixed(2)} (sigaudit ${range(of('sigaudit'), (v) => `${v.toFixed(2)}×`)}, reference ${range(of('reference'), (v) => `${v.toFixed(2)}×`)})` : 'not measured',
      met: rel ? rel.sigauditOverReference <= limit : undefined,
    });
  }
  const stored = [extra.generatedStorage, extra.recorderStorage].filter((s): s is StorageFigures => s !== undefined);
  out.push({
    target: '≤ 80 bytes per stored event, indexes included (storm and 10M realistic)',
    measured: stored.length ? stored.map((s) => `${s.bytesPerRow.toFixed(1)} B (${s.label})`).join('; ') : 'not measured',
    met: stored.length ? stored.every((s) => s.bytesPerRow <= 80) : undefined,
  });
  const k = (s: Summary) => `${Math.round(s.median / 1000)}k (${Math.round(s.min / 1000)}k–${Math.round(s.max / 1000)}k)`;
  out.push({
    target: 'write path ≥ 500k rows/s (per CPU-second)',
    measured: extra.writePath ? extra.writePath.map((w) => `${k(w.ingest.cpu)} ${w.mix}`).join('; ') : 'not measured',
    met: extra.writePath ? extra.writePath.every((w) => w.ingest.cpu.median >= 500_000) : undefined,
  });
  // The default --ring-size is measured first.
  const storm = extra.storm?.[0];
  const fig = (field: keyof StormFigures['summary'], unit: string, digits = 0) =>
    storm ? `${storm.summary[field].median.toFixed(digits)}${unit} (${storm.summary[field].min.toFixed(digits)}–${storm.summary[field].max.toFixed(digits)}), --ring-size ${storm.ringSize}` : 'not measured';
  out.push({ target: 'storm: 0 drops, every signal a row', measured: storm ? `${fig('drops', ' drops')}; rows ${int(storm.summary.rows.min)} of ${int(storm.summary.sent.max)}` : 'not measured', met: storm ? storm.summary.drops.max === 0 && storm.summary.rows.min === storm.summary.sent.max : undefined });
  const mb = (field: 'peakRssMiB' | 'idleRssMiB') => (storm ? `; ${(storm.summary[field].median * 1.048576).toFixed(1)} MB` : '');
  out.push({ target: 'storm: peak RSS ≤ 200 MB', measured: fig('peakRssMiB', ' MiB') + mb('peakRssMiB'), met: storm ? storm.summary.peakRssMiB.median * 1.048576 <= 200 : undefined });
  out.push({ target: 'storm: every row committed within 15 s of its end', measured: fig('catchUpSeconds', ' s', 1), met: storm ? storm.summary.catchUpSeconds.median <= 15 : undefined });
  out.push({ target: 'idle: RSS ≤ 80 MB', measured: fig('idleRssMiB', ' MiB', 1) + mb('idleRssMiB'), met: storm ? storm.summary.idleRssMiB.median * 1.048576 <= 80 : undefined });
  out.push({ target: 'idle: < 1 % CPU', measured: fig('idleCpuPercent', ' %', 1), met: storm ? storm.summary.idleCpuPercent.median < 1 : undefined });
  return out;
}

export function targetSection(list: Target[], title = 'Targets (issue 5)'): Section {
  return {
    title,
    headers: ['target', 'measured', 'met'],
    rows: list.map((t) => [t.target, t.measured, t.met === undefined ? 'n/a' : t.met ? 'yes' : '**no**']),
  };
}

export function extraSections(extra: ExtraResults): Section[] {
  const sections: Section[] = [];
  if (extra.hostCost) {
    const h = extra.hostCost;
    sections.push({
      title: 'Host cost next to the reference tracer (collateral, kill loop)',
      intro:
        `Each traced run ÷ the bare run just before it, sigaudit and the reference tracer (bench/reference: per-syscall enter/exit tracepoints, a hash keyed by tid, ring buffer) interleaved in a rotating order; median (min–max) over ${h.rounds} rounds.`,
      notes: [auditStateLine(h.audit)],
      headers: ['workload', 'bare ns/op', 'sigaudit', 'reference', 'sigaudit ÷ reference'],
      rows: h.relative.map((rel) => {
        const of = (tracer: string) => h.rows.find((r) => r.workload === rel.workload && r.tracer === tracer)!;
        return [
          rel.label,
          range(of('sigaudit').bareNsPerOp, (v) => v.toFixed(0)),
          range(of('sigaudit').ratio, (v) => `${v.toFixed(2)}×`),
          range(of('reference').ratio, (v) => `${v.toFixed(2)}×`),
          rel.sigauditOverReference.toFixed(2),
        ];
      }),
    });
  }
  if (extra.completeness) {
    sections.push({
      title: 'Completeness at speed',
      intro: 'kill(self,0) as fast as possible with `sigaudit record` (default options) attached; recorded = rows from the load generator in the database after a clean stop, drops = the `drops` table.',
      headers: ['senders', 'signals per run', 'rounds', 'sent (all rounds)', 'recorded', 'drops', 'recorded ÷ sent, median (min–max)', 'rate achieved', 'stop (drain + write)'],
      rows: extra.completeness.map((c) => [
        `${c.procs} process${c.procs > 1 ? 'es' : ''}`,
        int(c.signals),
        String(c.rounds),
        int(c.sent),
        int(c.recorded),
        int(c.drops),
        range(c.recordedShare, (v) => `${(v * 100).toFixed(2)} %`),
        range(c.rate, rate),
        range(c.stopSeconds, (v) => `${v.toFixed(1)} s`),
      ]),
    });
  }
  if (extra.ramp) {
    const r = extra.ramp;
    const steps = [...r.steps, ...(r.overload ? [r.overload] : [])];
    sections.push({
      title: 'Lossless rate and recorder footprint',
      intro:
        `Each step: a fresh recorder, idle, then kill(self,0) from 2 processes paced at the target rate for ${extra.rampSeconds ?? '?'} s. ` +
        'CPU is the recorder process (all threads, /proc/PID/stat utime+stime over wall time; 100 % = one CPU): whole-step share (min–max of 1 s intervals). ' +
        `The last row overloads a ${r.overload?.ringSize ?? ''} ring buffer on purpose: recorded + drops must equal sent.`,
      headers: ['target rate', 'achieved', 'sent', 'recorded', 'drops', 'recorded + drops = sent', 'recorder CPU idle', 'recorder CPU in storm', 'RSS idle', 'RSS peak (VmHWM)', 'stop (backlog drain)', 'written per second (recorded ÷ (step + stop))'],
      rows: steps.map((s) => [
        s.targetRate === Infinity ? `flat out, --ring-size ${(s as { ringSize?: string }).ringSize}` : rate(s.targetRate),
        rate(s.achievedRate),
        int(s.sent),
        int(s.recorded),
        int(s.drops),
        s.accounted ? 'yes' : '**no**',
        pct(s.idle.cpuPercent.median),
        range(s.storm.cpuPercent, pct),
        `${s.idle.rssMiB.toFixed(0)} MiB`,
        `${s.storm.hwmMiB.toFixed(0)} MiB`,
        `${s.stopSeconds.toFixed(1)} s`,
        rate(s.recorded / (s.seconds + s.stopSeconds)),
      ]),
      notes: [
        `Highest sustained rate without a drop: ${r.maxZeroDropRate ? rate(r.maxZeroDropRate) : 'none'}; ${r.end}.`,
      ],
    });
  }
  if (extra.kernelCost) {
    const k = extra.kernelCost;
    sections.push({
      title: 'Kernel-side cost per program',
      intro: `\`kernel.bpf_stats_enabled=1\` during ${int(k.sent)} kill(self,0) calls with the recorder attached (bpftool prog show: run_time_ns ÷ run_cnt). All programs together: ${k.nsPerSignal.toFixed(0)} ns of BPF time per signal; during ${int(k.unrelatedCalls)} getppid calls that followed, ${k.nsPerUnrelatedCall.toFixed(0)} ns per call (the raw sys_enter/sys_exit programs run on every system call). bpf_stats itself adds two clock reads per run.`,
      headers: ['program', 'runs', 'ns per run', 'total ms'],
      rows: k.programs.filter((p) => p.runCount > 0).map((p) => [p.name, int(p.runCount), p.nsPerRun.toFixed(0), (p.runTimeNs / 1e6).toFixed(1)]),
    });
  }
  if (extra.writePath) {
    const k = (s: Summary) => range(s, (v) => `${Math.round(v / 1000)}k`);
    sections.push({
      title: 'Write path',
      intro:
        'Rows per second written into a fresh database, the same synthetic records in batches of 16,384 (bench/writepath.ts): ' +
        '`ingest` = SignalWriter.ingest (records decoded in C by sigaudit_records, one INSERT … SELECT per batch); ' +
        '`reference` = the path before it (decode, row objects, 22 bound values a row). Rounds interleave the two; median (min–max). ' +
        'Per CPU-second divides by the process\'s user + system time, which a busy host disturbs less than wall-clock time.',
      headers: ['records', 'rows', 'rounds', 'ingest rows/s', 'reference rows/s', 'ingest per CPU-s', 'reference per CPU-s'],
      rows: extra.writePath.map((w) => [w.mix, int(w.rows), String(w.rounds), k(w.ingest.wall), k(w.reference.wall), k(w.ingest.cpu), k(w.reference.cpu)]),
    });
  }
  if (extra.storm) {
    const f = (s: StormFigures, field: keyof StormFigures['summary'], digits = 0) =>
      `${s.summary[field].median.toFixed(digits)} (${s.summary[field].min.toFixed(digits)}–${s.summary[field].max.toFixed(digits)})`;
    sections.push({
      title: 'Storm and idle (issue 10)',
      intro:
        'bench/storm-memory.ts: a fresh `sigaudit record --flood-budget off`, idle (RSS and CPU over the quiet stretch: other processes\' signals ' +
        'on the host count), then two processes sending signal 0 flat out to numbered pids that do not exist; peak RSS (VmHWM), drops (the drops ' +
        'table), and how long after the storm its last row was committed. Median (min–max) over the rounds, ring sizes interleaved.',
      headers: ['--ring-size', 'rounds', 'signals', 'storm s', 'drops', 'rows', 'peak RSS MiB', 'catch-up s', 'rows/s (storm + catch-up)', 'recorder CPU-s per M rows', 'idle RSS MiB', 'idle CPU %'],
      rows: extra.storm.map((s) => [
        s.ringSize, String(s.rounds.length), int(s.summary.sent.max), f(s, 'stormSeconds', 1), f(s, 'drops'), f(s, 'rows'), f(s, 'peakRssMiB'),
        f(s, 'catchUpSeconds', 1), f(s, 'rowsPerSecond'), f(s, 'cpuSecondsPerMillion', 2), f(s, 'idleRssMiB', 1), f(s, 'idleCpuPercent', 1),
      ]),
    });
  }
  const stores = [extra.generatedStorage, extra.recorderStorage].filter((s): s is StorageFigures => s !== undefined);
  if (stores.length) {
    const big = (o: { bytesPerRow: number }) => o.bytesPerRow >= 0.5;
    const objectNames = [...new Set(stores.flatMap((s) => s.objects.filter(big).map((o) => o.name)))];
    const archiveNote = extra.recorderStorage
      ? [`The recorder's mover took ${extra.recorderStorage.archiveSeconds.toFixed(1)} s after the load to move the rows into the indexed archive (${int(extra.recorderStorage.archiveRowsPerSecond)} rows/s); ${int(extra.recorderStorage.hotRows)} rows were left in the hot table.`]
      : [];
    const per = (v: number | undefined) => (v === undefined ? '' : v.toFixed(1));
    sections.push({
      title: 'Storage',
      intro:
        "Bytes per stored event = page_count × page_size ÷ rows in `signals`, every table and index included; per table and index from SQLite's dbstat " +
        '(whole pages, free space in them included); payload = the bytes of the archive\'s rows and index entries themselves, without page slack.',
      headers: ['bytes per event', ...stores.map((s) => s.label)],
      rows: [
        ['**total (pages ÷ rows)**', ...stores.map((s) => `**${s.bytesPerRow.toFixed(1)}**`)],
        ['payload (archive + its indexes)', ...stores.map((s) => per(s.payloadBytesPerRow))],
        ...objectNames.map((name) => [name, ...stores.map((s) => per(s.objects.find((o) => o.name === name)?.bytesPerRow))]),
        ['everything else', ...stores.map((s) => per(s.objects.filter((o) => !objectNames.includes(o.name)).reduce((sum, o) => sum + o.bytesPerRow, 0)))],
        ['rows', ...stores.map((s) => int(s.rows))],
        ['database size', ...stores.map((s) => `${mib(s.pageBytes)} (free pages ${mib(s.freeBytes)})`)],
      ],
      notes: archiveNote,
    });
  }
  if (extra.queries) {
    const q = extra.queries;
    sections.push({
      title: 'Queries',
      intro:
        `\`node dist/bench/queries.js --db ${q.dbPath} --runs ${q.runs}\` on a generated database of ${int(q.rows)} rows over 7 days ` +
        `(${q.generated === 'reused' ? 'reused from an earlier run' : `generated in ${q.generated.seconds.toFixed(0)} s, mover ${int(q.generated.archiveRowsPerSecond)} rows/s`}); ` +
        `the hour holds ${int(q.hourRows)} rows. Median of ${q.runs} runs (the \`--by pid\` over all rows: 1 run).`,
      headers: ['report', 'one hour', 'whole database'],
      rows: [
        ...q.timings.map((t) => [t.report, t.hourMs === undefined ? '' : `${t.hourMs.toFixed(1)} ms`, `${t.allMs.toFixed(1)} ms`]),
        ...(q.statusMs === undefined ? [] : [['status', '', `${q.statusMs.toFixed(1)} ms`]]),
        ...q.exports.map((e) => [`export --format ${e.format}`, '', `${int(e.rowsPerSecond)} rows/s (${e.seconds.toFixed(1)} s, max RSS ${e.maxRssMiB} MiB)`]),
      ],
    });
  }
  if (extra.flood?.length) {
    const floods = extra.flood;
    sections.push({
      title: 'Flood',
      intro:
        'Two processes of uid 65534 send kill(self, 0) flat out (bench/loadgen.c, restarted every ~5 s) while root kills a fresh `sleep` ' +
        'with `/bin/kill -TERM` every second; the recorder runs with the default --flood-budget (100/s, burst 1000 per uid) unless the column says off, and the default ring (16 MiB). ' +
        "The flood's sends: recorded + summarised + dropped, against the load generator's own count.",
      headers: ['', ...floods.map((f) => `${f.seconds / 60} min${f.budget === false ? ', --flood-budget off' : ''}`)],
      rows: [
        ["root's kills recorded", ...floods.map((f) => `${int(f.killsRecorded)} of ${int(f.kills)}`)],
        ["root's kills counted as dropped under its name", ...floods.map((f) => (f.killsDropped === undefined ? 'not measured' : int(f.killsDropped)))],
        ["root's kills recorded without the victim reached", ...floods.map((f) => (f.killsWithoutDelivery === undefined ? 'not measured' : int(f.killsWithoutDelivery)))],
        ['flood: sent (loadgen)', ...floods.map((f) => int(f.sent))],
        ['flood: recorded', ...floods.map((f) => int(f.recorded))],
        ['flood: summarised', ...floods.map((f) => int(f.summarised))],
        ['flood: dropped', ...floods.map((f) => int(f.dropped))],
        ['recorded + summarised + dropped = sent', ...floods.map((f) => (f.identity ? 'yes' : `no (${int(f.recorded + f.summarised + f.dropped - f.sent)} off)`))],
        ['drops of the whole run', ...floods.map((f) => int(f.runDropped))],
        ['recorder peak RSS (VmHWM)', ...floods.map((f) => mib(f.peakRssBytes))],
        ['at the highest RSS sampled: anon / file / shmem', ...floods.map((f) => (f.peakRssParts ? [f.peakRssParts.anonKiB, f.peakRssParts.fileKiB, f.peakRssParts.shmemKiB].map((kib) => mib(kib * 1024)).join(' / ') : 'not measured'))],
        ['rows left unarchived at stop', ...floods.map((f) => int(f.hotRowsAtStop))],
        ['who-killed <last victim> after the stop (median, min–max of 5)', ...floods.map((f) => (f.whoKilledMs ? `${f.whoKilledMs.median.toFixed(0)} ms (${f.whoKilledMs.min.toFixed(0)}–${f.whoKilledMs.max.toFixed(0)})` : 'not measured'))],
      ],
    });
  }
  if (extra.fleet) {
    const fleet = extra.fleet;
    const seconds = (s: { median: number; min: number; max: number }, digits: number) => `${s.median.toFixed(digits)} s (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
    sections.push({
      title: 'Fleet',
      intro:
        `A generated database of ${int(fleet.rows)} realistic rows over one day (bench/generate.ts) forwarded by sigaudit forward --once into a PostgreSQL ` +
        `cluster started for the run on this machine (client and server share its CPUs), ${fleet.forwardRounds} rounds into a fresh database each; ` +
        `then a writer adding ${int(fleet.lag.rate)} rows/s for ${fleet.lag.seconds} s while sigaudit forward follows; reports over the last hour ` +
        `through the reader path on ${int(fleet.reportRows)} rows (the forwarded rows copied to ${fleet.reportHosts} hosts on the server), median of 5. ` +
        `Load average (1 min): ${Object.entries(fleet.load).map(([part, load]) => `${part} ${load.toFixed(2)}`).join(', ')}.`,
      headers: ['', 'figure', 'target'],
      rows: [
        [`forward rate (median, min–max of ${fleet.forwardRounds})`, `${int(fleet.rowsPerSecond.median)} rows/s (${int(fleet.rowsPerSecond.min)}–${int(fleet.rowsPerSecond.max)})`, '≥ 50,000 rows/s'],
        [`catch-up of ${int(fleet.rows)} rows`, seconds(fleet.forwardSeconds, 1), ''],
        [`lag at ${int(fleet.lag.writtenPerSecond)} rows/s written (newest local − newest on the server)`, seconds(fleet.lag.lagSeconds, 2), 'a few seconds'],
        ['after the writer stopped, all rows on the server in', `${fleet.lag.drainSeconds.toFixed(1)} s`, ''],
        ['bytes per row: signals with their indexes', fleet.signalBytesPerRow.toFixed(0), '≤ 150'],
        ['bytes per row: the whole schema (names, rollup, side tables)', fleet.schemaBytesPerRow.toFixed(0), ''],
        ...fleet.queries.map((q) => [q.name, `${q.medianMs.toFixed(1)} ms (${q.minMs.toFixed(1)}–${q.maxMs.toFixed(1)})`, q.name.startsWith('who-killed') || q.name.startsWith('failed') ? '< 100 ms' : q.name.startsWith('top-senders') ? '< 1 s' : '']),
      ],
    });
  }
  return sections;
}

export function sectionText(section: Section): string {
  const widths = section.headers.map((h, i) => Math.max(h.length, ...section.rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd();
  return [
    `${section.title}:`,
    '',
    line(section.headers),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...section.rows.map(line),
    ...(section.notes ?? []).map((n) => `\n${n}`),
  ].join('\n');
}

export function sectionMarkdown(section: Section): string {
  return [
    `## ${section.title}`,
    '',
    ...(section.intro ? [section.intro, ''] : []),
    `| ${section.headers.join(' | ')} |`,
    `|${section.headers.map(() => '---').join('|')}|`,
    ...section.rows.map((r) => `| ${r.join(' | ')} |`),
    ...(section.notes ?? []).flatMap((n) => ['', n]),
  ].join('\n');
}
