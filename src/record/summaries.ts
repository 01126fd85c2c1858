// Turns the kernel's SUMMARY records (sends it counted instead of recording,
// bpf/flood.h) into rows of the summaries table.
import { Flag, Kind, type RawEvent } from './decode';
import { RESULTS, SOURCES, type Result, type Source } from '../names';

/** One row of the summaries table (migrations/0070-summaries.sql). */
export interface SummaryRow {
  runId: number;
  firstNs: bigint;
  lastNs: bigint;
  count: number;
  outcome: 'summarised' | 'dropped';
  source: Source;
  senderPid: number;
  senderComm: string;
  senderUid: number;
  signal: number;
  /** null: the kernel's summary map was full and kept a coarser key. */
  targetPid: number | null;
  ret: number | null;
  result: Result | null;
}

/**
 * The summaries among a batch's records, dated with `offsetNs`
 * (CLOCK_REALTIME - CLOCK_BOOTTIME) and credited to run `runId`.
 */
export function summaryRows(events: RawEvent[], offsetNs: bigint, runId: number): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const event of events) {
    if (event.kind !== Kind.Summary) continue;
    const coarse = (event.flags & Flag.SummaryCoarse) !== 0;
    const source = SOURCES[event.source] ?? 'kernel';
    rows.push({
      runId,
      firstNs: event.bootNs + offsetNs,
      lastNs: event.deliveredCgroup + offsetNs,
      count: event.deliveries,
      outcome: (event.flags & Flag.SummaryDropped) !== 0 ? 'dropped' : 'summarised',
      source,
      senderPid: event.senderPid,
      senderComm: event.senderComm,
      senderUid: event.senderUid,
      signal: event.signal,
      targetPid: coarse ? null : event.targetPid,
      // Kernel signals have no return value; only syscalls do.
      ret: coarse || source === 'kernel' ? null : event.ret,
      result: coarse ? null : (RESULTS[event.result] ?? null),
    });
  }
  return rows;
}
