// The recorder's side of the store: runs, batches of signals, drop windows,
// and moving rows from the unindexed hot table into the indexed archive.
import type Database from 'better-sqlite3';
import { ORIGINS, SOURCES, type Origin, type Result, type Source } from '../names';
import type { SummaryRow } from '../record/summaries';
import { loadExtension } from './extension';
import { mapMinutes } from './minutes';
import { appendingIngestSql, INGEST_SQL, RecordIntake, type PreparedBatch } from './ingest';

/** One row of the signals table: a task a signal reached, or a send that reached none. */
export interface SignalRow {
  tsNs: bigint;
  /** 0 for a send's first row; rows 1..n are further tasks it reached. */
  fanout: number;
  source: Source;
  senderPid: number | null;
  senderTid: number | null;
  senderComm: string | null;
  senderUid: number | null;
  senderAuid: number | null;
  senderPpid: number | null;
  senderCgroup: bigint | null;
  targetPid: number | null;
  targetTid: number | null;
  deliveredPid: number | null;
  deliveredTid: number | null;
  deliveredComm: string | null;
  deliveredCgroup: bigint | null;
  signal: number;
  ret: number | null;
  result: Result | null;
  siCode: number;
  origin: Origin | null;
  /** The pids as the recorder's pid namespace numbers them, where that differs (migrations/0100-namespace-pids.sql); absent: the same. */
  senderNsPid?: number | null;
  targetNsPid?: number | null;
  deliveredNsPid?: number | null;
  /** Set by the writer once the row has its id. */
  id?: bigint;
}

/**
 * The signals view's columns in order, each with the SignalRow field that
 * holds it: the one list of them in TypeScript, which the row writer binds
 * by and readers select (src/export/columns.ts SELECT_ROWS and the fleet's
 * rows); test/store-open.test.ts checks it against the view. The
 * migrations that define the view stay literal SQL: they are history.
 */
export const SIGNAL_COLUMNS = [
  ['id', 'id'], ['ts_ns', 'tsNs'], ['fanout', 'fanout'], ['source', 'source'], ['sender_pid', 'senderPid'], ['sender_tid', 'senderTid'],
  ['sender_comm', 'senderComm'], ['sender_uid', 'senderUid'], ['sender_auid', 'senderAuid'], ['sender_ppid', 'senderPpid'],
  ['sender_cgroup', 'senderCgroup'], ['target_pid', 'targetPid'], ['target_tid', 'targetTid'], ['delivered_pid', 'deliveredPid'],
  ['delivered_tid', 'deliveredTid'], ['delivered_comm', 'deliveredComm'], ['delivered_cgroup', 'deliveredCgroup'], ['signal', 'signal'],
  ['ret', 'ret'], ['result', 'result'], ['si_code', 'siCode'], ['origin', 'origin'],
  ['sender_ns_pid', 'senderNsPid'], ['target_ns_pid', 'targetNsPid'], ['delivered_ns_pid', 'deliveredNsPid'],
] as const satisfies readonly (readonly [string, keyof SignalRow])[];

/**
 * A group of stored rows as sender_pid_hours counts them (its columns after
 * sender_comm_id, in order): what the mover adds and retention takes away.
 */
export const PID_HOUR_COUNTS = `sum(fanout = 0 AND signal != 0) AS sends, sum(delivered_pid IS NOT NULL AND signal != 0) AS deliveries,
  sum(fanout = 0 AND signal = 0) AS probe_sends, sum(delivered_pid IS NOT NULL AND signal = 0) AS probe_deliveries`;
/** sender_pid_hours.hour: the hour (ts_ns / 3600000000000) less this, two bytes instead of three (migrations/0150-compact-targets.sql). */
export const PID_HOUR_ORIGIN = 500_000n;
/** An entry's larger count, which bounds each count top-senders sums: the key of sender_pid_hours_hour_bound after the hour. */
export const PID_HOUR_BOUND = 'max(sends + probe_sends, deliveries + probe_deliveries)';

export interface CgroupName {
  id: bigint;
  path: string;
  unit: string | null;
}

/** How far a run's spill files are committed: everything in file `file` before byte `end`; -1, all of it. */
export interface SpillPosition {
  file: number;
  end: number;
}

/** What a commit of signals also records about the run that drained them. */
export interface RunProgress {
  runId: number;
  /** When that run is known to have been recording: now, or the newest replayed signal. */
  seenNs: bigint;
  spill?: SpillPosition;
  /** The rows are a dead run's, replayed from its spill: they add to its count of events. */
  replayed?: boolean;
}

export interface RunInfo {
  startedNs: bigint;
  host: string;
  kernel: string;
  version: string;
  recorderPid: number;
  ringBytes: number;
}

export interface WriterOptions {
  /** Names for cgroup ids not yet stored (src/record/cgroups.ts), written with the batch that first uses them. */
  nameCgroups?: (ids: Set<bigint>) => CgroupName[];
}

export class SignalWriter {
  private nextId: bigint;
  private readonly intake = new RecordIntake();
  private insertRecords: { withIds: Database.Statement; appending: Database.Statement; lastHotId: Database.Statement } | undefined;
  private readonly markOom: Database.Statement;
  private readonly markArchivedOom: Database.Statement;
  private readonly ingestBatch: (batch: PreparedBatch, offsetNs: bigint, progress: RunProgress | undefined, summaries: SummaryRow[]) => number;
  /** Rows waiting in signals_hot to be archived. */
  hotRows: number;
  private readonly insertSignal: Database.Statement;
  private readonly insertCgroup: Database.Statement;
  private readonly insertDrop: Database.Statement;
  private readonly updateRun: Database.Statement;
  private readonly touchRun: Database.Statement;
  private readonly markSpill: Database.Statement;
  private readonly insertSummary: Database.Statement;
  private readonly addSummarised: Database.Statement;
  private readonly writeBatch: (rows: SignalRow[], cgroups: CgroupName[], progress: RunProgress | undefined) => void;

  constructor(private readonly db: Database.Database, private readonly options: WriterOptions = {}) {
    const last = db
      .prepare('SELECT max(id) AS id FROM signals')
      .safeIntegers(true)
      .get() as { id: bigint | null };
    this.nextId = (last.id ?? 0n) + 1n;
    this.hotRows = (db.prepare('SELECT count(*) AS n FROM signals_hot').get() as { n: number }).n;
    // Positional parameters: binding by name costs about twice as much per row. The view's
    // trigger stores the row compact (migrations/0110-compact-signals.sql).
    this.insertSignal = db.prepare(
      `INSERT INTO hot_signals (${SIGNAL_COLUMNS.map(([column]) => column).join(', ')}) VALUES (${SIGNAL_COLUMNS.map(() => '?').join(', ')})`,
    );
    this.insertCgroup = db.prepare(
      'INSERT INTO cgroups (id, path, unit) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET path = excluded.path, unit = excluded.unit',
    );
    this.insertDrop = db.prepare(
      'INSERT INTO drops (run_id, from_ns, to_ns, count, reason) VALUES (?, ?, ?, ?, ?)',
    );
    this.updateRun = db.prepare(
      'UPDATE runs SET events = ?, drops = ?, stopped_ns = ?, stop_reason = ?, last_seen_ns = ? WHERE id = ?',
    );
    this.touchRun = db.prepare('UPDATE runs SET last_seen_ns = max(coalesce(last_seen_ns, 0), ?) WHERE id = ?');
    this.markSpill = db.prepare('UPDATE runs SET spill_file = ?, spill_end = ?, events = events + ? WHERE id = ?');
    // The OOM mark follows its SIGKILL closely: the row is among the last written, or just archived.
    const oomRow = `ts_ns = @tsNs AND delivered_pid = @deliveredPid AND signal = 9 AND si_code = 128 AND source_code = ${SOURCES.indexOf('kernel')}`;
    const oom = `origin_code = ${ORIGINS.indexOf('oom')}`;
    this.markOom = db.prepare(`UPDATE signals_hot SET ${oom} WHERE id >= @fromId AND ${oomRow}`);
    this.markArchivedOom = db.prepare(`UPDATE signals_archive SET ${oom} WHERE id >= @fromId AND ${oomRow}`);
    this.insertSummary = db.prepare(
      `INSERT INTO summaries (run_id, first_ns, last_ns, count, outcome, source, sender_pid, sender_comm, sender_uid, signal, target_pid, ret, result)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.addSummarised = db.prepare('UPDATE runs SET summarised = summarised + ? WHERE id = ?');
    this.writeBatch = db.transaction((rows: SignalRow[], cgroups: CgroupName[], progress: RunProgress | undefined) => {
      for (const cgroup of cgroups) this.insertCgroup.run(cgroup.id, cgroup.path, cgroup.unit);
      for (const row of rows) {
        row.id = this.nextId++;
        this.insertSignal.run(SIGNAL_COLUMNS.map(([, field]) => row[field] ?? null));
      }
      this.noteProgress(progress, rows.length);
    });
    this.ingestBatch = db.transaction((batch: PreparedBatch, offsetNs: bigint, progress: RunProgress | undefined, summaries: SummaryRow[]) => {
      this.writeSummaries(summaries);
      const cgroups = batch.cgroups.size > 0 && this.options.nameCgroups ? this.options.nameCgroups(batch.cgroups) : [];
      for (const cgroup of cgroups) this.insertCgroup.run(cgroup.id, cgroup.path, cgroup.unit);
      const rows = batch.records.length === 0 ? 0 : this.insertStatement().run({ records: batch.records, firstId: this.nextId, offsetNs }).changes;
      for (const kill of batch.oomKills) {
        const key = { tsNs: kill.tsNs, deliveredPid: kill.deliveredPid, fromId: kill.fromId };
        if (this.markOom.run(key).changes === 0) this.markArchivedOom.run(key);
      }
      this.noteProgress(progress, rows);
      return rows;
    });
  }

  /**
   * Loads sigaudit's SQLite extension for ingest, on first use so that a
   * writer that never ingests works without it; the recorder calls it at
   * start, so a missing extension stops it there with the fix.
   */
  prepareIngest(): void {
    if (this.insertRecords) return;
    loadExtension(this.db);
    const columns = (this.db.pragma('table_info(signals_hot)') as { name: string }[]).map((column) => column.name);
    this.insertRecords = {
      withIds: this.db.prepare(INGEST_SQL),
      appending: this.db.prepare(appendingIngestSql(columns)),
      lastHotId: this.db.prepare('SELECT max(id) FROM signals_hot').pluck().safeIntegers(true),
    };
  }

  /** The batch's INSERT: appending when it follows the newest hot row (the usual case), else with its ids given. */
  private insertStatement(): Database.Statement {
    this.prepareIngest();
    const { withIds, appending, lastHotId } = this.insertRecords!;
    return lastHotId.get() === this.nextId - 1n ? appending : withIds;
  }

  /** The commit that holds rows also dates them, and says how far the spill is committed, for crash recovery. */
  private noteProgress(progress: RunProgress | undefined, rows: number): void {
    if (!progress) return;
    this.touchRun.run(progress.seenNs, progress.runId);
    if (progress.spill) this.markSpill.run(progress.spill.file, progress.spill.end, progress.replayed ? rows : 0, progress.runId);
  }

  beginRun(info: RunInfo): number {
    const result = this.db
      .prepare(
        'INSERT INTO runs (started_ns, host, kernel, version, recorder_pid, ring_bytes) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(info.startedNs, info.host, info.kernel, info.version, info.recorderPid, info.ringBytes);
    return Number(result.lastInsertRowid);
  }

  /**
   * Closes the runs that never stopped (stop_reason NULL) other than
   * `runId`: the caller holds the one-recorder lock, so their recorders are
   * gone (kill -9, power cut, OOM). Each gets stop_reason 'unclean' and an
   * unclean_shutdowns window from its last commit to `untilNs`.
   */
  closeUncleanRuns(runId: number, untilNs: bigint): { runId: number; fromNs: bigint; toNs: bigint }[] {
    const close = this.db.transaction(() => {
      const open = this.db
        .prepare('SELECT id, coalesce(last_seen_ns, started_ns) AS from_ns FROM runs WHERE stop_reason IS NULL AND id != ? ORDER BY id')
        .safeIntegers(true)
        .all(runId) as { id: bigint; from_ns: bigint }[];
      const insert = this.db.prepare('INSERT INTO unclean_shutdowns (run_id, from_ns, to_ns, found_by_run_id) VALUES (?, ?, ?, ?)');
      const mark = this.db.prepare("UPDATE runs SET stop_reason = 'unclean', stopped_ns = ? WHERE id = ?");
      return open.map((run) => {
        const toNs = untilNs > run.from_ns ? untilNs : run.from_ns;
        insert.run(run.id, run.from_ns, toNs, runId);
        mark.run(run.from_ns, run.id);
        return { runId: Number(run.id), fromNs: run.from_ns, toNs };
      });
    });
    return close.immediate();
  }

  /**
   * Writes one batch in one transaction; rows get their ids. On failure
   * nothing was written: the rows lose their ids and can be written again.
   * `progress` is what the commit also records about the run that drained
   * the rows; tools that write rows without a run leave it out.
   */
  write(rows: SignalRow[], cgroups: CgroupName[] = [], progress?: RunProgress): void {
    const firstId = this.nextId;
    try {
      this.writeBatch(rows, cgroups, progress);
    } catch (error) {
      this.nextId = firstId;
      for (const row of rows) delete row.id;
      throw error;
    }
    this.hotRows += rows.length;
  }

  /**
   * Writes a batch of raw records (whole struct sigaudit_event, as drained
   * or replayed from a spill) in one transaction, with `progress`, and
   * returns how many rows it wrote. `offsetNs` is CLOCK_REALTIME -
   * CLOCK_BOOTTIME for the batch. Fan-out records whose syscall's SEND has
   * not come yet wait for the next batch; `drain` writes them now, as
   * orphans. Records of kinds sigaudit_records does not know write no row:
   * the SUMMARY records among them arrive as `summaries`, rows of the
   * summaries table written in the same transaction, so that a replay
   * after a crash never counts them twice.
   * On failure nothing was written and nothing changed: the same records
   * can be ingested again.
   */
  ingest(records: Buffer, offsetNs: bigint, progress?: RunProgress, drain = false, summaries: SummaryRow[] = []): { rows: number } {
    const batch = this.intake.prepare(records, offsetNs, this.nextId, drain);
    const rows = this.ingestBatch(batch, offsetNs, progress, summaries);
    batch.commit();
    this.nextId += BigInt(rows);
    this.hotRows += rows;
    return { rows };
  }

  /** Whether fan-out records wait for a later batch (ingest with drain writes them). */
  get waitingFanouts(): boolean {
    return this.intake.holding;
  }

  /** Rows of the summaries table, and the sends they count added to their runs' runs.summarised. */
  private writeSummaries(rows: SummaryRow[]): void {
    for (const row of rows) {
      this.insertSummary.run(
        row.runId, row.firstNs, row.lastNs, row.count, row.outcome, row.source, row.senderPid, row.senderComm,
        row.senderUid, row.signal, row.targetPid, row.ret, row.result,
      );
      if (row.outcome === 'summarised') this.addSummarised.run(row.count, row.runId);
    }
  }

  /** Whether run `runId` stopped cleanly and how far its spill is committed; undefined for an unknown run. */
  spillOf(runId: number): { stopped: boolean; position?: SpillPosition } | undefined {
    const run = this.db.prepare('SELECT stop_reason, spill_file, spill_end FROM runs WHERE id = ?').get(runId) as
      | { stop_reason: string | null; spill_file: number | null; spill_end: number | null }
      | undefined;
    if (!run) return undefined;
    return { stopped: run.stop_reason === 'stopped', position: run.spill_file === null ? undefined : { file: run.spill_file, end: run.spill_end! } };
  }

  recordDrop(runId: number, fromNs: bigint, toNs: bigint, count: bigint, reason: string): void {
    this.insertDrop.run(runId, fromNs, toNs, count, reason);
  }

  /** Counts so far, and how the run ended (null while it records). */
  updateRunTotals(runId: number, events: number, drops: bigint, stoppedNs: bigint | null, stopReason: string | null): void {
    this.updateRun.run(events, drops, stoppedNs, stopReason, BigInt(Date.now()) * 1_000_000n, runId);
  }

  /**
   * Moves up to maxRows of the oldest hot rows into the archive, whose
   * indexes are maintained here, off the path that takes bursts.
   * Returns how many rows moved.
   */
  archive(maxRows: number): number {
    const move = this.db.transaction(() => {
      const bound = this.db
        .prepare('SELECT id FROM signals_hot ORDER BY id LIMIT 1 OFFSET ?')
        .safeIntegers(true)
        .get(maxRows - 1) as { id: bigint } | undefined;
      const limit = bound ? 'WHERE id <= @bound' : '';
      rollUp(this.db, 'signals_hot', bound?.id);
      mapMinutes(this.db, 'signals_hot', bound?.id);
      const moved = this.db
        .prepare(`INSERT INTO signals_archive SELECT * FROM signals_hot ${limit} ORDER BY id`)
        .run(bound ? { bound: bound.id } : {}).changes;
      this.db.prepare(`DELETE FROM signals_hot ${limit}`).run(bound ? { bound: bound.id } : {});
      return moved;
    });
    const moved = move.immediate();
    this.hotRows -= moved;
    return moved;
  }

}

/** Each signals table and its view, which spells out the names and codes sender_hours keys by. */
const VIEW_OF = { signals_hot: 'hot_signals', signals_archive: 'archived_signals' } as const;

/**
 * Adds rows of a signals table (id <= bound, or all) to the hourly sender
 * counts (migrations/0030-sender-rollups.sql and 0050-sender-pid-rollups.sql)
 * and to the pids each name reached an hour (0130-comm-pid-hours.sql): the
 * hot rows about to move, in the mover's transaction, so the counts always
 * equal the archive; or the whole archive, to make them anew.
 */
export function rollUp(db: Database.Database, table: keyof typeof VIEW_OF, bound?: bigint): void {
  const where = bound === undefined ? 'WHERE true' : 'WHERE id <= @bound'; // WHERE keeps the upsert's ON parseable
  const params = bound === undefined ? {} : { bound };
  db.prepare(`INSERT INTO sender_hours
      SELECT ts_ns / 3600000000000, source, signal, coalesce(sender_comm, ''), coalesce(sender_uid, -1),
        coalesce(sender_cgroup, 0), sum(fanout = 0), sum(delivered_pid IS NOT NULL)
      FROM ${VIEW_OF[table]} ${where} GROUP BY 1, 2, 3, 4, 5, 6
      ON CONFLICT DO UPDATE SET sends = sends + excluded.sends, deliveries = deliveries + excluded.deliveries`).run(params);
  // The greatest comm by name (0050-sender-pid-rollups.sql), kept as its
  // names id (0150-compact-targets.sql), 0 for none: the id comes from the
  // row max() picked, as SQLite takes a bare column beside a lone max().
  const name = (id: string) => `coalesce((SELECT name FROM names WHERE id = ${id}), '')`;
  db.prepare(`INSERT INTO sender_pid_hours
      SELECT ts_ns / 3600000000000 - ${PID_HOUR_ORIGIN}, coalesce(sender_pid, -1),
        CASE WHEN max(coalesce(n.name, '')) = '' THEN 0 ELSE s.sender_comm_id END, ${PID_HOUR_COUNTS}
      FROM ${table} AS s LEFT JOIN names AS n ON n.id = s.sender_comm_id ${bound === undefined ? 'WHERE true' : 'WHERE s.id <= @bound'} GROUP BY 1, 2
      ON CONFLICT DO UPDATE SET sender_comm_id = CASE WHEN ${name('excluded.sender_comm_id')} > ${name('sender_comm_id')}
          THEN excluded.sender_comm_id ELSE sender_comm_id END,
        sends = sends + excluded.sends, deliveries = deliveries + excluded.deliveries,
        probe_sends = probe_sends + excluded.probe_sends, probe_deliveries = probe_deliveries + excluded.probe_deliveries`).run(params);
  db.prepare(`INSERT OR IGNORE INTO delivered_comm_hours
      SELECT DISTINCT ts_ns / 3600000000000, delivered_comm_id, delivered_pid
      FROM ${table} ${where} AND delivered_comm_id IS NOT NULL AND delivered_pid IS NOT NULL`).run(params);
}

/**
 * Makes the rollups anew from the archive's rows, in one transaction. For
 * `sigaudit recover`: a salvaged archive lacks the rows of damaged pages,
 * and a damaged rollup page would lose a whole table's counts.
 */
export function rebuildRollups(db: Database.Database): void {
  db.transaction(() => {
    db.exec('DELETE FROM sender_hours; DELETE FROM sender_pid_hours; DELETE FROM delivered_comm_hours;');
    rollUp(db, 'signals_archive');
  })();
}
