// Where the forwarder ships batches: the fleet's PostgreSQL. Signals go by
// one COPY straight into sigaudit.signals (already encoded by SQLite with
// the ids this sink interned, src/fleet/local.ts), the side tables are
// upserted, all of a batch in one transaction that also moves the source's
// last_id: rows at or below it are never sent twice. A sink for another
// engine would implement the same Sink.
import type { Client } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { connect, serverError, type ServerUrl } from './connect';
import { COPY_COLUMN_NAMES, SIDE_TABLES, type Batch, type Cgroup, type ServerIds } from './local';
import { checkSchema } from './schema';

export interface HostInfo {
  name: string;
  machineId: string | null;
  kernel: string | null;
  version: string | null;
}

export interface Sink extends ServerIds {
  /** Registers the host and this source; returns the newest local id the server holds for it. */
  open(sourceUuid: string, host: HostInfo): Promise<bigint>;
  /**
   * Commits the batch, or, when the server's position for this source is
   * not the batch's start (another forwarder of the same database, a
   * restored server), changes nothing and returns the server's position.
   */
  ship(batch: Batch): Promise<bigint | undefined>;
  close(): Promise<void>;
}

const DAY_NS = 86_400_000_000_000n;

function json(rows: unknown[]): string {
  return JSON.stringify(rows, (_key, value) => (typeof value === 'bigint' ? value.toString() : value));
}

/** Side tables: what an upsert updates (the rest of a row never changes once written). */
const UPDATED: Record<string, string[]> = {
  runs: ['stopped_ns', 'events', 'drops', 'summarised', 'stop_reason', 'last_seen_ns'],
  prunes: ['last_ns', 'to_ns', 'rows'],
};
const SIDE_COLUMNS: Record<string, string[]> = {
  runs: ['id', 'started_ns', 'stopped_ns', 'host', 'kernel', 'version', 'recorder_pid', 'events', 'drops', 'summarised', 'stop_reason', 'last_seen_ns'],
  drops: ['id', 'run_id', 'from_ns', 'to_ns', 'count', 'reason'],
  unclean_shutdowns: ['id', 'run_id', 'from_ns', 'to_ns', 'found_by_run_id'],
  prunes: ['id', 'run_id', 'reason', 'first_ns', 'last_ns', 'from_ns', 'to_ns', 'rows'],
  summaries: ['id', 'run_id', 'first_ns', 'last_ns', 'count', 'outcome', 'source', 'sender_pid', 'sender_comm', 'sender_uid', 'signal', 'target_pid', 'ret', 'result'],
  earlier_databases: ['id', 'run_id', 'found_ns', 'what', 'moved_to', 'detail'],
};

export class PostgresSink implements Sink {
  private client: Client | undefined;
  sourceId = 0;
  private hostId = 0;
  private readonly days = new Set<bigint>();

  constructor(private readonly url: ServerUrl) {}

  async open(sourceUuid: string, host: HostInfo): Promise<bigint> {
    const client = await connect(this.url, 'forwarder');
    this.client = client;
    try {
      await checkSchema(client, this.url);
      const hostRow = await client.query<{ id: number }>(
        `INSERT INTO sigaudit.hosts (name, machine_id, kernel, version) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO UPDATE SET machine_id = excluded.machine_id, kernel = excluded.kernel, version = excluded.version, last_seen = now()
         RETURNING id`,
        [host.name, host.machineId, host.kernel, host.version],
      );
      this.hostId = hostRow.rows[0].id;
      const source = await client.query<{ id: number; last_id: string }>(
        `INSERT INTO sigaudit.sources (uuid, host_id) VALUES ($1, $2)
         ON CONFLICT (uuid) DO UPDATE SET host_id = excluded.host_id, last_seen = now()
         RETURNING id, last_id`,
        [sourceUuid, this.hostId],
      );
      this.sourceId = source.rows[0].id;
      return BigInt(source.rows[0].last_id);
    } catch (error) {
      await this.close();
      throw serverError(error, this.url, 'forwarder');
    }
  }

  async names(names: string[]): Promise<Map<string, number>> {
    const client = this.client!;
    await client.query('INSERT INTO sigaudit.names (name) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING', [names]);
    const { rows } = await client.query<{ id: number; name: string }>('SELECT id, name FROM sigaudit.names WHERE name = ANY($1::text[])', [names]);
    return new Map(rows.map((row) => [row.name, row.id]));
  }

  async cgroups(cgroups: Cgroup[]): Promise<Map<bigint, number>> {
    const client = this.client!;
    const named = [...new Set(cgroups.flatMap((cgroup) => [cgroup.path, cgroup.unit]).filter((name): name is string => name !== null))];
    const ids = named.length > 0 ? await this.names(named) : new Map<string, number>();
    const idOf = (name: string | null) => (name === null ? null : ids.get(name)!);
    const { rows } = await client.query<{ id: string; key: number }>(
      `INSERT INTO sigaudit.cgroups (source_id, id, path, unit)
       SELECT $1, id, path, unit FROM unnest($2::bigint[], $3::integer[], $4::integer[]) AS c (id, path, unit)
       ON CONFLICT (source_id, id) DO UPDATE SET path = coalesce(excluded.path, cgroups.path), unit = coalesce(excluded.unit, cgroups.unit)
       RETURNING id, key`,
      [this.sourceId, cgroups.map((cgroup) => cgroup.id.toString()), cgroups.map((cgroup) => idOf(cgroup.path)), cgroups.map((cgroup) => idOf(cgroup.unit))],
    );
    return new Map(rows.map((row) => [BigInt(row.id), row.key]));
  }

  async ship(batch: Batch): Promise<bigint | undefined> {
    const client = this.client!;
    try {
      await client.query('BEGIN');
      const held = BigInt((await client.query<{ last_id: string }>('SELECT last_id FROM sigaudit.sources WHERE id = $1 FOR UPDATE', [this.sourceId])).rows[0].last_id);
      if (held !== batch.afterId) {
        await client.query('ROLLBACK');
        return held;
      }
      if (batch.rows > 0) {
        await this.ensureDays(batch.days);
        await pipeline(Readable.from([batch.copyText]), client.query(copyFrom(`COPY sigaudit.signals (${COPY_COLUMN_NAMES.join(', ')}) FROM STDIN`)));
      }
      for (const { table } of SIDE_TABLES) {
        const rows = batch.side[table] ?? [];
        if (rows.length === 0) continue;
        const columns = SIDE_COLUMNS[table];
        const updated = UPDATED[table];
        // DO NOTHING without a target needs no SELECT right: the forwarder has none on append-only tables.
        const conflict = updated ? `(source_id, id) DO UPDATE SET ${updated.map((column) => `${column} = excluded.${column}`).join(', ')}` : 'DO NOTHING';
        await client.query(
          `INSERT INTO sigaudit.${table} (source_id, ${columns.join(', ')})
           SELECT $2, ${columns.join(', ')} FROM json_populate_recordset(NULL::sigaudit.${table}, $1::json)
           ON CONFLICT ${conflict}`,
          [json(rows.map((row) => Object.fromEntries(columns.map((column) => [column, row[column] ?? null])))), this.sourceId],
        );
      }
      if (batch.gap)
        await client.query('INSERT INTO sigaudit.forward_gaps (source_id, from_id, to_id, from_ns, to_ns) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING', [
          this.sourceId, batch.gap.fromId.toString(), batch.gap.toId.toString(), batch.gap.fromNs.toString(), batch.gap.toNs.toString(),
        ]);
      await client.query(
        'UPDATE sigaudit.sources SET last_id = $2, first_ts_ns = least(first_ts_ns, $3), last_ts_ns = greatest(last_ts_ns, $4), last_seen = now() WHERE id = $1',
        [this.sourceId, batch.lastId.toString(), batch.minTsNs?.toString() ?? null, batch.maxTsNs?.toString() ?? null],
      );
      await client.query('UPDATE sigaudit.hosts SET last_seen = now() WHERE id = $1', [this.hostId]);
      await client.query('COMMIT');
      return undefined;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  /** The day partitions the rows need, each created once (days between them need none). */
  private async ensureDays(days: bigint[]): Promise<void> {
    for (const day of days) {
      if (this.days.has(day)) continue;
      await this.client!.query('SELECT sigaudit.ensure_days($1, $1)', [(day * DAY_NS).toString()]);
      this.days.add(day);
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
