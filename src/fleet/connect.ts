// Connections to the fleet's PostgreSQL: checking a URL given on the command
// line, connecting with libpq's conventions (PGPASSWORD, PGPASSFILE or
// ~/.pgpass, sslmode= in the URL; node-postgres reads them), and turning its
// failures into one line naming the cause and the fix.
import { Client, types } from 'pg';
import { readPgpass } from './pgpass';
import { SigauditError, usageError } from '../errors';

/** Where a server URL came from, for messages: "--to", "--remote", "SIGAUDIT_REMOTE". */
export type UrlOrigin = string;

/** A checked PostgreSQL URL; never printed with its password. */
export interface ServerUrl {
  text: string;
  /** user@host:port/database, for messages. */
  shown: string;
  user: string;
}

const URL_FORM = 'postgresql://USER@HOST[:PORT]/DATABASE[?sslmode=verify-full] (the password in PGPASSWORD or ~/.pgpass, not in the URL)';

export function parseServerUrl(text: string, origin: UrlOrigin): ServerUrl {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw usageError(`${origin}: "${hidePassword(text)}" is not a URL`, `write it as ${URL_FORM}`);
  }
  if (url.protocol !== 'postgresql:' && url.protocol !== 'postgres:')
    throw usageError(`${origin}: "${hidePassword(text)}" is not a PostgreSQL URL (it starts with ${url.protocol}//)`, `write it as ${URL_FORM}`);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (database === '' || database.includes('/'))
    throw usageError(`${origin}: "${hidePassword(text)}" names no database`, `write it as ${URL_FORM}`);
  const host = url.hostname || url.searchParams.get('host') || 'localhost';
  const user = decodeURIComponent(url.username) || process.env.PGUSER || process.env.USER || 'postgres';
  return { text, user, shown: `${user}@${host}${url.port ? `:${url.port}` : ''}/${database}` };
}

function hidePassword(text: string): string {
  return text.replace(/^([a-z]+:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}

/** Connection failures worth waiting out: the server is down, restarting or unreachable. */
export function isUnreachable(error: unknown): boolean {
  const code = (error as { code?: string }).code ?? '';
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ENOENT'].includes(code)) return true;
  // admin_shutdown, crash_shutdown, cannot_connect_now, connection exceptions
  if (/^(57P0[123]|08...)$/.test(code)) return true;
  return /Connection terminated|connection timeout|Client has encountered a connection error/i.test((error as Error).message ?? '');
}

/** What a PostgreSQL failure means for the user, as one SigauditError. */
export function serverError(error: unknown, url: ServerUrl, role: 'forwarder' | 'reader' | 'owner'): SigauditError {
  if (error instanceof SigauditError) return error;
  const code = (error as { code?: string }).code ?? '';
  const message = (error as Error).message;
  if (isUnreachable(error))
    return new SigauditError('ESERVERDOWN', `cannot reach PostgreSQL at ${url.shown}: ${message || code}`, 'start PostgreSQL there, or correct the host and port in the URL (and any firewall between)');
  if (code === '28P01' || code === '28000' || /password must be a string|SASL/i.test(message))
    return new SigauditError(
      'ESERVERAUTH',
      `PostgreSQL at ${url.shown} refused the login of ${url.user}: ${message}`,
      'give the password in PGPASSWORD, or in ~/.pgpass (or the file PGPASSFILE names, mode 0600), and check the user in the URL',
    );
  if (code === '3D000')
    return new SigauditError('ESERVERNODB', `PostgreSQL at ${url.shown}: ${message}`, 'create it (createdb), then run sigaudit server init --url with it');
  if (code === '42501') {
    const group = role === 'reader' ? 'sigaudit_reader' : role === 'forwarder' ? 'sigaudit_forwarder' : 'the owner of the sigaudit schema';
    return new SigauditError('ESERVERPERM', `PostgreSQL at ${url.shown} refused ${url.user}: ${message}`, role === 'owner' ? `connect as ${group} (or a superuser)` : `grant it the role: GRANT ${group} TO "${url.user}" (sigaudit server init creates the role)`);
  }
  if (/self[- ]signed|certificate|SSL|ssl/.test(message))
    return new SigauditError('ESERVERTLS', `TLS to PostgreSQL at ${url.shown} failed: ${message}`, 'point PGSSLROOTCERT or sslrootcert= in the URL at the CA that signed the server certificate, or fix sslmode=');
  return new SigauditError('ESERVER', `PostgreSQL at ${url.shown} failed: ${message}${code ? ` (SQLSTATE ${code})` : ''}`, 'see the PostgreSQL server log for details');
}

/**
 * Connects, or throws the one-line SigauditError. A connection that breaks
 * later rejects the query in flight; the 'error' event it also emits is
 * swallowed here so that it does not end the process.
 */
/** int2, int4, int8 and numeric: what better-sqlite3 gives with safeIntegers, a bigint. */
const INTEGER_TYPES = new Set([21, 23, 20, 1700]);
const integersAsBigints = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    INTEGER_TYPES.has(oid) ? (text: string) => BigInt(text) : types.getTypeParser(oid, format)) as typeof types.getTypeParser,
};

export async function connect(url: ServerUrl, role: 'forwarder' | 'reader' | 'owner'): Promise<Client> {
  const given = decodeURIComponent(new URL(url.text).password);
  const client = new Client({
    // Reports read rows as the local database gives them; without JIT, which
    // PostgreSQL turns on above a plan cost that an hour of a busy pid on ten
    // hosts reaches, then spends longer compiling than the query runs.
    ...(role === 'reader' ? { types: integersAsBigints, options: '-c jit=off' } : {}),
    connectionString: url.text,
    application_name: `sigaudit ${role}`,
    connectionTimeoutMillis: 10_000,
  });
  // libpq's order: the URL, then PGPASSWORD, then the password file.
  // node-postgres calls this with the connection's parameters and takes
  // undefined as "none". Set after construction: given with a
  // connectionString, the URL's empty password replaces it, and
  // node-postgres falls back to its own deprecated password-file reading,
  // which prints a DeprecationWarning on every login.
  (client as unknown as { password: unknown }).password = async (params: Record<string, unknown>) => given || process.env.PGPASSWORD || readPgpass(params);
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw serverError(error, url, role);
  }
  return client;
}
