// The forwarder's side of the local SQLite database: the rows not yet
// shipped, read only through the signals view (by id, as the recorder
// commits them) and the tables that say where the record is incomplete,
// and forward_state, where the position is kept once the server committed.
import type Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { SigauditError } from '../errors';
import { openForWriting } from '../store/database';

/** The view's columns every sigaudit has, in the order they are shipped. */
export const SIGNAL_COLUMNS = [
  'id', 'ts_ns', 'fanout', 'source', 'sender_pid', 'sender_tid', 'sender_comm', 'sender_uid', 'sender_auid', 'sender_ppid',
  'sender_cgroup', 'target_pid', 'target_tid', 'delivered_pid', 'delivered_tid', 'delivered_comm', 'delivered_cgroup',
  'signal', 'ret', 'result', 'si_code', 'origin',
] as const;
/** Namespace pids, in the view when the recorder knows them; shipped as NULL otherwise. */
export const NS_PID_COLUMNS = ['sender_ns_pid', 'target_ns_pid', 'delivered_ns_pid'] as const;
export const SHIPPED_COLUMNS = [...SIGNAL_COLUMNS, ...NS_PID_COLUMNS];

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
export interface Cgroup { id: bigint; path: string; unit: string | null }
export interface Gap { fromId: bigint; toId: bigint; fromNs: bigint; toNs: bigint }

export interface Batch {
  /** Rows in SHIPPED_COLUMNS order, ids increasing. */
  signals: Value[][];
  cgroups: Cgroup[];
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

export class LocalSource {
  private readonly selectSignals: Database.Statement;
  private readonly cgroupNames: Database.Statement;

  private constructor(private readonly db: Database.Database) {
    const present = new Set((db.prepare('PRAGMA table_info(signals)').all() as { name: string }[]).map((column) => column.name));
    const columns = SHIPPED_COLUMNS.map((column) => (present.has(column) ? column : `NULL AS ${column}`));
    this.selectSignals = db.prepare(`SELECT ${columns.join(', ')} FROM signals WHERE id > ? ORDER BY id LIMIT ?`).raw().safeIntegers(true);
    this.cgroupNames = db.prepare('SELECT id, path, unit FROM cgroups WHERE id = ?').safeIntegers(true);
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

  /** The next rows after `position`, at most `limit` signals; undefined when nothing changed since the last shipment. */
  read(position: Position, limit: number): Batch | undefined {
    const read = this.db.transaction(() => {
      const signals = this.selectSignals.all(position.signalId, limit) as Value[][];
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
      return { signals, side, sideFrom };
    });
    const { signals, side, sideFrom } = read.deferred();
    const sideText = JSON.stringify(side, (_key, value) => (typeof value === 'bigint' ? value.toString() : value));
    if (signals.length === 0 && sideText === this.lastSide) return undefined;
    const first = signals[0];
    const last = signals[signals.length - 1];
    let gap: Gap | undefined;
    if (first && position.signalId > 0n && (first[0] as bigint) > position.signalId + 1n)
      gap = { fromId: position.signalId + 1n, toId: (first[0] as bigint) - 1n, fromNs: position.signalTsNs ?? (first[1] as bigint), toNs: first[1] as bigint };
    return {
      signals,
      cgroups: this.cgroupsOf(signals),
      side,
      sideText,
      gap,
      lastId: last ? (last[0] as bigint) : position.signalId,
      lastTsNs: last ? (last[1] as bigint) : position.signalTsNs,
      sideFrom,
    };
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

  /** Goes back to the server's position when it has less than we noted (a server restored from a backup). */
  rewind(to: bigint): void {
    this.db.prepare('UPDATE forward_state SET signal_id = ? WHERE id = 1 AND signal_id > ?').run(to, to);
  }

  private cgroupsOf(signals: Value[][]): Cgroup[] {
    const senderAt = SHIPPED_COLUMNS.indexOf('sender_cgroup');
    const deliveredAt = SHIPPED_COLUMNS.indexOf('delivered_cgroup');
    const ids = new Set<bigint>();
    for (const row of signals) for (const at of [senderAt, deliveredAt]) if (row[at] !== null) ids.add(row[at] as bigint);
    return [...ids].map((id) => this.cgroupNames.get(id) as Cgroup | undefined).filter((cgroup): cgroup is Cgroup => cgroup !== undefined);
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
