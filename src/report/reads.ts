// The reads the HTML report needs beyond the query layer's answers: sends
// per time bucket, signal and sender, deaths by a signal, and sender →
// target pairs. All of the report's own SQL is here,
// over the signals view and the shared filters (a window through its ids,
// src/query/id-windows.ts), so that a schema change touches this one file.
import type Database from 'better-sqlite3';
import { filterTerms, whereSql, type Filters, type Window } from '../query/filters';
import { CLD_DUMPED, CLD_KILLED } from '../query/describe';
import { bindIdWindows } from '../query/id-windows';
import { SQLITE } from '../query/read';

/** Sends per bucket (bucket = (ts_ns - originNs) / bucketNs), signal and sender name. */
export interface BucketCount {
  bucket: number;
  signal: number;
  senderComm: string | null;
  count: number;
}

/** One pass over the window for the timeline: its series and who sent what in each bucket. */
export function sendsPerBucket(db: Database.Database, filters: Filters, window: Window, originNs: bigint, bucketNs: bigint): BucketCount[] {
  const where = filterTerms(filters, window, { dialect: SQLITE });
  const sql = `SELECT (ts_ns - @originNs) / @bucketNs AS bucket, signal, sender_comm, count(*) AS count FROM signals ${whereSql(where.terms)} GROUP BY 1, 2, 3`;
  const rows = db
    .prepare(sql)
    .all(bindIdWindows(db, { sql, params: { ...where.params, originNs, bucketNs } })) as { bucket: number; signal: number; sender_comm: string | null; count: number }[];
  return rows.map((row) => ({ bucket: row.bucket, signal: row.signal, senderComm: row.sender_comm, count: row.count }));
}

/** A process that died by a signal: the SIGCHLD it sent its parent (si_code CLD_KILLED or CLD_DUMPED). */
export interface Death {
  tsNs: bigint;
  pid: number;
  comm: string | null;
  siCode: number;
}

/** The newest `limit` deaths in the window, and how many there were in all. */
export function deathsIn(db: Database.Database, window: Required<Window>, limit: number): { deaths: Death[]; total: number } {
  const where = filterTerms({ includeProbes: true }, window, { dialect: SQLITE });
  const terms = [...where.terms, 'signal = 17', "source = 'kernel'", "origin = 'child'", `si_code IN (${CLD_KILLED}, ${CLD_DUMPED})`];
  const sql = `SELECT ts_ns, sender_pid, sender_comm, si_code FROM signals ${whereSql(terms)} ORDER BY ts_ns DESC LIMIT @limit`;
  const params = bindIdWindows(db, { sql, params: { ...where.params, limit } });
  const rows = db.prepare(sql).safeIntegers(true).all(params) as { ts_ns: bigint; sender_pid: bigint; sender_comm: string | null; si_code: bigint }[];
  const total = db.prepare(`SELECT count(*) FROM signals ${whereSql(terms)}`).pluck().get(params) as number;
  return {
    deaths: rows.map((row) => ({ tsNs: row.ts_ns, pid: Number(row.sender_pid), comm: row.sender_comm, siCode: Number(row.si_code) })),
    total,
  };
}

/** Who signalled whom: a sender name, the task reached (or the pid addressed, when none was), a signal. */
export interface Pair {
  senderComm: string | null;
  /** Different sender pids with this name. */
  senderPids: number;
  targetComm: string | null;
  /** The pid reached, or addressed when the send reached no task; null for several. */
  targetPid: number | null;
  targetPids: number;
  signal: number;
  /** Tasks reached, plus sends that reached none. */
  count: number;
  failed: number;
}

/** The `limit` largest pairs, and how many pairs and rows there were in all. */
export function senderTargetPairs(db: Database.Database, filters: Filters, window: Window, limit: number): { pairs: Pair[]; pairCount: number; rows: number } {
  const where = filterTerms({ ...filters, perTarget: true }, window, { dialect: SQLITE });
  const sql = `WITH pairs AS MATERIALIZED (
      SELECT sender_comm, count(DISTINCT sender_pid) AS sender_pids, delivered_comm AS target_comm,
        min(coalesce(delivered_pid, target_pid)) AS target_pid, count(DISTINCT coalesce(delivered_pid, target_pid)) AS target_pids,
        signal, count(*) AS count, sum(ret < 0) AS failed
      FROM signals ${whereSql(where.terms)} GROUP BY sender_comm, delivered_comm, CASE WHEN delivered_comm IS NULL THEN target_pid END, signal)
    SELECT * FROM (SELECT * FROM pairs ORDER BY count DESC, sender_comm, target_comm, signal LIMIT @limit)
    UNION ALL SELECT NULL, count(*), NULL, NULL, NULL, NULL, sum(count), NULL FROM pairs`;
  const rows = db.prepare(sql).all(bindIdWindows(db, { sql, params: { ...where.params, limit } })) as {
    sender_comm: string | null; sender_pids: number; target_comm: string | null; target_pid: number | null; target_pids: number; signal: number; count: number; failed: number;
  }[];
  const summary = rows.pop()!;
  return {
    pairs: rows.map((row) => ({
      senderComm: row.sender_comm,
      senderPids: row.sender_pids,
      targetComm: row.target_comm,
      targetPid: row.target_pids === 1 ? row.target_pid : null,
      targetPids: row.target_pids,
      signal: row.signal,
      count: row.count,
      failed: row.failed ?? 0,
    })),
    pairCount: summary.sender_pids,
    rows: summary.count ?? 0,
  };
}
