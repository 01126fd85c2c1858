// sigaudit query who-killed <pid> | --comm NAME: every signal that reached
// the process by any path, newest first, split into processes where the pid
// was reused, and a one-line verdict.
import { COLUMNS, exportRecord, hostCell, hostHeader, isoTime, type StoredRow } from '../export/columns';
import { usageError } from '../errors';
import { signalName } from '../names';
import { openForReading } from '../store/database';
import {
  CLD_EXITED, FATAL_BY_DEFAULT, detailLine, exitWord, resultLabel, senderLabel, senderPhrase, signalLabel, taskLabel, viaLabel,
} from './describe';
import {
  HOUR_NS, dropWarning, dropWindows, dropsJson, dropsQueries, filterTerms, hoursJson, probesIncluded, spanOf, whereSql, windowOf,
  type DropWindow, type Filters, type Window,
} from './filters';
import { SQLITE, runLocal, type Dialect, type Param, type Steps } from './read';
import { csv, json, jsonl, renderTable, wrap, type Note, type OutputOptions, type Rendered } from './format';
import { longTime, shortTime } from './time';

export interface WhoKilledOptions {
  /** The target pid; or comm alone, or both (the pid's rows with that name). */
  pid?: number;
  comm?: string;
  filters: Filters;
  /** Newest rows kept (older ones are counted, not shown); 0 for all. */
  limit?: number;
}

/** The SIGCHLD a process sent its parent when it ended. */
export interface ExitRecord {
  tsNs: bigint;
  pid: number;
  comm: string | null;
  siCode: number;
  parentPid: number | null;
  /** As the recorder's pid namespace numbers it (src/query/describe.ts taskLabel). */
  parentNsPid: number | null;
  parentComm: string | null;
}

/**
 * A run of rows to one pid: between exits (each exit ends a process), and
 * between changes of the target's name (an exec, or a reused pid whose
 * exit was not recorded: marked, never silently mixed).
 */
export interface ProcessSegment {
  /** 1 for the oldest segment in the window. */
  index: number;
  /** The process it belongs to: 1 for the oldest; a new one after each exit of the pid. */
  process: number;
  pid: number;
  /** The pid as the recorder's pid namespace numbers it, where that differs (0: it has none there). */
  nsPid: number | null;
  comm: string | null;
  rows: StoredRow[];
  exit: ExitRecord | null;
  /** Why this segment starts a new process: after an exit, or its name changed (a new process, or an exec). */
  startedBy: 'window' | 'exit' | 'comm';
}

export interface WhoKilledReport {
  pid?: number;
  comm?: string;
  window: Window;
  /** Oldest first; the rows inside each are oldest first too. */
  processes: ProcessSegment[];
  verdict: string;
  drops: DropWindow[];
  /** Older rows were left out by the limit. */
  more: boolean;
  /** Rows from the fleet, with their host. */
  fleet: boolean;
}

/** The terms of a pid's exits: the index of exits (signal = 17) by sender pid. */
const EXIT_KEYS = ['s.sender_pid = @pid', 's.signal = 17'];

export function childExitSql(dialect: Dialect): string {
  return `SELECT ts_ns, sender_pid, sender_comm, si_code, delivered_pid, delivered_ns_pid, delivered_comm FROM ${dialect.signals} AS s
  WHERE ${lookupTerms(dialect, EXIT_KEYS).join(' AND ')} AND source = 'kernel' AND origin = 'child'
    AND ts_ns >= @fromNs AND ts_ns <= @toNs
  ORDER BY ts_ns`;
}

/**
 * A lookup's terms (what an index leads with) narrowed to the window: by
 * its ids where the dialect has them (the index's key and id range in one
 * seek), else by its hours.
 */
export function lookupTerms(dialect: Dialect, keys: readonly string[]): string[] {
  if (dialect.idWindow) return [...keys, dialect.idWindow('s.id', keys)];
  return [`s.${dialect.hourTerm!}`, ...keys];
}

function* exitsOf(dialect: Dialect, pid: number, fromNs: bigint, toNs: bigint): Steps<ExitRecord[]> {
  const hours = hoursJson({ fromNs, toNs }, { fromNs, toNs });
  const rows = yield { sql: childExitSql(dialect), params: { hours, pid, fromNs, toNs } };
  return rows.map((row) => ({
    tsNs: row.ts_ns as bigint,
    pid: Number(row.sender_pid),
    comm: row.sender_comm as string | null,
    siCode: Number(row.si_code),
    parentPid: row.delivered_pid === null ? null : Number(row.delivered_pid),
    parentNsPid: row.delivered_ns_pid === null ? null : Number(row.delivered_ns_pid),
    parentComm: row.delivered_comm as string | null,
  }));
}

/**
 * Splits one pid's rows (oldest first) into processes: an exit (the
 * process's SIGCHLD to its parent) ends one, and a change of the name the
 * kernel gave the target's main thread starts another (a reused pid, or an
 * exec). Rows without a delivered name (failed sends, probes) stay in the
 * current process.
 */
export function splitProcesses(pid: number, rows: StoredRow[], exits: ExitRecord[]): Omit<ProcessSegment, 'index' | 'process' | 'nsPid'>[] {
  type Event = { tsNs: bigint; row?: StoredRow; exit?: ExitRecord };
  const events = ([
    ...rows.map((row) => ({ tsNs: row.ts_ns, row })),
    ...exits.map((exit) => ({ tsNs: exit.tsNs, exit })),
  ] as Event[]).sort((a, b) => (a.tsNs < b.tsNs ? -1 : a.tsNs > b.tsNs ? 1 : a.exit ? 1 : -1));
  const segments: Omit<ProcessSegment, 'index' | 'process' | 'nsPid'>[] = [{ pid, comm: null, rows: [], exit: null, startedBy: 'window' }];
  for (const event of events) {
    let current = segments[segments.length - 1];
    if (event.exit) {
      if (current.exit) {
        current = { pid, comm: null, rows: [], exit: null, startedBy: 'exit' };
        segments.push(current);
      }
      current.exit = event.exit;
      current.comm ??= event.exit.comm;
      continue;
    }
    const row = event.row!;
    // Only the main thread's name: threads may carry names of their own.
    const comm = row.delivered_comm !== null && row.delivered_tid === row.delivered_pid ? row.delivered_comm : null;
    if (current.exit) {
      current = { pid, comm: null, rows: [], exit: null, startedBy: 'exit' };
      segments.push(current);
    } else if (comm !== null && current.comm !== null && comm !== current.comm && current.rows.length > 0) {
      current = { pid, comm: null, rows: [], exit: null, startedBy: 'comm' };
      segments.push(current);
    }
    current.rows.push(row);
    if (comm !== null) current.comm ??= comm;
  }
  return segments.filter((segment) => segment.rows.length > 0);
}

function lastFatal(segments: ProcessSegment[]): StoredRow | undefined {
  const rows = segments.flatMap((segment) => segment.rows);
  for (let i = rows.length - 1; i >= 0; i--) {
    const row = rows[i];
    const failed = row.ret !== null && row.ret < 0n;
    if (!failed && row.delivered_pid !== null && (row.result === 'delivered' || row.result === 'already_pending') && FATAL_BY_DEFAULT.has(Number(row.signal)))
      return row;
  }
  return undefined;
}

/** "pid 86 (sleep; host pid 123456)": the namespace pid first where there is one, as taskLabel. */
function processName(segment: ProcessSegment): string {
  if (segment.nsPid === 0) return `host pid ${segment.pid}${segment.comm ? ` (${segment.comm})` : ''}`;
  const details = [segment.comm, segment.nsPid === null ? null : `host pid ${segment.pid}`].filter((detail) => detail !== null);
  return `pid ${segment.nsPid ?? segment.pid}${details.length > 0 ? ` (${details.join('; ')})` : ''}`;
}

/** The namespace pid the rows give the process they reached, or addressed. */
function nsPidOf(rows: StoredRow[]): number | null {
  const row = rows.find((candidate) => (candidate.delivered_pid !== null ? candidate.delivered_ns_pid : candidate.target_ns_pid) !== null);
  if (!row) return null;
  return Number(row.delivered_pid !== null ? row.delivered_ns_pid : row.target_ns_pid);
}

/** The one-line answer: the newest process's last fatal signal and who sent it. */
export function verdictOf(processes: ProcessSegment[], subject: string, utc: boolean): string {
  if (processes.length === 0) return `no signal reached ${subject} in this window.`;
  const newest = processes[processes.length - 1];
  const sameProcess = processes.filter((segment) => segment.pid === newest.pid && segment.process === newest.process);
  const count = new Set(processes.map((segment) => `${segment.pid}/${segment.process}`)).size;
  const pids = new Set(processes.map((segment) => segment.pid));
  const prefix =
    count > 1
      ? pids.size === 1
        ? `pid ${newest.pid} belonged to ${count} processes in this window (see the groups above); the newest, `
        : `${count} processes matched; the newest, `
      : '';
  const renamed = sameProcess.length > 1 ? ` (named ${sameProcess.map((segment) => segment.comm ?? '?').join(', then ')})` : '';
  const name = `${processName(newest)}${renamed}`;
  const fatal = lastFatal(sameProcess);
  const exit = newest.exit;
  const exited = exit ? ` It ended at ${longTime(exit.tsNs, utc)} (${exitWord(exit.siCode)}).` : '';
  if (!fatal) {
    if (exit && exit.siCode !== CLD_EXITED)
      return `${prefix}${name} was killed at ${longTime(exit.tsNs, utc)}, but no fatal signal to it was recorded (sent before the window, or in a drop).`;
    return `${prefix}${name} received no signal that kills by default.${exited}`;
  }
  const via = viaLabel(fatal);
  const what = `${signalName(Number(fatal.signal))} from ${senderPhrase(fatal)} via ${via} at ${longTime(fatal.ts_ns, utc)}`;
  if (exit && exit.siCode !== CLD_EXITED) return `${prefix}${name} was killed by ${what}.${exited}`;
  if (exit) return `${prefix}${name} got ${what}, then exited normally at ${longTime(exit.tsNs, utc)} (it handled the signal).`;
  return `${prefix}${name}: last fatal signal ${what}; no exit recorded (still running, blocked/handled it, or its parent ignores SIGCHLD).`;
}

const byTime = (a: StoredRow, b: StoredRow) => (a.ts_ns < b.ts_ns ? -1 : a.ts_ns > b.ts_ns ? 1 : a.id < b.id ? -1 : 1);


/**
 * Runs fetch (rows for a JSON list of hours, and the part of the window
 * they cover) newest hours first until `limit` rows are found; returns
 * them oldest first, and whether older rows were left out.
 */
function* newestRows(window: Window, hours: string, limit: number, fetch: (hours: string, chunk: Window) => Steps<StoredRow[]>): Steps<{ rows: StoredRow[]; more: boolean }> {
  const all = JSON.parse(hours) as number[];
  const part = (from: number, to: number): [string, Window] => [`[${all.slice(from, to).join(',')}]`, hoursOf(window, BigInt(all[from]), BigInt(all[to - 1]))];
  if (limit === 0) return { rows: all.length === 0 ? [] : (yield* fetch(...part(0, all.length))).sort(byTime), more: false };
  let found: StoredRow[] = [];
  let end = all.length;
  // One hour, then two, four...: a busy target is answered from its last hours alone.
  for (let step = 1; end > 0 && found.length <= limit; step *= 2) {
    const start = Math.max(0, end - step);
    found = found.concat(yield* fetch(...part(start, end)));
    end = start;
  }
  found.sort(byTime);
  return { rows: found.slice(Math.max(0, found.length - limit)), more: found.length > limit };
}

/** The part of a window in the hours from first to last. */
function hoursOf(window: Window, first: bigint, last: bigint): Window {
  const fromNs = first * HOUR_NS;
  const toNs = (last + 1n) * HOUR_NS - 1n;
  return {
    fromNs: window.fromNs !== undefined && window.fromNs > fromNs ? window.fromNs : fromNs,
    toNs: window.toNs !== undefined && window.toNs < toNs ? window.toNs : toNs,
  };
}

/**
 * The lookups of who-killed <pid>, each one index seek (locally by pid
 * and the window's ids, on the fleet per hour; test/query-plans.test.ts):
 * the pid is the global one or the one the recorder's pid namespace gave
 * (users in a container type those), one lookup each, as an OR would keep
 * SQLite from seeking. A row matches at most one of them: a namespace pid
 * equal to the global one is NULL.
 */
export const PID_LOOKUPS = {
  reached: ['s.delivered_pid = @pid'],
  reachedInNamespace: ['s.delivered_ns_pid = @pid'],
  unreached: ['s.delivered_pid IS NULL', 's.target_pid = @pid'],
  unreachedInNamespace: ['s.delivered_pid IS NULL', 's.target_ns_pid = @pid'],
} as const;

/**
 * The newest limit + 1 rows of one lookup where a limit applies: newestRows
 * keeps the newest `limit` of all lookups and needs one more to know older
 * ones were left out, so no row it shows is lost; the others are never read
 * (on the fleet, a busy pid's hour on a host is thousands of rows, each
 * decoded by the server's lookups of names and cgroups).
 */
function newestOf(options: WhoKilledOptions): string {
  const limit = options.limit ?? 0;
  return limit > 0 ? ` ORDER BY s.ts_ns DESC, s.id DESC LIMIT ${limit + 1}` : '';
}

/** Rows that reached the pid, and sends addressed to it that reached none. */
function* rowsForPid(dialect: Dialect, pid: number, options: WhoKilledOptions, window: Window, hours: string): Steps<StoredRow[]> {
  const where = filterTerms(options.filters, window, { alias: 's', skip: ['perTarget', 'targetPid'] });
  const comm = options.comm === undefined ? '' : ' AND s.delivered_comm = @comm';
  const params = { ...where.params, hours, pid, ...(options.comm === undefined ? {} : { comm: options.comm }) };
  // The partial index of sends that reached nothing leaves out probes, as the filters do unless asked.
  const probes = probesIncluded(options.filters) ? [] : ['s.signal != 0'];
  function* select(terms: readonly string[]): Steps<StoredRow[]> {
    const rows = yield { sql: `${dialect.selectRows} ${whereSql([...lookupTerms(dialect, [...terms, ...probes]), ...where.terms])}${comm}${newestOf(options)}`, params };
    return rows as unknown as StoredRow[];
  }
  const reached = [...(yield* select(PID_LOOKUPS.reached)), ...(yield* select(PID_LOOKUPS.reachedInNamespace))];
  // A send that reached nothing has no name to match --comm against.
  if (options.comm !== undefined) return reached;
  return [...reached, ...(yield* select(PID_LOOKUPS.unreached)), ...(yield* select(PID_LOOKUPS.unreachedInNamespace))];
}

/** Rows that reached a task of that name: by the pids it reached where the dialect lists them (one seek per pid), else by the name. */
function* rowsForComm(dialect: Dialect, comm: string, options: WhoKilledOptions, window: Window, hours: string): Steps<StoredRow[]> {
  const where = filterTerms(options.filters, window, { alias: 's', skip: ['perTarget'] });
  const params: Record<string, Param> = { ...where.params, hours, comm };
  let keys: string[] = [];
  if (dialect.commPidsSql !== undefined) {
    const pids = yield { sql: dialect.commPidsSql, params: { hours, comm } };
    if (pids.length === 0) return [];
    keys = [COMM_PIDS_TERM];
    params.pids = JSON.stringify(pids.map((row) => Number(row.delivered_pid)));
  }
  const rows = yield { sql: `${dialect.selectRows} ${whereSql([...lookupTerms(dialect, keys), 's.delivered_comm = @comm', ...where.terms])}${newestOf(options)}`, params };
  return rows as unknown as StoredRow[];
}

/** The lookup of who-killed --comm by the pids the name reached (test/query-plans.test.ts). */
export const COMM_PIDS_TERM = 's.delivered_pid IN (SELECT value FROM json_each(@pids))';

export function* whoKilledSteps(dialect: Dialect, options: WhoKilledOptions): Steps<WhoKilledReport> {
  if (options.pid === undefined && options.comm === undefined)
    throw usageError('who-killed needs a pid or --comm NAME', 'run e.g. sigaudit query who-killed 4242, or sigaudit query who-killed --comm nginx');
  const window = windowOf(options.filters);
  const span = spanOf((yield { sql: dialect.spanSql, params: {} })[0]);
  const hours = hoursJson(window, span);
  const { rows, more } = yield* newestRows(window, hours, options.limit ?? 0, (chunkHours, chunk) =>
    options.pid !== undefined ? rowsForPid(dialect, options.pid, options, chunk, chunkHours) : rowsForComm(dialect, options.comm!, options, chunk, chunkHours),
  );
  const byPid = new Map<number, StoredRow[]>();
  for (const row of rows) {
    const pid = Number(row.delivered_pid ?? row.target_pid);
    byPid.set(pid, [...(byPid.get(pid) ?? []), row]);
  }
  const segments: Omit<ProcessSegment, 'index'>[] = [];
  const endNs = window.toNs ?? span?.toNs ?? 0n;
  for (const [pid, pidRows] of byPid) {
    // Exits that matter fall between the pid's first row and a little after its last.
    const fromNs = pidRows[0].ts_ns;
    const lastNs = pidRows[pidRows.length - 1].ts_ns + HOUR_NS;
    const exits = yield* exitsOf(dialect, pid, fromNs, lastNs < endNs ? lastNs : endNs > fromNs ? endNs : lastNs);
    let process = 0;
    for (const segment of splitProcesses(pid, pidRows, exits)) {
      if (segment.startedBy !== 'comm') process++;
      segments.push({ ...segment, process: Math.max(process, 1), nsPid: nsPidOf(segment.rows) });
    }
  }
  segments.sort((a, b) => (a.rows[0].ts_ns < b.rows[0].ts_ns ? -1 : 1));
  const processes = segments.map((segment, i) => ({ ...segment, index: i + 1 }));
  const subject = options.pid !== undefined ? `pid ${options.pid}${options.comm ? ` (${options.comm})` : ''}` : `a process named ${options.comm}`;
  const drops = dropsQueries(dialect, window);
  const dropRows = { drops: yield drops.drops, summaries: yield drops.summaries };
  return {
    pid: options.pid,
    comm: options.comm,
    window,
    processes,
    verdict: verdictOf(processes, subject, false),
    drops: dropWindows(dropRows),
    more,
    fleet: dialect.hosts,
  };
}

export function whoKilled(options: WhoKilledOptions & { dbPath: string }): WhoKilledReport {
  const db = openForReading(options.dbPath);
  try {
    return runLocal(db, whoKilledSteps(SQLITE, options));
  } finally {
    db.close();
  }
}

function windowText(window: Window, utc: boolean): string {
  if (window.fromNs === undefined && window.toNs === undefined) return 'everything recorded';
  return `${window.fromNs === undefined ? 'the start' : longTime(window.fromNs, utc)} to ${window.toNs === undefined ? 'now' : longTime(window.toNs, utc)}`;
}

export function renderWhoKilled(report: WhoKilledReport, output: OutputOptions): Rendered {
  const warning = dropWarning(report.drops, output.utc);
  const verdict = verdictOf(report.processes, report.pid !== undefined ? `pid ${report.pid}` : `a process named ${report.comm}`, output.utc);
  const newestFirst = [...report.processes].reverse();
  const records = newestFirst.flatMap((segment) =>
    [...segment.rows].reverse().map((row) => ({ ...exportRecord(row), process: segment.process, ...(row.host === undefined ? {} : { host: row.host }) })),
  );
  if (output.format === 'csv') return { stdout: csv([...COLUMNS, 'process', ...(report.fleet ? ['host'] : [])], records), warnings: warning ? [warning] : [] };
  if (output.format === 'jsonl') return { stdout: jsonl(records), warnings: warning ? [warning] : [] };
  if (output.format === 'json')
    return {
      stdout: json({
        pid: report.pid ?? null,
        comm: report.comm ?? null,
        since: report.window.fromNs === undefined ? null : isoTime(report.window.fromNs),
        until: report.window.toNs === undefined ? null : isoTime(report.window.toNs),
        processes: report.processes.map((segment) => ({
          segment: segment.index,
          process: segment.process,
          pid: segment.pid,
          ns_pid: segment.nsPid,
          comm: segment.comm,
          started_by: segment.startedBy,
          first: isoTime(segment.rows[0].ts_ns),
          last: isoTime(segment.rows[segment.rows.length - 1].ts_ns),
          exit: segment.exit && { time: isoTime(segment.exit.tsNs), si_code: segment.exit.siCode, how: exitWord(segment.exit.siCode), parent_pid: segment.exit.parentPid, parent_ns_pid: segment.exit.parentNsPid },
        })),
        rows: records,
        verdict,
        more: report.more,
        drops: dropsJson(report.drops),
        incomplete: report.drops.length > 0,
      }),
      warnings: [],
    };

  const subject = report.pid !== undefined ? `pid ${report.pid}${report.comm ? ` named ${report.comm}` : ''}` : `processes named ${report.comm}`;
  let text = `Signals to ${subject}, newest first (${windowText(report.window, output.utc)}${output.utc ? '' : ', local time'})\n`;
  const columns = [
    { header: 'TIME' },
    ...hostHeader(report.fleet),
    { header: 'SIGNAL', flex: true, min: 7 },
    { header: 'SENDER', flex: true, min: 10 },
    { header: 'UID', align: 'right' as const },
    { header: 'VIA', flex: true, min: 6 },
    { header: 'RESULT', flex: true, min: 7 },
  ];
  const lines: (string[] | Note)[] = [];
  for (const segment of newestFirst) {
    if (report.processes.length > 1 || report.pid === undefined) {
      const why = segment.startedBy === 'comm' ? ', new name: an exec, or a reused pid' : '';
      lines.push({ note: `-- process ${segment.process}: ${processName(segment)}${why}` });
    }
    if (segment.exit)
      lines.push({
        note: `${shortTime(segment.exit.tsNs, output.utc)}  ${exitWord(segment.exit.siCode)} (SIGCHLD to ${
          segment.exit.parentPid === null ? `${segment.exit.parentComm ?? '?'}[?]` : taskLabel(segment.exit.parentComm, BigInt(segment.exit.parentPid), segment.exit.parentNsPid === null ? null : BigInt(segment.exit.parentNsPid))
        })`,
      });
    for (const row of [...segment.rows].reverse()) {
      lines.push([
        shortTime(row.ts_ns, output.utc),
        ...hostCell(row),
        signalLabel(Number(row.signal)),
        senderLabel(row),
        row.sender_uid === null ? '' : String(row.sender_uid),
        viaLabel(row),
        resultLabel(row),
      ]);
      const details = detailLine(row);
      if (details) lines.push({ note: `${' '.repeat(20)}${details}` });
    }
  }
  text += lines.length === 0 ? '(no signals)\n' : renderTable(columns, lines);
  if (report.more) text += `(older signals left out: the newest ${records.length} are shown; --limit 0 for all)\n`;
  if (warning) text += wrap(warning);
  text += wrap(`verdict: ${verdict}`);
  return { stdout: text, warnings: [] };
}
