-- The first schema. Run inside one transaction by src/store/migrations.ts,
-- which also sets user_version; auto_vacuum = INCREMENTAL is set by the
-- store before this file runs on a new database.

-- One row per recorder run: when, where, and what it counted.
CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  started_ns INTEGER NOT NULL,
  stopped_ns INTEGER,
  host TEXT NOT NULL,
  kernel TEXT NOT NULL,
  version TEXT NOT NULL,
  recorder_pid INTEGER NOT NULL,
  ring_bytes INTEGER NOT NULL,
  events INTEGER NOT NULL DEFAULT 0,
  drops INTEGER NOT NULL DEFAULT 0,
  -- NULL while recording, and after a crash: the run did not stop cleanly.
  stop_reason TEXT
) STRICT;

-- Events the kernel could not hand over, with the window they fell in:
-- a query over that window is incomplete and says so.
CREATE TABLE drops (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs (id),
  from_ns INTEGER NOT NULL,
  to_ns INTEGER NOT NULL,
  count INTEGER NOT NULL,
  reason TEXT NOT NULL
) STRICT;

CREATE INDEX drops_to_ns ON drops (to_ns);

-- cgroup v2 ids seen in signals, resolved to a path and a systemd unit
-- while the cgroup still existed.
CREATE TABLE cgroups (
  id INTEGER PRIMARY KEY,
  path TEXT NOT NULL,
  unit TEXT
) STRICT;

-- One row per task a signal reached, and one for a send that reached none
-- (failed, or signal 0). Rows of one send have consecutive ids; fanout
-- counts from 0, so the send's first row is id - fanout.
--
-- The recorder appends to signals_hot, which has no secondary index, so a
-- burst is written at full speed; between bursts it moves rows in id order
-- into signals_archive, whose indexes serve the queries. The view signals
-- is both, and is what readers use.
CREATE TABLE signals_hot (
  id INTEGER PRIMARY KEY,
  ts_ns INTEGER NOT NULL,
  fanout INTEGER NOT NULL,
  source TEXT NOT NULL,
  sender_pid INTEGER,
  sender_tid INTEGER,
  sender_comm TEXT,
  sender_uid INTEGER,
  sender_auid INTEGER,
  sender_ppid INTEGER,
  sender_cgroup INTEGER,
  target_pid INTEGER,
  target_tid INTEGER,
  delivered_pid INTEGER,
  delivered_tid INTEGER,
  delivered_comm TEXT,
  delivered_cgroup INTEGER,
  signal INTEGER NOT NULL,
  ret INTEGER,
  result TEXT,
  si_code INTEGER NOT NULL,
  origin TEXT
) STRICT;

CREATE TABLE signals_archive (
  id INTEGER PRIMARY KEY,
  ts_ns INTEGER NOT NULL,
  fanout INTEGER NOT NULL,
  source TEXT NOT NULL,
  sender_pid INTEGER,
  sender_tid INTEGER,
  sender_comm TEXT,
  sender_uid INTEGER,
  sender_auid INTEGER,
  sender_ppid INTEGER,
  sender_cgroup INTEGER,
  target_pid INTEGER,
  target_tid INTEGER,
  delivered_pid INTEGER,
  delivered_tid INTEGER,
  delivered_comm TEXT,
  delivered_cgroup INTEGER,
  signal INTEGER NOT NULL,
  ret INTEGER,
  result TEXT,
  si_code INTEGER NOT NULL,
  origin TEXT
) STRICT;

-- Time windows (--since/--until); ts_ns grows with id, so this index is
-- appended to, never split in the middle.
CREATE INDEX signals_archive_ts_ns ON signals_archive (ts_ns);

CREATE VIEW signals AS
  SELECT * FROM signals_archive
  UNION ALL
  SELECT * FROM signals_hot;
