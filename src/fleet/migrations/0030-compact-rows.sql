-- Signals in fewer bytes and faster to forward (issue 11): a row holds
-- codes for the small enums, NULL for the values that are almost always
-- "the same as" another, 4-byte uids, and no primary key. The forwarder
-- COPYs straight into sigaudit.signals; a re-sent row is skipped because
-- the forwarder sends only ids above its source's last_id, read and moved
-- in the same transaction (the row lock orders two forwarders of one
-- source). sigaudit.signal_rows reads exactly as before.
--
-- How a row is stored (a NULL costs one bit, not its column's bytes):
--   source, result,  smallint codes: the index in SOURCES, RESULTS,
--   origin           ORIGINS of src/names.ts (decoded by the arrays below)
--   fanout           NULL when 0 (a send, not one of its extra deliveries)
--   sender_tid,      NULL when it is the pid (a process's main thread),
--   delivered_tid    -1 when it is NULL beside a pid
--   sender_uid,      integer: the uid_t's 32 bits, so uids from 2^31 up
--   sender_auid      are stored negative and read back unsigned
--   sender_cgroup,   integer: the cgroup's key in sigaudit.cgroups, not the
--   delivered_cgroup kernel's 8-byte id
-- 8-byte columns first, then 4-byte, then 2-byte: no alignment padding.

DROP VIEW sigaudit.signal_rows;
DROP TRIGGER signals_sender_hours ON sigaudit.signals;
ALTER TABLE sigaudit.signals RENAME TO signals_0020;
DO $$
DECLARE
  part record;
BEGIN
  FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'sigaudit.signals_0020'::regclass LOOP
    EXECUTE format('ALTER TABLE sigaudit.%I RENAME TO %I', part.relname, 'old_' || part.relname);
  END LOOP;
END $$;
ALTER INDEX sigaudit.signals_key RENAME TO signals_0020_key;
ALTER INDEX sigaudit.signals_delivered_pid_ts_ns RENAME TO signals_0020_delivered_pid_ts_ns;
ALTER INDEX sigaudit.signals_target_pid_ts_ns RENAME TO signals_0020_target_pid_ts_ns;
ALTER INDEX sigaudit.signals_ts_ns RENAME TO signals_0020_ts_ns;

-- A key per (source, cgroup), and a row for each cgroup a signal names,
-- its path unknown when the local database had none.
ALTER TABLE sigaudit.cgroups ALTER COLUMN path DROP NOT NULL;
INSERT INTO sigaudit.cgroups (source_id, id)
  SELECT source_id, sender_cgroup FROM sigaudit.signals_0020 WHERE sender_cgroup IS NOT NULL
  UNION SELECT source_id, delivered_cgroup FROM sigaudit.signals_0020 WHERE delivered_cgroup IS NOT NULL
  ON CONFLICT DO NOTHING;
ALTER TABLE sigaudit.cgroups ADD COLUMN key integer GENERATED ALWAYS AS IDENTITY;
ALTER TABLE sigaudit.cgroups ADD CONSTRAINT cgroups_key UNIQUE (key);

CREATE TABLE sigaudit.signals (
  id bigint NOT NULL,
  ts_ns bigint NOT NULL,
  source_id integer NOT NULL,
  sender_cgroup integer, -- cgroups.key
  delivered_cgroup integer, -- cgroups.key
  sender_pid integer,
  sender_comm integer, -- names
  sender_uid integer,
  sender_auid integer,
  sender_ppid integer,
  target_pid integer,
  target_tid integer,
  delivered_pid integer,
  delivered_comm integer, -- names
  si_code integer NOT NULL,
  ret integer,
  fanout integer,
  sender_tid integer,
  delivered_tid integer,
  sender_ns_pid integer,
  target_ns_pid integer,
  delivered_ns_pid integer,
  signal smallint NOT NULL,
  source smallint NOT NULL,
  result smallint,
  origin smallint
) PARTITION BY RANGE (ts_ns);

-- Each index with the report it serves (src/query over signal_rows). The
-- source_id after a 4-byte pid fills what alignment would pad: a host's
-- rows are found without reading the other hosts' at no cost in bytes.
-- who-killed PID --host over a window: the rows that reached the pid ...
CREATE INDEX signals_delivered_pid_source_ts_ns ON sigaudit.signals (delivered_pid, source_id, ts_ns) WHERE delivered_pid IS NOT NULL;
-- ... and the sends addressed to it that reached no task (not signal 0
-- probes, which who-killed leaves out unless asked).
CREATE INDEX signals_target_pid_source_ts_ns ON sigaudit.signals (target_pid, source_id, ts_ns) WHERE delivered_pid IS NULL AND signal <> 0;
-- ... and a process's exit: the SIGCHLD it sent its parent (a pid exits
-- about once a day: the time is checked in the row).
CREATE INDEX signals_child_exit_sender_pid_source ON sigaudit.signals (sender_pid, source_id) WHERE signal = 17;
-- ... by the pid a recorder's namespace gave (nothing on host recorders).
CREATE INDEX signals_delivered_ns_pid_source_ts_ns ON sigaudit.signals (delivered_ns_pid, source_id, ts_ns) WHERE delivered_ns_pid IS NOT NULL;
CREATE INDEX signals_target_ns_pid_source_ts_ns ON sigaudit.signals (target_ns_pid, source_id, ts_ns) WHERE delivered_pid IS NULL AND target_ns_pid IS NOT NULL;
-- failed: only the sends that failed.
CREATE INDEX signals_failed_ts_ns_source ON sigaudit.signals (ts_ns, source_id) WHERE ret < 0;
-- list, failed over the fleet, export: time windows; BRIN, as rows arrive
-- in about ts_ns order.
CREATE INDEX signals_ts_ns ON sigaudit.signals USING brin (ts_ns);

-- The names of the codes, in the order of src/names.ts (test/fleet-forward
-- compares them).
CREATE FUNCTION sigaudit.source_name(code smallint) RETURNS text IMMUTABLE PARALLEL SAFE LANGUAGE sql
  RETURN (ARRAY['kernel', 'kill', 'tkill', 'tgkill', 'rt_sigqueueinfo', 'rt_tgsigqueueinfo', 'pidfd_send_signal'])[code + 1];
CREATE FUNCTION sigaudit.result_name(code smallint) RETURNS text IMMUTABLE PARALLEL SAFE LANGUAGE sql
  RETURN (ARRAY['delivered', 'ignored', 'already_pending', 'overflow', 'lose_info'])[code + 1];
CREATE FUNCTION sigaudit.origin_name(code smallint) RETURNS text IMMUTABLE PARALLEL SAFE LANGUAGE sql
  RETURN (ARRAY['fault', 'child', 'pipe', 'timer', 'tty', 'oom', 'cgroup_kill', 'kernel'])[code + 1];
-- A uid_t stored in an integer, read back unsigned.
CREATE FUNCTION sigaudit.uid(stored integer) RETURNS bigint IMMUTABLE PARALLEL SAFE LANGUAGE sql
  RETURN CASE WHEN stored < 0 THEN stored + 4294967296 ELSE stored END;

-- The rows of 0020, day by day into the new partitions.
SELECT sigaudit.ensure_days(day * 86400000000000, day * 86400000000000)
  FROM (SELECT DISTINCT ts_ns / 86400000000000 AS day FROM sigaudit.signals_0020) AS days;
INSERT INTO sigaudit.signals (id, ts_ns, source_id, sender_cgroup, delivered_cgroup, sender_pid, sender_comm, sender_uid, sender_auid,
    sender_ppid, target_pid, target_tid, delivered_pid, delivered_comm, si_code, ret, fanout, sender_tid, delivered_tid,
    sender_ns_pid, target_ns_pid, delivered_ns_pid, signal, source, result, origin)
  SELECT s.id, s.ts_ns, s.source_id, scg.key, dcg.key, s.sender_pid, s.sender_comm,
    CASE WHEN s.sender_uid >= 2147483648 THEN s.sender_uid - 4294967296 ELSE s.sender_uid END,
    CASE WHEN s.sender_auid >= 2147483648 THEN s.sender_auid - 4294967296 ELSE s.sender_auid END,
    s.sender_ppid, s.target_pid, s.target_tid, s.delivered_pid, s.delivered_comm, s.si_code, s.ret, nullif(s.fanout, 0),
    CASE WHEN s.sender_tid IS NOT DISTINCT FROM s.sender_pid THEN NULL WHEN s.sender_tid IS NULL THEN -1 ELSE s.sender_tid END,
    CASE WHEN s.delivered_tid IS NOT DISTINCT FROM s.delivered_pid THEN NULL WHEN s.delivered_tid IS NULL THEN -1 ELSE s.delivered_tid END,
    s.sender_ns_pid, s.target_ns_pid, s.delivered_ns_pid, s.signal,
    array_position(ARRAY['kernel', 'kill', 'tkill', 'tgkill', 'rt_sigqueueinfo', 'rt_tgsigqueueinfo', 'pidfd_send_signal'], src.name) - 1,
    array_position(ARRAY['delivered', 'ignored', 'already_pending', 'overflow', 'lose_info'], r.name) - 1,
    array_position(ARRAY['fault', 'child', 'pipe', 'timer', 'tty', 'oom', 'cgroup_kill', 'kernel'], o.name) - 1
  FROM sigaudit.signals_0020 s
  JOIN sigaudit.names src ON src.id = s.source
  LEFT JOIN sigaudit.names r ON r.id = s.result
  LEFT JOIN sigaudit.names o ON o.id = s.origin
  LEFT JOIN sigaudit.cgroups scg ON scg.source_id = s.source_id AND scg.id = s.sender_cgroup
  LEFT JOIN sigaudit.cgroups dcg ON dcg.source_id = s.source_id AND dcg.id = s.delivered_cgroup
  ORDER BY s.ts_ns;
DROP TABLE sigaudit.signals_0020;

-- The rollup's source is a code too.
ALTER TABLE sigaudit.sender_hours ADD COLUMN source_code smallint;
UPDATE sigaudit.sender_hours h SET source_code = array_position(
    ARRAY['kernel', 'kill', 'tkill', 'tgkill', 'rt_sigqueueinfo', 'rt_tgsigqueueinfo', 'pidfd_send_signal'], n.name) - 1
  FROM sigaudit.names n WHERE n.id = h.source;
ALTER TABLE sigaudit.sender_hours DROP CONSTRAINT sender_hours_pkey;
ALTER TABLE sigaudit.sender_hours DROP COLUMN source;
ALTER TABLE sigaudit.sender_hours RENAME COLUMN source_code TO source;
ALTER TABLE sigaudit.sender_hours ALTER COLUMN source SET NOT NULL;
ALTER TABLE sigaudit.sender_hours ADD PRIMARY KEY (hour, source_id, source, signal, sender_comm, sender_uid, sender_cgroup);

CREATE OR REPLACE FUNCTION sigaudit.count_sender_hours() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = sigaudit, pg_temp AS $$
BEGIN
  INSERT INTO sigaudit.sender_hours AS h (source_id, hour, source, signal, sender_comm, sender_uid, sender_cgroup, sends, deliveries)
    SELECT a.source_id, ts_ns / 3600000000000, source, signal, coalesce(sender_comm, 0),
      coalesce(sigaudit.uid(sender_uid), -1), coalesce(c.id, 0),
      count(*) FILTER (WHERE fanout IS NULL), count(*) FILTER (WHERE delivered_pid IS NOT NULL)
    FROM added a LEFT JOIN sigaudit.cgroups c ON c.key = a.sender_cgroup
    GROUP BY 1, 2, 3, 4, 5, 6, 7
  ON CONFLICT (hour, source_id, source, signal, sender_comm, sender_uid, sender_cgroup)
    DO UPDATE SET sends = h.sends + excluded.sends, deliveries = h.deliveries + excluded.deliveries;
  RETURN NULL;
END $$;

CREATE TRIGGER signals_sender_hours AFTER INSERT ON sigaudit.signals
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION sigaudit.count_sender_hours();

-- The same columns as 0020's view, decoded. Names and cgroups are looked
-- up by scalar subqueries on their keys, not joins: a report that does not
-- read a column does not look it up, and a view of three joins instead of
-- fourteen plans in a fraction of the time (who-killed asks up to seven
-- queries). Each is a lookup by key, nested rather than joined: a join in
-- a subquery is planned as a hash join built again for every row.
CREATE VIEW sigaudit.signal_rows AS
  SELECT s.source_id, h.name AS host, s.id, s.ts_ns, coalesce(s.fanout, 0) AS fanout, sigaudit.source_name(s.source) AS source,
    s.sender_pid, nullif(coalesce(s.sender_tid, s.sender_pid), -1) AS sender_tid,
    (SELECT name FROM sigaudit.names WHERE id = s.sender_comm) AS sender_comm,
    sigaudit.uid(s.sender_uid) AS sender_uid, sigaudit.uid(s.sender_auid) AS sender_auid, s.sender_ppid,
    (SELECT id FROM sigaudit.cgroups WHERE key = s.sender_cgroup) AS sender_cgroup_id,
    (SELECT name FROM sigaudit.names WHERE id = (SELECT path FROM sigaudit.cgroups WHERE key = s.sender_cgroup)) AS sender_cgroup_path,
    (SELECT name FROM sigaudit.names WHERE id = (SELECT unit FROM sigaudit.cgroups WHERE key = s.sender_cgroup)) AS sender_unit,
    s.target_pid, s.target_tid,
    s.delivered_pid, nullif(coalesce(s.delivered_tid, s.delivered_pid), -1) AS delivered_tid,
    (SELECT name FROM sigaudit.names WHERE id = s.delivered_comm) AS delivered_comm,
    (SELECT id FROM sigaudit.cgroups WHERE key = s.delivered_cgroup) AS delivered_cgroup_id,
    (SELECT name FROM sigaudit.names WHERE id = (SELECT path FROM sigaudit.cgroups WHERE key = s.delivered_cgroup)) AS delivered_cgroup_path,
    (SELECT name FROM sigaudit.names WHERE id = (SELECT unit FROM sigaudit.cgroups WHERE key = s.delivered_cgroup)) AS delivered_unit,
    s.signal, s.ret, sigaudit.result_name(s.result) AS result, s.si_code, sigaudit.origin_name(s.origin) AS origin,
    s.sender_ns_pid, s.target_ns_pid, s.delivered_ns_pid
  FROM sigaudit.signals s
  JOIN sigaudit.sources so ON so.id = s.source_id
  JOIN sigaudit.hosts h ON h.id = so.host_id;
