// Databases as earlier sigaudit schemas wrote them: a file created at a
// given migration, rows of every shape, and the mover of the 0130 and 0140
// schemas (before 0150 stored sender_pid_hours' comm and hour otherwise).
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { loadMigrations, migrate } from '../../src/store/migrations';
import type { SignalRow } from '../../src/store/writer';

/** The schema before archive_minutes. */
export const BEFORE_ID_WINDOWS = 130;
/** The schema before the compact targets and sender_pid_hours' names ids. */
export const BEFORE_COMPACT_TARGETS = 140;

/** `count` rows of every shape: each source, sent and delivered or not, thread-directed, kernel rows, namespace pids. */
export function signalsOfEveryShape(count: number): SignalRow[] {
  const comms = ['bash', 'kill', 'systemd', 'a,b "c"', 'naïve', null];
  return Array.from({ length: count }, (_, i) => {
    const delivered = i % 3 !== 0;
    const kernel = i % 11 === 0;
    // tkill, tgkill and rt_tgsigqueueinfo name a thread (often the one reached); the other paths none.
    const toThread = !kernel && [1, 2, 4].includes(i % 6);
    return {
      tsNs: 1_795_307_200_000_000_000n + BigInt(i) * 1_234_567_891n,
      fanout: i % 13 === 1 ? 1 : 0,
      source: kernel ? 'kernel' : (['kill', 'tkill', 'tgkill', 'rt_sigqueueinfo', 'rt_tgsigqueueinfo', 'pidfd_send_signal'] as const)[i % 6],
      senderPid: kernel && i % 2 === 0 ? null : 100 + (i % 17),
      // Every fourth sender's tid is its pid, and its auid its uid: stored as nothing.
      senderTid: kernel && i % 2 === 0 ? null : i % 4 === 1 ? 100 + (i % 17) : 100 + (i % 19),
      senderComm: kernel && i % 2 === 0 ? null : comms[i % 5],
      senderUid: i % 2,
      senderAuid: i % 4 === 0 ? null : i % 4 === 1 ? i % 2 : 1000,
      senderPpid: 1,
      senderCgroup: BigInt(1 + (i % 3)),
      targetPid: kernel ? null : 2000 + (i % 23),
      targetTid: toThread ? (i % 3 === 1 ? 2001 : 2000 + (i % 29)) : null,
      deliveredPid: delivered ? 2000 + (i % 23) : null,
      deliveredTid: delivered ? (i % 5 === 0 ? 2000 + (i % 23) : 2000 + (i % 29)) : null,
      deliveredComm: delivered ? comms[(i + 2) % 6] : null,
      deliveredCgroup: delivered ? BigInt(1 + (i % 4)) : null,
      signal: [15, 9, 0, 17, 37][i % 5],
      ret: kernel ? null : delivered ? 0 : -3,
      result: delivered ? (['delivered', 'ignored', 'already_pending', 'overflow', 'lose_info'] as const)[i % 5] : null,
      siCode: kernel ? 128 : 0,
      origin: kernel ? (['fault', 'child', 'pipe', 'timer', 'tty', 'oom', 'cgroup_kill', 'kernel'] as const)[i % 8] : null,
      // A recorder in a container's pid namespace (0100): its own numbers where they differ, 0 for a task outside.
      senderNsPid: i % 7 === 0 ? (i % 14 === 0 ? 0 : 40 + (i % 5)) : null,
      targetNsPid: i % 9 === 0 ? 50 + (i % 3) : null,
      deliveredNsPid: delivered && i % 8 === 0 ? 60 + (i % 4) : null,
    };
  });
}

/** A new database file at `version`, as sigaudit created databases then. */
export function databaseAt(path: string, version: number): Database.Database {
  const db = new Database(path);
  db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('application_id = 1397311297');
  migrate(db, path, loadMigrations().filter((migration) => migration.version <= version));
  assert.equal(db.pragma('user_version', { simple: true }), version);
  return db;
}

/**
 * The mover of schema `version` (0130 or 0140): the rollups of the hot rows
 * up to id `bound` (sender_pid_hours with the comm spelled out, the absolute
 * hour and `rows`), from 0140 on their minutes in archive_minutes, then the
 * rows into the archive. Once: into empty rollups.
 */
export function archiveAsBefore(db: Database.Database, bound: number, version: number): void {
  const minutes = version > BEFORE_ID_WINDOWS
    ? `INSERT INTO archive_minutes SELECT ts_ns / 60000000000, min(id), max(id), min(ts_ns), max(ts_ns) FROM signals_hot WHERE id <= ${bound} GROUP BY 1
        ON CONFLICT (minute) DO UPDATE SET first_id = min(first_id, excluded.first_id), last_id = max(last_id, excluded.last_id),
          first_ns = min(first_ns, excluded.first_ns), last_ns = max(last_ns, excluded.last_ns);`
    : '';
  db.exec(`INSERT INTO sender_hours SELECT ts_ns / 3600000000000, source, signal, coalesce(sender_comm, ''), coalesce(sender_uid, -1),
      coalesce(sender_cgroup, 0), sum(fanout = 0), sum(delivered_pid IS NOT NULL) FROM hot_signals WHERE id <= ${bound} GROUP BY 1, 2, 3, 4, 5, 6;
    INSERT INTO sender_pid_hours SELECT ts_ns / 3600000000000, coalesce(sender_pid, -1), max(coalesce(sender_comm, '')),
      sum(fanout = 0 AND signal != 0), sum(delivered_pid IS NOT NULL AND signal != 0), sum(fanout = 0 AND signal = 0),
      sum(delivered_pid IS NOT NULL AND signal = 0), count(*) FROM hot_signals WHERE id <= ${bound} GROUP BY 1, 2;
    INSERT INTO delivered_comm_hours SELECT DISTINCT ts_ns / 3600000000000, delivered_comm_id, delivered_pid FROM signals_hot
      WHERE id <= ${bound} AND delivered_comm_id IS NOT NULL AND delivered_pid IS NOT NULL;
    ${minutes}
    INSERT INTO signals_archive SELECT * FROM signals_hot WHERE id <= ${bound} ORDER BY id;
    DELETE FROM signals_hot WHERE id <= ${bound};`);
}
