-- Hourly counts of the archive by sender, kept by the mover
-- (SignalWriter.archive) in the transaction that moves the rows, so
-- top-senders over days reads tens of thousands of rows instead of
-- millions. It holds exactly the archived rows: a query adds the hot table
-- and the partial hours at the edges of its window from signals itself.
-- (Per minute it was 12% of the archive's rows at 10M, too many to group
-- in under a second.)
--
-- Key columns are never NULL (a NULL would defeat the upsert): a sender
-- the kernel does not know (interrupt context) has comm '', uid -1 and
-- cgroup 0.
CREATE TABLE sender_hours (
  hour INTEGER NOT NULL, -- ts_ns / 3600000000000
  source TEXT NOT NULL,
  signal INTEGER NOT NULL,
  sender_comm TEXT NOT NULL,
  sender_uid INTEGER NOT NULL,
  sender_cgroup INTEGER NOT NULL,
  sends INTEGER NOT NULL, -- rows with fanout = 0
  deliveries INTEGER NOT NULL, -- rows that reached a task
  PRIMARY KEY (hour, source, signal, sender_comm, sender_uid, sender_cgroup)
) STRICT, WITHOUT ROWID;

-- A database archived before this migration gets its counts here.
INSERT INTO sender_hours
  SELECT ts_ns / 3600000000000, source, signal, coalesce(sender_comm, ''), coalesce(sender_uid, -1),
    coalesce(sender_cgroup, 0), sum(fanout = 0), sum(delivered_pid IS NOT NULL)
  FROM signals_archive GROUP BY 1, 2, 3, 4, 5, 6;
