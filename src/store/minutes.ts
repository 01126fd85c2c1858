// The archive's oldest and newest times from archive_minutes
// (migrations/0140-id-windows.sql): there is no index on ts_ns to take them
// from; and the map made anew from the archive.
import type Database from 'better-sqlite3';

/**
 * The smallest archived ts_ns: the smallest within the first minute's id
 * range, a rowid range seek. Exact however rows slip out of id order: the
 * map's bounds are that minute's true first and last ids, and no row is
 * in an earlier minute. NULL when the archive is empty.
 */
export const ARCHIVE_FIRST_TS_SQL = `SELECT min(ts_ns) FROM signals_archive
  WHERE id BETWEEN (SELECT first_id FROM archive_minutes ORDER BY minute LIMIT 1) AND (SELECT last_id FROM archive_minutes ORDER BY minute LIMIT 1)`;

/** The largest archived ts_ns, from the last minute's id range in the same way. */
export const ARCHIVE_LAST_TS_SQL = `SELECT max(ts_ns) FROM signals_archive
  WHERE id BETWEEN (SELECT first_id FROM archive_minutes ORDER BY minute DESC LIMIT 1) AND (SELECT last_id FROM archive_minutes ORDER BY minute DESC LIMIT 1)`;

/**
 * Fills archive_minutes anew from the archive's rows, as migration 0140
 * did; returns how many minutes it holds. For `sigaudit recover`: a
 * salvaged archive lacks the rows of damaged pages, and a damaged page of
 * the map itself would hide its minutes' rows from every time window.
 */
export function rebuildArchiveMinutes(db: Database.Database): number {
  return db.transaction(() => {
    db.exec('DELETE FROM archive_minutes');
    return db.prepare('INSERT INTO archive_minutes SELECT ts_ns / 60000000000, min(id), max(id) FROM signals_archive GROUP BY 1').run().changes;
  })();
}
