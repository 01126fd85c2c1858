// The central schema: `sigaudit server init` creates or migrates it from
// src/fleet/migrations (numbered like the local migrations/, recorded in
// sigaudit.schema_migrations), sets up the forwarder and reader roles, and
// every other fleet command checks the schema before it reads or writes.
import type { Client } from 'pg';
import { join } from 'node:path';
import { SigauditError } from '../errors';
import { latestVersion, loadMigrations, type Migration } from '../store/migrations';
import { connect, serverError, type ServerUrl } from './connect';

export const SERVER_MIGRATIONS_DIR = join(__dirname, '..', '..', '..', 'src', 'fleet', 'migrations');
export const FORWARDER_ROLE = 'sigaudit_forwarder';
export const READER_ROLE = 'sigaudit_reader';

export function serverMigrations(): Migration[] {
  return loadMigrations(SERVER_MIGRATIONS_DIR);
}

/** The schema's version; undefined when this database has no sigaudit schema. */
async function schemaVersion(client: Client, url: ServerUrl): Promise<number | undefined> {
  const { rows } = await client.query<{ schema: boolean; tracked: boolean }>(
    "SELECT to_regnamespace('sigaudit') IS NOT NULL AS schema, to_regclass('sigaudit.schema_migrations') IS NOT NULL AS tracked",
  );
  if (!rows[0].schema) return undefined;
  if (!rows[0].tracked)
    throw new SigauditError('ESERVERFOREIGN', `${url.shown} has a schema "sigaudit" that sigaudit server init did not create (no sigaudit.schema_migrations)`, 'point the URL at the database made by sigaudit server init, or rename that schema');
  const version = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM sigaudit.schema_migrations');
  return version.rows[0].version ?? 0;
}

/** Refuses a database without sigaudit's schema, or with a schema older or newer than this sigaudit's. */
export async function checkSchema(client: Client, url: ServerUrl): Promise<number> {
  const latest = latestVersion(serverMigrations());
  const version = await schemaVersion(client, url);
  if (version === undefined)
    throw new SigauditError('ESERVERFOREIGN', `${url.shown} is not a sigaudit fleet database (it has no schema "sigaudit")`, 'create it there with sigaudit server init --url URL (as the database owner), or correct the database in the URL');
  refuseNewer(version, latest, url);
  if (version < latest)
    throw new SigauditError('ESERVEROLDER', `the sigaudit schema at ${url.shown} has version ${version}; this sigaudit needs ${latest}`, 'upgrade it with sigaudit server init --url URL (as the database owner)');
  return version;
}

function refuseNewer(version: number, latest: number, url: ServerUrl): void {
  if (version > latest)
    throw new SigauditError('ESERVERNEWER', `the sigaudit schema at ${url.shown} has version ${version}, newer than this sigaudit knows (${latest})`, 'upgrade sigaudit on this host; the server is never changed by an older one');
}

/** What each role may do; applied by init, or printed when it may not create roles. */
export function roleGrants(): string[] {
  const writes = ['names', 'hosts', 'sources', 'signals', 'cgroups', 'runs', 'drops', 'unclean_shutdowns', 'prunes', 'summaries', 'earlier_databases', 'forward_gaps'];
  const table = (name: string) => `sigaudit.${name}`;
  return [
    `GRANT USAGE ON SCHEMA sigaudit TO ${FORWARDER_ROLE}, ${READER_ROLE}`,
    // The forwarder looks up names, its host and its source; it never reads signals.
    `GRANT SELECT ON ${['schema_migrations', 'names', 'hosts', 'sources'].map(table).join(', ')} TO ${FORWARDER_ROLE}`,
    `GRANT INSERT ON ${writes.map(table).join(', ')} TO ${FORWARDER_ROLE}`,
    // Upserts: a run ends, a prune grows, a cgroup gets its unit, a host and a source are seen again.
    `GRANT SELECT, UPDATE ON ${['cgroups', 'runs', 'prunes'].map(table).join(', ')} TO ${FORWARDER_ROLE}`,
    `GRANT UPDATE ON sigaudit.hosts, sigaudit.sources TO ${FORWARDER_ROLE}`,
    `REVOKE ALL ON FUNCTION sigaudit.ensure_days(bigint, bigint), sigaudit.count_sender_hours() FROM PUBLIC`,
    `GRANT EXECUTE ON FUNCTION sigaudit.ensure_days(bigint, bigint) TO ${FORWARDER_ROLE}`,
    `GRANT SELECT ON ALL TABLES IN SCHEMA sigaudit TO ${READER_ROLE}`,
  ];
}

export interface InitReport {
  url: string;
  from: number;
  to: number;
  applied: string[];
  /** Roles created now. */
  created: string[];
  /** Set when this login may not create roles: what an administrator runs instead. */
  grantsToRun?: string[];
}

async function canCreateRoles(client: Client): Promise<boolean> {
  const { rows } = await client.query<{ can: boolean }>('SELECT rolsuper OR rolcreaterole AS can FROM pg_roles WHERE rolname = current_user');
  return rows[0]?.can === true;
}

/** Creates or migrates the schema in one transaction; idempotent. */
export async function initServer(url: ServerUrl): Promise<InitReport> {
  const client = await connect(url, 'owner');
  try {
    const migrations = serverMigrations();
    const latest = latestVersion(migrations);
    await client.query('BEGIN');
    // Two inits at once: the second waits, then finds nothing to do.
    await client.query("SELECT pg_advisory_xact_lock(hashtext('sigaudit server init'))");
    const from = (await schemaVersion(client, url)) ?? 0;
    refuseNewer(from, latest, url);
    await client.query('CREATE SCHEMA IF NOT EXISTS sigaudit');
    await client.query(`CREATE TABLE IF NOT EXISTS sigaudit.schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const applied: string[] = [];
    for (const migration of migrations.filter((m) => m.version > from)) {
      await client.query(migration.sql);
      await client.query('INSERT INTO sigaudit.schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      applied.push(migration.name);
    }
    const created: string[] = [];
    let grantsToRun: string[] | undefined;
    const existing = new Set((await client.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY($1)', [[FORWARDER_ROLE, READER_ROLE]])).rows.map((r) => r.rolname));
    const creatable = await canCreateRoles(client);
    const missing = [FORWARDER_ROLE, READER_ROLE].filter((role) => !existing.has(role));
    if (missing.length > 0 && !creatable) {
      grantsToRun = [...missing.map((role) => `CREATE ROLE ${role} NOLOGIN`), ...roleGrants()];
    } else {
      for (const role of missing) {
        await client.query(`CREATE ROLE ${role} NOLOGIN`);
        created.push(role);
      }
      for (const grant of roleGrants()) await client.query(grant);
    }
    await client.query('COMMIT');
    return { url: url.shown, from, to: Math.max(from, latest), applied, created, grantsToRun };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw serverError(error, url, 'owner');
  } finally {
    await client.end().catch(() => undefined);
  }
}

export function renderInit(report: InitReport): string {
  const lines = [
    report.applied.length === 0
      ? `the sigaudit schema at ${report.url} is up to date (version ${report.to})`
      : `the sigaudit schema at ${report.url} is at version ${report.to} (was ${report.from}): applied ${report.applied.join(', ')}`,
  ];
  if (report.created.length > 0) lines.push(`created the roles ${report.created.join(' and ')}`);
  if (report.grantsToRun)
    lines.push('this login may not create roles; have an administrator run:', ...report.grantsToRun.map((grant) => `  ${grant};`));
  lines.push(
    `give each host a login in ${FORWARDER_ROLE} (may only insert): CREATE ROLE web3 LOGIN PASSWORD '...' IN ROLE ${FORWARDER_ROLE};`,
    `and readers one in ${READER_ROLE} (may only read): CREATE ROLE oncall LOGIN PASSWORD '...' IN ROLE ${READER_ROLE};`,
  );
  return `${lines.join('\n')}\n`;
}
