// Time windows through id bounds on this host's database: the archive's
// per-minute id map (migrations/0140-id-windows.sql) gives a window's ids,
// bound as parameters before a query runs, and cuts a long window into
// chunks of time for the reads in time order (list newest first, export).
import type Database from 'better-sqlite3';
import { ARCHIVE_MINUTE_NS } from '../store/minutes';
import type { Param, Query, Steps } from './read';

/** Beyond any stored time: an open end of a window. */
const OPEN = 2n ** 62n;

/**
 * The term keeping a window's rows by id: the archive's within the ids its
 * minutes hold (@fromId to @toId), and every row above the archive's last
 * id (@archivedToId: the hot table's, whose ids are all larger and whose
 * times may be earlier, and rows the mover archives meanwhile). The window
 * is @fromNs/@toNs, or @<prefix>fromNs/@<prefix>toNs (either may be
 * absent: open); bindIdWindows binds the ids. `keys`, the terms an index
 * leads with (a pid lookup), are repeated in each arm: SQLite plans each
 * arm of an OR on its own, and seeks the index by key and id range only
 * when the arm names both. The window's ts_ns terms stay beside it: the
 * ids are a superset (other minutes' rows out of id order).
 */
export function idWindowTerm(id: string, keys: readonly string[] = [], prefix = ''): string {
  const arm = (range: string) => [...keys, range].join(' AND ');
  return `((${arm(`${id} BETWEEN @${prefix}fromId AND @${prefix}toId`)}) OR (${arm(`${id} > @archivedToId`)}))`;
}

/**
 * The same window as idWindowTerm, as two terms that never share a row,
 * for a query that reads each in an arm of its own (UNION ALL): SQLite
 * runs an OR of id ranges by remembering each id of the first arm to skip
 * it in the second, about a third of the cost of reading an hour's rows.
 * The second arm starts past both the window's last id and the archive's.
 */
export function idWindowArms(id: string, prefix = ''): [string, string] {
  return [`${id} BETWEEN @${prefix}fromId AND @${prefix}toId`, `${id} > max(@${prefix}toId, @archivedToId)`];
}

interface Statements {
  bounds: Database.Statement;
  archivedTo: Database.Statement;
  minutes: Map<'newest' | 'oldest', Database.Statement>;
}
const prepared = new WeakMap<Database.Database, Statements>();

function statements(db: Database.Database): Statements {
  let found = prepared.get(db);
  if (!found) {
    found = {
      // No minute in the range: an empty id range.
      bounds: db.prepare(`SELECT coalesce(min(first_id), 1) AS from_id, coalesce(max(last_id), 0) AS to_id
        FROM archive_minutes WHERE minute >= @fromMinute AND minute <= @toMinute`).safeIntegers(true),
      archivedTo: db.prepare('SELECT coalesce(max(id), 0) AS id FROM signals_archive').safeIntegers(true),
      minutes: new Map(),
    };
    prepared.set(db, found);
  }
  return found;
}

const minuteOf = (ns: Param | undefined, open: bigint) => (ns === undefined ? open / ARCHIVE_MINUTE_NS : BigInt(ns) / ARCHIVE_MINUTE_NS);

/**
 * The parameters of a query with the id bounds its idWindowTerm terms name,
 * each from its window's time bounds in the parameters: the smallest
 * first_id and largest last_id of the window's minutes.
 */
export function bindIdWindows(db: Database.Database, query: Query): Record<string, Param> {
  if (!query.sql.includes('@archivedToId')) return query.params;
  const { bounds, archivedTo } = statements(db);
  const params: Record<string, Param> = { ...query.params, archivedToId: (archivedTo.get() as { id: bigint }).id };
  for (const [, prefix] of query.sql.matchAll(/@(\w*)fromId\b/g)) {
    if (`${prefix}fromId` in params) continue;
    const fromMinute = minuteOf(query.params[`${prefix}fromNs`], -OPEN);
    const toMinute = minuteOf(query.params[`${prefix}toNs`], OPEN);
    const ids = bounds.get({ fromMinute, toMinute }) as { from_id: bigint; to_id: bigint };
    params[`${prefix}fromId`] = ids.from_id;
    params[`${prefix}toId`] = ids.to_id;
  }
  return params;
}

/** A part of a window, inclusive ns bounds; undefined where the window is open. */
export interface Chunk {
  fromNs?: bigint;
  toNs?: bigint;
}

/** Minutes of the map read at a time while looking for a chunk's end. */
const MINUTES_READ = 256;

/** The map's minutes from @edge on, away from the end a walk starts at, as (minute, ids it spans). */
function minutesSql(direction: 'newest' | 'oldest'): string {
  return direction === 'newest'
    ? `SELECT minute, last_id - first_id + 1 AS ids FROM archive_minutes WHERE minute <= @edge AND minute >= @stop ORDER BY minute DESC LIMIT ${MINUTES_READ}`
    : `SELECT minute, last_id - first_id + 1 AS ids FROM archive_minutes WHERE minute >= @edge AND minute <= @stop ORDER BY minute LIMIT ${MINUTES_READ}`;
}

/**
 * The next chunk of a window, walked newest first or oldest first from
 * `rest` (the part not yet read): whole minutes from its end that hold
 * about `ids` archived ids by the map, or the whole rest when the map has
 * no more (the rest then also holds any hot row older, or newer, than the
 * archive). Chunks never overlap and together cover the window, so rows
 * sorted within each are in order across them.
 */
export function* nextChunk(rest: Chunk, direction: 'newest' | 'oldest', ids: number): Steps<{ chunk: Chunk; rest: Chunk | undefined }> {
  const newest = direction === 'newest';
  let edge = newest ? minuteOf(rest.toNs, OPEN) : minuteOf(rest.fromNs, -OPEN);
  const stop = newest ? minuteOf(rest.fromNs, -OPEN) : minuteOf(rest.toNs, OPEN);
  let counted = 0;
  for (;;) {
    const minutes = yield { sql: minutesSql(direction), params: { edge, stop } };
    for (const row of minutes) {
      counted += Number(row.ids);
      const minute = row.minute as bigint;
      // The minute is the chunk's last: the rest starts past it, unless the window ends in it.
      if (counted < ids || minute === stop) continue;
      const cut = newest ? minute * ARCHIVE_MINUTE_NS : (minute + 1n) * ARCHIVE_MINUTE_NS;
      return newest
        ? { chunk: { fromNs: cut, toNs: rest.toNs }, rest: { fromNs: rest.fromNs, toNs: cut - 1n } }
        : { chunk: { fromNs: rest.fromNs, toNs: cut - 1n }, rest: { fromNs: cut, toNs: rest.toNs } };
    }
    if (minutes.length < MINUTES_READ) return { chunk: rest, rest: undefined };
    edge = (minutes[minutes.length - 1].minute as bigint) + (newest ? -1n : 1n);
  }
}
