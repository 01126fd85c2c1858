// The read layer every report stands on: a report is a plan (named SQL
// queries written once, and how their rows become the report), and a
// dialect says what differs between the local SQLite database and the
// fleet's PostgreSQL (src/fleet/remote.ts): where the rows are, a few
// functions, and whether rows carry their host. Locally a plan runs
// synchronously on better-sqlite3; remotely on node-postgres.
import type Database from 'better-sqlite3';
import { SELECT_ROWS } from '../export/columns';

export type Param = string | number | bigint;
/** Rows as better-sqlite3 gives them with safeIntegers: every integer a bigint. */
export type Row = Record<string, unknown>;

export interface Query {
  /** With @name parameters. */
  sql: string;
  params: Record<string, Param>;
}

export interface Plan<R> {
  queries: Record<string, Query>;
  shape(results: Record<string, Row[]>): R;
}

export interface Dialect {
  /** The export query's SELECT … FROM, rows aliased s (src/export/columns.ts SELECT_ROWS locally); remote rows add s.host. */
  selectRows: string;
  /** The rows of failed sends with the columns the failed report reads. */
  failedRows: string;
  /** A table that says where the record is incomplete: drops, unclean_shutdowns, prunes, summaries, earlier_databases. */
  table(name: string): string;
  /** The distinct values of an expression, joined with commas. */
  distinctList(expression: string): string;
  /** Rows carry a host column (the fleet). */
  hosts: boolean;
}

/** The columns the failed report reads: all in signals_archive_failed_ts_ns. */
const FAILED_COLUMNS = 'ts_ns, sender_pid, sender_comm, sender_uid, target_pid, signal, ret, source, fanout';

export const SQLITE: Dialect = {
  selectRows: SELECT_ROWS,
  // Served by signals_archive_failed_ts_ns alone (covering): the union names
  // only its columns, where the signals view would read whole rows.
  failedRows: `(SELECT ${FAILED_COLUMNS} FROM signals_archive WHERE ret < 0 UNION ALL SELECT ${FAILED_COLUMNS} FROM signals_hot WHERE ret < 0)`,
  table: (name) => name,
  distinctList: (expression) => `group_concat(DISTINCT ${expression})`,
  hosts: false,
};

/** Runs a plan on an open SQLite database. */
export function runLocal<R>(db: Database.Database, plan: Plan<R>): R {
  const results: Record<string, Row[]> = {};
  for (const [name, query] of Object.entries(plan.queries)) results[name] = db.prepare(query.sql).safeIntegers(true).all(query.params) as Row[];
  return plan.shape(results);
}
