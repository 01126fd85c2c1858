// The tracers the bench compares: nothing, a bpftrace killsnoop-style script,
// an auditd rule, and sigaudit itself. Each is started before a traced load
// and stopped after it; everything a tracer changes on the host is undone in
// stop() and, should the bench die first, by the exit-time cleanup.
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { registerCleanup } from './cleanup';
import { ensureInstalled } from './install';
import { pollUntil, runChecked, waitForExit } from './proc';
import { findRepoRoot, scratchDir } from './workspace';

/** The load generator's process name, used to pick its events out of host-wide logs. */
export const LOADGEN_COMM = 'loadgen';

export interface TracerSessionStats {
  /** Events the tracer stored for the load generator during the session, when cheap to count. */
  recorded?: number;
  /** Events the tracer itself reports having lost (host-wide). */
  dropped?: number;
}

export interface Tracer {
  readonly name: string;
  /** One line for the report: what exactly was attached. */
  readonly description: string;
  /** Once, before any round: installs or checks what start() needs, failing with the fix. */
  prepare(): Promise<void>;
  /** Resolves once the tracer sees every signal sent from now on. */
  start(): Promise<void>;
  /** Detaches and undoes everything start() did; safe to call when start() failed halfway. */
  stop(): Promise<TracerSessionStats>;
  /** Version string for the report, when there is one. */
  version?(): string | undefined;
}

/** The control: nothing attached. Its "overhead" is the noise floor of the machine. */
export class NoTracer implements Tracer {
  readonly name = 'none';
  readonly description = 'nothing attached (a second bare run: shows the noise floor)';
  async prepare(): Promise<void> {}
  async start(): Promise<void> {}
  async stop(): Promise<TracerSessionStats> {
    return {};
  }
}

// ---------------------------------------------------------------------------
// bpftrace

/**
 * killsnoop.bt from the bpftrace tools, with one tab-separated line per call
 * so the load generator's lines can be counted. It sees kill(2) only, as
 * the original does.
 */
function killsnoopScript(readyFile: string): string {
  // args->field is the syntax of Debian bookworm's bpftrace 0.17 (newer
  // releases also accept args.field).
  // BEGIN runs after every probe is attached, and system() acts at once,
  // whereas printf output to a file is block-buffered and would reveal
  // readiness only after kilobytes of events. --unsafe is needed for system()
  // only; the per-signal path is the stock one.
  return `
BEGIN { system("touch ${readyFile}"); }

tracepoint:syscalls:sys_enter_kill
{
  @tpid[tid] = args->pid;
  @tsig[tid] = args->sig;
}

tracepoint:syscalls:sys_exit_kill
/@tpid[tid]/
{
  printf("%llu\\t%d\\t%s\\t%d\\t%d\\t%d\\n", nsecs, pid, comm, @tsig[tid], @tpid[tid], args->ret);
  delete(@tpid[tid]);
  delete(@tsig[tid]);
}
`;
}

const TRACEFS = '/sys/kernel/tracing';

/**
 * bpftrace and the reference tracer resolve `syscalls:` tracepoints through
 * tracefs. Where it is not mounted, mount it for the bench and unmount it at
 * exit, so the host is left as it was.
 */
export async function ensureTracefs(who: string): Promise<void> {
  if (fs.existsSync(path.join(TRACEFS, 'events'))) return;
  await runChecked('mount', ['-t', 'tracefs', 'nodev', TRACEFS]).catch((error: Error) => {
    throw new Error(`${who} needs tracefs, which is not mounted and could not be mounted (${error.message}): mount -t tracefs nodev ${TRACEFS}`);
  });
  registerCleanup(`unmount ${TRACEFS}`, () => {
    spawnSync('umount', [TRACEFS]);
  });
}

export class BpftraceTracer implements Tracer {
  readonly name = 'bpftrace';
  readonly description = 'bpftrace killsnoop-style script (sys_enter_kill/sys_exit_kill, hash map, printf) writing to a file';
  private child?: ChildProcess;
  private dir?: string;
  private stderr = '';
  private unregister?: () => void;
  private versionText?: string;

  async prepare(): Promise<void> {
    await ensureInstalled([{ command: 'bpftrace', debianPackage: 'bpftrace' }]);
    this.versionText = (await runChecked('bpftrace', ['--version'])).stdout.trim();
    await ensureTracefs('bpftrace');
  }

  version(): string | undefined {
    return this.versionText;
  }

  async start(): Promise<void> {
    const dir = fs.mkdtempSync(path.join(scratchDir(), 'bpftrace-'));
    this.dir = dir;
    const readyFile = path.join(dir, 'ready');
    const script = path.join(dir, 'killsnoop.bt');
    fs.writeFileSync(script, killsnoopScript(readyFile));

    const child = spawn('bpftrace', ['--unsafe', '-o', path.join(dir, 'events.log'), script], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    this.stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    child.on('error', () => {}); // reported through the exit check below
    // SIGKILL is enough: the kernel detaches a dead process's probes.
    this.unregister = registerCleanup('kill bpftrace', () => child.kill('SIGKILL'));

    await pollUntil('bpftrace to attach its probes', 60_000, () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`bpftrace exited before attaching: ${this.stderr.trim()}`);
      }
      return fs.existsSync(readyFile) ? true : undefined;
    });
    // A signal 0 from us: stop() checks it was recorded, which proves the
    // probes were live before the load started.
    process.kill(process.pid, 0);
  }

  async stop(): Promise<TracerSessionStats> {
    const child = this.child;
    const dir = this.dir;
    this.child = undefined;
    this.dir = undefined;
    try {
      if (!child || !dir) return {};
      child.kill('SIGINT'); // lets bpftrace flush its buffered output
      const exit = await waitForExit(child, 15_000);
      if (exit.code !== 0) throw new Error(`bpftrace exited with ${exit.code ?? exit.signal}: ${this.stderr.trim()}`);
      return await countBpftraceLog(path.join(dir, 'events.log'));
    } finally {
      child?.kill('SIGKILL');
      this.unregister?.();
      this.unregister = undefined;
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

async function countBpftraceLog(logFile: string): Promise<TracerSessionStats> {
  let recorded = 0;
  let dropped = 0;
  let sawCanary = false;
  const lines = readline.createInterface({ input: fs.createReadStream(logFile), crlfDelay: Infinity });
  for await (const line of lines) {
    const fields = line.split('\t');
    if (fields.length === 6) {
      if (fields[2] === LOADGEN_COMM) recorded++;
      else if (Number(fields[1]) === process.pid) sawCanary = true;
      continue;
    }
    const lost = /^Lost (\d+) events$/.exec(line);
    if (lost) dropped += Number(lost[1]);
  }
  if (!sawCanary) throw new Error('bpftrace did not record the readiness signal: its probes were not live when the load started');
  return { recorded, dropped };
}

// ---------------------------------------------------------------------------
// auditd

const AUDIT_KEY = 'sigaudit-bench';
const AUDIT_RULE = ['always,exit', '-F', 'arch=b64', '-S', 'kill', '-S', 'tkill', '-S', 'tgkill', '-k', AUDIT_KEY];

/** The kernel audit settings the bench changes, as `auditctl -s` reports them. */
interface AuditSettings {
  enabled: string;
  failure: string;
  backlog_limit: string;
  backlog_wait_time: string;
}

function auditStatus(): Record<string, string> {
  const result = spawnSync('auditctl', ['-s'], { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`auditctl -s failed (${(result.stderr || '').trim()}): the kernel audit subsystem is unavailable or we lack CAP_AUDIT_CONTROL`);
  }
  const status: Record<string, string> = {};
  for (const line of result.stdout.split('\n')) {
    const [key, value] = line.trim().split(/\s+/, 2);
    if (key && value !== undefined) status[key] = value;
  }
  return status;
}

/** Runs auditctl synchronously (usable from the exit handler); returns whether it succeeded. */
function auditctl(args: string[]): boolean {
  return spawnSync('auditctl', args, { stdio: 'ignore' }).status === 0;
}

function restoreAuditSettings(settings: AuditSettings): void {
  auditctl([
    '-e', settings.enabled,
    '-f', settings.failure,
    '-b', settings.backlog_limit,
    '--backlog_wait_time', settings.backlog_wait_time,
  ]);
}

/**
 * A stock Debian auditd with one rule on kill/tkill/tgkill. The bench runs
 * its own daemon in the foreground with Debian's auditd.conf, changed only
 * to log into the scratch directory, so the host's audit log is untouched.
 */
export class AuditdTracer implements Tracer {
  readonly name = 'auditd';
  readonly description = `auditd with \`-a ${AUDIT_RULE.join(' ')}\` and Debian's stock auditd.conf / audit.rules settings`;
  private daemon?: ChildProcess;
  private dir?: string;
  private savedSettings?: AuditSettings;
  private lostBefore = 0;
  private unregister?: () => void;
  private versionText?: string;

  async prepare(): Promise<void> {
    await ensureInstalled([
      { command: 'auditd', debianPackage: 'auditd' },
      { command: 'auditctl', debianPackage: 'auditd' },
    ]);
    this.versionText = (await runChecked('auditctl', ['-v'])).stdout.trim();
    const status = auditStatus();
    if (status.pid && status.pid !== '0') {
      throw new Error(
        `auditd is already running (pid ${status.pid}); the bench starts its own with a scratch log. ` +
          'Stop it first (service auditd stop), or leave auditd out with --tracers.',
      );
    }
  }

  version(): string | undefined {
    return this.versionText;
  }

  async start(): Promise<void> {
    const status = auditStatus();
    this.savedSettings = {
      enabled: status.enabled ?? '0',
      failure: status.failure ?? '1',
      backlog_limit: status.backlog_limit ?? '64',
      backlog_wait_time: status.backlog_wait_time ?? '60000',
    };
    const dir = fs.mkdtempSync(path.join(scratchDir(), 'auditd-'));
    this.dir = dir;
    const logDir = path.join(dir, 'log');
    fs.mkdirSync(logDir);
    fs.writeFileSync(path.join(dir, 'auditd.conf'), scratchAuditdConf(path.join(logDir, 'audit.log')), { mode: 0o600 });

    const daemon = spawn('auditd', ['-n', '-c', dir], { stdio: 'ignore' });
    this.daemon = daemon;
    daemon.on('error', () => {}); // reported through the exit check below
    const saved = this.savedSettings;
    // Order matters: drop the rule first so the kernel stops producing
    // records (with no daemon it would print them to the kernel log), then
    // stop the daemon, then put the kernel settings back.
    this.unregister = registerCleanup('remove the auditd rule and stop auditd', () => {
      auditctl(['-d', ...AUDIT_RULE]);
      daemon.kill('SIGTERM');
      restoreAuditSettings(saved);
    });

    await pollUntil('auditd to register with the kernel', 15_000, () => {
      if (daemon.exitCode !== null || daemon.signalCode !== null) {
        throw new Error(`auditd exited at start with ${daemon.exitCode ?? daemon.signalCode}; run \`auditd -f -n -c ${dir}\` to see why`);
      }
      return auditStatus().pid === String(daemon.pid) ? true : undefined;
    });
    // What Debian's /etc/audit/rules.d/audit.rules sets before any rule.
    await runChecked('auditctl', ['-b', '8192', '--backlog_wait_time', '60000', '-f', '1']);
    await runChecked('auditctl', ['-a', ...AUDIT_RULE]);
    this.lostBefore = Number(auditStatus().lost ?? 0);

    // Records reach the log asynchronously: wait for one of ours so the load
    // starts with the whole pipeline live.
    process.kill(process.pid, 0);
    const logFile = path.join(logDir, 'audit.log');
    const canary = new RegExp(`type=SYSCALL .* pid=${process.pid} .*key="${AUDIT_KEY}"`);
    await pollUntil('auditd to log the readiness signal', 15_000, () =>
      fs.existsSync(logFile) && canary.test(fs.readFileSync(logFile, 'utf8')) ? true : undefined,
    );
  }

  async stop(): Promise<TracerSessionStats> {
    const daemon = this.daemon;
    const dir = this.dir;
    const saved = this.savedSettings;
    this.daemon = undefined;
    this.dir = undefined;
    try {
      if (!daemon || !dir) return {};
      auditctl(['-d', ...AUDIT_RULE]);
      // Records still queued in the kernel are lost if the daemon exits
      // before reading them; let it catch up first.
      await pollUntil('the kernel audit backlog to drain', 30_000, () => (auditStatus().backlog === '0' ? true : undefined));
      daemon.kill('SIGTERM'); // auditd writes out what it has read, then exits
      await waitForExit(daemon, 30_000);
      const dropped = Number(auditStatus().lost ?? 0) - this.lostBefore;
      return { recorded: await countAuditLog(path.join(dir, 'log')), dropped };
    } finally {
      auditctl(['-d', ...AUDIT_RULE]);
      daemon?.kill('SIGKILL');
      if (saved) restoreAuditSettings(saved);
      this.unregister?.();
      this.unregister = undefined;
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

function scratchAuditdConf(logFile: string): string {
  const stock = fs.existsSync('/etc/audit/auditd.conf') ? fs.readFileSync('/etc/audit/auditd.conf', 'utf8') : '';
  const lines = stock.split('\n').filter((line) => !/^\s*(log_file|num_logs)\s*=/.test(line));
  // A traced run writes ~650 bytes per signal; keep every rotated file so
  // the records can be counted (rotation itself is as in the stock config).
  lines.push(`log_file = ${logFile}`, 'num_logs = 99');
  return lines.join('\n') + '\n';
}

async function countAuditLog(logDir: string): Promise<number> {
  let recorded = 0;
  const comm = `comm="${LOADGEN_COMM}"`;
  for (const file of fs.readdirSync(logDir)) {
    const lines = readline.createInterface({ input: fs.createReadStream(path.join(logDir, file)), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line.startsWith('type=SYSCALL') && line.includes(comm)) recorded++;
    }
  }
  return recorded;
}

// ---------------------------------------------------------------------------
// sigaudit

/** Path of the built CLI, relative to the repository root. */
const SIGAUDIT_CLI = path.join('dist', 'src', 'index.js');

/**
 * `sigaudit record` as an operator runs it, default options, into a scratch
 * database. Ready once it prints `recording to <path>`, which it does after
 * every probe is attached.
 */
export class SigauditTracer implements Tracer {
  readonly name = 'sigaudit';
  readonly description = '`sigaudit record` with default options, writing to a scratch database';
  private child?: ChildProcess;
  private dbPath?: string;
  private stderr = '';
  private unregister?: () => void;

  /** countRows: also count the stored rows after each session (slow at millions of rows). */
  constructor(private readonly options: { countRows: boolean } = { countRows: false }) {}

  private cli(): string {
    return path.join(findRepoRoot(), SIGAUDIT_CLI);
  }

  async prepare(): Promise<void> {
    if (!fs.existsSync(this.cli())) {
      throw new Error(`sigaudit is not built (${this.cli()} is missing): run \`npm run build\` first, or leave it out with --tracers`);
    }
  }

  async start(): Promise<void> {
    const dbPath = path.join(fs.mkdtempSync(path.join(scratchDir(), 'sigaudit-')), 'bench.db');
    this.dbPath = dbPath;
    // Every loadgen signal is a row, as with the other tracers: no budget.
    const child = spawn(process.execPath, [this.cli(), 'record', '--db', dbPath, '--flood-budget', 'off'], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    child.on('error', () => {}); // reported through the exit check below
    // The database is scratch, so the exit path need not let it flush.
    this.unregister = registerCleanup('kill sigaudit record', () => child.kill('SIGKILL'));

    await pollUntil('`sigaudit record` to print "recording to"', 60_000, () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`sigaudit record exited at start with ${child.exitCode ?? child.signalCode}: ${this.stderr.trim()}`);
      }
      return /recording to /.test(this.stderr) ? true : undefined;
    });
  }

  async stop(): Promise<TracerSessionStats> {
    const child = this.child;
    const dbPath = this.dbPath;
    this.child = undefined;
    this.dbPath = undefined;
    try {
      if (!child || !dbPath) return {};
      child.kill('SIGTERM');
      const exit = await waitForExit(child, 120_000);
      if (exit.code !== 0) throw new Error(`sigaudit record exited with ${exit.code ?? exit.signal} on SIGTERM: ${this.stderr.trim()}`);
      // The CLI's last line: "stopped on SIGTERM: recorded N signals, dropped M".
      const summary = /recorded (\d+) signals, dropped (\d+)/.exec(this.stderr);
      const stats: TracerSessionStats = summary ? { dropped: Number(summary[2]) } : {};
      if (this.options.countRows) stats.recorded = await countRecorded(dbPath, LOADGEN_COMM);
      return stats;
    } finally {
      child?.kill('SIGKILL');
      this.unregister?.();
      this.unregister = undefined;
      if (dbPath) fs.rmSync(path.dirname(dbPath), { recursive: true, force: true });
    }
  }
}

/**
 * COMPLETENESS HOOK (issue 5, "events recorded vs. sent"): the number of
 * signals stored in a sigaudit database, counted through the public CLI
 * (`sigaudit export --format jsonl`, one JSON object per row) rather than
 * the schema, so it keeps working while the schema evolves. With senderComm,
 * only rows whose `sender_comm` matches are counted, so signals other
 * processes sent during the run do not inflate the figure.
 */
export async function countRecorded(dbPath: string, senderComm?: string): Promise<number> {
  const child = spawn(process.execPath, [path.join(findRepoRoot(), SIGAUDIT_CLI), 'export', '--db', dbPath, '--format', 'jsonl'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let rows = 0;
  const lines = readline.createInterface({ input: child.stdout!, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line) continue;
    // Kernel rows are the senders' exit SIGCHLDs, not signals they sent.
    const row = JSON.parse(line) as { sender_comm?: string; source?: string };
    if (senderComm === undefined || (row.sender_comm === senderComm && row.source !== 'kernel')) rows++;
  }
  const exit = await waitForExit(child, 60_000);
  if (exit.code !== 0) throw new Error(`sigaudit export --db ${dbPath} failed (${exit.code ?? exit.signal}): ${stderr.trim()}`);
  return rows;
}

export const TRACER_NAMES = ['none', 'bpftrace', 'auditd', 'sigaudit'] as const;
export type TracerName = (typeof TRACER_NAMES)[number];

export function createTracer(name: TracerName, options: { countSigauditRows: boolean }): Tracer {
  switch (name) {
    case 'none':
      return new NoTracer();
    case 'bpftrace':
      return new BpftraceTracer();
    case 'auditd':
      return new AuditdTracer();
    case 'sigaudit':
      return new SigauditTracer({ countRows: options.countSigauditRows });
  }
}
