-- The fleet's central schema in PostgreSQL, in the schema "sigaudit".
-- Run inside one transaction by src/fleet/schema.ts, which records each
-- migration in sigaudit.schema_migrations.

-- Every string that repeats (comms, cgroup paths, units, sources, results,
-- origins) is stored once here; rows hold its id. Four bytes instead of a
-- name is most of what brings a row under 150 bytes.
CREATE TABLE sigaudit.names (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL,
  CONSTRAINT names_name UNIQUE (name)
);

CREATE TABLE sigaudit.hosts (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL,
  machine_id text,
  kernel text,
  version text,
  first_seen timestamptz NOT NULL DEFAULT now(),
  last_seen timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT hosts_name UNIQUE (name)
);

-- One local database (src/fleet/forward.ts creates its uuid once and keeps
-- it in the database's forward_state): a re-imaged host with a new
-- database is a new source of the same host, and two sources never share
-- ids. last_id: the newest row forwarded; first_ts_ns, last_ts_ns: the
-- times its rows span (a host's lag, and where reports look).
CREATE TABLE sigaudit.sources (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  uuid uuid NOT NULL,
  host_id integer NOT NULL REFERENCES sigaudit.hosts (id),
  first_seen timestamptz NOT NULL DEFAULT now(),
  last_seen timestamptz NOT NULL DEFAULT now(),
  last_id bigint NOT NULL DEFAULT 0,
  first_ts_ns bigint,
  last_ts_ns bigint,
  CONSTRAINT sources_uuid UNIQUE (uuid)
);

-- The local signals view's rows, keyed by (source_id, id): a row sent
-- again (a forwarder killed after the commit, before it noted its
-- position) is ignored. Partitioned by day of ts_ns (UTC), so pruning
-- drops whole tables; the key holds ts_ns because a partitioned table's
-- key must hold the partition key (a re-sent row has the same ts_ns).
CREATE TABLE sigaudit.signals (
  source_id integer NOT NULL,
  id bigint NOT NULL,
  ts_ns bigint NOT NULL,
  fanout integer NOT NULL,
  source integer NOT NULL, -- names
  sender_pid integer,
  sender_tid integer,
  sender_comm integer, -- names
  sender_uid bigint,
  sender_auid bigint,
  sender_ppid integer,
  sender_cgroup bigint,
  target_pid integer,
  target_tid integer,
  delivered_pid integer,
  delivered_tid integer,
  delivered_comm integer, -- names
  delivered_cgroup bigint,
  signal smallint NOT NULL,
  ret integer,
  result integer, -- names
  si_code integer NOT NULL,
  origin integer, -- names
  sender_ns_pid integer,
  target_ns_pid integer,
  delivered_ns_pid integer,
  CONSTRAINT signals_key PRIMARY KEY (source_id, id, ts_ns)
) PARTITION BY RANGE (ts_ns);

-- who-killed PID over a window: the rows that reached the pid ...
CREATE INDEX signals_delivered_pid_ts_ns ON sigaudit.signals (delivered_pid, ts_ns) WHERE delivered_pid IS NOT NULL;
-- ... and the sends addressed to it that reached no task.
CREATE INDEX signals_target_pid_ts_ns ON sigaudit.signals (target_pid, ts_ns) WHERE delivered_pid IS NULL;
-- failed, list: time windows; BRIN, as rows arrive in about ts_ns order.
CREATE INDEX signals_ts_ns ON sigaudit.signals USING brin (ts_ns);

-- cgroup ids are per host: (source_id, id) -> path and unit.
CREATE TABLE sigaudit.cgroups (
  source_id integer NOT NULL REFERENCES sigaudit.sources (id),
  id bigint NOT NULL,
  path integer NOT NULL, -- names
  unit integer, -- names
  PRIMARY KEY (source_id, id)
);

-- The local tables that say where a record is incomplete, keyed like
-- signals. Columns as in migrations/ of the local database.
CREATE TABLE sigaudit.runs (
  source_id integer NOT NULL REFERENCES sigaudit.sources (id),
  id bigint NOT NULL,
  started_ns bigint NOT NULL,
  stopped_ns bigint,
  host text NOT NULL,
  kernel text NOT NULL,
  version text NOT NULL,
  recorder_pid integer NOT NULL,
  events bigint NOT NULL,
  drops bigint NOT NULL,
  summarised bigint NOT NULL,
  stop_reason text,
  last_seen_ns bigint,
  PRIMARY KEY (source_id, id)
);

CREATE TABLE sigaudit.drops (
  source_id integer NOT NULL REFERENCES sigaudit.sources (id),
  id bigint NOT NULL,
  run_id bigint NOT NULL,
  from_ns bigint NOT NULL,
  to_ns bigint NOT NULL,
  count bigint NOT NULL,
  reason text NOT NULL,
  PRIMARY KEY (source_id, id)
);

CREATE TABLE sigaudit.unclean_shutdowns (
  source_id integer NOT NULL REFERENCES sigaudit.sources (id),
  id bigint NOT NULL,
  run_id bigint NOT NULL,
  from_ns bigint NOT NULL,
  to_ns bigint NOT NULL,
  found_by_run_id bigint NOT NULL,
  PRIMARY KEY (source_id, id)
);

CREATE TABLE sigaudit.prunes (
  source_id integer NOT NULL REFERENCES sigaudit.sources (id),
  id bigint NOT NULL,
  run_id bigint,
  reason text NOT NULL,
  first_ns bigint NOT NULL,
  last_ns bigint NOT NULL,
  from_ns bigint NOT NULL,
  to_ns bigint NOT NULL,
  rows bigint NOT NULL,
  PRIMARY KEY (source_id, id)
);

CREATE TABLE sigaudit.summaries (
  source_id integer NOT NULL REFERENCES sigaudit.sources (id),
  id bigint NOT NULL,
  run_id bigint NOT NULL,
  first_ns bigint NOT NULL,
  last_ns bigint NOT NULL,
  count bigint NOT NULL,
  outcome text NOT NULL,
  source text NOT NULL,
  sender_pid integer NOT NULL,
  sender_comm text NOT NULL,
  sender_uid bigint NOT NULL,
  signal smallint NOT NULL,
  target_pid integer,
  ret integer,
  result text,
  PRIMARY KEY (source_id, id)
);

-- Signals local retention deleted before they were forwarded (ids from_id
-- to to_id, recorded between from_ns and to_ns): never silent.
CREATE TABLE sigaudit.forward_gaps (
  source_id integer NOT NULL REFERENCES sigaudit.sources (id),
  from_id bigint NOT NULL,
  to_id bigint NOT NULL,
  from_ns bigint NOT NULL,
  to_ns bigint NOT NULL,
  PRIMARY KEY (source_id, from_id)
);

-- Days `sigaudit server prune` dropped: answers over them say so.
CREATE TABLE sigaudit.server_prunes (
  day date PRIMARY KEY,
  pruned_at timestamptz NOT NULL DEFAULT now()
);

-- top-senders over everything reads hours, not rows: kept by the trigger
-- below from the rows each insert really added (a re-sent row adds none).
CREATE TABLE sigaudit.sender_hours (
  source_id integer NOT NULL,
  hour bigint NOT NULL, -- ts_ns / 3600000000000
  source integer NOT NULL,
  signal smallint NOT NULL,
  sender_comm integer NOT NULL, -- names; 0: none
  sender_uid bigint NOT NULL, -- -1: none
  sender_cgroup bigint NOT NULL, -- 0: none
  sends bigint NOT NULL,
  deliveries bigint NOT NULL,
  PRIMARY KEY (hour, source_id, source, signal, sender_comm, sender_uid, sender_cgroup)
);

CREATE FUNCTION sigaudit.count_sender_hours() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = sigaudit, pg_temp AS $$
BEGIN
  INSERT INTO sigaudit.sender_hours AS h
    SELECT source_id, ts_ns / 3600000000000, source, signal, coalesce(sender_comm, 0),
      coalesce(sender_uid, -1), coalesce(sender_cgroup, 0),
      count(*) FILTER (WHERE fanout = 0), count(*) FILTER (WHERE delivered_pid IS NOT NULL)
    FROM added GROUP BY 1, 2, 3, 4, 5, 6, 7
  ON CONFLICT (hour, source_id, source, signal, sender_comm, sender_uid, sender_cgroup)
    DO UPDATE SET sends = h.sends + excluded.sends, deliveries = h.deliveries + excluded.deliveries;
  RETURN NULL;
END $$;

CREATE TRIGGER signals_sender_hours AFTER INSERT ON sigaudit.signals
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION sigaudit.count_sender_hours();

-- The day partitions a batch needs, created on demand by the forwarder,
-- which may not create tables itself (SECURITY DEFINER: as the owner).
CREATE FUNCTION sigaudit.ensure_days(from_ns bigint, to_ns bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = sigaudit, pg_temp AS $$
DECLARE
  day_ns constant bigint := 86400000000000;
  day bigint;
BEGIN
  FOR day IN SELECT generate_series(from_ns / day_ns, to_ns / day_ns) LOOP
    IF to_regclass(format('sigaudit.signals_%s', to_char(to_timestamp(day * 86400) AT TIME ZONE 'UTC', 'YYYYMMDD'))) IS NULL THEN
      -- Two forwarders may race here: the loser's CREATE fails on the name,
      -- so take a lock that orders them.
      PERFORM pg_advisory_xact_lock(hashtext('sigaudit.ensure_days'), day::int);
      EXECUTE format('CREATE TABLE IF NOT EXISTS sigaudit.%I PARTITION OF sigaudit.signals FOR VALUES FROM (%s) TO (%s)',
        'signals_' || to_char(to_timestamp(day * 86400) AT TIME ZONE 'UTC', 'YYYYMMDD'), day * day_ns, (day + 1) * day_ns);
    END IF;
  END LOOP;
END $$;
