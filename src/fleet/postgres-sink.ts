// Where the forwarder ships batches: the fleet's PostgreSQL. Signals go by
// COPY into a temporary staging table, then one INSERT … ON CONFLICT DO
// NOTHING into sigaudit.signals with their names interned; the side tables
// are upserted; all of a batch in one transaction. A sink for another
// engine would implement the same Sink.
import type { Client } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { connect, serverError, type ServerUrl } from './connect';
import { SHIPPED_COLUMNS, SIDE_TABLES, type Batch, type Value } from './local';
import { checkSchema } from './schema';

export interface HostInfo {
  name: string;
  machineId: string | null;
  kernel: string | null;
  version: string | null;
}

export interface Sink {
  /** Registers the host and this source; returns the newest local id the server holds for it. */
  open(sourceUuid: string, host: HostInfo): Promise<bigint>;
  ship(batch: Batch): Promise<void>;
  close(): Promise<void>;
}

const DAY_NS = 86_400_000_000_000n;
/** Columns interned through sigaudit.names. */
const NAMED = new Set(['source', 'sender_comm', 'delivered_comm', 'result', 'origin']);

/** The earliest and latest ts_ns of the rows (nearly, not exactly, in id order). */
function timeSpan(signals: Value[][]): { min: bigint; max: bigint } | undefined {
  if (signals.length === 0) return undefined;
  let min = signals[0][1] as bigint;
  let max = min;
  for (const row of signals) {
    const ts = row[1] as bigint;
    if (ts < min) min = ts;
    if (ts > max) max = ts;
  }
  return { min, max };
}

/** One value in COPY's text format. */
function copyText(value: Value): string {
  if (value === null) return '\\N';
  if (typeof value === 'bigint') return value.toString();
  return value.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

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
  private sourceId = 0;
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
      const staged = SHIPPED_COLUMNS.map((column) => `${column} ${NAMED.has(column) ? 'text' : 'bigint'}`).join(', ');
      await client.query(`CREATE TEMPORARY TABLE staged_signals (${staged}) ON COMMIT DELETE ROWS`);
      return BigInt(source.rows[0].last_id);
    } catch (error) {
      await this.close();
      throw serverError(error, this.url, 'forwarder');
    }
  }

  async ship(batch: Batch): Promise<void> {
    const client = this.client!;
    try {
      await client.query('BEGIN');
      if (batch.signals.length > 0) await this.insertSignals(batch);
      if (batch.cgroups.length > 0) {
        await client.query(
          `INSERT INTO sigaudit.names (name) SELECT DISTINCT n FROM json_to_recordset($1::json) AS c (path text, unit text), LATERAL (VALUES (path), (unit)) AS v (n) WHERE n IS NOT NULL ON CONFLICT DO NOTHING`,
          [json(batch.cgroups)],
        );
        await client.query(
          `INSERT INTO sigaudit.cgroups (source_id, id, path, unit)
           SELECT $2, c.id, p.id, u.id FROM json_to_recordset($1::json) AS c (id bigint, path text, unit text)
             JOIN sigaudit.names p ON p.name = c.path LEFT JOIN sigaudit.names u ON u.name = c.unit
           ON CONFLICT (source_id, id) DO UPDATE SET path = excluded.path, unit = excluded.unit`,
          [json(batch.cgroups), this.sourceId],
        );
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
      const span = timeSpan(batch.signals);
      await client.query(
        'UPDATE sigaudit.sources SET last_id = greatest(last_id, $2), first_ts_ns = least(first_ts_ns, $3), last_ts_ns = greatest(last_ts_ns, $4), last_seen = now() WHERE id = $1',
        [this.sourceId, batch.lastId.toString(), span?.min.toString() ?? null, span?.max.toString() ?? null],
      );
      await client.query('UPDATE sigaudit.hosts SET last_seen = now() WHERE id = $1', [this.hostId]);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  /** The day partitions the rows need, each created once (days between them need none). */
  private async ensureDays(signals: Value[][]): Promise<void> {
    const wanted = new Set<bigint>();
    for (const row of signals) wanted.add((row[1] as bigint) / DAY_NS);
    for (const day of wanted) {
      if (this.days.has(day)) continue;
      await this.client!.query('SELECT sigaudit.ensure_days($1, $1)', [(day * DAY_NS).toString()]);
      this.days.add(day);
    }
  }

  private async insertSignals(batch: Batch): Promise<void> {
    const client = this.client!;
    await this.ensureDays(batch.signals);
    const lines = batch.signals.map((row) => `${row.map(copyText).join('\t')}\n`);
    await pipeline(Readable.from(lines), client.query(copyFrom(`COPY staged_signals (${SHIPPED_COLUMNS.join(', ')}) FROM STDIN`)));
    const named = [...NAMED];
    await client.query(
      `INSERT INTO sigaudit.names (name)
       SELECT DISTINCT n FROM staged_signals, LATERAL (VALUES ${named.map((column) => `(${column})`).join(', ')}) AS v (n)
       WHERE n IS NOT NULL ON CONFLICT DO NOTHING`,
    );
    const select = SHIPPED_COLUMNS.map((column) => (NAMED.has(column) ? `${column}_name.id` : `s.${column}`));
    const joins = named.map((column) => `LEFT JOIN sigaudit.names ${column}_name ON ${column}_name.name = s.${column}`).join(' ');
    await client.query(
      `INSERT INTO sigaudit.signals (source_id, ${SHIPPED_COLUMNS.join(', ')})
       SELECT $1, ${select.join(', ')} FROM staged_signals s ${joins}
       ON CONFLICT DO NOTHING`,
      [this.sourceId],
    );
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
