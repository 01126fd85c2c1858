// What a report holds, and how much of a large window it shows before it
// summarises: shared by the gathering (./index) and the page (./html).
import type { StoredRow } from '../export/columns';
import type { FailedReport } from '../query/failed';
import type { DropWindow } from '../query/filters';
import type { TopSendersReport } from '../query/top-senders';
import type { RunStatus } from '../status';
import type { BucketCount, Death, Pair } from './reads';

/** How much the page shows before it summarises (and says what it left out). */
export const LIMITS = {
  /** Timeline buckets at most. */
  buckets: 600,
  /** Signals with a series of their own; the rest are summed as "other". */
  signalSeries: 8,
  /** Busiest senders listed per bucket when hovering. */
  sendersPerBucket: 3,
  /** Deaths marked on the timeline. */
  deathMarks: 200,
  /** Deaths with a verdict (the newest). */
  deathVerdicts: 20,
  /** Deaths listed without a verdict after those. */
  deathRows: 30,
  /** Signals to a process listed under its verdict (the newest). */
  rowsPerVerdict: 8,
  pairs: 40,
  failedGroups: 40,
  topSenders: 10,
} as const;

export interface Verdict {
  /** The pid asked about or that died; undefined for a name. */
  pid?: number;
  /** "pid 4242", "pid 4242 (sleep)", "processes named nginx". */
  subject: string;
  /** Why it is on the page: it died in the window, or it was asked for. */
  reason: 'died' | 'asked';
  death?: Death;
  /** who-killed's verdict, times in UTC. */
  text: string;
  /** The newest signals to the process, newest first. */
  rows: StoredRow[];
  /** Signals to it the page leaves out (older ones). */
  moreRows: number;
}

export interface Timeline {
  originNs: bigint;
  bucketMs: number;
  bucketCount: number;
  /** One series per signal shown, counts per bucket; "other" last when any were merged. */
  series: { signal: number | null; total: number; counts: number[] }[];
  /** Signals summed into "other". */
  merged: number[];
  /** The busiest senders of each bucket (LIMITS.sendersPerBucket). */
  hover: BucketCount[];
  total: number;
}

export interface Report {
  generatedNs: bigint;
  dbPath: string;
  hosts: string[];
  /** Recorder runs that overlap the window. */
  runs: RunStatus[];
  fromNs: bigint;
  toNs: bigint;
  /** Whether the window was asked for (else it is everything recorded). */
  since: boolean;
  until: boolean;
  empty: boolean;
  drops: DropWindow[];
  timeline: Timeline;
  deaths: Death[];
  deathTotal: number;
  verdicts: Verdict[];
  pairs: Pair[];
  pairCount: number;
  pairRows: number;
  failed: FailedReport;
  top: TopSendersReport;
}
