// Opening the SQLite file: creating it for the recorder, or checking that a
// file handed to a reader really is a sigaudit database.
import Database from 'better-sqlite3';
import { accessSync, chmodSync, chownSync, closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { SigauditError, usageError } from '../errors';
import { damagedDatabase, hasSigauditHeader, isDamageError } from './damage';
import { checkNotNewer, latestVersion, migrate, type Migration } from './migrations';

export const DEFAULT_DB_PATH = '/var/lib/sigaudit/sigaudit.db';
/** PRAGMA application_id of every sigaudit database: 'SIGA'. */
export const APPLICATION_ID = 0x53494741;

/** Who may read the database besides root: members of this group. */
export const DEFAULT_GROUP = 'adm';
/** The database's directory and files: owner writes, the group reads, others nothing. */
export const DIR_MODE = 0o750;
export const FILE_MODE = 0o640;

export function resolveDbPath(flag: string | undefined): string {
  return flag ?? process.env.SIGAUDIT_DB ?? DEFAULT_DB_PATH;
}

/** The group file's entries: name -> gid (Node has no getgrnam). */
function groupEntries(): Map<string, number> {
  const groups = new Map<string, number>();
  try {
    for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
      const [name, , gid] = line.split(':');
      if (name && gid !== undefined && /^\d+$/.test(gid)) groups.set(name, Number(gid));
    }
  } catch {
    // No /etc/group: only numeric groups resolve.
  }
  return groups;
}

/** A group name or number -> gid; an unknown name is a usage error naming the flag. */
export function resolveGroup(group: string): number {
  if (/^\d+$/.test(group)) return Number(group);
  const gid = groupEntries().get(group);
  if (gid === undefined)
    throw usageError(
      `--group ${group}: no such group in /etc/group`,
      `create it (groupadd ${group}) or name an existing group, e.g. --group adm`,
    );
  return gid;
}

/** A gid -> its name, or the number when /etc/group does not name it. */
export function groupName(gid: number): string {
  for (const [name, id] of groupEntries()) if (id === gid) return name;
  return String(gid);
}

/**
 * mkdir -p, one level at a time: Node's recursive mkdir loops forever on a
 * file system that refuses new directories with ENOENT, as /proc does.
 * Directories on the way are created 0755 (so the group can pass through);
 * the database's own directory 0750, in the group.
 */
function makeDirectories(dir: string, gid: number | undefined, last = true): void {
  if (existsSync(dir)) return;
  const parent = dirname(dir);
  if (parent !== dir) makeDirectories(parent, gid, false);
  mkdirSync(dir, { mode: last ? DIR_MODE : 0o755 });
  // mkdir's mode passes through the umask: set it exactly.
  chmodSync(dir, last ? DIR_MODE : 0o755);
  if (last && gid !== undefined) chownSync(dir, -1, gid);
}

/**
 * Gives a file the database's mode and group. Returns why it could not
 * (e.g. EPERM without CAP_CHOWN), for the recorder to log; never throws.
 */
export function secureFile(path: string, gid: number | undefined): string | undefined {
  try {
    const stat = statSync(path);
    if ((stat.mode & 0o777) !== FILE_MODE) chmodSync(path, FILE_MODE);
    if (gid !== undefined && stat.gid !== gid) chownSync(path, -1, gid);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    return `cannot give ${path} mode 0${FILE_MODE.toString(8)}${gid === undefined ? '' : ` and group ${groupName(gid)}`}: ${(error as Error).message}`;
  }
}

/** The database, its -wal and -shm, and the recorder's lock file. */
export function databaseFiles(path: string): string[] {
  return [path, `${path}-wal`, `${path}-shm`, lockPath(path)];
}

export function lockPath(dbPath: string): string {
  return `${dbPath}.lock`;
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
  if (isDamageError(error)) {
    // sigaudit's header with damage behind it is a damaged database; anything else is another program's file.
    if (hasSigauditHeader(path)) throw damagedDatabase(path, error);
    throw notSigaudit(path, 'not an SQLite file, or a damaged one');
  }
  if (code === 'SQLITE_FULL')
    throw new SigauditError(
      'EDBFULL',
      `cannot ${doing} ${path}: the file system holding it is full (${(error as Error).message})`,
      `free space there (df -h ${dirname(path)}), lower --max-db-size, or choose a --db on another file system`,
    );
  if (code === 'SQLITE_CANTOPEN' || code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_IOERR'))
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

export interface WriteOptions {
  /** The group that may read the database (files 0640, directory 0750); undefined leaves groups alone. */
  gid?: number;
  /** Take the one-recorder lock (held until lock.close()); see lockRecording. */
  lock?: boolean;
  /** Told what could not be set up (file modes), without failing. */
  warn?: (line: string) => void;
  /** The migrations a new file gets (default: all); fewer make a file at an earlier schema, which recover salvages into. */
  migrations?: Migration[];
}

export interface WritableDatabase extends Database.Database {
  /** The one-recorder lock, when WriteOptions.lock was given. */
  recorderLock?: Database.Database;
}

/**
 * Takes the one-recorder lock on a database: an exclusive SQLite lock on
 * <db>.lock, held by this connection until it closes. It is an fcntl lock,
 * so the kernel releases it when the recorder dies, even by kill -9; a
 * stale lock file never blocks a restart.
 */
export function lockRecording(dbPath: string, gid?: number): Database.Database {
  const path = lockPath(dbPath);
  if (!existsSync(path)) closeSync(openSync(path, 'a', FILE_MODE));
  let lock: Database.Database | undefined;
  try {
    lock = new Database(path, { timeout: 0 });
    lock.pragma('locking_mode = EXCLUSIVE');
    lock.pragma('journal_mode = MEMORY'); // no -journal file beside it
    lock.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL) STRICT');
    lock.transaction(() => {
      lock!.exec('DELETE FROM holder');
      lock!.prepare('INSERT INTO holder VALUES (?)').run(process.pid);
    }).exclusive();
    secureFile(path, gid);
    return lock;
  } catch (error) {
    lock?.close();
    if ((error as { code?: string }).code === 'SQLITE_BUSY') {
      const pid = openRecorderPid(dbPath);
      throw new SigauditError(
        'ELOCKED',
        `another sigaudit record${pid ? ` (pid ${pid})` : ''} is already recording to ${dbPath} (it holds ${path})`,
        'stop it first (systemctl stop sigaudit, or kill -TERM its pid), or record into another --db',
      );
    }
    sqliteError(error, path, 'lock');
  }
}

/** The pid of the run that has not stopped, to name the recorder holding the lock. */
function openRecorderPid(dbPath: string): number | undefined {
  try {
    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      const row = db.prepare('SELECT recorder_pid FROM runs WHERE stop_reason IS NULL ORDER BY id DESC LIMIT 1').get() as { recorder_pid: number } | undefined;
      return row?.recorder_pid;
    } finally {
      db.close();
    }
  } catch {
    return undefined;
  }
}

/**
 * Opens (creating if needed) the database the recorder writes: WAL, so
 * readers never block it; incremental auto-vacuum, so deleted rows' space
 * can be reclaimed later without a full VACUUM. A new file is created 0640
 * in the group (SQLite gives -wal and -shm the database's mode and owner).
 */
export function openForWriting(path: string, options: WriteOptions = {}): WritableDatabase {
  try {
    makeDirectories(dirname(path), options.gid);
  } catch (error) {
    throw new SigauditError(
      'EDBACCESS',
      `cannot create the directory of ${path}: ${(error as Error).message}`,
      'choose a --db path in a writable directory, or run as a user who may create it',
    );
  }
  let db: WritableDatabase;
  try {
    if (!existsSync(path)) {
      closeSync(openSync(path, 'a', FILE_MODE));
      const failure = secureFile(path, options.gid);
      if (failure) options.warn?.(failure);
    }
    db = new Database(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).syscall !== undefined)
      throw new SigauditError('EDBACCESS', `cannot open ${path}: ${(error as Error).message}`, 'check that the directory exists and is writable by this user, and that the disk is not full or read-only');
    sqliteError(error, path, 'open');
  }
  try {
    checkIdentity(db, path);
    checkNotNewer(db, path);
    if (options.lock) db.recorderLock = lockRecording(path, options.gid);
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
    // A checkpoint truncates the WAL back to this, so a storm's WAL does not
    // stay on disk for months.
    db.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
    migrate(db, path, options.migrations);
    // Files left by an older sigaudit, or by a crash, get the same mode and group.
    for (const file of [path, `${path}-wal`, `${path}-shm`]) {
      const failure = secureFile(file, options.gid);
      if (failure) options.warn?.(failure);
    }
    return db;
  } catch (error) {
    db.recorderLock?.close();
    db.close();
    if (error instanceof SigauditError) throw error;
    sqliteError(error, path, 'write');
  }
}

/**
 * Closes the recorder's database for readers to find at rest: back in
 * rollback-journal mode, so no -wal or -shm is needed and a member of the
 * group (who may not create files in the 0750 directory) can still open it.
 * If a reader is attached the switch waits for the next stop; the WAL files
 * then stay, and readers use them.
 */
export function closeWriting(db: WritableDatabase): void {
  try {
    db.pragma('busy_timeout = 0');
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.pragma('journal_mode = DELETE');
  } catch {
    // Busy (a reader) or unwritable: the WAL stays; nothing is lost.
  }
  db.close();
  db.recorderLock?.close();
}

/**
 * The refusal for a reader who may not read the database: names the group
 * that gives access, from the file, or from its directory when that is what
 * keeps the reader out.
 */
function accessDenied(path: string): SigauditError {
  const fix = (group: string) => `ask an administrator to add you to ${group} (usermod -aG ${group} $USER, then log in again), or run as root`;
  try {
    const group = groupName(statSync(path).gid);
    return new SigauditError('EDBPERM', `permission denied reading ${path}: the database is readable by root and members of the group ${group}`, fix(group));
  } catch {
    // The directory keeps us from even seeing the file.
  }
  const dir = dirname(path);
  try {
    const group = groupName(statSync(dir).gid);
    return new SigauditError('EDBPERM', `permission denied reading ${path}: its directory ${dir} is open to root and members of the group ${group}`, fix(group));
  } catch {
    return new SigauditError('EDBPERM', `permission denied reading ${path}: a directory above it cannot be entered`, `check the permissions of each directory on the way (namei -l ${path}), or run as root`);
  }
}

/** Opens an existing sigaudit database read-only; it is never modified. */
export function openForReading(path: string): Database.Database {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EACCES') throw accessDenied(path);
    throw new SigauditError(
      'EDBMISSING',
      `database ${path} does not exist`,
      'start the recorder (sigaudit record) or pass --db / SIGAUDIT_DB with the right path',
    );
  }
  if (isDirectory) throw notSigaudit(path, 'it is a directory');
  try {
    accessSync(path, constants.R_OK);
  } catch {
    throw accessDenied(path);
  }
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
