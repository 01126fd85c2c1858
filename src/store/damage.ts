// Damaged databases: telling SQLite's damage errors apart, telling a damaged
// sigaudit file from another program's, and moving a damaged one aside
// under a dated name. A damaged file is evidence: it is never deleted.
import { closeSync, existsSync, openSync, readSync, renameSync } from 'node:fs';
import { SigauditError } from '../errors';

/** SQLite's file header: the magic string, and where PRAGMA application_id is kept (big-endian). */
const SQLITE_MAGIC = 'SQLite format 3\0';
const APPLICATION_ID_AT = 68;
const HEADER_BYTES = 100;
/** 'SIGA', as database.ts sets it; repeated here so this unit reads headers without opening SQLite. */
const SIGAUDIT_APPLICATION_ID = 0x53494741;

/** SQLITE_CORRUPT (and its extended codes) and SQLITE_NOTADB: the file, not the statement, is wrong. */
export function isDamageError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB');
}

/**
 * Whether the file's first 100 bytes say it is sigaudit's: SQLite's magic
 * and sigaudit's application_id. Damage past the header leaves them intact;
 * another program's SQLite file or a text file never has them.
 */
export function hasSigauditHeader(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return false;
  }
  try {
    const header = Buffer.alloc(HEADER_BYTES);
    if (readSync(fd, header, 0, HEADER_BYTES, 0) < HEADER_BYTES) return false;
    return header.toString('latin1', 0, SQLITE_MAGIC.length) === SQLITE_MAGIC && header.readUInt32BE(APPLICATION_ID_AT) === SIGAUDIT_APPLICATION_ID;
  } finally {
    closeSync(fd);
  }
}

/** 20261126T012400, UTC: sorts by time, and is safe in a file name. */
function stamp(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, '');
}

/** <db>.<what>-<UTC time>, with -2, -3 ... when a file of that name already exists. */
export function asideName(path: string, what: string, at: Date): string {
  const base = `${path}.${what}-${stamp(at)}`;
  let name = base;
  for (let n = 2; existsSync(name) || existsSync(`${name}-wal`); n++) name = `${base}-${n}`;
  return name;
}

/**
 * Renames the database and its -wal and -shm to <db>.<what>-<time> (the
 * WAL may hold its newest commits, so it goes with it). Returns the new
 * name of the database. Throws (with nothing renamed when the database
 * itself cannot be) if the directory refuses.
 */
export function moveAside(path: string, what: string, at = new Date()): string {
  const target = asideName(path, what, at);
  renameSync(path, target);
  for (const suffix of ['-wal', '-shm']) {
    if (existsSync(path + suffix)) renameSync(path + suffix, target + suffix);
  }
  return target;
}

/** The readers' refusal of a damaged sigaudit database: one line, the cause and the fix. */
export function damagedDatabase(path: string, error: unknown): SigauditError {
  const refusal = new SigauditError(
    'EDBDAMAGED',
    `database ${path} is damaged (${(error as Error).message}): SQLite cannot read all of it`,
    `salvage what is readable with sigaudit recover ${path} --output ${path}.recovered, then read that file with --db`,
  );
  // The recorder records SQLite's own words about the damage.
  refusal.cause = error;
  return refusal;
}

/** Runs a reader; a damage error from SQLite on the way becomes the one-line refusal naming the file. */
export async function reportingDamage<T>(path: string, read: () => T | Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (isDamageError(error)) throw damagedDatabase(path, error);
    throw error;
  }
}
