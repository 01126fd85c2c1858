-- How far `sigaudit forward` has shipped this database to the fleet's
-- PostgreSQL (src/fleet/forward.ts). One row, written by the forwarder
-- only after the server committed what it sent: a forwarder killed in
-- between sends those rows again, and the server ignores them.
CREATE TABLE forward_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  -- This database's id on the server, created once: rows are keyed there
  -- by (source, local id).
  source_uuid TEXT NOT NULL,
  -- The last signals.id the server committed, and its ts_ns.
  signal_id INTEGER NOT NULL DEFAULT 0,
  signal_ts_ns INTEGER,
  -- Side tables: rows with an id from here on are sent again (a run ends,
  -- a prune grows after it was sent).
  runs_from INTEGER NOT NULL DEFAULT 0,
  drops_from INTEGER NOT NULL DEFAULT 0,
  unclean_from INTEGER NOT NULL DEFAULT 0,
  prunes_from INTEGER NOT NULL DEFAULT 0,
  summaries_from INTEGER NOT NULL DEFAULT 0,
  earlier_from INTEGER NOT NULL DEFAULT 0
) STRICT;
