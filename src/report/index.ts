// sigaudit report --html: gathers the story of a window from the query
// layer (who-killed, failed, top-senders, status) and the few reads of
// ./reads, then writes it as one self-contained page (./html).
import { closeSync, existsSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SigauditError } from '../errors';
import { failed } from '../query/failed';
import { dataSpan, dropsIn, windowOf, type Filters } from '../query/filters';
import { longTime } from '../query/time';
import { topSenders } from '../query/top-senders';
import { verdictOf, whoKilled, type ProcessSegment } from '../query/who-killed';
import { status } from '../status';
import { openForReading } from '../store/database';
import { renderHtml } from './html';
import { LIMITS, type Report, type Timeline, type Verdict } from './model';
import { deathsIn, sendsPerBucket, senderTargetPairs, type BucketCount, type Death } from './reads';

export interface ReportOptions {
  dbPath: string;
  /** The window (since/until); the page covers every signal in it. */
  filters: Filters;
  /** Processes asked about by pid or name: their verdicts come first. */
  pids: number[];
  comms: string[];
  /** Write a page that says so when the window holds no signal, instead of failing. */
  allowEmpty?: boolean;
}

/** The rows who-killed keeps per process, as the CLI's default --limit. */
const WHO_KILLED_LIMIT = 200;

const MS_NS = 1_000_000n;
/** Bucket sizes the timeline chooses from, in ms: the smallest that keeps it within LIMITS.buckets. */
const BUCKET_MS = [10, 100, 500, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400, 604800].map((size, i) => (i < 3 ? size : size * 1000));

function bucketMsFor(spanNs: bigint): number {
  const spanMs = Number(spanNs / MS_NS) + 1;
  return BUCKET_MS.find((ms) => spanMs / ms <= LIMITS.buckets) ?? BUCKET_MS[BUCKET_MS.length - 1];
}

/** The busiest senders of each bucket, for the timeline's hover. */
function busiestPerBucket(rows: BucketCount[]): BucketCount[] {
  const byBucket = new Map<number, BucketCount[]>();
  for (const row of rows) {
    const bucket = byBucket.get(row.bucket);
    if (bucket) bucket.push(row);
    else byBucket.set(row.bucket, [row]);
  }
  return [...byBucket.keys()].sort((a, b) => a - b).flatMap((bucket) =>
    byBucket.get(bucket)!
      .sort((a, b) => b.count - a.count || String(a.senderComm).localeCompare(String(b.senderComm)) || a.signal - b.signal)
      .slice(0, LIMITS.sendersPerBucket),
  );
}

function timelineOf(rows: BucketCount[], originNs: bigint, bucketMs: number, bucketCount: number): Timeline {
  const totals = new Map<number, number>();
  for (const row of rows) totals.set(row.signal, (totals.get(row.signal) ?? 0) + row.count);
  const ranked = [...totals].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  // Merging one signal into "other" would hide its name for nothing.
  const keep = ranked.length <= LIMITS.signalSeries + 1 ? ranked : ranked.slice(0, LIMITS.signalSeries);
  const shown = new Map(keep.map(([signal], i) => [signal, i]));
  const merged = ranked.filter(([signal]) => !shown.has(signal)).map(([signal]) => signal);
  const series = keep.map(([signal, total]) => ({ signal: signal as number | null, total, counts: new Array<number>(bucketCount).fill(0) }));
  if (merged.length > 0) series.push({ signal: null, total: merged.reduce((sum, signal) => sum + totals.get(signal)!, 0), counts: new Array<number>(bucketCount).fill(0) });
  for (const row of rows) {
    const target = series[shown.get(row.signal) ?? series.length - 1];
    if (row.bucket >= 0 && row.bucket < bucketCount) target.counts[row.bucket] += row.count;
  }
  return { originNs, bucketMs, bucketCount, series, merged, hover: busiestPerBucket(rows), total: ranked.reduce((sum, [, total]) => sum + total, 0) };
}

/** The segments of a who-killed answer up to the one that ended with this death (pids are reused). */
function upToDeath(processes: ProcessSegment[], death: Death): ProcessSegment[] {
  const index = processes.findIndex((segment) => segment.exit?.tsNs === death.tsNs);
  return index === -1 ? processes : processes.slice(0, index + 1);
}

/**
 * who-killed's answer for a process: for one asked for, its whole answer
 * (as the CLI gives it); for a death, the process that died, though its
 * pid may have been reused since.
 */
function verdictFor(options: ReportOptions, subject: { pid?: number; comm?: string }, reason: Verdict['reason'], death?: Death): Verdict {
  const answer = whoKilled({ dbPath: options.dbPath, pid: subject.pid, comm: subject.comm, filters: options.filters, limit: WHO_KILLED_LIMIT });
  const processes = death && reason === 'died' ? upToDeath(answer.processes, death) : answer.processes;
  // As renderWhoKilled words it, so the page and `query who-killed --utc` agree.
  const name = subject.pid !== undefined ? `pid ${subject.pid}` : `a process named ${subject.comm}`;
  const rows = processes.flatMap((segment) => segment.rows).reverse();
  return {
    pid: subject.pid,
    subject: subject.pid !== undefined ? `pid ${subject.pid}${death?.comm ? ` (${death.comm})` : ''}` : `processes named ${subject.comm}`,
    reason,
    death,
    text: verdictOf(processes, name, true),
    rows: rows.slice(0, LIMITS.rowsPerVerdict),
    moreRows: Math.max(0, rows.length - LIMITS.rowsPerVerdict),
  };
}

export function buildReport(options: ReportOptions): Report {
  const window = windowOf(options.filters);
  const generatedNs = BigInt(Date.now()) * 1_000_000n;
  const db = openForReading(options.dbPath);
  let parts: Pick<Report, 'fromNs' | 'toNs' | 'drops' | 'timeline' | 'deaths' | 'deathTotal' | 'pairs' | 'pairCount' | 'pairRows'>;
  try {
    const span = dataSpan(db);
    const fromNs = window.fromNs ?? span?.fromNs ?? generatedNs;
    const toNs = window.toNs ?? span?.toNs ?? generatedNs;
    const bucketMs = bucketMsFor(toNs - fromNs);
    const bucketNs = BigInt(bucketMs) * MS_NS;
    const originNs = (fromNs / bucketNs) * bucketNs;
    const bucketCount = Number((toNs - originNs) / bucketNs) + 1;
    const bounded = { fromNs, toNs };
    const timeline = timelineOf(sendsPerBucket(db, options.filters, bounded, originNs, bucketNs), originNs, bucketMs, bucketCount);
    const { deaths, total: deathTotal } = deathsIn(db, bounded, LIMITS.deathMarks);
    const { pairs, pairCount, rows: pairRows } = senderTargetPairs(db, options.filters, bounded, LIMITS.pairs);
    parts = { fromNs, toNs, drops: dropsIn(db, window), timeline, deaths, deathTotal, pairs, pairCount, pairRows };
  } finally {
    db.close();
  }

  const empty = parts.timeline.total === 0;
  if (empty && !options.allowEmpty)
    throw new SigauditError(
      'EREPORTEMPTY',
      `no signal was recorded from ${longTime(parts.fromNs, true)} to ${longTime(parts.toNs, true)}`,
      'widen --since/--until (sigaudit status shows the time the database covers), or pass --allow-empty to write a page that says so',
    );

  const verdicts: Verdict[] = [];
  for (const pid of options.pids) {
    const verdict = verdictFor(options, { pid }, 'asked', parts.deaths.find((death) => death.pid === pid));
    if (verdict.rows.length === 0)
      throw new SigauditError(
        'EREPORTPID',
        `no signal to pid ${pid} was recorded from ${longTime(parts.fromNs, true)} to ${longTime(parts.toNs, true)}`,
        `check the pid (sigaudit query list --target-pid ${pid}), or widen --since/--until`,
      );
    verdicts.push(verdict);
  }
  for (const comm of options.comms) {
    const verdict = verdictFor(options, { comm }, 'asked');
    if (verdict.rows.length === 0)
      throw new SigauditError(
        'EREPORTCOMM',
        `no signal to a process named ${comm} was recorded from ${longTime(parts.fromNs, true)} to ${longTime(parts.toNs, true)}`,
        `check the name (sigaudit query who-killed --comm ${comm}), or widen --since/--until`,
      );
    verdicts.push(verdict);
  }
  const shown = new Set(verdicts.map((verdict) => verdict.death?.tsNs));
  for (const death of parts.deaths.filter((death) => !shown.has(death.tsNs)).slice(0, LIMITS.deathVerdicts))
    verdicts.push(verdictFor(options, { pid: death.pid }, 'died', death));

  const runs = status({ dbPath: options.dbPath, limit: Number.MAX_SAFE_INTEGER }).runs.filter(
    (run) => run.startedNs <= parts.toNs && (run.stoppedNs === null || run.stoppedNs >= parts.fromNs),
  );
  return {
    generatedNs,
    dbPath: options.dbPath,
    hosts: [...new Set(runs.map((run) => run.host))],
    runs,
    since: window.fromNs !== undefined,
    until: window.toNs !== undefined,
    empty,
    verdicts,
    failed: failed({ dbPath: options.dbPath, filters: options.filters, limit: LIMITS.failedGroups }),
    top: topSenders({ dbPath: options.dbPath, filters: options.filters, by: 'comm', limit: LIMITS.topSenders }),
    ...parts,
  };
}

/**
 * Writes the page next to its final path and renames it into place, so a
 * failure never leaves half a page; the output is tried before any work.
 */
export function writeReport(options: ReportOptions & { output: string }): { report: Report; bytes: number } {
  if (existsSync(options.output) && statSync(options.output).isDirectory())
    throw new SigauditError('EREPORTOUTPUT', `cannot write the report to ${options.output}: it is a directory`, 'pass --output with a file name, e.g. --output incident.html');
  const temporary = join(dirname(options.output), `.${basename(options.output)}.${process.pid}.tmp`);
  let fd: number;
  try {
    fd = openSync(temporary, 'w', 0o644);
  } catch (error) {
    const cause = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new SigauditError(
      'EREPORTOUTPUT',
      `cannot write the report to ${options.output}: ${cause} in ${dirname(options.output)}`,
      'pass --output with a path in an existing directory you may write to',
    );
  }
  let written = false;
  try {
    const report = buildReport(options);
    const page = Buffer.from(renderHtml(report), 'utf8');
    writeSync(fd, page);
    closeSync(fd);
    fd = -1;
    renameSync(temporary, options.output);
    written = true;
    return { report, bytes: page.length };
  } finally {
    if (fd !== -1) closeSync(fd);
    if (!written) rmSync(temporary, { force: true });
  }
}
