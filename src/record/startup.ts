// Start-up: checks, the one-recorder lock, the BPF object loaded and
// attached, dead runs' spills replayed, and this run begun. Anything that
// fails leaves nothing behind.
import { hostname, release } from 'node:os';
import { NativeError } from '../errors';
import { type WritableDatabase } from '../store/database';
import { recordEarlierDatabase } from '../store/earlier-databases';
import { SignalWriter } from '../store/writer';
import { VERSION } from '../version';
import { CgroupNames } from './cgroups';
import { EVENT_SIZE } from './decode';
import { nativeFailure } from './native-errors';
import { checkBtf, checkPrivileges, chooseSyscallExitsVia, ownPidNamespace } from './preflight';
import { openOrStartAfresh } from './fresh-database';
import { compatExitTraced, loadAddon, programsFor, type Probe } from './probe';
import { replaySpills } from './replay';

export interface StartOptions {
  dbPath: string;
  ringBytes: number;
  skipProbes: boolean;
  excludedComms: string[];
  /** Attach the raw sys_exit for ia32 compat sends too (their failures included). */
  ia32: boolean;
  /** Signal numbers to keep; empty keeps all. */
  onlySignals: number[];
  /** Detailed records per second and burst per uid before sends are summarised (bpf/flood.h); undefined: no budget. */
  floodBudget?: FloodBudget;
  gid?: number;
  log: (line: string) => void;
  verbose: boolean;
}

export interface FloodBudget {
  rate: number;
  burst: number;
}

export interface Started {
  db: WritableDatabase;
  writer: SignalWriter;
  probe: Probe;
  runId: number;
}

export function isoTime(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}

export function wallNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** The budget as bpf/flood.h keeps it: one token every interval, a burst of `burst` tokens. */
function floodBudgetNs(budget: FloodBudget | undefined): { floodIntervalNs: bigint; floodBurstNs: bigint } {
  if (!budget) return { floodIntervalNs: 0n, floodBurstNs: 0n };
  const intervalNs = BigInt(Math.max(1, Math.round(1e9 / budget.rate)));
  return { floodIntervalNs: intervalNs, floodBurstNs: intervalNs * BigInt(budget.burst) };
}

function signalMask(signals: number[]): bigint {
  return signals.reduce((mask, signal) => mask | (1n << BigInt(signal - 1)), 0n);
}

/**
 * SQLite's quick_check reads every page, so damage no write would reach is
 * found at start too; its report is several lines ("*** in database main
 * ***", then each problem), made one for the log and the table.
 */
function checkPages(db: WritableDatabase): void {
  const verdict = db.pragma('quick_check', { simple: true }) as string;
  if (verdict === 'ok') return;
  const damage = new Error(`quick_check: ${verdict.replace(/\*\*\* in database main \*\*\*/, '').replace(/\s+/g, ' ').trim()}`);
  throw Object.assign(damage, { code: 'SQLITE_CORRUPT' });
}

/** Every probe attached and the run begun; `then` finishes starting (throwing undoes everything). */
export function startRecording<T>(options: StartOptions, then: (started: Started) => T): T {
  checkPrivileges();
  checkBtf();
  // Takes the one-recorder lock before loading anything into the kernel;
  // a damaged database is moved aside and a fresh one started.
  const cgroups = new CgroupNames();
  const { db, used: writer, earlier } = openOrStartAfresh(options.dbPath, { gid: options.gid, lock: true, warn: options.log }, options.log, (opened) => {
    const opener = new SignalWriter(opened, { nameCgroups: (ids) => cgroups.newNames(ids) });
    // A missing SQLite extension stops the recorder here, with the fix, not at the first batch.
    opener.prepareIngest();
    checkPages(opened);
    return opener;
  });
  let probe: Probe | undefined;
  try {
    const addon = loadAddon();
    const exits = { via: chooseSyscallExitsVia(options.log), ia32: options.ia32 };
    probe = new addon.Probe({
      ringBytes: options.ringBytes,
      wakeupBytes: Math.max(EVENT_SIZE, Math.floor(options.ringBytes / 4)),
      skipProbes: options.skipProbes,
      onlySignals: signalMask(options.onlySignals),
      excludedComms: options.excludedComms,
      compatExitTraced: compatExitTraced(exits),
      ...floodBudgetNs(options.floodBudget),
      pidnsInum: ownPidNamespace(),
      log: (level, line) => {
        if (options.verbose || level === 'warn') options.log(`libbpf ${level}: ${line.trimEnd()}`);
      },
    });
    for (const program of programsFor(exits)) probe.attach(program);
    // Before this run begins: the gap a dead run left then starts after its replayed signals.
    replaySpills(options.dbPath, writer, options.log);
    const startedNs = wallNs();
    const runId = writer.beginRun({
      startedNs,
      host: hostname(),
      kernel: release(),
      version: VERSION,
      recorderPid: process.pid,
      ringBytes: options.ringBytes,
    });
    if (earlier) recordEarlierDatabase(db, { ...earlier, runId });
    for (const gap of writer.closeUncleanRuns(runId, startedNs))
      options.log(`run ${gap.runId} did not stop cleanly: nothing was recorded from ${isoTime(gap.fromNs)} to ${isoTime(gap.toNs)} (recorded as an unclean shutdown)`);
    return then({ db, writer, probe, runId });
  } catch (error) {
    void probe?.close();
    db.recorderLock?.close();
    db.close();
    if (error instanceof NativeError) throw nativeFailure(error);
    throw error;
  }
}
