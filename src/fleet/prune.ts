// `sigaudit server prune --retain AGE`: drops the day partitions of
// sigaudit.signals that end before now - AGE. Dropping a table is instant
// and leaves no dead rows behind, unlike a DELETE.
import { connect, serverError, type ServerUrl } from './connect';
import { checkSchema } from './schema';

const DAY_NS = 86_400_000_000_000n;

export interface PruneReport {
  url: string;
  /** Days dropped (or that would be, with dryRun), as YYYY-MM-DD. */
  days: string[];
  dryRun: boolean;
}

export async function pruneServer(options: { url: ServerUrl; retainNs: bigint; nowNs?: bigint; dryRun: boolean }): Promise<PruneReport> {
  const client = await connect(options.url, 'owner');
  try {
    await checkSchema(client, options.url);
    const cutoff = (options.nowNs ?? BigInt(Date.now()) * 1_000_000n) - options.retainNs;
    const { rows } = await client.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent = 'sigaudit.signals'::regclass ORDER BY 1`,
    );
    const days: string[] = [];
    await client.query('BEGIN');
    for (const { name } of rows) {
      const match = /^signals_(\d{4})(\d{2})(\d{2})$/.exec(name);
      if (!match) continue;
      const dayStart = BigInt(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]))) * 1_000_000n;
      if (dayStart + DAY_NS > cutoff) continue;
      const day = `${match[1]}-${match[2]}-${match[3]}`;
      days.push(day);
      if (options.dryRun) continue;
      await client.query(`DROP TABLE sigaudit.${name}`);
      await client.query('INSERT INTO sigaudit.server_prunes (day) VALUES ($1) ON CONFLICT (day) DO UPDATE SET pruned_at = now()', [day]);
    }
    await client.query('COMMIT');
    return { url: options.url.shown, days, dryRun: options.dryRun };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw serverError(error, options.url, 'owner');
  } finally {
    await client.end().catch(() => undefined);
  }
}

export function renderPrune(report: PruneReport): string {
  if (report.days.length === 0) return `nothing to prune at ${report.url}\n`;
  return `${report.dryRun ? 'would drop' : 'dropped'} ${report.days.length} day(s) of signals at ${report.url}: ${report.days.join(', ')}\n`;
}
