// sigaudit query failed: sends whose return value was an error, grouped by
// sender and target (a stale pid file or a permission problem stands out),
// or each one with --raw.
import type Database from 'better-sqlite3';
import { COLUMNS, SELECT_ROWS, exportRecord, isoTime, type StoredRow } from '../export/columns';
import { errnoName } from '../names';
import { openForReading } from '../store/database';
import { resultLabel, senderLabel, signalLabel, targetLabel } from './describe';
import { dropWarning, dropsIn, dropsJson, filterTerms, whereSql, windowOf, type DropWindow, type Filters, type Window } from './filters';
import { count, csv, json, jsonl, renderTable, wrap, type OutputOptions, type Rendered } from './format';
import { shortTime } from './time';

export interface FailedOptions {
  dbPath: string;
  filters: Filters;
  /** Each failed send instead of groups. */
  raw?: boolean;
  /** Most groups (or rows with --raw) shown; 0 for all. */
  limit?: number;
}

export interface FailedGroup {
  senderComm: string | null;
  senderUid: number | null;
  targetPid: number | null;
  ret: number;
  errno: string;
  count: number;
  /** How many different sender pids (a cron job's kill is a new pid each time). */
  senderPids: number;
  /** One of them, the most recent. */
  lastSenderPid: number | null;
  signals: number[];
  firstNs: bigint;
  lastNs: bigint;
}

export interface FailedReport {
  window: Window;
  groups?: FailedGroup[];
  rows?: StoredRow[];
  /** All failed sends (or deliveries with --per-target) in the window, beyond the limit too. */
  total: number;
  drops: DropWindow[];
}

/** The columns the failed report reads: all in signals_archive_failed_ts_ns. */
const FAILED_COLUMNS = 'ts_ns, sender_pid, sender_comm, sender_uid, target_pid, signal, ret, source, fanout';

/** The namespace pids a pid filter also matches (src/query/filters.ts): outside that index, so read only with one. */
const NS_PID_COLUMNS = 'sender_ns_pid, target_ns_pid';

function failedRows(nsPids: boolean): string {
  const columns = nsPids ? `${FAILED_COLUMNS}, ${NS_PID_COLUMNS}` : FAILED_COLUMNS;
  return `(SELECT ${columns} FROM archived_signals WHERE ret < 0 UNION ALL SELECT ${columns} FROM hot_signals WHERE ret < 0)`;
}

/**
 * Served by signals_archive_failed_ts_ns alone (covering): the union names
 * only its columns, where the signals view would read whole rows; a pid
 * filter (`nsPids`) adds the namespace pids it also matches.
 */
export function failedGroupsSql(terms: string[], limit: number, nsPids = false): string {
  return `SELECT sender_comm, sender_uid, target_pid, ret, count(*) AS n, count(DISTINCT sender_pid) AS senders,
      max(sender_pid) AS last_sender, group_concat(DISTINCT signal) AS signals, min(ts_ns) AS first_ns, max(ts_ns) AS last_ns
    FROM ${failedRows(nsPids)} ${whereSql(terms)}
    GROUP BY sender_comm, sender_uid, target_pid, ret
    ORDER BY n DESC, last_ns DESC${limit > 0 ? ` LIMIT ${limit}` : ''}`;
}

function groups(db: Database.Database, terms: string[], params: Record<string, unknown>, limit: number, nsPids: boolean): FailedGroup[] {
  const rows = db.prepare(failedGroupsSql(terms, limit, nsPids)).safeIntegers(true).all(params) as {
    sender_comm: string | null; sender_uid: bigint | null; target_pid: bigint | null; ret: bigint; n: bigint; senders: bigint;
    last_sender: bigint | null; signals: string; first_ns: bigint; last_ns: bigint;
  }[];
  return rows.map((row) => ({
    senderComm: row.sender_comm,
    senderUid: row.sender_uid === null ? null : Number(row.sender_uid),
    targetPid: row.target_pid === null ? null : Number(row.target_pid),
    ret: Number(row.ret),
    errno: errnoName(Number(row.ret)),
    count: Number(row.n),
    senderPids: Number(row.senders),
    lastSenderPid: row.last_sender === null ? null : Number(row.last_sender),
    signals: String(row.signals).split(',').map(Number).sort((a, b) => a - b),
    firstNs: row.first_ns,
    lastNs: row.last_ns,
  }));
}

export function failed(options: FailedOptions): FailedReport {
  const window = windowOf(options.filters);
  const limit = options.limit ?? (options.raw ? 100 : 50);
  const db = openForReading(options.dbPath);
  try {
    // The target as the sender addressed it (a failed send usually reached no task).
    const where = filterTerms(options.filters, window, { skip: ['targetPid'] });
    if (options.filters.targetPid !== undefined) {
      where.terms.push('(target_pid = @targetPid OR target_ns_pid = @targetPid)');
      where.params.targetPid = options.filters.targetPid;
    }
    const nsPids = options.filters.senderPid !== undefined || options.filters.targetPid !== undefined;
    const total = Number((db.prepare(`SELECT count(*) AS n FROM ${failedRows(nsPids)} ${whereSql(where.terms)}`).get(where.params) as { n: number }).n);
    const report: FailedReport = { window, total, drops: dropsIn(db, window) };
    if (options.raw) {
      const aliased = filterTerms(options.filters, window, { alias: 's' });
      report.rows = db
        .prepare(`${SELECT_ROWS} ${whereSql(['s.ret < 0', ...aliased.terms])} ORDER BY s.ts_ns DESC, s.id DESC${limit > 0 ? ` LIMIT ${limit}` : ''}`)
        .safeIntegers(true)
        .all(aliased.params) as StoredRow[];
    } else report.groups = groups(db, where.terms, where.params, limit, nsPids);
    return report;
  } finally {
    db.close();
  }
}

const GROUP_COLUMNS = ['sender_comm', 'sender_uid', 'target_pid', 'ret', 'errno_name', 'count', 'sender_pids', 'last_sender_pid', 'signals', 'first', 'last'] as const;

function groupRecord(group: FailedGroup) {
  return {
    sender_comm: group.senderComm,
    sender_uid: group.senderUid,
    target_pid: group.targetPid,
    ret: group.ret,
    errno_name: group.errno,
    count: group.count,
    sender_pids: group.senderPids,
    last_sender_pid: group.lastSenderPid,
    signals: group.signals.map(signalLabel).join(' '),
    first: isoTime(group.firstNs),
    last: isoTime(group.lastNs),
  };
}

export function renderFailed(report: FailedReport, output: OutputOptions): Rendered {
  const warning = dropWarning(report.drops, output.utc);
  const warnings = warning ? [warning] : [];
  const records = report.rows ? report.rows.map(exportRecord) : report.groups!.map(groupRecord);
  const columns: readonly string[] = report.rows ? COLUMNS : GROUP_COLUMNS;
  if (output.format === 'csv') return { stdout: csv(columns, records), warnings };
  if (output.format === 'jsonl') return { stdout: jsonl(records), warnings };
  if (output.format === 'json')
    return { stdout: json({ total: report.total, [report.rows ? 'rows' : 'groups']: records, drops: dropsJson(report.drops), incomplete: report.drops.length > 0 }), warnings: [] };

  let text: string;
  if (report.rows) {
    text = `${count(report.total)} failed sends, newest first${output.utc ? '' : ' (local time)'}\n`;
    text += renderTable(
      [{ header: 'TIME' }, { header: 'SIGNAL', flex: true, min: 7 }, { header: 'SENDER', flex: true, min: 10 }, { header: 'UID', align: 'right' }, { header: 'TARGET', flex: true, min: 8 }, { header: 'ERROR', flex: true, min: 6 }],
      report.rows.map((row) => [shortTime(row.ts_ns, output.utc), signalLabel(Number(row.signal)), senderLabel(row), row.sender_uid === null ? '' : String(row.sender_uid), targetLabel(row), resultLabel(row)]),
    );
  } else {
    text = `${count(report.total)} failed sends in ${count(report.groups!.length)} groups (sender name and uid, target, error), most first\n`;
    text += renderTable(
      [{ header: 'COUNT', align: 'right' }, { header: 'ERROR' }, { header: 'SENDER', flex: true, min: 8 }, { header: 'UID', align: 'right' }, { header: 'TARGET', flex: true, min: 8 }, { header: 'SIGNALS', flex: true, min: 7 }, { header: 'LAST' }],
      report.groups!.map((group) => [
        count(group.count),
        group.errno,
        `${group.senderComm ?? '?'}${group.senderPids === 1 ? `[${group.lastSenderPid}]` : ` (${group.senderPids} pids)`}`,
        group.senderUid === null ? '' : String(group.senderUid),
        group.targetPid === null ? '' : group.targetPid < -1 ? `group ${-group.targetPid}` : group.targetPid === -1 ? 'all (-1)' : `pid ${group.targetPid}`,
        group.signals.map(signalLabel).join(' '),
        shortTime(group.lastNs, output.utc),
      ]),
    );
  }
  if (warning) text += wrap(warning);
  return { stdout: text, warnings: [] };
}
