// sigaudit query failed: sends whose return value was an error, grouped by
// sender and target (a stale pid file or a permission problem stands out),
// or each one with --raw.
import { columnsOf, hostHeader, isoTime, withHost, type StoredRow } from '../export/columns';
import { errnoName } from '../names';
import { openForReading } from '../store/database';
import { resultLabel, senderLabel, signalLabel, targetLabel } from './describe';
import { dropWarning, dropWindows, dropsJson, dropsQueries, filterTerms, whereSql, windowOf, type DropWindow, type Filters, type Window } from './filters';
import { SQLITE, runLocal, type Dialect, type Plan, type Row } from './read';
import { count, csv, json, jsonl, renderTable, wrap, type OutputOptions, type Rendered } from './format';
import { shortTime } from './time';

export interface FailedOptions {
  filters: Filters;
  /** Each failed send instead of groups. */
  raw?: boolean;
  /** Most groups (or rows with --raw) shown; 0 for all. */
  limit?: number;
}

export interface FailedGroup {
  /** The fleet's host the sends came from (--remote); none locally. */
  host?: string;
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
  /** Rows from the fleet, with their host. */
  fleet: boolean;
}

/**
 * Served locally by signals_archive_failed_ts_ns alone (covering, see
 * SQLITE.failedRows); a pid filter (`nsPids`) adds the namespace pids it
 * also matches.
 */
export function failedGroupsSql(terms: string[], limit: number, nsPids = false, dialect: Dialect = SQLITE): string {
  // The fleet's groups are per host: a pid or a stale pid file is one host's.
  const host = dialect.hosts ? 'host, ' : '';
  return `SELECT ${host}sender_comm, sender_uid, target_pid, ret, count(*) AS n, count(DISTINCT sender_pid) AS senders,
      max(sender_pid) AS last_sender, ${dialect.distinctList('signal')} AS signals, min(ts_ns) AS first_ns, max(ts_ns) AS last_ns
    FROM ${dialect.failedRows(nsPids)} AS failed ${whereSql(terms)}
    GROUP BY ${host}sender_comm, sender_uid, target_pid, ret
    ORDER BY n DESC, last_ns DESC${dialect.hosts ? ', host' : ''}${limit > 0 ? ` LIMIT ${limit}` : ''}`;
}

function groupOf(row: Row): FailedGroup {
  const number = (value: unknown) => (value === null ? null : Number(value));
  return {
    ...(row.host === undefined ? {} : { host: row.host as string }),
    senderComm: row.sender_comm as string | null,
    senderUid: number(row.sender_uid),
    targetPid: number(row.target_pid),
    ret: Number(row.ret),
    errno: errnoName(Number(row.ret)),
    count: Number(row.n),
    senderPids: Number(row.senders),
    lastSenderPid: number(row.last_sender),
    signals: String(row.signals).split(',').map(Number).sort((a, b) => a - b),
    firstNs: row.first_ns as bigint,
    lastNs: row.last_ns as bigint,
  };
}

export function failedPlan(dialect: Dialect, options: FailedOptions): Plan<FailedReport> {
  const window = windowOf(options.filters);
  const limit = options.limit ?? (options.raw ? 100 : 50);
  // The target as the sender addressed it (a failed send usually reached no task).
  const where = filterTerms(options.filters, window, { skip: ['targetPid'] });
  if (options.filters.targetPid !== undefined) {
    where.terms.push('(target_pid = @targetPid OR target_ns_pid = @targetPid)');
    where.params.targetPid = options.filters.targetPid;
  }
  const nsPids = options.filters.senderPid !== undefined || options.filters.targetPid !== undefined;
  const queries: Plan<FailedReport>['queries'] = {
    total: { sql: `SELECT count(*) AS n FROM ${dialect.failedRows(nsPids)} AS failed ${whereSql(where.terms)}`, params: where.params },
    ...dropsQueries(dialect, window),
  };
  if (options.raw) {
    const aliased = filterTerms(options.filters, window, { alias: 's' });
    queries.rows = { sql: `${dialect.selectRows} ${whereSql(['s.ret < 0', ...aliased.terms])} ORDER BY s.ts_ns DESC, s.id DESC${limit > 0 ? ` LIMIT ${limit}` : ''}`, params: aliased.params };
  } else queries.groups = { sql: failedGroupsSql(where.terms, limit, nsPids, dialect), params: where.params };
  return {
    queries,
    shape: (results) => ({
      window,
      total: Number(results.total[0].n),
      drops: dropWindows(results),
      fleet: dialect.hosts,
      ...(options.raw ? { rows: results.rows as unknown as StoredRow[] } : { groups: results.groups.map(groupOf) }),
    }),
  };
}

export function failed(options: FailedOptions & { dbPath: string }): FailedReport {
  const db = openForReading(options.dbPath);
  try {
    return runLocal(db, failedPlan(SQLITE, options));
  } finally {
    db.close();
  }
}

const GROUP_COLUMNS = ['sender_comm', 'sender_uid', 'target_pid', 'ret', 'errno_name', 'count', 'sender_pids', 'last_sender_pid', 'signals', 'first', 'last'] as const;

/** A group's record: its host after every other column, as export's rows. */
function groupRecord(group: FailedGroup): Record<string, string | number | null> {
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
    ...(group.host === undefined ? {} : { host: group.host }),
  };
}

export function renderFailed(report: FailedReport, output: OutputOptions): Rendered {
  const warning = dropWarning(report.drops, output.utc);
  const warnings = warning ? [warning] : [];
  const records = report.rows ? report.rows.map(withHost) : report.groups!.map(groupRecord);
  const columns: readonly string[] = report.rows ? columnsOf(report.fleet) : report.fleet ? [...GROUP_COLUMNS, 'host'] : GROUP_COLUMNS;
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
    text = `${count(report.total)} failed sends in ${count(report.groups!.length)} groups (${report.fleet ? 'host, ' : ''}sender name and uid, target, error), most first\n`;
    text += renderTable(
      [{ header: 'COUNT', align: 'right' }, ...hostHeader(report.fleet), { header: 'ERROR' }, { header: 'SENDER', flex: true, min: 8 }, { header: 'UID', align: 'right' }, { header: 'TARGET', flex: true, min: 8 }, { header: 'SIGNALS', flex: true, min: 7 }, { header: 'LAST' }],
      report.groups!.map((group) => [
        count(group.count),
        ...(group.host === undefined ? [] : [group.host]),
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
