// The password file (PGPASSFILE, or ~/.pgpass) as libpq reads it, through
// the pgpass module node-postgres itself relies on.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const pgpass = require('pgpass') as (params: Record<string, unknown>, done: (password: string | undefined) => void) => void;

export function readPgpass(params: Record<string, unknown>): Promise<string | undefined> {
  return new Promise((resolve) => pgpass(params, resolve));
}
