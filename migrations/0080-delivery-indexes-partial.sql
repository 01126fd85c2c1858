-- The who-killed lookups by the task reached index only rows that reached
-- one: a send that reached nothing (failed, or a signal 0 probe) is found
-- through signals_archive_hour_target_pid_ts_ns instead, and an
-- `x = value` lookup implies `x IS NOT NULL`, so the same plans use these.
-- In a kill(self, 0) storm no row reached a task: each of these two
-- indexes cost 25 bytes per event there for entries no query reads.
DROP INDEX signals_archive_hour_delivered_pid_ts_ns;
CREATE INDEX signals_archive_hour_delivered_pid_ts_ns
  ON signals_archive (ts_ns / 3600000000000, delivered_pid, ts_ns)
  WHERE delivered_pid IS NOT NULL;

DROP INDEX signals_archive_hour_delivered_comm_ts_ns;
CREATE INDEX signals_archive_hour_delivered_comm_ts_ns
  ON signals_archive (ts_ns / 3600000000000, delivered_comm, ts_ns)
  WHERE delivered_comm IS NOT NULL;
