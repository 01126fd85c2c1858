-- Running for months as a service: each run's last commit (so a crash can
-- be dated), the windows crashes left unrecorded, and what retention
-- deleted. Written by src/record/recorder.ts and src/store/retention.ts.

-- The wall-clock time of this run's last commit (a batch or its counters,
-- at least every second while it records). After a kill -9 or a power cut
-- nothing after it was recorded.
ALTER TABLE runs ADD COLUMN last_seen_ns INTEGER;

-- A run that ended without stopping (stop_reason NULL and its recorder
-- gone), found by the next run on this database: from the dead run's last
-- commit to the next run's start, signals were not recorded. The next run
-- sets the dead run's stop_reason to 'unclean'.
CREATE TABLE unclean_shutdowns (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs (id),
  from_ns INTEGER NOT NULL,
  to_ns INTEGER NOT NULL,
  found_by_run_id INTEGER NOT NULL REFERENCES runs (id)
) STRICT;

CREATE INDEX unclean_shutdowns_to_ns ON unclean_shutdowns (to_ns);

-- Rows retention deleted: the signals with ts_ns from from_ns to to_ns
-- (rows of them; oldest first, so everything before to_ns is gone), and
-- when, first_ns to last_ns (consecutive batches extend one row). A query
-- over that time is answered from what is left, and says it was pruned.
CREATE TABLE prunes (
  id INTEGER PRIMARY KEY,
  run_id INTEGER REFERENCES runs (id),
  reason TEXT NOT NULL, -- 'age' (--retain) or 'size' (--max-db-size)
  first_ns INTEGER NOT NULL,
  last_ns INTEGER NOT NULL,
  from_ns INTEGER NOT NULL,
  to_ns INTEGER NOT NULL,
  rows INTEGER NOT NULL
) STRICT;

CREATE INDEX prunes_to_ns ON prunes (to_ns);
