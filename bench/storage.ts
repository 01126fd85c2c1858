// Bytes per stored event: the database's pages (page_count × page_size,
// which is every table and index) divided by the signals it holds, and the
// split per table and index from SQLite's dbstat virtual table.
import * as fs from 'node:fs';
import Database from 'better-sqlite3';

export interface StorageObject {
  name: string;
  bytes: number;
  bytesPerRow: number;
}

export interface StorageFigures {
  label: string;
  rows: number;
  hotRows: number;
  /** page_count × page_size. */
  pageBytes: number;
  fileBytes: number;
  /** Pages on the free list (retention's deletions, or not yet vacuumed). */
  freeBytes: number;
  bytesPerRow: number;
  /** Bytes of cells (row data, index keys) per row in signals_archive and its indexes, without page slack. */
  payloadBytesPerRow?: number;
  /** Largest first; empty when SQLite was built without dbstat. */
  objects: StorageObject[];
}

export function measureStorage(label: string, dbPath: string): StorageFigures {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const one = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    const rows = one('SELECT count(*) AS n FROM signals');
    const hotRows = one('SELECT count(*) AS n FROM signals_hot');
    const pageSize = Number(db.pragma('page_size', { simple: true }));
    const pageBytes = Number(db.pragma('page_count', { simple: true })) * pageSize;
    const freeBytes = Number(db.pragma('freelist_count', { simple: true })) * pageSize;
    let objects: StorageObject[] = [];
    let payloadBytesPerRow: number | undefined;
    try {
      const stats = db
        .prepare(
          `SELECT d.name AS name, sum(d.pgsize) AS bytes, sum(d.payload) AS payload, m.tbl_name AS tbl
           FROM dbstat AS d LEFT JOIN sqlite_schema AS m ON m.name = d.name
           GROUP BY d.name ORDER BY bytes DESC`,
        )
        .all() as { name: string; bytes: number; payload: number; tbl: string | null }[];
      objects = stats.map((s) => ({ name: s.name, bytes: s.bytes, bytesPerRow: s.bytes / Math.max(1, rows) }));
      const archive = stats.filter((s) => s.tbl === 'signals_archive');
      payloadBytesPerRow = archive.reduce((sum, s) => sum + s.payload, 0) / Math.max(1, rows - hotRows);
    } catch {
      // no dbstat in this SQLite build: the total stands alone
    }
    return {
      label,
      rows,
      hotRows,
      pageBytes,
      fileBytes: fs.statSync(dbPath).size,
      freeBytes,
      bytesPerRow: pageBytes / Math.max(1, rows),
      payloadBytesPerRow,
      objects,
    };
  } finally {
    db.close();
  }
}
