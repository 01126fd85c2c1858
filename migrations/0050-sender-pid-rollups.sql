-- Hourly counts of the archive by sender pid, for top-senders --by pid,
-- kept by the mover (SignalWriter.archive) and retention like sender_hours:
-- they always equal the archive.
--
-- Most (hour, pid) pairs are short-lived processes with a row or two (in
-- the 10M-row bench database: 3.3M pairs, 3.1M with one row, 2 303 with 10
-- or more), so grouping every pair of a long window is as slow as grouping
-- the rows. The partial index on (hour, rows) lets a query take each hour's
-- busy pids and bound all the others by each hour's largest remaining count
-- (src/query/top-senders.ts), without indexing the one-row pairs; `rows`
-- bounds every count beside it.
CREATE TABLE sender_pid_hours (
  hour INTEGER NOT NULL, -- ts_ns / 3600000000000
  sender_pid INTEGER NOT NULL, -- -1: no sender (interrupt context)
  sender_comm TEXT NOT NULL, -- the greatest comm the pid had in the hour ('' for none)
  sends INTEGER NOT NULL, -- rows with fanout = 0, signal != 0
  deliveries INTEGER NOT NULL, -- rows that reached a task, signal != 0
  probe_sends INTEGER NOT NULL, -- the same for signal 0
  probe_deliveries INTEGER NOT NULL,
  rows INTEGER NOT NULL, -- all rows
  PRIMARY KEY (hour, sender_pid)
) STRICT, WITHOUT ROWID;

CREATE INDEX sender_pid_hours_hour_rows ON sender_pid_hours (hour, rows) WHERE rows >= 2;

-- A database archived before this migration gets its counts here.
INSERT INTO sender_pid_hours
  SELECT ts_ns / 3600000000000, coalesce(sender_pid, -1), max(coalesce(sender_comm, '')),
    sum(fanout = 0 AND signal != 0), sum(delivered_pid IS NOT NULL AND signal != 0),
    sum(fanout = 0 AND signal = 0), sum(delivered_pid IS NOT NULL AND signal = 0), count(*)
  FROM signals_archive GROUP BY 1, 2;
