-- The pids as the recorder's own pid namespace numbers them (bpf/sigaudit.h),
-- for a recorder in a container, whose users type the pids they see there:
-- sender_pid, target_pid and delivered_pid carry the global pids (target_pid:
-- the number the sender gave, in its own namespace). Each column is NULL
-- where it equals the pid beside it, which is always so for a recorder in
-- the initial namespace, and 0 where the task has no pid in the recorder's
-- namespace (a sender outside a container's namespace). ADD COLUMN only
-- rewrites the schema, not the rows, so this is cheap on a large database.
ALTER TABLE signals_hot ADD COLUMN sender_ns_pid INTEGER;
ALTER TABLE signals_hot ADD COLUMN target_ns_pid INTEGER;
ALTER TABLE signals_hot ADD COLUMN delivered_ns_pid INTEGER;
ALTER TABLE signals_archive ADD COLUMN sender_ns_pid INTEGER;
ALTER TABLE signals_archive ADD COLUMN target_ns_pid INTEGER;
ALTER TABLE signals_archive ADD COLUMN delivered_ns_pid INTEGER;

DROP VIEW signals;
CREATE VIEW signals AS
  SELECT * FROM signals_archive
  UNION ALL
  SELECT * FROM signals_hot;

-- who-killed <pid as the container sees it>: the rows that reached a task
-- with a namespace pid of its own. Partial: a recorder in the initial
-- namespace never stores one, so it pays nothing for this index.
CREATE INDEX signals_archive_hour_delivered_ns_pid_ts_ns
  ON signals_archive (ts_ns / 3600000000000, delivered_ns_pid, ts_ns)
  WHERE delivered_ns_pid IS NOT NULL;

-- The same for sends addressed by a namespace pid that reached no task (a
-- pidfd to a process that had exited), as signals_archive_hour_target_pid_ts_ns
-- serves the global ones. Partial: most such sends have no namespace pid.
CREATE INDEX signals_archive_hour_target_ns_pid_ts_ns
  ON signals_archive (ts_ns / 3600000000000, target_ns_pid, ts_ns)
  WHERE delivered_pid IS NULL AND target_ns_pid IS NOT NULL;
