-- who-killed --comm NAME through a rollup instead of an index of its own
-- (issue 10: every index must earn its bytes). The index held an entry
-- per row that reached a task (~14 bytes a row on realistic data); the
-- rollup holds one per hour, name and pid a name reached (a process is
-- signalled many times an hour), and who-killed --comm looks the pids up
-- there, then reads their rows through signals_archive_hour_delivered_pid
-- with the name as a filter.
--
-- The mover (SignalWriter.archive) adds the rows it moves, in its
-- transaction; the hot table's rows are found by scanning it, as every
-- query does. Retention drops the hours before the oldest archived row:
-- an entry whose rows were deleted within an hour still there only costs a
-- lookup that finds nothing, so the table lists at least every (hour,
-- name, pid) the archive holds.
CREATE TABLE delivered_comm_hours (
  hour INTEGER NOT NULL,
  comm_id INTEGER NOT NULL,
  delivered_pid INTEGER NOT NULL,
  PRIMARY KEY (hour, comm_id, delivered_pid)
) STRICT, WITHOUT ROWID;

INSERT INTO delivered_comm_hours
  SELECT DISTINCT ts_ns / 3600000000000, delivered_comm_id, delivered_pid
  FROM signals_archive WHERE delivered_comm_id IS NOT NULL AND delivered_pid IS NOT NULL;

DROP INDEX signals_archive_hour_delivered_comm;
