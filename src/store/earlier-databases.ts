// The earlier_databases table (migrations/0090): what became of the file the
// recorder wrote before this one, and where its record is now.
import type Database from 'better-sqlite3';

export interface EarlierDatabase {
  runId: number | null;
  foundNs: bigint;
  what: 'damaged' | 'deleted' | 'replaced';
  movedTo: string | null;
  detail: string;
}

export function recordEarlierDatabase(db: Database.Database, earlier: EarlierDatabase): void {
  db.prepare('INSERT INTO earlier_databases (run_id, found_ns, what, moved_to, detail) VALUES (?, ?, ?, ?, ?)').run(
    earlier.runId, earlier.foundNs, earlier.what, earlier.movedTo, earlier.detail,
  );
}

/** Oldest first. */
export function earlierDatabases(db: Database.Database): EarlierDatabase[] {
  const rows = db.prepare('SELECT run_id, found_ns, what, moved_to, detail FROM earlier_databases ORDER BY id').safeIntegers(true).all() as
    { run_id: bigint | null; found_ns: bigint; what: EarlierDatabase['what']; moved_to: string | null; detail: string }[];
  return rows.map((row) => ({ runId: row.run_id === null ? null : Number(row.run_id), foundNs: row.found_ns, what: row.what, movedTo: row.moved_to, detail: row.detail }));
}
