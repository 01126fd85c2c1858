-- Where the older record is when the recorder had to start a fresh database
-- at its path (src/record/database-watch.ts, src/store/damage.ts): the file
-- it wrote was found damaged (and moved aside, never deleted), or deleted or
-- replaced under it. Signals recorded before found_ns are in that file (or
-- gone with it); every answer over that time says so.
CREATE TABLE earlier_databases (
  id INTEGER PRIMARY KEY,
  -- The run that found it and went on in this database.
  run_id INTEGER REFERENCES runs (id),
  found_ns INTEGER NOT NULL,
  -- 'damaged' (moved aside), 'deleted' or 'replaced' (under the recorder).
  what TEXT NOT NULL,
  -- The damaged file's new name; NULL when it was deleted or replaced.
  moved_to TEXT,
  -- What was detected: SQLite's error, or how the path changed.
  detail TEXT NOT NULL
) STRICT;
