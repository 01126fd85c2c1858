// archive_minutes (migrations/0140-id-windows.sql): what a minute of the
// archive's rows says of itself, the archive's oldest and newest times
// from it (there is no index on ts_ns to take them from), and the map made
// anew from the archive.
import type Database from 'better-sqlite3';

/** The map's minute: a row is in minute ts_ns / ARCHIVE_MINUTE_NS (the literal in 0140-id-windows.sql). */
export const ARCHIVE_MINUTE_NS = 60_000_000_000n;

/** A minute's columns, in the table's order, over rows grouped by their minute. */
export const MINUTE_OF_ROWS = `ts_ns / ${ARCHIVE_MINUTE_NS}, min(id), max(id), min(ts_ns), max(ts_ns)`;

/** The smallest archived ts_ns: the first minute's own (NULL when the archive is empty). */
export const ARCHIVE_FIRST_TS_SQL = 'SELECT first_ns FROM archive_minutes ORDER BY minute LIMIT 1';

/** The largest archived ts_ns: the last minute's own. */
export const ARCHIVE_LAST_TS_SQL = 'SELECT last_ns FROM archive_minutes ORDER BY minute DESC LIMIT 1';

/**
 * Fills archive_minutes anew from the archive's rows, as migration 0140
 * did; returns how many minutes it holds. For `sigaudit recover`: a
 * salvaged archive lacks the rows of damaged pages, and a damaged page of
 * the map itself would hide its minutes' rows from every time window.
 */
export function rebuildArchiveMinutes(db: Database.Database): number {
  return db.transaction(() => {
    db.exec('DELETE FROM archive_minutes');
    return db.prepare(`INSERT INTO archive_minutes SELECT ${MINUTE_OF_ROWS} FROM signals_archive GROUP BY 1`).run().changes;
  })();
}
