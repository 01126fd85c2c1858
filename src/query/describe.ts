// Short words for stored rows in tables and verdicts: who sent, by which
// path, with what result.
import type { StoredRow } from '../export/columns';
import { errnoName, signalName } from '../names';

/** Signals whose default action ends the process (signal(7): Term and Core). */
export const FATAL_BY_DEFAULT = new Set<number>([
  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 24, 25, 26, 27, 29, 30, 31,
  ...Array.from({ length: 31 }, (_, i) => 34 + i),
]);

/** si_code of SIGCHLD: how the child ended. */
export const CLD_EXITED = 1;
export const CLD_KILLED = 2;
export const CLD_DUMPED = 3;

export function exitWord(siCode: number): string {
  if (siCode === CLD_KILLED) return 'killed by a signal';
  if (siCode === CLD_DUMPED) return 'killed by a signal, core dumped';
  if (siCode === CLD_EXITED) return 'exited normally';
  return `ended (si_code ${siCode})`;
}

export function signalLabel(signal: number): string {
  return signal === 0 ? '0 (probe)' : signalName(signal);
}

const n = (value: bigint | null) => (value === null ? null : Number(value));

/**
 * A task as "name[pid]", with the pid the recorder's pid namespace gave it
 * first (that is what users there type) and the global one after it where
 * they differ: "sleep[86] (host 123456)"; "kill[host 4242]" for a task
 * outside that namespace, which has no pid there.
 */
export function taskLabel(comm: string | null, pid: bigint, nsPid: bigint | null): string {
  if (nsPid === null) return `${comm ?? '?'}[${pid}]`;
  if (nsPid === 0n) return `${comm ?? '?'}[host ${pid}]`;
  return `${comm ?? '?'}[${nsPid}] (host ${pid})`;
}

/** "bash[4100]", or "kernel (timer)" when no task sent it. */
export function senderLabel(row: Pick<StoredRow, 'sender_comm' | 'sender_pid' | 'sender_ns_pid' | 'source' | 'origin'>): string {
  if (row.sender_pid === null) return row.source === 'kernel' ? `kernel${row.origin ? ` (${row.origin})` : ''}` : '?';
  return taskLabel(row.sender_comm, row.sender_pid, row.sender_ns_pid);
}

/** "systemd[1] (uid 0, init.scope)" or "the kernel (OOM killer)", for verdicts. */
export function senderPhrase(row: StoredRow): string {
  if (row.source === 'kernel') {
    const why: Record<string, string> = {
      oom: 'the kernel (OOM killer)',
      fault: 'the kernel (a fault in the process itself)',
      pipe: 'the kernel (write to a closed pipe)',
      timer: 'the kernel (a timer)',
      tty: 'the kernel (terminal)',
      child: 'the kernel (child exit)',
      cgroup_kill: 'the kernel (cgroup.kill)',
    };
    const base = why[row.origin ?? ''] ?? 'the kernel';
    return row.sender_pid === null || row.origin === 'fault' ? base : `${base} in ${senderLabel(row)}`;
  }
  const details = [`uid ${row.sender_uid}`];
  if (row.sender_auid !== null && row.sender_auid !== row.sender_uid) details.push(`login uid ${row.sender_auid}`);
  if (row.sender_ppid !== null) details.push(`parent ${row.sender_ppid}`);
  if (row.sender_unit) details.push(row.sender_unit);
  return `${senderLabel(row)} (${details.join(', ')})`;
}

/** The sending path in a few characters: kill, kill(-pg), tgkill, pidfd, kernel/oom. */
export function viaLabel(row: Pick<StoredRow, 'source' | 'target_pid' | 'origin'>): string {
  const target = n(row.target_pid);
  switch (row.source) {
    case 'kernel':
      return row.origin && row.origin !== 'kernel' ? `kern/${row.origin}` : 'kernel';
    case 'kill':
      if (target === -1) return 'kill(-1)';
      if (target !== null && target < 0) return 'kill(-pg)';
      if (target === 0) return 'kill(0)';
      return 'kill';
    case 'pidfd_send_signal':
      return 'pidfd';
    case 'rt_sigqueueinfo':
      return 'sigqueue';
    case 'rt_tgsigqueueinfo':
      return 'tgsigqueue';
    default:
      return row.source;
  }
}

/** ESRCH for a failure, else the delivery result (pending for already_pending), ok for a probe. */
export function resultLabel(row: Pick<StoredRow, 'ret' | 'result' | 'signal'>): string {
  const ret = n(row.ret);
  if (ret !== null && ret < 0) return errnoName(ret);
  if (row.result === 'already_pending') return 'pending';
  if (row.result) return row.result;
  if (Number(row.signal) === 0) return 'ok';
  return ret === null ? '' : 'sent';
}

/**
 * The task reached, or the target as the sender addressed it: "pid 86 (given
 * as 123456)" where the sender gave a number from another pid namespace than
 * the recorder's, "pid 4242 (given in another pid namespace)" where the
 * recorder's cannot name it.
 */
export function targetLabel(row: Pick<StoredRow, 'target_pid' | 'target_ns_pid' | 'delivered_pid' | 'delivered_ns_pid' | 'delivered_comm'>): string {
  const target = n(row.target_pid);
  if (row.delivered_pid !== null) return taskLabel(row.delivered_comm, row.delivered_pid, row.delivered_ns_pid);
  if (target === null) return '';
  if (target === -1) return 'all (-1)';
  const given = row.target_ns_pid === null ? '' : row.target_ns_pid === 0n ? ' (given in another pid namespace)' : ` (given as ${target})`;
  const shown = row.target_ns_pid === null || row.target_ns_pid === 0n ? target : Number(row.target_ns_pid);
  if (shown < 0) return `group ${-shown}${given}`;
  return `pid ${shown}${given}`;
}

/** The rest of who sent it, for a line under a table row: "parent 1 · login uid 1000 · session-4.scope · to group 4100". */
export function detailLine(row: StoredRow): string {
  const parts: string[] = [];
  if (row.sender_ppid !== null) parts.push(`parent ${row.sender_ppid}`);
  if (row.sender_auid !== null) parts.push(`login uid ${row.sender_auid}`);
  if (row.sender_unit) parts.push(row.sender_unit);
  else if (row.sender_cgroup_path) parts.push(row.sender_cgroup_path);
  const target = n(row.target_pid);
  if (target !== null && target < -1) parts.push(`to group ${-target}`);
  if (row.target_tid !== null && row.target_tid !== row.target_pid) parts.push(`to thread ${row.target_tid}`);
  if (row.origin === 'oom') parts.push('OOM kill');
  return parts.join(' · ');
}
