// sigaudit install-service / uninstall-service: put the shipped unit
// (packaging/sigaudit.service) in place with this installation's paths,
// add /etc/default/sigaudit if there is none, and have systemd load, enable
// and start it. Each command first builds its plan (the steps, and the unit
// text); --dry-run returns the plan, otherwise each step is carried out.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SigauditError } from '../errors';
import { resolveGroup } from '../store/database';

export const PACKAGING_DIR = join(__dirname, '..', '..', '..', 'packaging');
export const UNIT_NAME = 'sigaudit.service';
/** The forwarder's unit (sigaudit forward), installed with --forward-to. */
export const FORWARD_UNIT_NAME = 'sigaudit-forward.service';
export const DEFAULT_UNIT_DIR = '/etc/systemd/system';
export const DEFAULT_ENV_FILE = '/etc/default/sigaudit';
/** The CLI this process runs: what ExecStart= starts. */
const CLI_PATH = resolve(__dirname, '..', 'index.js');
/** sigaudit's own page, next to the packaging it was installed from: what Documentation= names. */
const README_PATH = resolve(PACKAGING_DIR, '..', 'README.md');

export interface InstallOptions {
  unitDir: string;
  envFile: string;
  /** Group= of the unit: who may read the database. */
  group: string;
  /** Enable at boot. */
  enable: boolean;
  /** Start (or restart) now. */
  start: boolean;
  dryRun: boolean;
  /** The node binary and the CLI script for ExecStart= (default: the ones running now). */
  nodePath?: string;
  cliPath?: string;
  /** Also install the forwarder's unit, shipping to this PostgreSQL URL (set as SIGAUDIT_FORWARD_TO in envFile). */
  forwardTo?: string;
}

export interface Step {
  /** What a person reads: "write /etc/systemd/system/sigaudit.service". */
  description: string;
  /** The command run, when the step is one. */
  command?: string[];
  /** Left out, and why (e.g. systemd is not running). */
  skipped?: string;
}

export interface ServicePlan {
  dryRun: boolean;
  unitPath: string;
  unit?: string;
  /** The forwarder's unit, with --forward-to. */
  forwardUnit?: { path: string; unit: string };
  steps: Step[];
  /** Why systemctl steps could not run, when they could not. */
  noSystemd?: string;
  /** Notes for the operator (e.g. ProtectHome loosened). */
  notes: string[];
}

/** Whether systemd is the running init (sd_booted(3): /run/systemd/system exists). */
export function systemdRunning(): { running: boolean; why?: string } {
  if (existsSync('/run/systemd/system')) return { running: true };
  let init = 'unknown';
  try {
    init = readFileSync('/proc/1/comm', 'utf8').trim();
  } catch {
    // Not readable: leave it unnamed.
  }
  return { running: false, why: `systemd is not running on this machine (PID 1 is ${init}, /run/systemd/system is missing)` };
}

/** A path as one word of ExecStart= (quoted when it has spaces; $ and % escaped). */
function execWord(path: string): string {
  const escaped = path.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return /[\s"'\\]/.test(escaped) ? `"${escaped.replace(/(["\\])/g, '\\$1')}"` : escaped;
}

/**
 * A shipped unit (the recorder's, or another of packaging/) with this
 * installation's ExecStart= (its arguments kept) and the group.
 */
export function renderUnit(options: Pick<InstallOptions, 'group' | 'nodePath' | 'cliPath'> & { envFile?: string; unitName?: string }): { unit: string; notes: string[] } {
  const nodePath = options.nodePath ?? process.execPath;
  const cliPath = options.cliPath ?? CLI_PATH;
  const notes: string[] = [];
  let unit = readFileSync(join(PACKAGING_DIR, options.unitName ?? UNIT_NAME), 'utf8');
  unit = unit.replace(/^ExecStart=\S+ (.*)$/m, (_line, args: string) => `ExecStart=${execWord(nodePath)} ${execWord(cliPath)} ${args}`);
  unit = unit.replace(/^Documentation=.*$/m, `Documentation=${pathToFileURL(README_PATH).href}`);
  unit = unit.replace(/^Group=.*$/m, `Group=${options.group}`);
  if (options.envFile) unit = unit.replace(/^EnvironmentFile=-.*$/m, `EnvironmentFile=-${options.envFile}`);
  unit = unit.replace(/^Environment=SIGAUDIT_GROUP=.*$/m, `Environment=SIGAUDIT_GROUP=${options.group}`);
  // ProtectHome=yes hides /home, /root and /run/user: an installation there would not start.
  const home = [nodePath, cliPath].find((path) => /^\/(home|root|run\/user)(\/|$)/.test(path));
  if (home) {
    unit = unit.replace(/^ProtectHome=yes$/m, 'ProtectHome=read-only');
    notes.push(`${home} is under a home directory, so the unit has ProtectHome=read-only instead of yes; install sigaudit under /usr/local or /opt to hide home directories from it`);
  }
  return { unit, notes };
}

/**
 * Checks a unit with `systemd-analyze verify` (in a scratch directory, so
 * nothing installed is read). Returns its complaints, or undefined when it
 * accepts the unit; throws when systemd-analyze is not installed. --man=no:
 * otherwise it runs man(1) on man: links, which minimal servers lack.
 */
export function verifyUnit(unit: string, unitName = UNIT_NAME): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'sigaudit-unit-'));
  try {
    const path = join(dir, unitName);
    writeFileSync(path, unit);
    const result = spawnSync('systemd-analyze', ['verify', '--man=no', path], { encoding: 'utf8' });
    if (result.error) throw result.error;
    const complaints = `${result.stdout}${result.stderr}`.trim();
    return result.status === 0 && complaints === '' ? undefined : complaints || `systemd-analyze exited with ${result.status}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function systemctl(plan: ServicePlan, description: string, args: string[], systemd: { running: boolean; why?: string }): void {
  plan.steps.push({ description, command: ['systemctl', ...args], skipped: systemd.running ? undefined : 'systemd is not running' });
}

/** Renders a unit and has systemd-analyze check it; notes say whether it could. */
function verifiedUnit(options: InstallOptions, unitName: string, notes: string[]): string {
  const { unit, notes: renderNotes } = renderUnit({ ...options, unitName });
  if (unitName === UNIT_NAME) notes.push(...renderNotes);
  let complaints: string | undefined;
  try {
    complaints = verifyUnit(unit, unitName);
    notes.push(`systemd-analyze verify accepts ${unitName === UNIT_NAME ? 'the unit' : unitName}`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (unitName === UNIT_NAME) notes.push('systemd-analyze is not installed, so the unit was not verified (apt-get install systemd)');
  }
  if (complaints !== undefined)
    throw new SigauditError(
      'EUNIT',
      `systemd-analyze verify rejects ${unitName === UNIT_NAME ? 'the unit' : unitName}:\n  ${complaints.split('\n').join('\n  ')}`,
      'ExecStart= needs node and the sigaudit CLI as executable files (see the unit with install-service --dry-run); an unknown setting means this systemd is older than the unit (tested with 252)',
    );
  return unit;
}

export function planInstall(options: InstallOptions): ServicePlan {
  resolveGroup(options.group); // an unknown group is refused before anything is written
  const notes: string[] = [];
  const unit = verifiedUnit(options, UNIT_NAME, notes);
  const forwardUnit = options.forwardTo === undefined ? undefined : { path: join(options.unitDir, FORWARD_UNIT_NAME), unit: verifiedUnit(options, FORWARD_UNIT_NAME, notes) };
  const unitPath = join(options.unitDir, UNIT_NAME);
  const systemd = systemdRunning();
  const plan: ServicePlan = { dryRun: options.dryRun, unitPath, unit, forwardUnit, steps: [], notes, noSystemd: systemd.why };
  plan.steps.push({ description: `write ${unitPath} (mode 0644)` });
  if (forwardUnit) plan.steps.push({ description: `write ${forwardUnit.path} (mode 0644)` });
  if (existsSync(options.envFile)) plan.steps.push({ description: `keep ${options.envFile} (it exists; settings are never overwritten)` });
  else plan.steps.push({ description: `write ${options.envFile} (mode 0644) from ${join(PACKAGING_DIR, 'sigaudit.env')}` });
  if (forwardUnit) plan.steps.push({ description: `set SIGAUDIT_FORWARD_TO=${options.forwardTo} in ${options.envFile} (its password goes in /etc/sigaudit/pgpass, mode 0600)` });
  systemctl(plan, 'reload systemd so it reads the unit', ['daemon-reload'], systemd);
  const units = forwardUnit ? [UNIT_NAME, FORWARD_UNIT_NAME] : [UNIT_NAME];
  if (options.enable) systemctl(plan, `start ${forwardUnit ? 'both' : 'sigaudit'} at boot`, ['enable', ...units], systemd);
  if (options.start) systemctl(plan, 'start (or restart) it now; returns once it is recording', ['restart', ...units], systemd);
  return plan;
}

export function planUninstall(options: Pick<InstallOptions, 'unitDir' | 'envFile' | 'dryRun'>): ServicePlan {
  const unitPath = join(options.unitDir, UNIT_NAME);
  const forwardPath = join(options.unitDir, FORWARD_UNIT_NAME);
  const units = existsSync(forwardPath) ? [UNIT_NAME, FORWARD_UNIT_NAME] : [UNIT_NAME];
  const systemd = systemdRunning();
  const plan: ServicePlan = { dryRun: options.dryRun, unitPath, steps: [], notes: [], noSystemd: systemd.why };
  systemctl(plan, 'stop it (it writes what it holds and exits) and do not start it at boot', ['disable', '--now', ...units], systemd);
  plan.steps.push({ description: existsSync(unitPath) ? `remove ${[unitPath, ...(units.length > 1 ? [forwardPath] : [])].join(' and ')}` : `remove ${unitPath} (not there: nothing to do)` });
  systemctl(plan, 'reload systemd so it forgets the unit', ['daemon-reload'], systemd);
  plan.notes.push(`${options.envFile} and the database are kept; remove them yourself to erase the record`);
  return plan;
}

function runSystemctl(step: Step): void {
  try {
    execFileSync(step.command![0], step.command!.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? (error as Error).message).trim();
    throw new SigauditError(
      'ESYSTEMCTL',
      `${step.command!.join(' ')} failed: ${stderr}`,
      'see journalctl -u sigaudit -n 50 and systemctl status sigaudit',
    );
  }
}

/** Sets one variable in the settings file: its line replaced, or added at the end; every other line kept. */
function setEnvironment(path: string, key: string, value: string): void {
  const lines = readFileSync(path, 'utf8').replace(/\n$/, '').split('\n');
  const at = lines.findIndex((line) => line.startsWith(`${key}=`));
  if (at >= 0) lines[at] = `${key}=${value}`;
  else lines.push(`${key}=${value}`);
  writeFileSync(path, `${lines.join('\n')}\n`);
}

/** Carries out an install plan (unless dry-run). Throws if systemd steps had to be left out. */
export function installService(options: InstallOptions): ServicePlan {
  const plan = planInstall(options);
  if (options.dryRun) return plan;
  try {
    writeFileSync(plan.unitPath, plan.unit!, { mode: 0o644 });
    chmodSync(plan.unitPath, 0o644);
    if (!existsSync(options.envFile)) {
      writeFileSync(options.envFile, readFileSync(join(PACKAGING_DIR, 'sigaudit.env')), { mode: 0o644 });
      chmodSync(options.envFile, 0o644);
    }
    if (plan.forwardUnit) {
      writeFileSync(plan.forwardUnit.path, plan.forwardUnit.unit, { mode: 0o644 });
      chmodSync(plan.forwardUnit.path, 0o644);
      setEnvironment(options.envFile, 'SIGAUDIT_FORWARD_TO', options.forwardTo!);
    }
  } catch (error) {
    throw new SigauditError('EINSTALL', `cannot write the unit: ${(error as Error).message}`, 'run install-service as root');
  }
  for (const step of plan.steps) if (step.command && !step.skipped) runSystemctl(step);
  if (plan.noSystemd)
    throw new SigauditError(
      'ENOSYSTEMD',
      `wrote ${plan.unitPath} and ${options.envFile}, but ${plan.noSystemd}, so the service was not enabled or started`,
      `on a machine booted with systemd run: systemctl daemon-reload && systemctl enable --now ${UNIT_NAME}; here, run sigaudit record under your init system`,
    );
  return plan;
}

export function uninstallService(options: Pick<InstallOptions, 'unitDir' | 'envFile' | 'dryRun'>): ServicePlan {
  const plan = planUninstall(options);
  if (options.dryRun) return plan;
  const [disable, , reload] = plan.steps;
  if (!disable.skipped && existsSync(plan.unitPath)) runSystemctl(disable);
  rmSync(plan.unitPath, { force: true });
  rmSync(join(options.unitDir, FORWARD_UNIT_NAME), { force: true });
  if (!reload.skipped) runSystemctl(reload);
  if (plan.noSystemd)
    throw new SigauditError(
      'ENOSYSTEMD',
      `removed ${plan.unitPath}, but ${plan.noSystemd}, so nothing was stopped or reloaded`,
      'if a recorder runs here, stop it with kill -TERM <pid> (sigaudit status names it)',
    );
  return plan;
}

/** The plan as text: one line per step, then the unit. */
export function renderPlan(plan: ServicePlan, verb: string): string {
  const lines = [plan.dryRun ? `would ${verb} (dry run: nothing is changed):` : `${verb}:`];
  plan.steps.forEach((step, i) => {
    const command = step.command ? `: ${step.command.join(' ')}` : '';
    lines.push(`  ${i + 1}. ${step.description}${command}${step.skipped ? ` [skipped: ${step.skipped}]` : ''}`);
  });
  if (plan.noSystemd) lines.push(`note: ${plan.noSystemd}`);
  for (const note of plan.notes) lines.push(`note: ${note}`);
  if (plan.unit && plan.dryRun) lines.push('', `# ${plan.unitPath}`, plan.unit.trimEnd());
  if (plan.forwardUnit && plan.dryRun) lines.push('', `# ${plan.forwardUnit.path}`, plan.forwardUnit.unit.trimEnd());
  return `${lines.join('\n')}\n`;
}
