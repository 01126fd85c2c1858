// Loads sigaudit's SQLite extension (native/extension.c): the export's line
// functions and sigaudit_records, which reads the recorder's raw batches.
import type Database from 'better-sqlite3';
import { join } from 'node:path';
import { SigauditError } from '../errors';

export const EXTENSION_PATH = join(__dirname, '..', '..', '..', 'build', 'Release', 'sigaudit_sqlite.node');

export function loadExtension(db: Database.Database): void {
  try {
    // SQLite finds the entry point by the file's name: sqlite3_sigauditsqlite_init.
    db.loadExtension(EXTENSION_PATH);
  } catch (error) {
    throw new SigauditError('EEXTENSION', `cannot load sigaudit's SQLite extension ${EXTENSION_PATH}: ${(error as Error).message}`, 'build sigaudit again: npm run build (or npm ci) in its directory');
  }
}
