// A Debian container with systemd as PID 1, for testing the service under a
// real systemd: the rootfs is built once by mmdebstrap and cached by its
// package list; every boot writes to a tmpfs overlay (--volatile=overlay),
// so the cache is never changed and a failed test leaves nothing behind.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** What the container needs beyond the apt variant: systemd as init, the journal's bus, the addon's libraries, kill. */
export const CONTAINER_PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'libbpf1', 'libelf1', 'procps'];
const CACHE_DIR = '/var/cache/sigaudit-test';
/** The checkout, bound read-only at /opt/sigaudit: the container runs the code under test. */
const CHECKOUT = join(__dirname, '..', '..', '..');
const CONTAINER_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const BOOT_TIMEOUT_MS = 120_000;
const POWEROFF_TIMEOUT_MS = 30_000;

/** Whether this machine can boot the container, or why not. */
export function containerSupport(): { skip?: string } {
  if (process.env.CI) return {};
  if (process.getuid?.() !== 0) return { skip: 'the systemd container test needs root' };
  for (const tool of ['mmdebstrap', 'systemd-nspawn'])
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return { skip: `${tool} is not installed (apt-get install mmdebstrap systemd-container)` };
  return {};
}

/** The host's Debian release: the addon was linked against its libbpf, so the container runs the same one. */
function hostSuite(): string {
  const codename = /^VERSION_CODENAME=(\w+)$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1];
  if (!codename) throw new Error('/etc/os-release names no VERSION_CODENAME to build the container from');
  return codename;
}

/** The rootfs for this release and package list, built (about 35 s) if it is not cached yet. */
export function cachedRootfs(): { path: string; built: boolean } {
  const suite = hostSuite();
  const key = createHash('sha256').update([suite, ...CONTAINER_PACKAGES].join('\n')).digest('hex').slice(0, 16);
  const path = join(CACHE_DIR, `rootfs-${suite}-${key}`);
  if (existsSync(path)) return { path, built: false };
  mkdirSync(CACHE_DIR, { recursive: true });
  const building = `${path}.building-${process.pid}`;
  try {
    execFileSync('mmdebstrap', ['--quiet', '--variant=apt', `--include=${CONTAINER_PACKAGES.join(',')}`, suite, building], { stdio: ['ignore', 'ignore', 'pipe'] });
    // Renamed only when complete, so a half-built tree is never taken for the cache.
    if (!existsSync(path)) renameSync(building, path);
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return { path, built: true };
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Container {
  /** Host pid of the container's PID 1 (systemd). */
  leader: number;
  /** A path inside the container as the host reaches it. */
  hostPath(path: string): string;
  /** Runs a command in every namespace of the container, with a clean environment. */
  run(args: string[]): CommandResult;
  /** Like run, but throws with its output unless it exits 0; returns stdout. */
  check(args: string[]): string;
  /** The host pid of a process the container knows as `pid`. */
  hostPid(pid: number): number;
  /** Powers the container off (or kills it after a timeout); safe to call twice. */
  stop(): Promise<void>;
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function comm(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Boots the rootfs with systemd-nspawn as the issue describes (no bus on the
 * host, hence --register=no --keep-unit; nspawn's seccomp filter blocks bpf(),
 * hence SYSTEMD_SECCOMP=0) and resolves once systemd reports the boot finished.
 */
export async function bootContainer(rootfs: string, extraBinds: string[] = []): Promise<Container> {
  const args = [
    '--quiet', '--keep-unit', '--register=no', '--volatile=overlay', '--console=passive',
    `--machine=sigaudit-test-${process.pid}`, '-D', rootfs, '-b',
    '--capability=CAP_BPF,CAP_PERFMON,CAP_SYS_RESOURCE',
    `--bind-ro=${CHECKOUT}:/opt/sigaudit`,
    // Debian 12's own Node is 18; sigaudit needs 20.
    `--bind-ro=${realpathSync(process.execPath)}:/usr/local/bin/node`,
    '--bind-ro=/sys/kernel/btf',
    ...extraBinds.map((bind) => `--bind-ro=${bind}`),
  ];
  const nspawn = spawn('systemd-nspawn', args, { env: { ...process.env, SYSTEMD_SECCOMP: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  nspawn.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  nspawn.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve) => nspawn.once('exit', () => resolve()));
  let leader = 0;
  // Should the test process die first, the container must not outlive it.
  const killLeader = () => {
    if (leader) spawnSync('kill', ['-KILL', String(leader)]);
  };
  process.once('exit', killLeader);

  const stop = async () => {
    if (nspawn.exitCode !== null || nspawn.signalCode !== null) return;
    nspawn.kill('SIGTERM'); // nspawn powers a booted container off on SIGTERM
    await Promise.race([exited, sleep(POWEROFF_TIMEOUT_MS)]);
    if (nspawn.exitCode === null && nspawn.signalCode === null) {
      killLeader();
      nspawn.kill('SIGKILL');
      await exited;
    }
    process.removeListener('exit', killLeader);
  };

  const run = (command: string[]): CommandResult => {
    const result = spawnSync('nsenter', ['-t', String(leader), '-a', ...command], {
      encoding: 'utf8',
      env: { PATH: CONTAINER_PATH, LANG: 'C.UTF-8', SYSTEMD_PAGER: '', SYSTEMD_COLORS: '0' },
      maxBuffer: 256 * 1024 ** 2,
    });
    if (result.error) throw result.error;
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  };

  try {
    const deadline = Date.now() + BOOT_TIMEOUT_MS;
    while (!leader) {
      if (nspawn.exitCode !== null) throw new Error(`systemd-nspawn exited with ${nspawn.exitCode}:\n${output}`);
      if (Date.now() > deadline) throw new Error(`no systemd in the container after ${BOOT_TIMEOUT_MS} ms:\n${output}`);
      leader = children(nspawn.pid!).find((pid) => comm(pid) === 'systemd') ?? 0;
      if (!leader) await sleep(50);
    }
    // Until systemd's private socket exists systemctl says nothing or "offline"; then --wait waits
    // for the boot to finish. "degraded" (a unit of the minimal rootfs failed) still means booted.
    let booted = run(['systemctl', 'is-system-running', '--wait']);
    while (['', 'offline'].includes(booted.stdout.trim()) && Date.now() < deadline) {
      await sleep(100);
      booted = run(['systemctl', 'is-system-running', '--wait']);
    }
    if (!['running', 'degraded'].includes(booted.stdout.trim()))
      throw new Error(`the container did not boot: systemctl is-system-running says ${booted.stdout.trim()} ${booted.stderr}\n${output}`);
  } catch (error) {
    await stop();
    throw error;
  }

  const pidNamespace = readlinkSync(`/proc/${leader}/ns/pid`);
  return {
    leader,
    hostPath: (path) => join(`/proc/${leader}/root`, path),
    run,
    check(command) {
      const result = run(command);
      if (result.code !== 0) throw new Error(`${command.join(' ')} exited with ${result.code}:\n${result.stdout}${result.stderr}`);
      return result.stdout;
    },
    hostPid(pid) {
      for (const entry of readdirSync('/proc')) {
        if (!/^\d+$/.test(entry)) continue;
        try {
          if (readlinkSync(`/proc/${entry}/ns/pid`) !== pidNamespace) continue;
          const nspid = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1].split(/\s+/).map(Number);
          if (nspid && nspid[nspid.length - 1] === pid) return nspid[0];
        } catch {
          // Gone while we looked: not the one.
        }
      }
      throw new Error(`no process is pid ${pid} in the container`);
    },
    stop,
  };
}
