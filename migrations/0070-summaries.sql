-- Sends the kernel counted instead of recording (bpf/flood.h): a sender
-- beyond its uid's --flood-budget is summarised, and a protected signal
-- the ring buffer had no room for is counted here as dropped, under its
-- sender's name. One row per key and swap interval (about a second); a
-- query over [first_ns, last_ns] is incomplete and names them.
CREATE TABLE summaries (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs (id),
  first_ns INTEGER NOT NULL,
  last_ns INTEGER NOT NULL,
  count INTEGER NOT NULL,
  -- 'summarised', or 'dropped' (also counted in the run's drops).
  outcome TEXT NOT NULL,
  source TEXT NOT NULL,
  -- 0: several processes of the uid, folded into one row (src/record/summaries.ts).
  sender_pid INTEGER NOT NULL,
  sender_comm TEXT NOT NULL,
  sender_uid INTEGER NOT NULL,
  signal INTEGER NOT NULL,
  -- As given to the syscall (the task reached, for a kernel signal);
  -- target_pid, ret and result are NULL when the kernel's summary map was
  -- full and it kept a coarser key, or when the sender had too many for a
  -- row each.
  target_pid INTEGER,
  ret INTEGER,
  result TEXT
) STRICT;

CREATE INDEX summaries_last_ns ON summaries (last_ns);

-- Sends of the run counted in summaries (outcome 'summarised'): with
-- events and drops, every send the run saw.
ALTER TABLE runs ADD COLUMN summarised INTEGER NOT NULL DEFAULT 0;
