// The flood section (issue 15): two processes of uid 65534 send kill(self, 0)
// flat out while root kills a victim with /bin/kill -TERM every second;
// measures how many of those kills are recorded, what became of the flood
// (recorded, summarised, dropped, against the load generator's own count),
// the recorder's peak RSS, and who-killed on the database it leaves, with
// the default --flood-budget or none (every send a row, or a drop).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { registerCleanup } from './cleanup';
import { runChecked, waitForExit } from './proc';
import { Recorder, sampleProcess } from './recorder';
import { findRepoRoot } from './workspace';
import { LOADGEN_COMM } from './tracers';

const NOBODY = 65534;
/** Each load generator run lasts about this long, so the flood ends near its deadline. */
const RUN_SECONDS = 5;
const KILL_EVERY_MS = 1000;

export interface FloodRun {
  seconds: number;
  /** The default --flood-budget; false: --flood-budget off. */
  budget: boolean;
}

export interface FloodResult extends FloodRun {
  /** kill(2) calls the two flooding processes made, by their own count. */
  sent: number;
  kills: number;
  killsRecorded: number;
  /** Root's kills the kernel counted as dropped under its name (the ring buffer's reserved half was full). */
  killsDropped: number;
  /** Root's kills recorded as a send to the victim's pid, but without the victim reached (delivered_pid). */
  killsWithoutDelivery: number;
  recorded: number;
  summarised: number;
  /** The flood's sends counted as dropped under its name. */
  dropped: number;
  /** Drops of the whole run (every sender), from the drops table. */
  runDropped: number;
  /** recorded + summarised + dropped = sent. */
  identity: boolean;
  peakRssBytes: number;
  /** RssAnon, RssFile and RssShmem (KiB) when the recorder's RSS was highest. */
  peakRssParts: { anonKiB: number; fileKiB: number; shmemKiB: number };
  /** Rows the recorder left in the unindexed hot table when it stopped. */
  hotRowsAtStop: number;
  /** `sigaudit query who-killed <last victim>` on the stopped recorder's database: median and range of WHO_KILLED_RUNS runs, ms. */
  whoKilledMs: { median: number; min: number; max: number };
}

const WHO_KILLED_RUNS = 5;

/** The load generator, where uid 65534 may run it. */
function sharedCopy(binary: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sigaudit-flood-'));
  registerCleanup(`remove ${dir}`, () => fs.rmSync(dir, { recursive: true, force: true }));
  fs.chmodSync(dir, 0o755);
  const copy = path.join(dir, 'loadgen');
  fs.copyFileSync(binary, copy);
  fs.chmodSync(copy, 0o755);
  return copy;
}

/** Floods until `deadline` in runs of about RUN_SECONDS; returns the calls made. */
async function floodUntil(loadgen: string, deadline: number): Promise<number> {
  let sent = 0;
  let count = 100_000;
  while (Date.now() < deadline) {
    const { stdout } = await runChecked('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', loadgen, 'kill0', String(count), '2'], { killGroupOnExit: true });
    const result = JSON.parse(stdout) as { sent: number; elapsed_ns: number };
    sent += result.sent;
    const left = (deadline - Date.now()) / 1000;
    const perSecond = (result.sent / 2) / (result.elapsed_ns / 1e9);
    count = Math.max(10_000, Math.round(perSecond * Math.min(RUN_SECONDS, Math.max(0.5, left))));
  }
  return sent;
}

/** Root kills a fresh `sleep` every KILL_EVERY_MS until `stop` says so; returns the victims' pids. */
async function killEverySecond(running: () => boolean): Promise<number[]> {
  const victims: number[] = [];
  while (running()) {
    const victim = spawn('sleep', ['600'], { stdio: 'ignore' });
    victims.push(victim.pid!);
    const killer = spawn('/bin/kill', ['-TERM', String(victim.pid)], { stdio: 'ignore' });
    await waitForExit(killer, 60_000);
    await waitForExit(victim, 60_000);
    await new Promise((resolve) => setTimeout(resolve, KILL_EVERY_MS));
  }
  return victims;
}

/** The parts of a process's resident memory (/proc/PID/status), KiB. */
function rssParts(pid: number): FloodResult['peakRssParts'] {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s*(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { anonKiB: kib('RssAnon'), fileKiB: kib('RssFile'), shmemKiB: kib('RssShmem') };
}

/** Times who-killed of `pid` through the CLI, as a user would run it after the flood. */
async function timeWhoKilled(dbPath: string, pid: number): Promise<FloodResult['whoKilledMs']> {
  const cli = path.join(findRepoRoot(), 'dist', 'src', 'index.js');
  const times: number[] = [];
  for (let run = 0; run < WHO_KILLED_RUNS; run++) {
    const started = process.hrtime.bigint();
    await runChecked(process.execPath, [cli, 'query', 'who-killed', String(pid), '--db', dbPath]);
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)], min: times[0], max: times[times.length - 1] };
}

export async function measureFlood(binary: string, { seconds, budget }: FloodRun, log: (line: string) => void): Promise<FloodResult> {
  const loadgen = sharedCopy(binary);
  // The default budget, set again: the bench's recorder turns it off otherwise.
  const recorder = new Recorder(budget ? ['--flood-budget', '100/1000'] : []);
  await recorder.start();
  let peakKiB = 0;
  let peakRssKiB = 0;
  let peakRssParts = { anonKiB: 0, fileKiB: 0, shmemKiB: 0 };
  const pid = recorder.pid;
  // Through the stop too, which writes what is still queued: until the process is gone.
  const sample = () => {
    try {
      const now = sampleProcess(pid);
      if (now.rssKiB >= peakRssKiB) {
        peakRssKiB = now.rssKiB;
        peakRssParts = rssParts(pid);
      }
      peakKiB = Math.max(peakKiB, now.hwmKiB);
    } catch {
      // It has exited.
    }
  };
  const sampler = setInterval(sample, 250);
  let flooding = true;
  const kills = killEverySecond(() => flooding);
  log(`flooding for ${seconds} s as uid ${NOBODY} (2 processes) while root kills a victim every second${budget ? '' : ', with --flood-budget off'}`);
  const sent = await floodUntil(loadgen, Date.now() + seconds * 1000);
  flooding = false;
  const victims = await kills;
  await recorder.stop();
  clearInterval(sampler);
  const whoKilledMs = await timeWhoKilled(recorder.dbPath, victims[victims.length - 1]);
  const result = recorder.read((db) => {
    const recordedKills = new Set(
      (db.prepare("SELECT delivered_pid FROM signals WHERE sender_comm = 'kill' AND signal = 15").all() as { delivered_pid: number }[]).map((row) => row.delivered_pid),
    );
    const sentTo = new Set(
      (db.prepare("SELECT target_pid FROM signals WHERE sender_comm = 'kill' AND signal = 15 AND delivered_pid IS NULL").all() as { target_pid: number }[]).map((row) => row.target_pid),
    );
    const one = (sql: string, ...params: unknown[]) => (db.prepare(sql).get(...params) as { n: number | null }).n ?? 0;
    const flood = `sender_comm = '${LOADGEN_COMM}' AND sender_uid = ${NOBODY} AND source = 'kill'`;
    const recorded = one(`SELECT count(*) AS n FROM signals WHERE ${flood}`);
    const summarised = one(`SELECT sum(count) AS n FROM summaries WHERE ${flood} AND outcome = 'summarised'`);
    const dropped = one(`SELECT sum(count) AS n FROM summaries WHERE ${flood} AND outcome = 'dropped'`);
    return {
      seconds,
      budget,
      sent,
      kills: victims.length,
      killsRecorded: victims.filter((pid) => recordedKills.has(pid)).length,
      killsDropped: one("SELECT sum(count) AS n FROM summaries WHERE sender_comm = 'kill' AND signal = 15 AND outcome = 'dropped'"),
      killsWithoutDelivery: victims.filter((pid) => !recordedKills.has(pid) && sentTo.has(pid)).length,
      recorded,
      summarised,
      dropped,
      runDropped: one('SELECT sum(count) AS n FROM drops'),
      identity: recorded + summarised + dropped === sent,
      peakRssBytes: peakKiB * 1024,
      peakRssParts,
      hotRowsAtStop: one('SELECT count(*) AS n FROM signals_hot'),
      whoKilledMs,
    };
  });
  // A database that misses some of root's kills is kept, to find out why.
  if (result.killsRecorded + result.killsDropped < result.kills) {
    fs.writeFileSync(`${recorder.dbPath}.victims`, `${victims.join('\n')}\n`);
    log(`kept ${recorder.dbPath} (victims' pids in ${recorder.dbPath}.victims): ${result.kills - result.killsRecorded} of root's kills are not in it`);
  } else recorder.remove();
  log(`flood of ${seconds} s${budget ? '' : ' without budget'}: ${JSON.stringify(result)}`);
  return result;
}
