-- Fewer bytes a row and a rollup entry (issue 10), the signals view reading
-- exactly as before:
--
-- target_pid     NULL where a syscall's target is the pid it reached (a kill
--                to one process: 29 % of realistic rows, 3 bytes each). A
--                syscall's target is otherwise NULL only when it reached no
--                task (a pidfd with no pid behind it; ingest.ts targetOf),
--                so coalesce(target_pid, delivered_pid) is exact for
--                syscalls; the kernel's rows (source_code 0) are stored as
--                given (NULL: the kernel names no target).
-- target_tid     NULL where a thread-directed send (tkill, tgkill,
--                rt_tgsigqueueinfo: source_code 2, 3, 5) reached that
--                thread; the other paths store theirs as given (NULL).
-- target_ns_pid  unchanged: NULL where it equals target_pid as the view
--                gives it (0100-namespace-pids.sql).
-- sender_pid_hours: the comm as a names id, the hour relative, no `rows`
--                (at the end).
--
-- A row whose NULL would read back as something else (a syscall that
-- reached a task without a target pid, a thread-directed one without a
-- target tid) is refused by the INSERT trigger: sigaudit never writes one.

DROP VIEW signals;
DROP VIEW archived_signals;
DROP VIEW hot_signals;

CREATE VIEW archived_signals AS
  SELECT s.id, s.ts_ns, s.fanout,
    CASE s.source_code WHEN 0 THEN 'kernel' WHEN 1 THEN 'kill' WHEN 2 THEN 'tkill' WHEN 3 THEN 'tgkill'
      WHEN 4 THEN 'rt_sigqueueinfo' WHEN 5 THEN 'rt_tgsigqueueinfo' WHEN 6 THEN 'pidfd_send_signal' END AS source,
    s.sender_pid, nullif(coalesce(s.sender_tid_other, s.sender_pid), -1) AS sender_tid, sn.name AS sender_comm,
    s.sender_uid, s.sender_uid + s.sender_auid_delta AS sender_auid, s.sender_ppid, s.sender_cgroup,
    CASE WHEN s.source_code = 0 THEN s.target_pid ELSE coalesce(s.target_pid, s.delivered_pid) END AS target_pid,
    CASE WHEN s.source_code IN (2, 3, 5) THEN coalesce(s.target_tid, nullif(coalesce(s.delivered_tid_other, s.delivered_pid), -1))
      ELSE s.target_tid END AS target_tid,
    s.delivered_pid, nullif(coalesce(s.delivered_tid_other, s.delivered_pid), -1) AS delivered_tid, dn.name AS delivered_comm,
    s.delivered_cgroup, s.signal, s.ret,
    CASE s.result_code WHEN 0 THEN 'delivered' WHEN 1 THEN 'ignored' WHEN 2 THEN 'already_pending' WHEN 3 THEN 'overflow'
      WHEN 4 THEN 'lose_info' END AS result,
    s.si_code,
    CASE s.origin_code WHEN 0 THEN 'fault' WHEN 1 THEN 'child' WHEN 2 THEN 'pipe' WHEN 3 THEN 'timer' WHEN 4 THEN 'tty'
      WHEN 5 THEN 'oom' WHEN 6 THEN 'cgroup_kill' WHEN 7 THEN 'kernel' END AS origin,
    s.sender_ns_pid, s.target_ns_pid, s.delivered_ns_pid
  FROM signals_archive AS s
  LEFT JOIN names AS sn ON sn.id = s.sender_comm_id
  LEFT JOIN names AS dn ON dn.id = s.delivered_comm_id;

CREATE VIEW hot_signals AS
  SELECT s.id, s.ts_ns, s.fanout,
    CASE s.source_code WHEN 0 THEN 'kernel' WHEN 1 THEN 'kill' WHEN 2 THEN 'tkill' WHEN 3 THEN 'tgkill'
      WHEN 4 THEN 'rt_sigqueueinfo' WHEN 5 THEN 'rt_tgsigqueueinfo' WHEN 6 THEN 'pidfd_send_signal' END AS source,
    s.sender_pid, nullif(coalesce(s.sender_tid_other, s.sender_pid), -1) AS sender_tid, sn.name AS sender_comm,
    s.sender_uid, s.sender_uid + s.sender_auid_delta AS sender_auid, s.sender_ppid, s.sender_cgroup,
    CASE WHEN s.source_code = 0 THEN s.target_pid ELSE coalesce(s.target_pid, s.delivered_pid) END AS target_pid,
    CASE WHEN s.source_code IN (2, 3, 5) THEN coalesce(s.target_tid, nullif(coalesce(s.delivered_tid_other, s.delivered_pid), -1))
      ELSE s.target_tid END AS target_tid,
    s.delivered_pid, nullif(coalesce(s.delivered_tid_other, s.delivered_pid), -1) AS delivered_tid, dn.name AS delivered_comm,
    s.delivered_cgroup, s.signal, s.ret,
    CASE s.result_code WHEN 0 THEN 'delivered' WHEN 1 THEN 'ignored' WHEN 2 THEN 'already_pending' WHEN 3 THEN 'overflow'
      WHEN 4 THEN 'lose_info' END AS result,
    s.si_code,
    CASE s.origin_code WHEN 0 THEN 'fault' WHEN 1 THEN 'child' WHEN 2 THEN 'pipe' WHEN 3 THEN 'timer' WHEN 4 THEN 'tty'
      WHEN 5 THEN 'oom' WHEN 6 THEN 'cgroup_kill' WHEN 7 THEN 'kernel' END AS origin,
    s.sender_ns_pid, s.target_ns_pid, s.delivered_ns_pid
  FROM signals_hot AS s
  LEFT JOIN names AS sn ON sn.id = s.sender_comm_id
  LEFT JOIN names AS dn ON dn.id = s.delivered_comm_id;

CREATE VIEW signals AS
  SELECT * FROM archived_signals
  UNION ALL
  SELECT * FROM hot_signals;

-- The one place a row given as the signals columns is encoded (the
-- recorder's batches are encoded the same way by src/store/ingest.ts;
-- test/store-ingest.test.ts compares).
CREATE TRIGGER hot_signals_insert INSTEAD OF INSERT ON hot_signals BEGIN
  SELECT RAISE(ABORT, 'a signal sent by a syscall that reached a task needs its target pid (and tkill/tgkill/rt_tgsigqueueinfo their target tid)')
    WHERE NEW.source != 'kernel' AND NEW.delivered_pid IS NOT NULL
      AND (NEW.target_pid IS NULL OR (NEW.source IN ('tkill', 'tgkill', 'rt_tgsigqueueinfo') AND NEW.target_tid IS NULL AND NEW.delivered_tid IS NOT NULL));
  INSERT OR IGNORE INTO names (name) SELECT NEW.sender_comm WHERE NEW.sender_comm IS NOT NULL;
  INSERT OR IGNORE INTO names (name) SELECT NEW.delivered_comm WHERE NEW.delivered_comm IS NOT NULL;
  INSERT INTO signals_hot VALUES (
    NEW.id, NEW.ts_ns, NEW.fanout,
    CASE NEW.source WHEN 'kernel' THEN 0 WHEN 'kill' THEN 1 WHEN 'tkill' THEN 2 WHEN 'tgkill' THEN 3
      WHEN 'rt_sigqueueinfo' THEN 4 WHEN 'rt_tgsigqueueinfo' THEN 5 WHEN 'pidfd_send_signal' THEN 6 END,
    NEW.sender_pid,
    CASE WHEN NEW.sender_tid IS NEW.sender_pid THEN NULL WHEN NEW.sender_tid IS NULL THEN -1 ELSE NEW.sender_tid END,
    (SELECT id FROM names WHERE name = NEW.sender_comm),
    NEW.sender_uid, NEW.sender_auid - NEW.sender_uid, NEW.sender_ppid, NEW.sender_cgroup,
    CASE WHEN NEW.source != 'kernel' AND NEW.target_pid = NEW.delivered_pid THEN NULL ELSE NEW.target_pid END,
    CASE WHEN NEW.source IN ('tkill', 'tgkill', 'rt_tgsigqueueinfo') AND NEW.target_tid = NEW.delivered_tid THEN NULL ELSE NEW.target_tid END,
    NEW.delivered_pid,
    CASE WHEN NEW.delivered_tid IS NEW.delivered_pid THEN NULL WHEN NEW.delivered_tid IS NULL THEN -1 ELSE NEW.delivered_tid END,
    (SELECT id FROM names WHERE name = NEW.delivered_comm),
    NEW.delivered_cgroup, NEW.signal, NEW.ret,
    CASE NEW.result WHEN 'delivered' THEN 0 WHEN 'ignored' THEN 1 WHEN 'already_pending' THEN 2 WHEN 'overflow' THEN 3
      WHEN 'lose_info' THEN 4 END,
    NEW.si_code,
    CASE NEW.origin WHEN 'fault' THEN 0 WHEN 'child' THEN 1 WHEN 'pipe' THEN 2 WHEN 'timer' THEN 3 WHEN 'tty' THEN 4
      WHEN 'oom' THEN 5 WHEN 'cgroup_kill' THEN 6 WHEN 'kernel' THEN 7 END,
    NEW.sender_ns_pid, NEW.target_ns_pid, NEW.delivered_ns_pid);
END;

-- The indexes that hold a target column are rebuilt after the rows change.
DROP INDEX signals_archive_target_pid;
DROP INDEX signals_archive_failed_ts_ns;

-- The rows written before, in place: the same test as the trigger's, on
-- the stored columns.
UPDATE signals_archive SET
    target_pid = CASE WHEN source_code != 0 AND target_pid = delivered_pid THEN NULL ELSE target_pid END,
    target_tid = CASE WHEN source_code IN (2, 3, 5) AND target_tid = nullif(coalesce(delivered_tid_other, delivered_pid), -1)
      THEN NULL ELSE target_tid END
  WHERE (source_code != 0 AND target_pid = delivered_pid)
    OR (source_code IN (2, 3, 5) AND target_tid = nullif(coalesce(delivered_tid_other, delivered_pid), -1));
UPDATE signals_hot SET
    target_pid = CASE WHEN source_code != 0 AND target_pid = delivered_pid THEN NULL ELSE target_pid END,
    target_tid = CASE WHEN source_code IN (2, 3, 5) AND target_tid = nullif(coalesce(delivered_tid_other, delivered_pid), -1)
      THEN NULL ELSE target_tid END
  WHERE (source_code != 0 AND target_pid = delivered_pid)
    OR (source_code IN (2, 3, 5) AND target_tid = nullif(coalesce(delivered_tid_other, delivered_pid), -1));

-- who-killed <pid>: sends addressed to a pid that reached no task, as
-- before, keyed by the view's target_pid so that a query through the view
-- can seek it (for these rows, delivered_pid NULL, it is the stored one:
-- the same entries as before).
CREATE INDEX signals_archive_target_pid
  ON signals_archive ((CASE WHEN source_code = 0 THEN target_pid ELSE coalesce(target_pid, delivered_pid) END))
  WHERE delivered_pid IS NULL AND signal != 0;

-- failed: covers the report's columns, now with delivered_pid, which the
-- view's target_pid reads (NULL in nearly every failed send: a byte).
CREATE INDEX signals_archive_failed_ts_ns
  ON signals_archive (ts_ns, sender_pid, sender_comm_id, sender_uid, target_pid, signal, ret, source_code, fanout, delivered_comm_id, delivered_pid)
  WHERE ret < 0;

-- sender_pid_hours in fewer bytes an entry (most are a short-lived
-- process's one row): the comm as its names id (0 for none: no byte), the
-- hour counted from hour 500000 (2027-01-15), two bytes where the absolute
-- hour takes three (from 2023 to 2030; more bytes, still right, beyond),
-- and no `rows` column: the index that bounds every count top-senders sums
-- (0050-sender-pid-rollups.sql) is on the larger of the two sums it can
-- be, which bounds them as well (src/query/top-senders.ts).
CREATE TABLE sender_pid_hours_0150 (
  hour INTEGER NOT NULL, -- ts_ns / 3600000000000 - 500000
  sender_pid INTEGER NOT NULL, -- -1: no sender (interrupt context)
  sender_comm_id INTEGER NOT NULL, -- names id of the greatest comm (by name) the pid had in the hour; 0 for none
  sends INTEGER NOT NULL, -- rows with fanout = 0, signal != 0
  deliveries INTEGER NOT NULL, -- rows that reached a task, signal != 0
  probe_sends INTEGER NOT NULL, -- the same for signal 0
  probe_deliveries INTEGER NOT NULL,
  PRIMARY KEY (hour, sender_pid)
) STRICT, WITHOUT ROWID;

INSERT INTO sender_pid_hours_0150
  SELECT r.hour - 500000, r.sender_pid, coalesce(n.id, 0), r.sends, r.deliveries, r.probe_sends, r.probe_deliveries
  FROM sender_pid_hours AS r LEFT JOIN names AS n ON n.name = r.sender_comm AND r.sender_comm != ''
  ORDER BY r.hour, r.sender_pid;
DROP TABLE sender_pid_hours;
ALTER TABLE sender_pid_hours_0150 RENAME TO sender_pid_hours;
CREATE INDEX sender_pid_hours_hour_bound ON sender_pid_hours (hour, max(sends + probe_sends, deliveries + probe_deliveries))
  WHERE max(sends + probe_sends, deliveries + probe_deliveries) >= 2;
