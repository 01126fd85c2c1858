-- How far each run's spill is committed (src/record/spill.ts): the drain
-- thread appends every record to <db>-spill-<run>-<file> before handing it
-- over, and each commit of signals sets these in the same transaction.
-- After a kill -9 the next recorder replays what comes after, so only what
-- the ring buffer still held is lost.

-- The spill file number, and the byte offset in it before which every
-- record is committed; -1: the whole file is (its writing failed, and
-- later records were committed without it). NULL: nothing committed yet.
ALTER TABLE runs ADD COLUMN spill_file INTEGER;
ALTER TABLE runs ADD COLUMN spill_end INTEGER;
