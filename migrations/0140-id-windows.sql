-- Time windows through id bounds (issue 10: every index must earn its
-- bytes). The ts_ns index (~20 bytes a row on realistic data) held an entry
-- per archived row only to find a window's rows; a map of each minute's
-- first and last id (a row per minute) finds the same rows as an id range,
-- which the table's rowid and every index's trailing rowid seek directly.
-- So the pid indexes need no leading hour either: the id range bounds the
-- window within a pid's entries.
--
-- Ids are nearly but not exactly in time order: rows drained from different
-- CPUs' ring buffers and fan-out rows after their send slip by up to about
-- half a millisecond, and a spill replayed at start-up writes old times with
-- new ids. The map's bounds are each minute's true smallest and largest id,
-- so a window's id range holds all its rows whatever their order; readers
-- keep their ts_ns terms for the rows of other minutes the range also holds.

-- Each minute (ts_ns / 60000000000) of the archived rows: the smallest and
-- largest id of the rows whose ts_ns falls in it, and their earliest and
-- latest ts_ns (the data span without reading a busy minute's rows: a
-- storm's minute holds hundreds of thousands). The mover
-- (SignalWriter.archive) adds the rows it moves, in its transaction;
-- retention (src/store/retention.ts) drops or narrows the minutes whose rows
-- it deletes. The hot table's rows are not in it: every id there is above
-- the archive's (the mover moves the oldest ids), so a reader keeps them
-- with `id > max(archived id)`.
CREATE TABLE archive_minutes (
  minute INTEGER PRIMARY KEY,
  first_id INTEGER NOT NULL,
  last_id INTEGER NOT NULL,
  first_ns INTEGER NOT NULL,
  last_ns INTEGER NOT NULL
) STRICT;

-- Before the ts_ns index goes: the GROUP BY reads it (covering) in time order.
INSERT INTO archive_minutes
  SELECT ts_ns / 60000000000, min(id), max(id), min(ts_ns), max(ts_ns) FROM signals_archive GROUP BY 1;

-- Replaced by archive_minutes: time windows of every report, list newest
-- first, export in time order, the data span, retention's oldest row.
DROP INDEX signals_archive_ts_ns;

DROP INDEX signals_archive_hour_delivered_pid;
DROP INDEX signals_archive_hour_target_pid;
DROP INDEX signals_archive_hour_child_exit_sender_pid;
DROP INDEX signals_archive_hour_delivered_ns_pid_ts_ns;
DROP INDEX signals_archive_hour_target_ns_pid_ts_ns;

-- The lookups by pid, keyed by the pid alone (the same rows as before): an
-- entry ends with the row's id, so `pid = @pid AND id BETWEEN @fromId AND
-- @toId` is one range seek (proven by test/query-plans.test.ts). The hour
-- that led them cost a byte or two an entry and bought nothing once windows
-- are id ranges.

-- who-killed <pid>, --target-pid, and who-killed --comm (the pids
-- delivered_comm_hours names): rows that reached a process. An entry per
-- delivered row, ~11 bytes a row on realistic data (was ~15 with the hour).
CREATE INDEX signals_archive_delivered_pid
  ON signals_archive (delivered_pid)
  WHERE delivered_pid IS NOT NULL;

-- who-killed <pid>: signals addressed to a pid that reached no task. Not
-- signal 0 probes (see 0110-compact-signals.sql): a fraction of a byte a row.
CREATE INDEX signals_archive_target_pid
  ON signals_archive (target_pid)
  WHERE delivered_pid IS NULL AND signal != 0;

-- who-killed: a process's exit, the SIGCHLD it sends its parent (process
-- boundaries). ~4 bytes a row on realistic data (was ~5.6).
CREATE INDEX signals_archive_child_exit_sender_pid
  ON signals_archive (sender_pid)
  WHERE signal = 17;

-- who-killed by a pid as a recorder's own pid namespace numbers it
-- (0100-namespace-pids.sql). Partial: nothing on a host recorder.
CREATE INDEX signals_archive_delivered_ns_pid
  ON signals_archive (delivered_ns_pid)
  WHERE delivered_ns_pid IS NOT NULL;
CREATE INDEX signals_archive_target_ns_pid
  ON signals_archive (target_ns_pid)
  WHERE delivered_pid IS NULL AND target_ns_pid IS NOT NULL;
