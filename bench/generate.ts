// Generates a realistic sigaudit database of N events (default 10 million
// over 7 days) through the recorder's own writer: batches into the hot
// table, then SignalWriter.archive() moves them into the indexed archive,
// as the recorder does between bursts. Prints the mover's rows/s, which is
// what the query indexes and rollups cost the recorder. As on a real
// recorder, a few rows (SLIPPED_SHARE) have a time before a row with a
// smaller id (different CPUs' ring-buffer reservations, fan-out rows after
// their send), so that reports' id windows are exercised where ids are out
// of time order.
//
//   node dist/bench/generate.js [--rows 10000000] [--days 7] [--db /tmp/sigaudit-bench/10m.db]
import { SingleBar, Presets } from 'cli-progress';
import { existsSync, rmSync, statSync } from 'node:fs';
import { openForWriting } from '../src/store/database';
import { SignalWriter, type CgroupName, type SignalRow } from '../src/store/writer';

export interface GenerateOptions {
  dbPath: string;
  rows: number;
  days: number;
  /** Rows the mover takes per call, as the recorder's ARCHIVE_CHUNK_ROWS. */
  archiveChunk?: number;
  progress?: boolean;
  seed?: number;
  cacheMiB?: number;
}

export interface GenerateResult {
  rows: number;
  writeSeconds: number;
  archiveSeconds: number;
  archiveRowsPerSecond: number;
  /** The mover's rate over the last tenth of the rows, when the archive is nearly full. */
  archiveRowsPerSecondAtEnd: number;
  fromNs: bigint;
  toNs: bigint;
}

/** A small deterministic PRNG (mulberry32): the same seed makes the same database. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Proc {
  pid: number;
  comm: string;
  uid: number;
  ppid: number;
  cgroup: bigint;
}

const UNITS: [bigint, string, string | null][] = [
  [1n, '/', null],
  [2n, '/init.scope', 'init.scope'],
  [10n, '/system.slice/nginx.service', 'nginx.service'],
  [11n, '/system.slice/postgresql.service', 'postgresql.service'],
  [12n, '/system.slice/api.service', 'api.service'],
  [13n, '/system.slice/cron.service', 'cron.service'],
  [14n, '/system.slice/ssh.service', 'ssh.service'],
  [15n, '/system.slice/node-exporter.service', 'node-exporter.service'],
  [16n, '/system.slice/containerd.service', 'containerd.service'],
  [17n, '/system.slice/logrotate.service', 'logrotate.service'],
  [20n, '/user.slice/user-1000.slice/session-4.scope', 'session-4.scope'],
];

const PID_MAX = 4_194_304;
/** Rows slipped before the row written just before them, and by how much at most (a recorder's database: 0.35 %, ≤ 487 µs). */
const SLIPPED_SHARE = 0.0035;
const MAX_SLIP_NS = 500_000;

export function generate(options: GenerateOptions): GenerateResult {
  const rnd = random(options.seed ?? 42);
  // Its own stream, so that the rows are the same as without slips but for their times.
  const slipRnd = random((options.seed ?? 42) + 1);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)];
  if (existsSync(options.dbPath)) for (const suffix of ['', '-wal', '-shm']) rmSync(options.dbPath + suffix, { force: true });
  const db = openForWriting(options.dbPath);
  // The recorder keeps SQLite's default page cache; --cache-mib measures a larger one.
  if (options.cacheMiB) db.pragma(`cache_size = -${options.cacheMiB * 1024}`);
  const writer = new SignalWriter(db);

  // Long-lived processes that send and receive most signals.
  const systemd: Proc = { pid: 1, comm: 'systemd', uid: 0, ppid: 0, cgroup: 2n };
  const nginx: Proc = { pid: 812, comm: 'nginx', uid: 0, ppid: 1, cgroup: 10n };
  const nginxWorkers: Proc[] = [813, 814, 815, 816].map((pid) => ({ pid, comm: 'nginx', uid: 33, ppid: 812, cgroup: 10n }));
  const postgres: Proc = { pid: 901, comm: 'postgres', uid: 113, ppid: 1, cgroup: 11n };
  const pgWorkers: Proc[] = [902, 903, 904, 905, 906].map((pid) => ({ pid, comm: 'postgres', uid: 113, ppid: 901, cgroup: 11n }));
  const api: Proc = { pid: 1204, comm: 'api-server', uid: 1001, ppid: 1, cgroup: 12n };
  const cron: Proc = { pid: 655, comm: 'cron', uid: 0, ppid: 1, cgroup: 13n };
  const sshd: Proc = { pid: 700, comm: 'sshd', uid: 0, ppid: 1, cgroup: 14n };
  const exporter: Proc = { pid: 1100, comm: 'node_exporter', uid: 65534, ppid: 1, cgroup: 15n };
  const containerd: Proc = { pid: 1300, comm: 'containerd', uid: 0, ppid: 1, cgroup: 16n };
  const shell: Proc = { pid: 4100, comm: 'bash', uid: 1000, ppid: 4099, cgroup: 20n };
  const longLived = [systemd, nginx, ...nginxWorkers, postgres, ...pgWorkers, api, cron, sshd, exporter, containerd, shell];
  const parents = [systemd, cron, shell, containerd, postgres, api, sshd];
  const shortComms = ['sh', 'bash', 'grep', 'sleep', 'curl', 'python3', 'logrotate', 'gzip', 'find', 'psql', 'runc', 'git'];

  let nextPid = 5000;
  const spawnShort = (parent: Proc): Proc => {
    nextPid = nextPid >= PID_MAX ? 300 : nextPid + 1 + Math.floor(rnd() * 3);
    return { pid: nextPid, comm: pick(shortComms), uid: parent.uid, ppid: parent.pid, cgroup: parent.cgroup };
  };
  // Recently started short-lived processes: the ones that get killed or exit.
  const alive: Proc[] = [];
  const startSome = () => {
    while (alive.length < 64) alive.push(spawnShort(pick(parents)));
  };

  const toNs = BigInt(Date.now()) * 1_000_000n;
  const spanNs = BigInt(Math.round(options.days * 86_400e9));
  const fromNs = toNs - spanNs;
  const meanGapNs = Number(spanNs) / options.rows;
  let ts = fromNs;
  /** The time of the row written last, which a slipped row comes before. */
  let lastTs = fromNs;

  const base = (sender: Proc | null, source: SignalRow['source'], signal: number): SignalRow => ({
    tsNs: ts,
    fanout: 0,
    source,
    senderPid: sender?.pid ?? null,
    senderTid: sender?.pid ?? null,
    senderComm: sender?.comm ?? null,
    senderUid: sender?.uid ?? null,
    senderAuid: sender && sender.uid >= 1000 ? sender.uid : null,
    senderPpid: sender?.ppid ?? null,
    senderCgroup: sender?.cgroup ?? null,
    targetPid: null,
    targetTid: null,
    deliveredPid: null,
    deliveredTid: null,
    deliveredComm: null,
    deliveredCgroup: null,
    signal,
    ret: source === 'kernel' ? null : 0,
    result: null,
    siCode: source === 'kernel' ? 0x80 : 0,
    origin: source === 'kernel' ? 'kernel' : null,
  });
  const deliver = (row: SignalRow, target: Proc, result: SignalRow['result'] = 'delivered'): SignalRow => ({
    ...row,
    deliveredPid: target.pid,
    deliveredTid: target.pid,
    deliveredComm: target.comm,
    deliveredCgroup: target.cgroup,
    result,
  });

  /** One event (a send and its fan-out rows). */
  const event = (): SignalRow[] => {
    const r = rnd();
    startSome();
    if (r < 0.28) {
      // a short-lived process exits: SIGCHLD to its parent
      const child = alive.splice(Math.floor(rnd() * alive.length), 1)[0];
      const parent = longLived.find((p) => p.pid === child.ppid) ?? systemd;
      return [{ ...deliver(base(child, 'kernel', 17), parent, rnd() < 0.3 ? 'ignored' : 'delivered'), siCode: rnd() < 0.9 ? 1 : 2, origin: 'child' }];
    }
    if (r < 0.46) {
      // the Go runtime preempting its own threads: tgkill SIGURG
      const row = deliver(base(containerd, 'tgkill', 23), containerd);
      const tid = containerd.pid + 1 + Math.floor(rnd() * 40);
      return [{ ...row, targetPid: containerd.pid, targetTid: tid, deliveredTid: tid, siCode: -6 }];
    }
    if (r < 0.6) {
      // liveness probes: kill(pid, 0), sometimes to a pid that is gone
      const target = pick(longLived);
      const stale = rnd() < 0.05;
      return [{ ...base(pick([exporter, systemd, postgres]), 'kill', 0), targetPid: stale ? 30_000 + Math.floor(rnd() * 1000) : target.pid, ret: stale ? -3 : 0 }];
    }
    if (r < 0.68) {
      // timers firing in interrupt context
      return [{ ...deliver(base(null, 'kernel', 14), pick([api, postgres, ...pgWorkers])), siCode: 0x80, origin: 'timer' }];
    }
    if (r < 0.71) {
      const victim = pick([...nginxWorkers, api, ...alive]);
      return [{ ...deliver(base(victim, 'kernel', 13), victim), siCode: 0, origin: 'pipe' }];
    }
    if (r < 0.76) {
      // systemd stopping, reloading and killing services and scopes
      const victim = rnd() < 0.7 ? alive.splice(Math.floor(rnd() * alive.length), 1)[0] : pick(longLived.slice(1));
      const signal = pick([15, 15, 15, 9, 1, 18]);
      const source = rnd() < 0.5 ? 'pidfd_send_signal' : 'kill';
      return [{ ...deliver(base(systemd, source, signal), victim), targetPid: victim.pid }];
    }
    if (r < 0.82) {
      // the terminal: SIGINT / SIGWINCH / SIGTSTP to a foreground process group
      const members = [spawnShort(shell), spawnShort(shell), spawnShort(shell)].slice(0, 1 + Math.floor(rnd() * 3));
      const row = { ...base(shell, 'kernel', pick([2, 28, 20, 18])), siCode: 0x80, origin: 'tty' as const };
      return members.map((member, i) => ({ ...deliver(row, member), fanout: i }));
    }
    if (r < 0.88) {
      // a short-lived kill(1) or a shell's kill builtin
      const killer = spawnShort(pick([cron, shell]));
      killer.comm = pick(['kill', 'bash', 'pkill']);
      const victim = alive.splice(Math.floor(rnd() * alive.length), 1)[0];
      return [{ ...deliver(base(killer, 'kill', pick([15, 15, 9, 2])), victim), targetPid: victim.pid }];
    }
    if (r < 0.91) {
      // nginx reloads and log rotation: master to workers, logrotate to master
      if (rnd() < 0.5) return nginxWorkers.map((worker, i) => ({ ...deliver(base(nginx, 'kill', 3), worker), targetPid: -nginx.pid, fanout: i }));
      const logrotate = spawnShort(cron);
      logrotate.comm = 'logrotate';
      return [{ ...deliver(base(logrotate, 'kill', 10), nginx), targetPid: nginx.pid }];
    }
    if (r < 0.93) {
      // postgres signalling its workers
      const worker = pick(pgWorkers);
      return [{ ...deliver(base(postgres, 'kill', pick([10, 12, 14])), worker), targetPid: worker.pid }];
    }
    if (r < 0.99) {
      // SIGCHLD to long-lived parents from their own workers, SIGCONT
      const parent = pick([postgres, nginx]);
      const worker = parent === postgres ? pick(pgWorkers) : pick(nginxWorkers);
      return [{ ...deliver(base(worker, 'kernel', 17), parent), siCode: 1, origin: 'child' }];
    }
    if (r < 0.996) {
      // failures: a stale pid file (ESRCH), a permission problem (EPERM)
      const killer = spawnShort(cron);
      killer.comm = pick(['kill', 'python3', 'bash']);
      if (rnd() < 0.8) return [{ ...base(killer, 'kill', 15), targetPid: 30_000 + Math.floor(rnd() * 5000), ret: -3 }];
      return [{ ...base({ ...killer, uid: 1000 }, 'kill', pick([15, 9])), targetPid: pick([1, 812, 901]), ret: -1 }];
    }
    if (r < 0.9995) {
      const victim = pick([...alive, api]);
      return [{ ...deliver(base(victim, 'kernel', 11), victim), siCode: 1, origin: 'fault' }];
    }
    const victim = pick([api, postgres, ...pgWorkers]);
    return [{ ...deliver(base(null, 'kernel', 9), victim), origin: 'oom' }];
  };

  const bar = options.progress === false ? undefined : new SingleBar({ format: 'generate |{bar}| {percentage}% {value}/{total} rows {eta_formatted} left  {stage}', etaBuffer: 200 }, Presets.shades_classic);
  bar?.start(options.rows, 0, { stage: '' });
  const chunk = options.archiveChunk ?? 50_000;
  const cgroups: CgroupName[] = UNITS.map(([id, path, unit]) => ({ id, path, unit }));
  const runId = writer.beginRun({ startedNs: fromNs, host: 'bench', kernel: 'bench', version: 'bench', recorderPid: 999_999_999, ringBytes: 16 << 20 });
  let written = 0;
  let hot = 0;
  let writeSeconds = 0;
  let archiveSeconds = 0;
  let endRows = 0;
  let endSeconds = 0;
  let batch: SignalRow[] = [];
  const flush = () => {
    let started = process.hrtime.bigint();
    writer.write(batch, written === 0 ? cgroups : []);
    writeSeconds += Number(process.hrtime.bigint() - started) / 1e9;
    written += batch.length;
    hot += batch.length;
    batch = [];
    while (hot >= chunk) {
      started = process.hrtime.bigint();
      const moved = writer.archive(chunk);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      archiveSeconds += seconds;
      if (written > options.rows * 0.9) {
        endRows += moved;
        endSeconds += seconds;
      }
      hot -= moved;
    }
    bar?.update(written, { stage: `mover ${Math.round(written / Math.max(archiveSeconds, 1e-9) / 1000)}k rows/s` });
  };
  let burstLeft = 0;
  while (written + batch.length < options.rows) {
    // Busier by day than by night, and now and then a burst (a restart storm).
    const day = Number(ts % 86_400_000_000_000n) / 86_400e9;
    const load = 1 + 0.7 * Math.sin(2 * Math.PI * (day - 0.25));
    if (burstLeft === 0 && rnd() < 1 / 50_000) burstLeft = 2000 + Math.floor(rnd() * 8000);
    const gap = burstLeft > 0 ? (burstLeft--, 50_000) : (-Math.log(1 - rnd()) * meanGapNs) / load;
    ts += BigInt(Math.max(1, Math.round(gap)));
    for (const row of event()) {
      const slip = slipRnd() < SLIPPED_SHARE ? BigInt(1 + Math.floor(slipRnd() * MAX_SLIP_NS)) : 0n;
      batch.push({ ...row, tsNs: slip === 0n ? ts : lastTs - slip });
      lastTs = ts;
    }
    if (batch.length >= 10_000) flush();
  }
  flush();
  while (writer.archive(chunk) > 0);
  // A few ring-buffer drops, so queries have windows to warn about.
  for (let i = 1; i <= 3; i++) {
    const at = fromNs + (spanNs * BigInt(i)) / 4n;
    writer.recordDrop(runId, at, at + 2_000_000_000n, BigInt(100 * i), 'ring_buffer_full');
  }
  writer.updateRunTotals(runId, written, 600n, ts, 'stopped');
  bar?.stop();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return {
    rows: written,
    writeSeconds,
    archiveSeconds,
    archiveRowsPerSecond: written / archiveSeconds,
    archiveRowsPerSecondAtEnd: endRows / Math.max(endSeconds, 1e-9),
    fromNs,
    toNs: ts,
  };
}

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : process.argv[i + 1];
}

if (require.main === module) {
  const options = {
    dbPath: flag('--db', '/tmp/sigaudit-bench/10m.db'),
    rows: Number(flag('--rows', '10000000')),
    days: Number(flag('--days', '7')),
    archiveChunk: Number(flag('--archive-chunk', '50000')),
    cacheMiB: Number(flag('--cache-mib', '0')),
  };
  const result = generate(options);
  const size = statSync(options.dbPath).size;
  process.stdout.write(
    `${result.rows} rows in ${options.dbPath} (${(size / 1024 ** 2).toFixed(0)} MiB)\n` +
      `hot-table writes: ${Math.round(result.rows / result.writeSeconds)} rows/s\n` +
      `archive mover (indexes + rollups): ${Math.round(result.archiveRowsPerSecond)} rows/s overall, ` +
      `${Math.round(result.archiveRowsPerSecondAtEnd)} rows/s over the last 10%\n`,
  );
}
