// Opening the SQLite file: creating it for the recorder, or checking that a
// file handed to a reader really is a sigaudit database.
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { SigauditError } from '../errors';
import { checkNotNewer, latestVersion, migrate } from './migrations';

export const DEFAULT_DB_PATH = '/var/lib/sigaudit/sigaudit.db';
/** PRAGMA application_id of every sigaudit database: 'SIGA'. */
export const APPLICATION_ID = 0x53494741;

export function resolveDbPath(flag: string | undefined): string {
  return flag ?? process.env.SIGAUDIT_DB ?? DEFAULT_DB_PATH;
}

/**
 * mkdir -p, one level at a time: Node's recursive mkdir loops forever on a
 * file system that refuses new directories with ENOENT, as /proc does.
 */
function makeDirectories(dir: string): void {
  if (existsSync(dir)) return;
  const parent = dirname(dir);
  if (parent !== dir) makeDirectories(parent);
  mkdirSync(dir, { mode: 0o750 });
}

function notSigaudit(path: string, why: string): SigauditError {
  return new SigauditError(
    'EDBFOREIGN',
    `${path} is not a sigaudit database (${why})`,
    'point --db at a database written by sigaudit record, or at a new path',
  );
}

function sqliteError(error: unknown, path: string, doing: string): never {
  const code = (error as { code?: string }).code ?? '';
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT')
    throw notSigaudit(path, 'not an SQLite file, or a damaged one');
  if (code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY' || code.startsWith('SQLITE_IOERR'))
    throw new SigauditError(
      'EDBACCESS',
      `cannot ${doing} ${path}: ${(error as Error).message}`,
      'check that the directory exists and is writable by this user, and that the disk is not full or read-only',
    );
  throw error;
}

function checkIdentity(db: Database.Database, path: string): void {
  const applicationId = db.pragma('application_id', { simple: true }) as number;
  if (applicationId === APPLICATION_ID) return;
  const tables = db.prepare("SELECT count(*) AS n FROM sqlite_schema").get() as { n: number };
  if (applicationId !== 0 || tables.n > 0)
    throw notSigaudit(path, `application_id ${applicationId}, ${tables.n} schema objects`);
}

/**
 * Opens (creating if needed) the database the recorder writes: WAL, so
 * readers never block it; incremental auto-vacuum, so deleted rows' space
 * can be reclaimed later without a full VACUUM.
 */
export function openForWriting(path: string): Database.Database {
  try {
    makeDirectories(dirname(path));
  } catch (error) {
    throw new SigauditError(
      'EDBACCESS',
      `cannot create the directory of ${path}: ${(error as Error).message}`,
      'choose a --db path in a writable directory, or run as a user who may create it',
    );
  }
  let db: Database.Database;
  try {
    db = new Database(path);
  } catch (error) {
    sqliteError(error, path, 'open');
  }
  try {
    checkIdentity(db, path);
    checkNotNewer(db, path);
    const fresh = (db.pragma('user_version', { simple: true }) as number) === 0;
    if (fresh) {
      // auto_vacuum only takes effect before the first table is created.
      db.pragma('auto_vacuum = INCREMENTAL');
      db.pragma(`application_id = ${APPLICATION_ID}`);
    }
    db.pragma('journal_mode = WAL');
    // Durable at every checkpoint; a power cut can lose at most the last
    // transactions, never corrupt the file.
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    migrate(db, path);
    return db;
  } catch (error) {
    db.close();
    if (error instanceof SigauditError) throw error;
    sqliteError(error, path, 'write');
  }
}

/** Opens an existing sigaudit database read-only; it is never modified. */
export function openForReading(path: string): Database.Database {
  if (!existsSync(path))
    throw new SigauditError(
      'EDBMISSING',
      `database ${path} does not exist`,
      'start the recorder (sigaudit record) or pass --db / SIGAUDIT_DB with the right path',
    );
  if (statSync(path).isDirectory()) throw notSigaudit(path, 'it is a directory');
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (error) {
    sqliteError(error, path, 'open');
  }
  try {
    db.pragma('busy_timeout = 5000');
    checkIdentity(db, path);
    const version = checkNotNewer(db, path);
    if (version === 0) throw notSigaudit(path, 'it has no sigaudit schema');
    if (version < latestVersion())
      throw new SigauditError(
        'EDBOLDER',
        `database ${path} has schema version ${version}; this sigaudit reads ${latestVersion()}`,
        'start sigaudit record on it once to upgrade it',
      );
    return db;
  } catch (error) {
    db.close();
    if (error instanceof SigauditError) throw error;
    sqliteError(error, path, 'read');
  }
}
