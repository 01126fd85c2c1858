// archive_minutes (migrations/0140-id-windows.sql): what a minute of the
// archive's rows says of itself, kept as the mover moves rows and made anew
// from the archive, and the archive's oldest and newest times from it
// (there is no index on ts_ns to take them from).
import type Database from 'better-sqlite3';

/** The map's minute: a row is in minute ts_ns / ARCHIVE_MINUTE_NS (the literal in 0140-id-windows.sql). */
export const ARCHIVE_MINUTE_NS = 60_000_000_000n;

/** The smallest archived ts_ns: the first minute's own (NULL when the archive is empty). */
export const ARCHIVE_FIRST_TS_SQL = 'SELECT first_ns FROM archive_minutes ORDER BY minute LIMIT 1';

/** The largest archived ts_ns: the last minute's own. */
export const ARCHIVE_LAST_TS_SQL = 'SELECT last_ns FROM archive_minutes ORDER BY minute DESC LIMIT 1';

/**
 * Widens each minute of archive_minutes to the ids and times of a signals
 * table's rows (id <= bound, or all) whose ts_ns falls in it: the hot rows
 * about to move, in the mover's transaction, so that the map always holds
 * every archived row's minute, id and time; or the whole archive, to make
 * the map anew.
 */
export function mapMinutes(db: Database.Database, table: 'signals_hot' | 'signals_archive', bound?: bigint): void {
  db.prepare(`INSERT INTO archive_minutes
      SELECT ts_ns / ${ARCHIVE_MINUTE_NS}, min(id), max(id), min(ts_ns), max(ts_ns) FROM ${table} ${bound === undefined ? 'WHERE true' : 'WHERE id <= @bound'} GROUP BY 1
      ON CONFLICT (minute) DO UPDATE SET first_id = min(first_id, excluded.first_id), last_id = max(last_id, excluded.last_id),
        first_ns = min(first_ns, excluded.first_ns), last_ns = max(last_ns, excluded.last_ns)`).run(bound === undefined ? {} : { bound });
}

/**
 * Fills archive_minutes anew from the archive's rows, as migration 0140
 * did; returns how many minutes it holds. For `sigaudit recover`: a
 * salvaged archive lacks the rows of damaged pages, and a damaged page of
 * the map itself would hide its minutes' rows from every time window.
 */
export function rebuildArchiveMinutes(db: Database.Database): number {
  return db.transaction(() => {
    db.exec('DELETE FROM archive_minutes');
    mapMinutes(db, 'signals_archive');
    return db.prepare('SELECT count(*) FROM archive_minutes').pluck().get() as number;
  })();
}
