// The forwarder's side of the local SQLite database: the rows not yet
// shipped, read only through the signals view (by id, as the recorder
// commits them) and written by SQLite itself as the server's COPY text,
// the tables that say where the record is incomplete, and forward_state,
// where the position is kept once the server committed.
import type Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { setImmediate } from 'node:timers/promises';
import { existsSync } from 'node:fs';
import { SigauditError } from '../errors';
import { ORIGINS, RESULTS, SOURCES } from '../names';
import { openForWriting } from '../store/database';

/**
 * The columns of the server's sigaudit.signals (src/fleet/migrations/0030)
 * and how each is computed from a row of the local signals view: the
 * forwarder never decodes a row in JavaScript, SQLite writes each one as a
 * line of COPY text. Comms and cgroups are the server's ids for them, from
 * the temporary tables fleet_names and fleet_cgroups (filled by
 * LocalSource.read from the sink's answers).
 */
const COPY_COLUMNS: [string, string][] = [
  ['id', 's.id'],
  ['ts_ns', 's.ts_ns'],
  ['sender_cgroup', '(SELECT key FROM temp.fleet_cgroups WHERE id = s.sender_cgroup)'],
  ['delivered_cgroup', '(SELECT key FROM temp.fleet_cgroups WHERE id = s.delivered_cgroup)'],
  ['source_id', '@sourceId'],
  ['sender_pid', 's.sender_pid'],
  ['sender_comm', '(SELECT id FROM temp.fleet_names WHERE name = s.sender_comm)'],
  ['sender_uid', unsigned32('s.sender_uid')],
  ['sender_auid', unsigned32('s.sender_auid')],
  ['sender_ppid', 's.sender_ppid'],
  ['target_pid', 's.target_pid'],
  ['target_tid', 's.target_tid'],
  ['delivered_pid', 's.delivered_pid'],
  ['delivered_comm', '(SELECT id FROM temp.fleet_names WHERE name = s.delivered_comm)'],
  ['si_code', 's.si_code'],
  ['ret', 's.ret'],
  ['fanout', 'nullif(s.fanout, 0)'],
  ['sender_tid', sameAsPid('s.sender_tid', 's.sender_pid')],
  ['delivered_tid', sameAsPid('s.delivered_tid', 's.delivered_pid')],
  ['sender_ns_pid', 's.sender_ns_pid'],
  ['target_ns_pid', 's.target_ns_pid'],
  ['delivered_ns_pid', 's.delivered_ns_pid'],
  ['signal', 's.signal'],
  ['source', code('s.source', SOURCES)],
  ['result', code('s.result', RESULTS)],
  ['origin', code('s.origin', ORIGINS)],
];
export const COPY_COLUMN_NAMES = COPY_COLUMNS.map(([column]) => column);
/** Rows written as text between two turns of the event loop. */
const LINES_PER_TURN = 2_000;

/** A uid_t in the server's integer: its 32 bits, uids from 2^31 up negative. */
function unsigned32(column: string): string {
  return `CASE WHEN ${column} >= 2147483648 THEN ${column} - 4294967296 ELSE ${column} END`;
}

/** NULL when the tid is the pid (a process's main thread), -1 when it is NULL beside one. */
function sameAsPid(tid: string, pid: string): string {
  return `CASE WHEN ${tid} IS ${pid} THEN NULL WHEN ${tid} IS NULL THEN -1 ELSE ${tid} END`;
}

/** The index of the name in `names`, the server's code for it. */
function code(column: string, names: readonly string[]): string {
  return `CASE ${column} ${names.map((name, i) => `WHEN '${name}' THEN ${i}`).join(' ')} END`;
}

/** The tables besides signals that are shipped, and their positions in forward_state. */
export const SIDE_TABLES = [
  { table: 'runs', position: 'runs_from' },
  { table: 'drops', position: 'drops_from' },
  { table: 'unclean_shutdowns', position: 'unclean_from' },
  { table: 'prunes', position: 'prunes_from' },
  { table: 'summaries', position: 'summaries_from' },
  { table: 'earlier_databases', position: 'earlier_from' },
] as const;
export type SideTable = (typeof SIDE_TABLES)[number]['table'];

export type Value = bigint | string | null;
export interface Cgroup { id: bigint; path: string | null; unit: string | null }
export interface Gap { fromId: bigint; toId: bigint; fromNs: bigint; toNs: bigint }

/** The server's ids for what rows refer to (the sink's side of interning). */
export interface ServerIds {
  sourceId: number;
  /** The ids of these names, interned there if new. */
  names(names: string[]): Promise<Map<string, number>>;
  /** Each cgroup's key there, registered or updated (a cgroup may get its unit later). */
  cgroups(cgroups: Cgroup[]): Promise<Map<bigint, number>>;
}

export interface Batch {
  /** The rows in COPY's text format, columns COPY_COLUMN_NAMES, a line each, ids increasing. */
  copyText: string;
  rows: number;
  /** The id the rows follow: the server must hold this source's rows up to it, not beyond. */
  afterId: bigint;
  /** The earliest and latest ts_ns of the rows (nearly, not exactly, in id order). */
  minTsNs: bigint | null;
  maxTsNs: bigint | null;
  /** The UTC days (ts_ns / one day) the rows are in. */
  days: bigint[];
  side: Partial<Record<SideTable, Record<string, Value>[]>>;
  sideText: string;
  /** Rows deleted locally (retention) before they were shipped. */
  gap?: Gap;
  lastId: bigint;
  lastTsNs: bigint | null;
  /** Where each side table starts next time. */
  sideFrom: Record<SideTable, bigint>;
}

export interface Position { sourceUuid: string; signalId: bigint; signalTsNs: bigint | null; sideFrom: Record<SideTable, bigint> }

interface Bounds { rows: bigint; first_id: bigint | null; last_id: bigint | null; min_ts: bigint | null; max_ts: bigint | null; days: string | null }

export class LocalSource {
  private readonly bounds: Database.Statement;
  private readonly tsOf: Database.Statement;
  private readonly newNames: Database.Statement;
  private readonly batchCgroups: Database.Statement;
  private readonly lines: Database.Statement;
  private readonly addName: Database.Statement;
  private readonly addCgroup: Database.Statement;
  /** Each cgroup's path and unit as last sent, so that unchanged ones are not sent again. */
  private readonly sentCgroups = new Map<bigint, string>();

  private constructor(private readonly db: Database.Database) {
    // Temporary: the server's ids belong to this connection's sink, never to the file.
    db.exec(`CREATE TEMP TABLE IF NOT EXISTS fleet_names (name TEXT PRIMARY KEY, id INTEGER NOT NULL);
      CREATE TEMP TABLE IF NOT EXISTS fleet_cgroups (id INTEGER PRIMARY KEY, key INTEGER NOT NULL)`);
    const line = COPY_COLUMNS.map(([, sql]) => `coalesce(${sql}, '\\N')`).join(' || char(9) || ');
    const range = 'id > @after AND id <= @last';
    this.bounds = db.prepare(`SELECT count(*) AS rows, min(id) AS first_id, max(id) AS last_id, min(ts_ns) AS min_ts, max(ts_ns) AS max_ts,
        group_concat(DISTINCT ts_ns / 86400000000000) AS days
      FROM (SELECT id, ts_ns FROM signals WHERE id > @after ORDER BY id LIMIT @limit)`).safeIntegers(true);
    this.tsOf = db.prepare('SELECT ts_ns FROM signals WHERE id = ?').pluck().safeIntegers(true);
    this.newNames = db.prepare(`SELECT DISTINCT name FROM (SELECT sender_comm AS name FROM signals WHERE ${range}
      UNION ALL SELECT delivered_comm FROM signals WHERE ${range}) WHERE name IS NOT NULL AND name NOT IN (SELECT name FROM temp.fleet_names)`).pluck();
    this.batchCgroups = db.prepare(`SELECT g.id, c.path, c.unit FROM (SELECT sender_cgroup AS id FROM signals WHERE ${range}
      UNION SELECT delivered_cgroup FROM signals WHERE ${range}) AS g LEFT JOIN cgroups AS c ON c.id = g.id WHERE g.id IS NOT NULL`).safeIntegers(true);
    this.lines = db.prepare(`SELECT max(id) AS last_id, group_concat(line, char(10)) || char(10) AS text
      FROM (SELECT s.id, ${line} AS line FROM signals AS s WHERE s.id > @after AND s.id <= @last ORDER BY s.id LIMIT ${LINES_PER_TURN})`).safeIntegers(true);
    this.addName = db.prepare('INSERT OR REPLACE INTO temp.fleet_names (name, id) VALUES (?, ?)');
    this.addCgroup = db.prepare('INSERT OR REPLACE INTO temp.fleet_cgroups (id, key) VALUES (?, ?)');
  }

  /** Opens the database (migrating it to this sigaudit's schema) and gives it a source id the first time. */
  static open(path: string): LocalSource {
    if (!existsSync(path))
      throw new SigauditError('EDBMISSING', `database ${path} does not exist`, 'start the recorder (sigaudit record) or pass --db / SIGAUDIT_DB with the right path');
    const db = openForWriting(path);
    db.prepare('INSERT OR IGNORE INTO forward_state (id, source_uuid) VALUES (1, ?)').run(randomUUID());
    return new LocalSource(db);
  }

  position(): Position {
    const row = this.db.prepare('SELECT * FROM forward_state WHERE id = 1').safeIntegers(true).get() as Record<string, bigint | string | null>;
    const sideFrom = Object.fromEntries(SIDE_TABLES.map(({ table, position }) => [table, row[position] as bigint])) as Record<SideTable, bigint>;
    return { sourceUuid: row.source_uuid as string, signalId: row.signal_id as bigint, signalTsNs: row.signal_ts_ns as bigint | null, sideFrom };
  }

  /** Forgets the server ids learnt: a new connection may be to another server. */
  forgetServerIds(): void {
    this.db.exec('DELETE FROM temp.fleet_names; DELETE FROM temp.fleet_cgroups');
    this.sentCgroups.clear();
  }

  /**
   * The next rows after `position`, at most `limit` signals, as COPY text
   * with the server's ids; undefined when nothing changed since the last
   * shipment. One read transaction, held while the server answers for new
   * names and cgroups, so that the rows cannot change (retention) between
   * the statements.
   */
  async read(position: Position, limit: number, server: ServerIds): Promise<Batch | undefined> {
    this.db.exec('BEGIN');
    try {
      const after = position.signalId;
      const bounds = this.bounds.get({ after, limit }) as Bounds;
      const last = bounds.last_id ?? after;
      let copyText = '';
      if (bounds.rows > 0n) {
        const names = this.newNames.all({ after, last }) as string[];
        if (names.length > 0) for (const [name, id] of await server.names(names)) this.addName.run(name, id);
        const cgroups = (this.batchCgroups.all({ after, last }) as Cgroup[]).filter((cgroup) => this.sentCgroups.get(cgroup.id) !== `${cgroup.path}\0${cgroup.unit}`);
        if (cgroups.length > 0) {
          for (const [id, key] of await server.cgroups(cgroups)) this.addCgroup.run(id, key);
          for (const cgroup of cgroups) this.sentCgroups.set(cgroup.id, `${cgroup.path}\0${cgroup.unit}`);
        }
        const texts: string[] = [];
        for (let from = after; from < last; ) {
          const chunk = this.lines.get({ after: from, last, sourceId: BigInt(server.sourceId) }) as { last_id: bigint; text: string };
          texts.push(chunk.text);
          from = chunk.last_id;
          // Let the event loop run: the previous batch's COPY goes on reaching the server meanwhile.
          await setImmediate();
        }
        copyText = texts.join('');
      }
      const side: Batch['side'] = {};
      const sideFrom = { ...position.sideFrom };
      for (const { table } of SIDE_TABLES) {
        const rows = this.db.prepare(`SELECT * FROM ${table} WHERE id >= ? ORDER BY id`).safeIntegers(true).all(position.sideFrom[table]) as Record<string, Value>[];
        side[table] = rows;
        if (rows.length === 0) continue;
        // Sent again next time from the last row on (a prune grows, a drop
        // window closes), and for runs from the oldest one still recording.
        const open = table === 'runs' ? rows.find((row) => row.stop_reason === null) : undefined;
        sideFrom[table] = (open ?? rows[rows.length - 1]).id as bigint;
      }
      const sideText = JSON.stringify(side, (_key, value) => (typeof value === 'bigint' ? value.toString() : value));
      if (bounds.rows === 0n && sideText === this.lastSide) return undefined;
      let gap: Gap | undefined;
      if (bounds.first_id !== null && after > 0n && bounds.first_id > after + 1n) {
        const firstTs = this.tsOf.get(bounds.first_id) as bigint;
        gap = { fromId: after + 1n, toId: bounds.first_id - 1n, fromNs: position.signalTsNs ?? firstTs, toNs: firstTs };
      }
      return {
        copyText,
        rows: Number(bounds.rows),
        afterId: after,
        minTsNs: bounds.min_ts,
        maxTsNs: bounds.max_ts,
        days: bounds.days === null ? [] : bounds.days.split(',').map(BigInt),
        side,
        sideText,
        gap,
        lastId: last,
        lastTsNs: bounds.last_id === null ? position.signalTsNs : (this.tsOf.get(bounds.last_id) as bigint),
        sideFrom,
      };
    } finally {
      this.db.exec('COMMIT');
    }
  }

  /** The side rows last shipped, so that an idle follow does not send them every poll. */
  private lastSide: string | undefined;

  /** After the server committed `batch`. */
  shipped(batch: Batch): void {
    this.lastSide = batch.sideText;
    const columns = SIDE_TABLES.map(({ position }) => `${position} = ?`).join(', ');
    this.db
      .prepare(`UPDATE forward_state SET signal_id = ?, signal_ts_ns = ?, ${columns} WHERE id = 1`)
      .run(batch.lastId, batch.lastTsNs, ...SIDE_TABLES.map(({ table }) => batch.sideFrom[table]));
  }

  /**
   * Continues from the server's position when it differs from ours: less
   * (a server restored from a backup: the rest is sent again) or more (a
   * forwarder killed after the server committed, before it noted it).
   */
  moveTo(serverId: bigint): void {
    const tsNs = (this.tsOf.get(serverId) as bigint | undefined) ?? null;
    this.db.prepare('UPDATE forward_state SET signal_id = ?, signal_ts_ns = ? WHERE id = 1').run(serverId, tsNs);
  }

  /** The host as its newest run named it. */
  runInfo(): { host?: string; kernel?: string; version?: string } {
    return (this.db.prepare('SELECT host, kernel, version FROM runs ORDER BY id DESC LIMIT 1').get() as { host: string; kernel: string; version: string } | undefined) ?? {};
  }

  /** Only closes: the recorder may be writing (closeWriting's checkpoint is its job). */
  close(): void {
    this.db.close();
  }
}
