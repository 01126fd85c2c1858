// sigaudit status --remote: the fleet's hosts, how far behind each one's
// forwarded record is (its newest row against now), and the windows in
// which its record is incomplete (drops, crashes, retention, rows deleted
// before they were forwarded).
import { isoTime } from '../export/columns';
import { count, json, renderTable, type OutputOptions, type Rendered } from '../query/format';
import { longTime } from '../query/time';
import type { Plan } from '../query/read';

export interface HostStatus {
  host: string;
  machineId: string | null;
  version: string | null;
  sources: number;
  /** The newest local id forwarded (of its newest source, when it had several databases). */
  lastId: bigint;
  newestNs: bigint | null;
  lastSeen: Date;
  /** Drop windows, unclean shutdowns, prunes, gaps in forwarding. */
  incomplete: { drops: number; unclean: number; prunes: number; gaps: number };
  /** The newest of those windows (status --limit), newest first. */
  windows: IncompleteWindow[];
}

export interface IncompleteWindow {
  fromNs: bigint;
  toNs: bigint;
  /** Signals lost or deleted; null when unknown (the recorder was down). */
  count: bigint | null;
  /** As the reports' drop windows: ring_buffer_full and the like, unclean_shutdown, retention_age / retention_size, not_forwarded. */
  reason: string;
}

export interface FleetStatusReport {
  nowNs: bigint;
  hosts: HostStatus[];
}

const PER_HOST = (table: string) =>
  `(SELECT h2.id, count(*) AS n FROM sigaudit.${table} t JOIN sigaudit.sources s2 ON s2.id = t.source_id JOIN sigaudit.hosts h2 ON h2.id = s2.host_id GROUP BY 1)`;

/** Read directly from the fleet's tables: status --remote has no local counterpart to share a plan with. */
export function fleetStatusPlan(host: string | undefined, limit = 5): Plan<FleetStatusReport> {
  return {
    queries: {
      windows: {
        sql: `SELECT host, from_ns, to_ns, count, reason FROM (
            SELECT h.name AS host, w.*, row_number() OVER (PARTITION BY h.id ORDER BY w.from_ns DESC) AS newest
            FROM (SELECT source_id, from_ns, to_ns, count, reason FROM sigaudit.drops
              UNION ALL SELECT source_id, from_ns, to_ns, NULL, 'unclean_shutdown' FROM sigaudit.unclean_shutdowns
              UNION ALL SELECT source_id, from_ns, to_ns, rows, 'retention_' || reason FROM sigaudit.prunes
              UNION ALL SELECT source_id, from_ns, to_ns, to_id - from_id + 1, 'not_forwarded' FROM sigaudit.forward_gaps) w
            JOIN sigaudit.sources so ON so.id = w.source_id JOIN sigaudit.hosts h ON h.id = so.host_id
            ${host === undefined ? '' : 'WHERE h.name = @host'}) windows
          ${limit > 0 ? 'WHERE newest <= @limit' : ''} ORDER BY host, from_ns DESC`,
        params: { ...(host === undefined ? {} : { host }), ...(limit > 0 ? { limit } : {}) },
      },
      hosts: {
        sql: `SELECT h.name, h.machine_id, h.version, h.last_seen, count(so.id) AS sources, coalesce(max(so.last_id), 0) AS last_id, max(so.last_ts_ns) AS newest_ns,
            coalesce(max(d.n), 0) AS drops, coalesce(max(u.n), 0) AS unclean, coalesce(max(p.n), 0) AS prunes, coalesce(max(g.n), 0) AS gaps
          FROM sigaudit.hosts h LEFT JOIN sigaudit.sources so ON so.host_id = h.id
            LEFT JOIN ${PER_HOST('drops')} d ON d.id = h.id LEFT JOIN ${PER_HOST('unclean_shutdowns')} u ON u.id = h.id
            LEFT JOIN ${PER_HOST('prunes')} p ON p.id = h.id LEFT JOIN ${PER_HOST('forward_gaps')} g ON g.id = h.id
          ${host === undefined ? '' : 'WHERE h.name = @host'}
          GROUP BY h.id ORDER BY h.name`,
        params: host === undefined ? {} : { host },
      },
    },
    shape: (results) => ({
      nowNs: BigInt(Date.now()) * 1_000_000n,
      hosts: results.hosts.map((row) => ({
        host: row.name as string,
        machineId: row.machine_id as string | null,
        version: row.version as string | null,
        sources: Number(row.sources),
        lastId: row.last_id as bigint,
        newestNs: row.newest_ns as bigint | null,
        lastSeen: row.last_seen as Date,
        incomplete: { drops: Number(row.drops), unclean: Number(row.unclean), prunes: Number(row.prunes), gaps: Number(row.gaps) },
        windows: results.windows
          .filter((window) => window.host === row.name)
          .map((window) => ({ fromNs: window.from_ns as bigint, toNs: window.to_ns as bigint, count: window.count as bigint | null, reason: window.reason as string })),
      })),
    }),
  };
}

function lagText(nowNs: bigint, newestNs: bigint | null): string {
  if (newestNs === null) return 'nothing forwarded';
  const seconds = Number((nowNs - newestNs) / 1_000_000_000n);
  if (seconds < 120) return `${Math.max(0, seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

function incompleteText(incomplete: HostStatus['incomplete']): string {
  const parts = [
    incomplete.drops && `${incomplete.drops} drop windows`,
    incomplete.unclean && `${incomplete.unclean} crashes`,
    incomplete.prunes && `${incomplete.prunes} retention prunes`,
    incomplete.gaps && `${incomplete.gaps} gaps deleted before forwarding`,
  ].filter(Boolean);
  return parts.length === 0 ? 'complete' : parts.join(', ');
}

function windowText(window: IncompleteWindow): string {
  const rows = window.count === null ? '' : `${count(window.count)} `;
  if (window.reason === 'not_forwarded') return `${rows}rows deleted by its retention before they were forwarded`;
  if (window.reason === 'unclean_shutdown') return 'the recorder was down (crashed)';
  if (window.reason.startsWith('retention_')) return `${rows}rows deleted by retention (${window.reason.slice('retention_'.length)})`;
  return `${rows}signals dropped (${window.reason})`;
}

export function renderFleetStatus(report: FleetStatusReport, output: OutputOptions): Rendered {
  if (output.format === 'json')
    return {
      stdout: json({
        hosts: report.hosts.map((host) => ({
          host: host.host,
          machine_id: host.machineId,
          version: host.version,
          sources: host.sources,
          forwarded_to_id: Number(host.lastId),
          newest: host.newestNs === null ? null : isoTime(host.newestNs),
          lag_seconds: host.newestNs === null ? null : Number((report.nowNs - host.newestNs) / 1_000_000_000n),
          last_seen: host.lastSeen.toISOString(),
          incomplete: host.incomplete,
          incomplete_windows: host.windows.map((window) => ({
            from: isoTime(window.fromNs), to: isoTime(window.toNs), count: window.count === null ? null : Number(window.count), reason: window.reason,
          })),
        })),
      }),
      warnings: [],
    };
  if (report.hosts.length === 0) return { stdout: 'no host has forwarded to this database yet (sigaudit forward --to URL)\n', warnings: [] };
  const windows = report.hosts.flatMap((host) =>
    host.windows.map((window) => `  ${host.host}: ${windowText(window)} between ${longTime(window.fromNs, output.utc)} and ${longTime(window.toNs, output.utc)}\n`),
  );
  return {
    stdout: renderTable(
      [{ header: 'HOST', flex: true, min: 6 }, { header: 'UP TO ID', align: 'right' }, { header: 'NEWEST ROW' }, { header: 'LAG', align: 'right' }, { header: 'RECORD', flex: true, min: 8 }],
      report.hosts.map((host) => [
        host.host,
        count(host.lastId),
        host.newestNs === null ? '' : longTime(host.newestNs, output.utc),
        lagText(report.nowNs, host.newestNs),
        incompleteText(host.incomplete),
      ]),
    ) + (windows.length === 0 ? '' : `incomplete (newest first):\n${windows.join('')}`),
    warnings: [],
  };
}
