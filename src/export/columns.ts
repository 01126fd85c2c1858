// The documented export columns (README "Export columns"). Names never
// change once published; new columns go at the end.
import { errnoName, signalName } from '../names';

export const COLUMNS = [
  'time',
  'ts_ns',
  'source',
  'sender_pid',
  'sender_tid',
  'sender_comm',
  'sender_uid',
  'sender_auid',
  'sender_ppid',
  'sender_cgroup',
  'target_pid',
  'target_tid',
  'delivered_pid',
  'delivered_tid',
  'delivered_comm',
  'signal',
  'signal_name',
  'ret',
  'errno_name',
  'result',
  'si_code',
  'origin',
  'delivered_cgroup',
  'id',
  'send_id',
  'sender_unit',
  'delivered_unit',
  'sender_ns_pid',
  'target_ns_pid',
  'delivered_ns_pid',
] as const;
export type Column = (typeof COLUMNS)[number];

/** What the export query selects for each row (src/export/index.ts). */
export interface StoredRow {
  id: bigint;
  ts_ns: bigint;
  fanout: bigint;
  source: string;
  sender_pid: bigint | null;
  sender_tid: bigint | null;
  sender_comm: string | null;
  sender_uid: bigint | null;
  sender_auid: bigint | null;
  sender_ppid: bigint | null;
  sender_cgroup_id: bigint | null;
  sender_cgroup_path: string | null;
  sender_unit: string | null;
  target_pid: bigint | null;
  target_tid: bigint | null;
  delivered_pid: bigint | null;
  delivered_tid: bigint | null;
  delivered_comm: string | null;
  delivered_cgroup_id: bigint | null;
  delivered_cgroup_path: string | null;
  delivered_unit: string | null;
  signal: bigint;
  ret: bigint | null;
  result: string | null;
  si_code: bigint;
  origin: string | null;
  /** The pids as the recorder's pid namespace numbers them; NULL: the same as the pid beside them; 0: none there. */
  sender_ns_pid: bigint | null;
  target_ns_pid: bigint | null;
  delivered_ns_pid: bigint | null;
}

export const SELECT_ROWS = `
  SELECT s.id, s.ts_ns, s.fanout, s.source,
    s.sender_pid, s.sender_tid, s.sender_comm, s.sender_uid, s.sender_auid, s.sender_ppid,
    s.sender_cgroup AS sender_cgroup_id, sc.path AS sender_cgroup_path, sc.unit AS sender_unit,
    s.target_pid, s.target_tid, s.delivered_pid, s.delivered_tid, s.delivered_comm,
    s.delivered_cgroup AS delivered_cgroup_id, dc.path AS delivered_cgroup_path, dc.unit AS delivered_unit,
    s.signal, s.ret, s.result, s.si_code, s.origin, s.sender_ns_pid, s.target_ns_pid, s.delivered_ns_pid
  FROM signals AS s
  LEFT JOIN cgroups AS sc ON sc.id = s.sender_cgroup
  LEFT JOIN cgroups AS dc ON dc.id = s.delivered_cgroup`;

/** ISO 8601 UTC with nanoseconds, from an exact ns timestamp. */
export function isoTime(tsNs: bigint): string {
  const ms = tsNs / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // ...T12:34:56.789Z
  const subMs = (tsNs % 1_000_000n).toString().padStart(6, '0');
  return `${iso.slice(0, -1)}${subMs}Z`;
}

function num(value: bigint | null): number | null {
  return value === null ? null : Number(value);
}

/** A cgroup as a path when it was resolved, else its id. */
function cgroup(id: bigint | null, path: string | null): string | null {
  if (id === null) return null;
  return path ?? `id:${id}`;
}

/**
 * The export record of a stored row. ts_ns, id and send_id stay bigint: a
 * nanosecond timestamp exceeds 2^53 and must not pass through a double.
 */
export function exportRecord(row: StoredRow): Record<Column, string | number | bigint | null> {
  const ret = num(row.ret);
  return {
    time: isoTime(row.ts_ns),
    ts_ns: row.ts_ns,
    source: row.source,
    sender_pid: num(row.sender_pid),
    sender_tid: num(row.sender_tid),
    sender_comm: row.sender_comm,
    sender_uid: num(row.sender_uid),
    sender_auid: num(row.sender_auid),
    sender_ppid: num(row.sender_ppid),
    sender_cgroup: cgroup(row.sender_cgroup_id, row.sender_cgroup_path),
    target_pid: num(row.target_pid),
    target_tid: num(row.target_tid),
    delivered_pid: num(row.delivered_pid),
    delivered_tid: num(row.delivered_tid),
    delivered_comm: row.delivered_comm,
    signal: Number(row.signal),
    signal_name: signalName(Number(row.signal)),
    ret,
    errno_name: errnoName(ret),
    result: row.result,
    si_code: Number(row.si_code),
    origin: row.origin,
    delivered_cgroup: cgroup(row.delivered_cgroup_id, row.delivered_cgroup_path),
    id: row.id,
    send_id: row.id - row.fanout,
    sender_unit: row.sender_unit,
    delivered_unit: row.delivered_unit,
    sender_ns_pid: num(row.sender_ns_pid),
    target_ns_pid: num(row.target_ns_pid),
    delivered_ns_pid: num(row.delivered_ns_pid),
  };
}
