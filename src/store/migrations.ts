// Numbered SQL migrations from migrations/NNNN-slug.sql, applied in one
// transaction; PRAGMA user_version holds the number of the last one applied.
import type Database from 'better-sqlite3';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SigauditError } from '../errors';

export const MIGRATIONS_DIR = join(__dirname, '..', '..', '..', 'migrations');

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  const migrations = readdirSync(dir)
    .filter((file) => file.endsWith('.sql'))
    .sort()
    .map((file) => {
      const match = /^(\d{4})-[a-z0-9-]+\.sql$/.exec(file);
      if (!match) throw new Error(`migration file name ${file} is not NNNN-slug.sql`);
      return { version: Number(match[1]), name: file, sql: readFileSync(join(dir, file), 'utf8') };
    });
  migrations.forEach((migration, i) => {
    if (i > 0 && migration.version <= migrations[i - 1].version)
      throw new Error(`migration ${migration.name} does not come after ${migrations[i - 1].name}`);
  });
  return migrations;
}

export function latestVersion(migrations = loadMigrations()): number {
  return migrations.length === 0 ? 0 : migrations[migrations.length - 1].version;
}

/**
 * The migrations that made schema `version` (those up to it, 0: none), for
 * a file to be created at an earlier version than this sigaudit's and
 * migrated from there (sigaudit recover); undefined if no migration here
 * has that number.
 */
export function migrationsThrough(version: number, migrations = loadMigrations()): Migration[] | undefined {
  if (version !== 0 && !migrations.some((migration) => migration.version === version)) return undefined;
  return migrations.filter((migration) => migration.version <= version);
}

/** Refuses a database written by a newer sigaudit: it is never altered. */
export function checkNotNewer(db: Database.Database, path: string, migrations = loadMigrations()): number {
  const version = db.pragma('user_version', { simple: true }) as number;
  const latest = latestVersion(migrations);
  if (version > latest)
    throw new SigauditError(
      'EDBNEWER',
      `database ${path} has schema version ${version}, newer than this sigaudit knows (${latest})`,
      'upgrade sigaudit to read it, or record into another --db',
    );
  return version;
}

/** Applies every pending migration in one transaction. Returns how many ran. */
export function migrate(db: Database.Database, path: string, migrations = loadMigrations()): number {
  const apply = db.transaction(() => {
    const current = checkNotNewer(db, path, migrations);
    const pending = migrations.filter((migration) => migration.version > current);
    for (const migration of pending) db.exec(migration.sql);
    if (pending.length > 0) db.pragma(`user_version = ${latestVersion(migrations)}`);
    return pending.length;
  });
  return apply.immediate();
}
