// sigaudit recover: salvages every row SQLite can still read from a damaged
// database into a new, sound one. Neither SQLite recovery API is available
// here (Debian's sqlite3 3.40 CLI fails .recover: its libsqlite3 lacks the
// sqlite_dbpage table; better-sqlite3's SQLite has neither), so each table
// is read in rowid order and a damaged page is stepped over: a binary search
// finds the first rowid after it that reads, and the rows between are lost.
import Database from 'better-sqlite3';
import { existsSync, rmSync } from 'node:fs';
import { SigauditError } from '../errors';
import { count, renderTable, type Rendered } from '../query/format';
import { longTime } from '../query/time';
import { hasSigauditHeader, isDamageError } from '../store/damage';
import { closeWriting, openForWriting } from '../store/database';
import { latestVersion, loadMigrations, migrate, migrationsThrough } from '../store/migrations';
import { rebuildArchiveMinutes } from '../store/minutes';
import { rebuildRollups } from '../store/writer';

export interface RecoverOptions {
  damagedPath: string;
  outputPath: string;
}

/** Rowids a damaged page hid: from just after `afterRowid` to just before `resumeRowid` (null: to the end). */
export interface LostRange {
  table: string;
  afterRowid: bigint | null;
  resumeRowid: bigint | null;
  /** For the signals tables: the time of the rows either side, and how many ids are missing. */
  fromNs?: bigint;
  toNs?: bigint;
  rows?: bigint;
}

export interface TableRecovery {
  table: string;
  rows: number;
  /** The table could not be read at all (its root page, or the whole of a WITHOUT ROWID table). */
  unreadable?: string;
  /** Not copied: made anew from the signals salvaged (DERIVED_TABLES). */
  derived?: boolean;
}

export interface RecoverReport {
  damagedPath: string;
  outputPath: string;
  tables: TableRecovery[];
  lost: LostRange[];
}

const PAGE_ROWS = 5_000;
const SIGNAL_TABLES = ['signals_hot', 'signals_archive'];
/** Derived from signals_archive (migrations/0140-id-windows.sql): made from the rows salvaged, not copied. */
const MAP_TABLE = 'archive_minutes';
/**
 * The map and the rollups the mover keeps of the archive (src/store/writer.ts
 * rollUp): made anew from the rows salvaged, so they count exactly the rows
 * the file holds, and a damaged rollup page costs nothing.
 */
const ROLLUPS = ['sender_hours', 'sender_pid_hours', 'delivered_comm_hours'];
const DERIVED_TABLES = [MAP_TABLE, ...ROLLUPS];

function columnsOf(db: Database.Database, schema: string, table: string): string[] {
  return (db.prepare(`SELECT name FROM pragma_table_info(?, ?)`).all(table, schema) as { name: string }[]).map((column) => column.name);
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * The smallest rowid above `after` from which the table reads again, or
 * null if nothing after it does. Seeking lands on the page holding a rowid:
 * a seek past the damaged page's last rowid reads, one into it fails.
 */
function resumeAfter(read: (after: bigint) => bigint | undefined, after: bigint, last: bigint): bigint | null {
  let bad = after; // seeking from here fails
  let step = 1n;
  let good: bigint | undefined;
  while (good === undefined) {
    if (bad + step > last) return null;
    try {
      if (read(bad + step) === undefined) return null;
      good = bad + step;
    } catch (error) {
      if (!isDamageError(error)) throw error;
      bad += step;
      step *= 2n;
    }
  }
  // The boundary lies between bad (fails) and good (reads): halve it.
  while (good - bad > 1n) {
    const middle: bigint = bad + (good - bad) / 2n;
    try {
      read(middle);
      good = middle;
    } catch (error) {
      if (!isDamageError(error)) throw error;
      bad = middle;
    }
  }
  return read(good) ?? null;
}

/** Copies one rowid table page by page around damage; returns the rows copied and the ranges lost. */
function copyRowidTable(source: Database.Database, target: Database.Database, table: string, columns: string[]): { rows: number; lost: LostRange[] } {
  const list = columns.map(quote).join(', ');
  const page = source.prepare(`SELECT rowid AS _rowid, ${list} FROM ${quote(table)} NOT INDEXED WHERE rowid > ? ORDER BY rowid LIMIT ${PAGE_ROWS}`).safeIntegers(true);
  const next = source.prepare(`SELECT rowid AS _rowid FROM ${quote(table)} NOT INDEXED WHERE rowid > ? ORDER BY rowid LIMIT 1`).safeIntegers(true).pluck();
  const insert = target.prepare(`INSERT INTO main.${quote(table)} (rowid, ${list}) VALUES (${['?', ...columns.map(() => '?')].join(', ')})`);
  // The largest rowid, from the rightmost pages; if they are the damage, a generous bound for the search.
  let last: bigint;
  try {
    last = (source.prepare(`SELECT max(rowid) FROM ${quote(table)}`).safeIntegers(true).pluck().get() as bigint | null) ?? 0n;
  } catch (error) {
    if (!isDamageError(error)) throw error;
    last = 2n ** 62n;
  }
  const lost: LostRange[] = [];
  let copied = 0;
  let after: bigint | null = -(2n ** 63n);
  while (after !== null) {
    // Row by row, so the rows before a damaged page are kept.
    const rows: Record<string, unknown>[] = [];
    let damaged = false;
    try {
      for (const row of page.iterate(after)) rows.push(row as Record<string, unknown>);
    } catch (error) {
      if (!isDamageError(error)) throw error;
      damaged = true;
    }
    target.transaction(() => {
      for (const row of rows) insert.run(row._rowid, ...columns.map((column) => row[column]));
    })();
    copied += rows.length;
    const reached: bigint = rows.length > 0 ? (rows[rows.length - 1]._rowid as bigint) : after;
    if (damaged) {
      const resume = resumeAfter((from) => next.get(from) as bigint | undefined, reached, last);
      lost.push({ table, afterRowid: reached === -(2n ** 63n) ? null : reached, resumeRowid: resume });
      after = resume === null ? null : resume - 1n;
    } else after = rows.length < PAGE_ROWS ? null : reached;
  }
  return { rows: copied, lost };
}

/** Dates the ranges lost from the signals tables by the recovered rows either side (ids are consecutive). */
function dateLost(target: Database.Database, lost: LostRange[]): void {
  const before = target.prepare('SELECT id, ts_ns FROM signals WHERE id <= ? ORDER BY id DESC LIMIT 1').safeIntegers(true);
  const after = target.prepare('SELECT id, ts_ns FROM signals WHERE id >= ? ORDER BY id LIMIT 1').safeIntegers(true);
  for (const range of lost) {
    if (!SIGNAL_TABLES.includes(range.table)) continue;
    const from = range.afterRowid === null ? undefined : (before.get(range.afterRowid) as { id: bigint; ts_ns: bigint } | undefined);
    const to = range.resumeRowid === null ? undefined : (after.get(range.resumeRowid) as { id: bigint; ts_ns: bigint } | undefined);
    range.fromNs = from?.ts_ns;
    range.toNs = to?.ts_ns;
    if (from && to) range.rows = to.id - from.id - 1n;
  }
}

export function recover(options: RecoverOptions): RecoverReport {
  const { damagedPath, outputPath } = options;
  if (!existsSync(damagedPath)) throw new SigauditError('EDBMISSING', `database ${damagedPath} does not exist`, 'name the damaged file, e.g. /var/lib/sigaudit/sigaudit.db.damaged-20261126T012400');
  if (!hasSigauditHeader(damagedPath))
    throw new SigauditError('EDBFOREIGN', `${damagedPath} is not a sigaudit database (its first 100 bytes are not sigaudit's)`, 'name a file sigaudit recorded; another program\'s file needs that program\'s tools');
  if (existsSync(outputPath)) throw new SigauditError('EEXIST', `${outputPath} already exists`, 'name a new file with --output; recover never overwrites');
  const source = new Database(damagedPath, { readonly: true, fileMustExist: true });
  let version: number;
  let tables: string[];
  try {
    version = source.pragma('user_version', { simple: true }) as number;
    tables = (source.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rootpage").all() as { name: string }[]).map((row) => row.name);
  } catch (error) {
    source.close();
    if (!isDamageError(error)) throw error;
    throw new SigauditError(
      'EDBUNRECOVERABLE',
      `${damagedPath}: SQLite cannot read its schema (${(error as Error).message}: page 1, or a schema page it points to, is damaged or cut off), so it finds no table in it`,
      'keep the file; a page-level tool (sqlite3 .recover built with SQLITE_ENABLE_DBPAGE_VTAB) may still read its pages',
    );
  }
  // The rows are copied into a file at the damaged one's own schema, where
  // every column means what it meant when written; the migrations then
  // bring them to this sigaudit's schema as they do any older file.
  const migrations = loadMigrations();
  const earlier = migrationsThrough(version, migrations);
  if (earlier === undefined) {
    source.close();
    if (version > latestVersion(migrations))
      throw new SigauditError(
        'EDBNEWER',
        `${damagedPath} has schema version ${version}, newer than this sigaudit knows (${latestVersion(migrations)}): it cannot tell what its columns mean`,
        'upgrade sigaudit, then run sigaudit recover again; the damaged file is untouched',
      );
    throw new SigauditError(
      'EDBVERSION',
      `${damagedPath} has schema version ${version}, which none of this sigaudit's migrations makes`,
      'recover it with the sigaudit build that wrote it; the damaged file is untouched',
    );
  }
  const report: RecoverReport = { damagedPath, outputPath, tables: [], lost: [] };
  let target: Database.Database | undefined;
  try {
    target = openForWriting(outputPath, { migrations: earlier });
    for (const table of tables) {
      if (DERIVED_TABLES.includes(table)) continue; // made anew below from the rows salvaged
      const wanted = columnsOf(target, 'main', table);
      if (wanted.length === 0) continue; // not in sigaudit's schema of that version
      const columns = columnsOf(source, 'main', table).filter((column) => wanted.includes(column));
      const withoutRowid = /WITHOUT ROWID/i.test((source.prepare("SELECT sql FROM sqlite_schema WHERE name = ?").pluck().get(table) as string) ?? '');
      if (withoutRowid) {
        // All or nothing (keyed otherwise than by a rowid to step over).
        try {
          const rows = source.prepare(`SELECT ${columns.map(quote).join(', ')} FROM ${quote(table)}`).safeIntegers(true).raw().all() as unknown[][];
          const insert = target.prepare(`INSERT INTO main.${quote(table)} (${columns.map(quote).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`);
          target.transaction(() => rows.forEach((row) => insert.run(...row)))();
          report.tables.push({ table, rows: rows.length });
        } catch (error) {
          if (!isDamageError(error)) throw error;
          report.tables.push({ table, rows: 0, unreadable: (error as Error).message });
        }
        continue;
      }
      const copied = copyRowidTable(source, target, table, columns);
      report.tables.push({ table, rows: copied.rows });
      report.lost.push(...copied.lost);
    }
    migrate(target, outputPath, migrations);
    rebuildRollups(target);
    for (const table of ROLLUPS) report.tables.push({ table, rows: target.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number, derived: true });
    report.tables.push({ table: MAP_TABLE, rows: rebuildArchiveMinutes(target), derived: true });
    dateLost(target, report.lost);
  } catch (error) {
    // Half a salvage is no sound database: nothing is left behind.
    source.close();
    target?.close();
    for (const file of [outputPath, `${outputPath}-wal`, `${outputPath}-shm`]) rmSync(file, { force: true });
    throw error;
  }
  source.close();
  closeWriting(target);
  return report;
}

export function renderRecover(report: RecoverReport, utc: boolean): Rendered {
  const lostIn = (table: string) => report.lost.filter((range) => range.table === table);
  let text = `salvaged ${report.damagedPath} into ${report.outputPath}\n`;
  text += renderTable(
    [{ header: 'TABLE' }, { header: 'ROWS RECOVERED', align: 'right' }, { header: 'DAMAGED', flex: true, min: 8 }],
    report.tables.map((table) => [
      table.table,
      count(table.rows),
      table.derived
        ? 'made anew from the signals salvaged'
        : table.unreadable
          ? `unreadable (${table.unreadable})`
          : lostIn(table.table).length === 0 ? '' : `${lostIn(table.table).length} damaged range(s) stepped over`,
    ]),
  );
  const dated = report.lost.filter((range) => SIGNAL_TABLES.includes(range.table));
  if (dated.length > 0) {
    text += '\nsignals lost with the damaged pages:\n';
    const time = (ns: bigint | undefined) => (ns === undefined ? '?' : longTime(ns, utc));
    text += renderTable(
      [{ header: 'FROM' }, { header: 'TO' }, { header: 'ROWS', align: 'right' }, { header: 'TABLE' }],
      dated.map((range) => [time(range.fromNs), time(range.toNs), range.rows === undefined ? '?' : count(range.rows), range.table]),
    );
  } else text += '\nno signal lost: every page of the signals tables could be read\n';
  return { stdout: text, warnings: [] };
}
