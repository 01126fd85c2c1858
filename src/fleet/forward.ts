// sigaudit forward: ships the local record to the fleet's PostgreSQL, batch
// after batch, noting its position locally only once the server committed
// (at-least-once into a server that ignores rows it has: exactly once).
// Without --once it follows new rows; an unreachable server is waited out
// with backoff, logged once per outage, the local record untouched.
import { readFileSync } from 'node:fs';
import { hostname, release } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { SigauditError } from '../errors';
import type { Notifier } from '../service/notify';
import { VERSION } from '../version';
import { isUnreachable, serverError, type ServerUrl } from './connect';
import { LocalSource, type ServerIds } from './local';
import { PostgresSink, type HostInfo, type Sink } from './postgres-sink';

export const DEFAULT_BATCH_ROWS = 20_000;
export const DEFAULT_POLL_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;

export interface ForwardOptions {
  dbPath: string;
  url: ServerUrl;
  /** The name this host has in the fleet (default: its hostname). */
  hostName?: string;
  once: boolean;
  batchRows?: number;
  pollMs?: number;
  log: (line: string) => void;
  signal?: AbortSignal;
  notifier?: Notifier;
}

export interface ForwardReport {
  host: string;
  sourceUuid: string;
  rows: number;
  batches: number;
  lastId: bigint;
}

function machineId(): string | null {
  try {
    return readFileSync('/etc/machine-id', 'utf8').trim() || null;
  } catch {
    return null;
  }
}

function unreachable(error: unknown): boolean {
  return (error instanceof SigauditError && error.code === 'ESERVERDOWN') || (!(error instanceof SigauditError) && isUnreachable(error));
}

export async function forward(options: ForwardOptions): Promise<ForwardReport> {
  const local = LocalSource.open(options.dbPath);
  const batchRows = options.batchRows ?? DEFAULT_BATCH_ROWS;
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  const ran = local.runInfo();
  const host: HostInfo = { name: options.hostName ?? hostname(), machineId: machineId(), kernel: ran.kernel ?? release(), version: VERSION };
  const report: ForwardReport = { host: host.name, sourceUuid: local.position().sourceUuid, rows: 0, batches: 0, lastId: local.position().signalId };
  let sink: Sink | undefined;
  /** Continues from what the server holds for this database when that is not what was noted here. */
  const follow = (serverId: bigint) => {
    const noted = local.position().signalId;
    if (serverId === noted) return;
    // A server restored from an older backup holds less than we noted: send the rest again.
    if (serverId < noted) options.log(`${options.url.shown} holds this database's rows up to id ${serverId} only, fewer than were sent (${noted}): sending the rest again`);
    local.moveTo(serverId);
    report.lastId = serverId;
  };
  let outage: { since: number; backoffMs: number } | undefined;
  options.notifier?.ready(`forwarding ${options.dbPath} to ${options.url.shown}`);
  try {
    while (!options.signal?.aborted) {
      try {
        if (!sink) {
          sink = new PostgresSink(options.url);
          const serverId = await sink.open(report.sourceUuid, host);
          local.forgetServerIds();
          follow(serverId);
        }
        // Pipelined: the next batch is read here while the server stores the one before.
        let shipping: Promise<bigint | undefined> | undefined;
        const current = sink;
        const ids: ServerIds = {
          sourceId: current.sourceId,
          // After the batch in flight: its transaction must not hold these.
          names: async (names) => (await shipping?.catch(() => undefined), current.names(names)),
          cgroups: async (cgroups) => (await shipping?.catch(() => undefined), current.cgroups(cgroups)),
        };
        let batch = await local.read(local.position(), batchRows, ids);
        while (batch && !options.signal?.aborted) {
          const shipped = batch;
          shipping = current.ship(shipped);
          shipping.catch(() => undefined);
          const next = await local.read({ ...local.position(), signalId: shipped.lastId, signalTsNs: shipped.lastTsNs, sideFrom: shipped.sideFrom }, batchRows, ids);
          const serverId = await shipping;
          shipping = undefined;
          if (serverId !== undefined) {
            follow(serverId);
            batch = await local.read(local.position(), batchRows, ids);
            continue;
          }
          local.shipped(shipped);
          report.rows += shipped.rows;
          report.batches++;
          report.lastId = shipped.lastId;
          if (shipped.gap) options.log(`rows ${shipped.gap.fromId}-${shipped.gap.toId} were deleted here (retention) before they were forwarded: recorded on the server as a gap`);
          batch = next && (next.rows > 0 || next.sideText !== shipped.sideText) ? next : undefined;
        }
        if (outage) {
          options.log(`${options.url.shown} reachable again after ${Math.round((Date.now() - outage.since) / 1000)} s; caught up to id ${report.lastId}`);
          options.notifier?.status(`forwarding to ${options.url.shown}`);
          outage = undefined;
        }
        if (options.once) break;
        await sleep(pollMs, undefined, { signal: options.signal }).catch(() => undefined);
      } catch (error) {
        if (options.once || !unreachable(error)) throw serverError(error, options.url, 'forwarder');
        await sink?.close();
        sink = undefined;
        if (!outage) {
          outage = { since: Date.now(), backoffMs: 500 };
          const cause = serverError(error, options.url, 'forwarder').message;
          options.log(`${cause}; the local record is kept, retrying with backoff up to ${MAX_BACKOFF_MS / 1000} s`);
          options.notifier?.status(`waiting for ${options.url.shown}`);
        }
        await sleep(outage.backoffMs, undefined, { signal: options.signal }).catch(() => undefined);
        outage.backoffMs = Math.min(outage.backoffMs * 2, MAX_BACKOFF_MS);
      }
    }
  } finally {
    options.notifier?.stopping('stopping');
    await sink?.close();
    local.close();
  }
  return report;
}

export function renderForward(report: ForwardReport): string {
  return `forwarded ${report.rows} signal rows in ${report.batches} batch(es) as host ${report.host} (source ${report.sourceUuid}); shipped up to id ${report.lastId}\n`;
}
