// Turns the kernel's SUMMARY records (sends it counted instead of recording,
// bpf/flood.h) into rows of the summaries table.
import { decode, EVENT_SIZE, Flag, Kind, OFFSETS, type RawEvent } from './decode';
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
 * Rows one sender may have per signal and outcome in a batch (about a
 * second): a flood at ever new targets, or with ever new results, would
 * otherwise write a row per target, and fill the disk through its
 * summaries. Beyond it, they become one row without target, ret and result.
 */
const ROWS_PER_SENDER = 8;
/** Rows one uid may have in a batch; beyond it, its processes' rows fold into one per signal with sender_pid 0. */
const ROWS_PER_UID = 64;

/** Folds `rows` into one per distinct `keyOf`, keeping what they share. */
function fold(rows: SummaryRow[], keyOf: (row: SummaryRow) => string, coarse: (row: SummaryRow) => Partial<SummaryRow>): SummaryRow[] {
  const folded = new Map<string, SummaryRow>();
  for (const row of rows) {
    const key = keyOf(row);
    const seen = folded.get(key);
    if (!seen) {
      folded.set(key, { ...row, ...coarse(row) });
      continue;
    }
    seen.count += row.count;
    if (row.firstNs < seen.firstNs) seen.firstNs = row.firstNs;
    if (row.lastNs > seen.lastNs) seen.lastNs = row.lastNs;
  }
  return [...folded.values()];
}

/** Bounds the rows of each sender and each uid (ROWS_PER_SENDER, ROWS_PER_UID). */
function bounded(rows: SummaryRow[]): SummaryRow[] {
  const groups = (keyOf: (row: SummaryRow) => string) => {
    const map = new Map<string, SummaryRow[]>();
    for (const row of rows) {
      const key = keyOf(row);
      const group = map.get(key);
      if (group) group.push(row);
      else map.set(key, [row]);
    }
    return map;
  };
  const signalKey = (row: SummaryRow) => `${row.senderUid}:${row.source}:${row.signal}:${row.outcome}`;
  const noTarget = () => ({ targetPid: null, ret: null, result: null });
  rows = [...groups((row) => `${row.senderPid}:${signalKey(row)}`).values()].flatMap((group) =>
    group.length <= ROWS_PER_SENDER ? group : fold(group, () => '', noTarget),
  );
  return [...groups((row) => String(row.senderUid)).values()].flatMap((group) =>
    group.length <= ROWS_PER_UID ? group : fold(group, signalKey, () => ({ ...noTarget(), senderPid: 0, senderComm: '' })),
  );
}

/**
 * The summaries among a batch's records, dated with `offsetNs`
 * (CLOCK_REALTIME - CLOCK_BOOTTIME) and credited to run `runId`, at most
 * ROWS_PER_SENDER and ROWS_PER_UID of them.
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
  return rows.length === 0 ? rows : bounded(rows);
}

/**
 * summaryRows of the SUMMARY records among whole raw records (a drained or
 * replayed batch): only those are decoded, since they are few.
 */
export function summaryRowsIn(records: Buffer, offsetNs: bigint, runId: number): SummaryRow[] {
  const summaries: Buffer[] = [];
  for (let at = 0; at + EVENT_SIZE <= records.length; at += EVENT_SIZE) {
    if (records.readUInt32LE(at + OFFSETS.kind) === Kind.Summary) summaries.push(records.subarray(at, at + EVENT_SIZE));
  }
  return summaries.length === 0 ? [] : summaryRows(decode(Buffer.concat(summaries)), offsetNs, runId);
}
