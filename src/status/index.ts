// sigaudit status: what the database holds and whether a recorder is
// writing to it now. Never writes, and never sends a signal to find out
// (a kill(pid, 0) would be recorded).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isoTime } from '../export/columns';
import { dataSpan, describeSends, dropsIn, type DropWindow } from '../query/filters';
import { count, json, renderTable, type OutputOptions, type Rendered } from '../query/format';
import { longTime } from '../query/time';
import { openForReading } from '../store/database';
import { earlierDatabases, type EarlierDatabase } from '../store/earlier-databases';

export interface StatusOptions {
  dbPath: string;
  /** Most recent runs and drop windows listed. */
  limit?: number;
}

export interface RunStatus {
  id: number;
  startedNs: bigint;
  stoppedNs: bigint | null;
  host: string;
  version: string;
  recorderPid: number;
  events: number;
  drops: number;
  /** Sends counted in summaries, beyond their sender's --flood-budget. */
  summarised: number;
  stopReason: string | null;
  /** stop_reason is NULL and its recorder process is alive: it records now. */
  recording: boolean;
  /** stop_reason is NULL but the process is gone: it crashed or was killed. */
  crashed: boolean;
}

export interface StatusReport {
  path: string;
  /** The file plus its -wal. */
  bytes: number;
  rows: number;
  /** Rows not yet moved to the indexed archive. */
  hotRows: number;
  fromNs: bigint | null;
  toNs: bigint | null;
  runs: RunStatus[];
  runCount: number;
  recording: boolean;
  drops: DropWindow[];
  dropWindows: number;
  dropped: number;
  /** Sends counted in summaries, over all runs. */
  summarised: number;
  /** Files this database took over from (damaged, deleted or replaced under the recorder), oldest first. */
  earlier: EarlierDatabase[];
}

/** Whether pid is a live sigaudit recorder (by /proc, so pid reuse by another program does not count). */
export function recorderAlive(pid: number): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmdline.includes('record') && cmdline.some((arg) => /sigaudit|index\.js/.test(arg));
  } catch {
    return false;
  }
}

export function status(options: StatusOptions): StatusReport {
  const limit = options.limit ?? 5;
  const db = openForReading(options.dbPath);
  try {
    const size = (path: string) => (existsSync(path) ? statSync(path).size : 0);
    const counts = db.prepare('SELECT (SELECT count(*) FROM signals_archive) AS archive, (SELECT count(*) FROM signals_hot) AS hot, (SELECT count(*) FROM runs) AS runs').get() as { archive: number; hot: number; runs: number };
    const span = dataSpan(db);
    const runs = (db.prepare('SELECT * FROM runs ORDER BY id DESC LIMIT ?').safeIntegers(true).all(limit) as Record<string, bigint | string | null>[]).map((run) => {
      const open = run.stop_reason === null;
      const alive = open && recorderAlive(Number(run.recorder_pid));
      return {
        id: Number(run.id),
        startedNs: run.started_ns as bigint,
        stoppedNs: run.stopped_ns as bigint | null,
        host: run.host as string,
        version: run.version as string,
        recorderPid: Number(run.recorder_pid),
        events: Number(run.events),
        drops: Number(run.drops),
        summarised: Number(run.summarised),
        stopReason: run.stop_reason as string | null,
        recording: alive,
        crashed: open && !alive,
      };
    });
    const dropTotals = db.prepare('SELECT count(*) AS windows, coalesce(sum(count), 0) AS dropped, (SELECT coalesce(sum(summarised), 0) FROM runs) AS summarised FROM drops').get() as { windows: number; dropped: number; summarised: number };
    // Drops, crash windows and retention's deletions, newest last.
    const drops = dropsIn(db, {}).slice(-limit);
    return {
      path: options.dbPath,
      bytes: size(options.dbPath) + size(`${options.dbPath}-wal`),
      rows: counts.archive + counts.hot,
      hotRows: counts.hot,
      fromNs: span?.fromNs ?? null,
      toNs: span?.toNs ?? null,
      runs,
      runCount: counts.runs,
      recording: runs.some((run) => run.recording),
      drops,
      dropWindows: dropTotals.windows,
      dropped: dropTotals.dropped,
      summarised: dropTotals.summarised,
      earlier: earlierDatabases(db),
    };
  } finally {
    db.close();
  }
}

function mib(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GiB` : `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

export function renderStatus(report: StatusReport, output: OutputOptions): Rendered {
  const t = (ns: bigint | null) => (ns === null ? null : isoTime(ns));
  if (output.format !== 'table')
    return {
      stdout: json({
        path: report.path,
        bytes: report.bytes,
        rows: report.rows,
        hot_rows: report.hotRows,
        from: t(report.fromNs),
        to: t(report.toNs),
        recording: report.recording,
        run_count: report.runCount,
        runs: report.runs.map((run) => ({
          id: run.id, started: t(run.startedNs), stopped: t(run.stoppedNs), host: run.host, version: run.version,
          recorder_pid: run.recorderPid, events: run.events, summarised: run.summarised, drops: run.drops, stop_reason: run.stopReason,
          recording: run.recording, crashed: run.crashed,
        })),
        dropped: report.dropped,
        summarised: report.summarised,
        drop_windows: report.dropWindows,
        earlier_databases: report.earlier.map((earlier) => ({ found: t(earlier.foundNs), what: earlier.what, moved_to: earlier.movedTo, detail: earlier.detail, run_id: earlier.runId })),
        drops: report.drops.map((drop) => ({
          from: t(drop.fromNs), to: t(drop.toNs), count: drop.count === null ? null : Number(drop.count), reason: drop.reason,
          ...(drop.sender ? { sender: drop.sender } : {}),
        })),
      }),
      warnings: [],
    };
  const time = (ns: bigint | null) => (ns === null ? '-' : longTime(ns, output.utc));
  const lines = [
    `database   ${report.path} (${mib(report.bytes)})`,
    `signals    ${count(report.rows)} rows${report.hotRows > 0 ? ` (${count(report.hotRows)} not yet archived)` : ''}`,
    `covers     ${report.fromNs === null ? 'nothing yet' : `${time(report.fromNs)} to ${time(report.toNs)}${output.utc ? '' : ' (local time)'}`}`,
    `recording  ${report.recording ? `yes, pid ${report.runs.find((run) => run.recording)!.recorderPid}` : 'no'}`,
    `dropped    ${report.dropped === 0 ? 'nothing' : `${count(report.dropped)} signals in ${count(report.dropWindows)} windows`}`,
    `summarised ${report.summarised === 0 ? 'nothing' : `${count(report.summarised)} sends beyond --flood-budget (counted, not recorded)`}`,
  ];
  for (const earlier of report.earlier)
    lines.push(earlier.what === 'damaged'
      ? `earlier    signals before ${time(earlier.foundNs)} are in ${earlier.movedTo} (found damaged: ${earlier.detail}; salvage with sigaudit recover)`
      : `earlier    signals before ${time(earlier.foundNs)} were in a file ${earlier.what} under the recorder (${earlier.detail})`);
  let text = `${lines.join('\n')}\n`;
  if (report.runs.length > 0) {
    text += `\nruns (${report.runs.length} newest of ${report.runCount})\n`;
    text += renderTable(
      [{ header: 'RUN', align: 'right' }, { header: 'STARTED' }, { header: 'STOPPED' }, { header: 'EVENTS', align: 'right' }, { header: 'SUMMARY', align: 'right' }, { header: 'DROPS', align: 'right' }, { header: 'STATE', flex: true, min: 8 }],
      report.runs.map((run) => [
        String(run.id),
        time(run.startedNs),
        run.stoppedNs === null ? '-' : time(run.stoppedNs),
        count(run.events),
        count(run.summarised),
        count(run.drops),
        run.recording ? `recording (pid ${run.recorderPid})` : run.crashed ? 'did not stop cleanly' : run.stopReason ?? '',
      ]),
    );
  }
  if (report.drops.length > 0) {
    text += `\nincomplete windows (${report.drops.length} newest): queries over them may miss signals\n`;
    text += renderTable(
      [{ header: 'FROM' }, { header: 'TO' }, { header: 'SIGNALS', align: 'right' }, { header: 'REASON', flex: true, min: 6 }],
      report.drops.map((drop) => [
        time(drop.fromNs), time(drop.toNs), drop.count === null ? '?' : count(drop.count),
        drop.sender ? `${drop.reason}: ${describeSends(drop.sender, drop.count!)}` : drop.reason,
      ]),
    );
  }
  return { stdout: text, warnings: [] };
}
