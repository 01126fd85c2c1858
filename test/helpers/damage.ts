// Damaging real sigaudit databases the way disks and people do: garbage over
// one page of a table or an index, over page 1 past the 100-byte header, or
// a file cut short. Pages are found with SQLite's dbstat table.
import Database from 'better-sqlite3';
import { closeSync, openSync, statSync, truncateSync, writeSync } from 'node:fs';
import { openForWriting, closeWriting } from '../../src/store/database';
import { SignalWriter, type SignalRow } from '../../src/store/writer';

/** A filler no SQLite page starts with. */
const GARBAGE = 0xa5;

function pageSize(path: string): number {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db.pragma('page_size', { simple: true }) as number;
  } finally {
    db.close();
  }
}

/** The page numbers of a table's or an index's b-tree pages of one type ('leaf' or 'internal'), in order. */
export function pagesOf(path: string, name: string, type: 'leaf' | 'internal' = 'leaf'): number[] {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT pageno FROM dbstat WHERE name = ? AND pagetype = ? ORDER BY pageno').all(name, type) as { pageno: number }[]).map((row) => row.pageno);
  } finally {
    db.close();
  }
}

/** Writes garbage over bytes [from, to) of page `page` (1-based). */
export function overwrite(path: string, page: number, from = 0, to?: number): void {
  const size = pageSize(path);
  const length = (to ?? size) - from;
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, Buffer.alloc(length, GARBAGE), 0, length, (page - 1) * size + from);
  } finally {
    closeSync(fd);
  }
}

/** Garbage over the middle leaf page of `name`; returns the page number. */
export function damageMiddlePage(path: string, name: string): number {
  const pages = pagesOf(path, name);
  if (pages.length < 3) throw new Error(`${name} has only ${pages.length} leaf pages: record more rows`);
  const page = pages[Math.floor(pages.length / 2)];
  overwrite(path, page);
  return page;
}

/** Page 1 past SQLite's 100-byte header: the schema's b-tree, while application_id still says 'SIGA'. */
export function damageSchemaPage(path: string): void {
  overwrite(path, 1, 100);
}

/** Cuts the file to half its pages. */
export function truncateToHalf(path: string): void {
  const size = pageSize(path);
  truncateSync(path, Math.floor(statSync(path).size / size / 2) * size);
}

/** `count` rows, one send each, a millisecond apart from `fromNs`. */
export function sends(count: number, fromNs: bigint, senderPid = 4242): SignalRow[] {
  return Array.from({ length: count }, (_, i) => ({
    tsNs: fromNs + BigInt(i) * 1_000_000n, fanout: 0, source: 'kill' as const, senderPid, senderTid: senderPid, senderComm: 'sender',
    senderUid: 0, senderAuid: null, senderPpid: 1, senderCgroup: null, targetPid: 5000 + (i % 50), targetTid: null,
    deliveredPid: 5000 + (i % 50), deliveredTid: 5000 + (i % 50), deliveredComm: 'target', deliveredCgroup: null,
    signal: 15, ret: 0, result: 'delivered' as const, siCode: 0, origin: null,
  }));
}

/** A sigaudit database written by the store's own writer: `count` rows, all archived (indexed). */
export function writtenDatabase(path: string, count: number, fromNs = 1_795_000_000_000_000_000n): void {
  const db = openForWriting(path);
  try {
    const writer = new SignalWriter(db);
    writer.write(sends(count, fromNs));
    while (writer.archive(5_000) > 0);
  } finally {
    closeWriting(db);
  }
}
