// Going on in a fresh database when the recorder's file turns out damaged,
// or is deleted or replaced under it: a damaged file (and its -wal, -shm) is
// moved aside under a dated name, never deleted, and the fresh file records
// where the older record is. At start, the runs whose spill files wait to be
// replayed are carried over, so what the spill held reaches the fresh file.
import Database from 'better-sqlite3';
import { renameSync, statSync } from 'node:fs';
import { SigauditError } from '../errors';
import { asideName, isDamageError, damagedDatabase, moveAside } from '../store/damage';
import { openForWriting, type WritableDatabase, type WriteOptions } from '../store/database';
import { recordEarlierDatabase, type EarlierDatabase } from '../store/earlier-databases';
import type { RunInfo } from '../store/writer';
import type { PathChange } from './database-watch';
import { spillFilesOf } from './spill';

/** The spill's bookkeeping of a run, as the runs table holds it. */
interface SpilledRun {
  id: number;
  started_ns: bigint;
  host: string;
  kernel: string;
  version: string;
  recorder_pid: number;
  ring_bytes: number;
  last_seen_ns: bigint | null;
  spill_file: number | null;
  spill_end: number | null;
}

/**
 * The runs that have spill files next to the database, as the damaged file
 * still tells them; a run it cannot tell about is dated by its first spill
 * file and replayed from its start (rows it had committed may then be in
 * both files: duplicates, never a loss).
 */
function spilledRuns(path: string): SpilledRun[] {
  const files = spillFilesOf(path);
  const ids = [...new Set(files.map((file) => file.runId))];
  if (ids.length === 0) return [];
  /** null: the run stopped cleanly, its files hold nothing to replay. */
  const known = new Map<number, SpilledRun | null>();
  try {
    const damaged = new Database(path, { readonly: true, fileMustExist: true });
    try {
      for (const id of ids) {
        const run = damaged.prepare('SELECT * FROM runs WHERE id = ?').safeIntegers(true).get(id) as Record<string, bigint | string | null> | undefined;
        if (run && run.stop_reason === null)
          known.set(id, {
            id, started_ns: run.started_ns as bigint, host: run.host as string, kernel: run.kernel as string, version: run.version as string,
            recorder_pid: Number(run.recorder_pid), ring_bytes: Number(run.ring_bytes), last_seen_ns: run.last_seen_ns as bigint | null,
            spill_file: run.spill_file === null ? null : Number(run.spill_file), spill_end: run.spill_end === null ? null : Number(run.spill_end),
          });
        else if (run) known.set(id, null);
      }
    } finally {
      damaged.close();
    }
  } catch {
    // The runs table is part of the damage: every run is replayed whole.
  }
  const runs: SpilledRun[] = [];
  for (const id of ids) {
    const run = known.get(id);
    if (run) runs.push(run);
    else if (run === undefined)
      runs.push({
        id, started_ns: BigInt(Math.round(statSync(files.find((file) => file.runId === id)!.path).mtimeMs)) * 1_000_000n,
        host: '?', kernel: '?', version: '?', recorder_pid: 0, ring_bytes: 0, last_seen_ns: null, spill_file: null, spill_end: null,
      });
  }
  return runs;
}

function carryRuns(db: Database.Database, runs: SpilledRun[]): void {
  const insert = db.prepare('INSERT INTO runs (id, started_ns, host, kernel, version, recorder_pid, ring_bytes, last_seen_ns, spill_file, spill_end) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (const run of runs) insert.run(run.id, run.started_ns, run.host, run.kernel, run.version, run.recorder_pid, run.ring_bytes, run.last_seen_ns, run.spill_file, run.spill_end);
  })();
}

export interface Opened<T> {
  db: WritableDatabase;
  /** What `use` made of it. */
  used: T;
  /** Set when the database was damaged and this one is fresh. */
  earlier?: Omit<EarlierDatabase, 'runId'>;
}

/**
 * Opens the recorder's database and runs `use` (its first reads and
 * writes); when either finds the file damaged, moves it aside, starts a
 * fresh one at the path and runs `use` on that. Another program's file is
 * refused untouched by openForWriting, as before.
 */
export function openOrStartAfresh<T>(path: string, options: WriteOptions, log: (line: string) => void, use: (db: WritableDatabase) => T): Opened<T> {
  let damage: SigauditError;
  try {
    const db = openForWriting(path, options);
    try {
      return { db, used: use(db) };
    } catch (error) {
      db.recorderLock?.close();
      db.close();
      if (!isDamageError(error)) throw error;
      damage = damagedDatabase(path, error);
    }
  } catch (error) {
    if (!(error instanceof SigauditError) || error.code !== 'EDBDAMAGED') throw error;
    damage = error;
  }
  const foundNs = BigInt(Date.now()) * 1_000_000n;
  const runs = spilledRuns(path);
  const movedTo = moveAside(path, 'damaged');
  const detail = ((damage.cause as Error | undefined) ?? damage).message;
  log(`${path} is damaged (${detail}): moved it and its -wal and -shm to ${movedTo}, never deleted, and started a fresh database; salvage the old one with sigaudit recover ${movedTo} --output <new file>`);
  const db = openForWriting(path, options);
  try {
    carryRuns(db, runs);
    return { db, used: use(db), earlier: { foundNs, what: 'damaged', movedTo, detail } };
  } catch (error) {
    db.recorderLock?.close();
    db.close();
    throw error;
  }
}

/** What made the recorder leave the file it wrote. */
export interface Departure {
  what: 'damaged' | PathChange['what'];
  detail: string;
  /** Where the damaged file went, once moved: a retry does not move the path again. */
  movedTo?: string;
}

/**
 * While recording: opens the database again at the path after `departure`
 * (the old connection is closed). A damaged file is moved aside first; a
 * deleted one is made afresh (and its directory); a replacement is used if
 * it is sigaudit's and refused (openForWriting throws) if not; after a
 * deleted WAL the same file is reopened, which makes a new one. The run
 * goes on under `run.id` when the file has no run of that id, so its spill
 * files stay its own; returns the run's id in this file.
 */
export function reopenAfter(departure: Departure, path: string, options: WriteOptions, log: (line: string) => void, run: RunInfo & { id: number }, leftovers: string[]): { db: WritableDatabase; runId: number } {
  if (departure.what === 'wal') {
    log(`${departure.detail}: reopening ${path} to make a new one (the deleted WAL's commits were checkpointed into the database as it closed)`);
    return { db: openForWriting(path, options), runId: run.id };
  }
  if (departure.what !== 'damaged' && leftovers.length > 0) {
    // The old file's WAL beside a new file would be read as the new file's: it goes aside too (never deleted).
    const aside = asideName(path, departure.what, new Date());
    for (const file of leftovers) renameSync(file, aside + file.slice(path.length));
  }
  if (departure.what === 'damaged') departure.movedTo ??= moveAside(path, 'damaged');
  const movedTo = departure.movedTo ?? null;
  const db = openForWriting(path, options);
  try {
    const runId = db.transaction(() => {
      const taken = db.prepare('SELECT 1 FROM runs WHERE id = ?').get(run.id) !== undefined;
      const inserted = db.prepare('INSERT INTO runs (id, started_ns, host, kernel, version, recorder_pid, ring_bytes) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(taken ? null : run.id, run.startedNs, run.host, run.kernel, run.version, run.recorderPid, run.ringBytes);
      const id = Number(inserted.lastInsertRowid);
      recordEarlierDatabase(db, { runId: id, foundNs: run.startedNs, what: departure.what as EarlierDatabase['what'], movedTo, detail: departure.detail });
      return id;
    }).immediate();
    log(movedTo
      ? `${path} is damaged (${departure.detail}): moved it and its -wal and -shm to ${movedTo}, never deleted, and went on recording in a fresh database; salvage the old one with sigaudit recover ${movedTo} --output <new file>`
      : `${departure.detail}: went on recording in ${path} (signals committed to the old file before the last check are gone with it; those after are rewritten here)`);
    return { db, runId };
  } catch (error) {
    db.recorderLock?.close();
    db.close();
    throw error;
  }
}
