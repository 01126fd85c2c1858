-- Signals in fewer bytes (issue 10): what repeats is stored once, what is
-- almost always the same costs nothing, and each index holds only the rows
-- and columns its report reads. The signals view reads exactly as before
-- (same columns, values and order), so queries and `export` do not change.
--
-- How a row is stored (a NULL or the integers 0 and 1 take no byte in a
-- SQLite record; other small integers one):
--   comms            an id into names (a comm is ~8 bytes of text a row, twice)
--   sender_tid       sender_tid_other: NULL when it is the pid (a process's
--                    main thread), -1 when it is NULL beside a pid
--   delivered_tid    delivered_tid_other: the same
--   sender_auid      sender_auid_delta: the auid minus the uid, so 0 when a
--                    login's uid is its auid; NULL when unset (daemons)
--   source, result,  source_code, result_code, origin_code: the index in
--   origin           SOURCES, RESULTS, ORIGINS of src/names.ts
-- cgroups already are ids (the kernel's cgroup id; path and unit are kept
-- once in the cgroups table).

-- Every comm seen, once.
CREATE TABLE names (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
) STRICT;

DROP VIEW signals;
DROP INDEX signals_archive_ts_ns;
DROP INDEX signals_archive_hour_delivered_pid_ts_ns;
DROP INDEX signals_archive_hour_target_pid_ts_ns;
DROP INDEX signals_archive_hour_delivered_comm_ts_ns;
DROP INDEX signals_archive_hour_child_exit_sender_pid_ts_ns;
DROP INDEX signals_archive_failed_ts_ns;
DROP INDEX signals_archive_hour_delivered_ns_pid_ts_ns;
DROP INDEX signals_archive_hour_target_ns_pid_ts_ns;
ALTER TABLE signals_hot RENAME TO signals_hot_0100;
ALTER TABLE signals_archive RENAME TO signals_archive_0100;

-- As before, the recorder appends to signals_hot (no secondary index) and
-- the mover (SignalWriter.archive) moves rows in id order into
-- signals_archive, whose indexes serve the queries.
CREATE TABLE signals_hot (
  id INTEGER PRIMARY KEY,
  ts_ns INTEGER NOT NULL,
  fanout INTEGER NOT NULL,
  source_code INTEGER NOT NULL,
  sender_pid INTEGER,
  sender_tid_other INTEGER,
  sender_comm_id INTEGER,
  sender_uid INTEGER,
  sender_auid_delta INTEGER,
  sender_ppid INTEGER,
  sender_cgroup INTEGER,
  target_pid INTEGER,
  target_tid INTEGER,
  delivered_pid INTEGER,
  delivered_tid_other INTEGER,
  delivered_comm_id INTEGER,
  delivered_cgroup INTEGER,
  signal INTEGER NOT NULL,
  ret INTEGER,
  result_code INTEGER,
  si_code INTEGER NOT NULL,
  origin_code INTEGER,
  sender_ns_pid INTEGER,
  target_ns_pid INTEGER,
  delivered_ns_pid INTEGER
) STRICT;

CREATE TABLE signals_archive (
  id INTEGER PRIMARY KEY,
  ts_ns INTEGER NOT NULL,
  fanout INTEGER NOT NULL,
  source_code INTEGER NOT NULL,
  sender_pid INTEGER,
  sender_tid_other INTEGER,
  sender_comm_id INTEGER,
  sender_uid INTEGER,
  sender_auid_delta INTEGER,
  sender_ppid INTEGER,
  sender_cgroup INTEGER,
  target_pid INTEGER,
  target_tid INTEGER,
  delivered_pid INTEGER,
  delivered_tid_other INTEGER,
  delivered_comm_id INTEGER,
  delivered_cgroup INTEGER,
  signal INTEGER NOT NULL,
  ret INTEGER,
  result_code INTEGER,
  si_code INTEGER NOT NULL,
  origin_code INTEGER,
  sender_ns_pid INTEGER,
  target_ns_pid INTEGER,
  delivered_ns_pid INTEGER
) STRICT;

-- Each table's rows as the signals columns. The names joins are on the
-- primary key, so a query that reads no comm skips them.
CREATE VIEW archived_signals AS
  SELECT s.id, s.ts_ns, s.fanout,
    CASE s.source_code WHEN 0 THEN 'kernel' WHEN 1 THEN 'kill' WHEN 2 THEN 'tkill' WHEN 3 THEN 'tgkill'
      WHEN 4 THEN 'rt_sigqueueinfo' WHEN 5 THEN 'rt_tgsigqueueinfo' WHEN 6 THEN 'pidfd_send_signal' END AS source,
    s.sender_pid, nullif(coalesce(s.sender_tid_other, s.sender_pid), -1) AS sender_tid, sn.name AS sender_comm,
    s.sender_uid, s.sender_uid + s.sender_auid_delta AS sender_auid, s.sender_ppid, s.sender_cgroup,
    s.target_pid, s.target_tid,
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
    s.target_pid, s.target_tid,
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

-- A row given as the signals columns is stored compact: this is the one
-- place that encodes (the recorder's batches are encoded the same way in
-- C and SQL by src/store/ingest.ts; test/store-ingest.test.ts compares).
CREATE TRIGGER hot_signals_insert INSTEAD OF INSERT ON hot_signals BEGIN
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
    NEW.target_pid, NEW.target_tid, NEW.delivered_pid,
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

-- The rows of the schema before, through that encoding: the archive's
-- first, moved on into the new archive, then the hot table's.
INSERT INTO hot_signals SELECT * FROM signals_archive_0100 ORDER BY id;
INSERT INTO signals_archive SELECT * FROM signals_hot ORDER BY id;
DELETE FROM signals_hot;
INSERT INTO hot_signals SELECT * FROM signals_hot_0100 ORDER BY id;
DROP TABLE signals_archive_0100;
DROP TABLE signals_hot_0100;

-- The archive's indexes, each with the report it serves (proven by
-- test/query-plans.test.ts). The lookups lead with the hour (see
-- 0020-query-indexes.sql) and end there: the rowid every entry carries is
-- in time order within a key, so a trailing ts_ns (8 bytes) bought nothing.

-- Time windows (--since/--until, list, export in time order, retention).
CREATE INDEX signals_archive_ts_ns ON signals_archive (ts_ns);

-- who-killed <pid>, --target-pid: rows that reached a process.
CREATE INDEX signals_archive_hour_delivered_pid
  ON signals_archive (ts_ns / 3600000000000, delivered_pid)
  WHERE delivered_pid IS NOT NULL;

-- who-killed <pid>: signals addressed to a pid that reached no task. Not
-- signal 0 probes, which who-killed leaves out unless asked (then it reads
-- the window's rows): in a kill(self, 0) storm they were every row.
CREATE INDEX signals_archive_hour_target_pid
  ON signals_archive (ts_ns / 3600000000000, target_pid)
  WHERE delivered_pid IS NULL AND signal != 0;

-- who-killed --comm NAME.
CREATE INDEX signals_archive_hour_delivered_comm
  ON signals_archive (ts_ns / 3600000000000, delivered_comm_id)
  WHERE delivered_comm_id IS NOT NULL;

-- who-killed: a process's exit, the SIGCHLD it sends its parent (a
-- syscall's SIGCHLD is rare, so every SIGCHLD is indexed).
CREATE INDEX signals_archive_hour_child_exit_sender_pid
  ON signals_archive (ts_ns / 3600000000000, sender_pid)
  WHERE signal = 17;

-- failed: covers the report's columns; only sends that failed.
-- delivered_comm_id (NULL in nearly every failed send, so a byte) because
-- the view's join on it counts as read even where it is left out.
CREATE INDEX signals_archive_failed_ts_ns
  ON signals_archive (ts_ns, sender_pid, sender_comm_id, sender_uid, target_pid, signal, ret, source_code, fanout, delivered_comm_id)
  WHERE ret < 0;

-- who-killed by a pid as a recorder's own pid namespace numbers it, as
-- 0100-namespace-pids.sql made them (partial: nothing on a host recorder).
CREATE INDEX signals_archive_hour_delivered_ns_pid_ts_ns
  ON signals_archive (ts_ns / 3600000000000, delivered_ns_pid, ts_ns)
  WHERE delivered_ns_pid IS NOT NULL;
CREATE INDEX signals_archive_hour_target_ns_pid_ts_ns
  ON signals_archive (ts_ns / 3600000000000, target_ns_pid, ts_ns)
  WHERE delivered_pid IS NULL AND target_ns_pid IS NOT NULL;
