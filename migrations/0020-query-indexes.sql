-- Indexes for `sigaudit query`, on the archive only: the recorder's hot
-- table stays unindexed, and the mover (SignalWriter.archive) pays for
-- these between bursts. Each is proven by an EXPLAIN QUERY PLAN test in
-- test/query-plans.test.ts.
--
-- The lookup indexes lead with the hour (ts_ns / 3600000000000): new rows
-- land in the last hour's small subtree, which stays in the page cache,
-- instead of at random places in a tree as large as the archive. A query
-- seeks once per hour of its window (`hour IN (...)`, src/query/filters.ts):
-- a week is 168 seeks, about a millisecond.

-- who-killed <pid>, --target-pid: every row that reached a process.
CREATE INDEX signals_archive_hour_delivered_pid_ts_ns
  ON signals_archive (ts_ns / 3600000000000, delivered_pid, ts_ns);

-- who-killed <pid>, --target-pid: sends addressed to a pid that reached no
-- task (failed, or a signal 0 probe). Partial: most rows reached a task.
CREATE INDEX signals_archive_hour_target_pid_ts_ns
  ON signals_archive (ts_ns / 3600000000000, target_pid, ts_ns)
  WHERE delivered_pid IS NULL;

-- who-killed --comm NAME: pids are reused, names are what people remember.
CREATE INDEX signals_archive_hour_delivered_comm_ts_ns
  ON signals_archive (ts_ns / 3600000000000, delivered_comm, ts_ns);

-- who-killed: the SIGCHLD a process sends its parent when it exits marks
-- the end of that process, so a later row for the same pid is another one.
-- Partial: only the kernel's SIGCHLDs.
CREATE INDEX signals_archive_hour_child_exit_sender_pid_ts_ns
  ON signals_archive (ts_ns / 3600000000000, sender_pid, ts_ns)
  WHERE signal = 17 AND source = 'kernel';

-- failed: covers the report's columns, so grouping never reads the table.
-- Led by ts_ns (appended to in order); partial: only sends that failed.
CREATE INDEX signals_archive_failed_ts_ns
  ON signals_archive (ts_ns, sender_pid, sender_comm, sender_uid, target_pid, signal, ret, source, fanout)
  WHERE ret < 0;
