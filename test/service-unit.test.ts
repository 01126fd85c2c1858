// The systemd unit: the shipped file has the hardening the issue asks for,
// systemd-analyze verify accepts it as install-service writes it, the
// capabilities it grants are enough to record, and install-service /
// uninstall-service do what --dry-run says.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PACKAGING_DIR, renderUnit, systemdRunning, verifyUnit } from '../src/service/install';
import { DEFAULT_NICE } from '../src/record/recorder';
import { kernelTestOptions } from './helpers/kernel';
import { CLI, exportedRows, runCli, stopAfterFile, tempDbPath } from './helpers/recorder';
import { analyzeOptions, directive } from './helpers/service';

const shipped = readFileSync(join(PACKAGING_DIR, 'sigaudit.service'), 'utf8');

describe('the systemd unit', () => {
  it('is Type=notify with the hardening asked for', () => {
    const expected: Record<string, string> = {
      Type: 'notify',
      NotifyAccess: 'main',
      Restart: 'on-failure',
      CapabilityBoundingSet: 'CAP_BPF CAP_PERFMON',
      AmbientCapabilities: 'CAP_BPF CAP_PERFMON',
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      StateDirectory: 'sigaudit',
      StateDirectoryMode: '0750',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      Group: 'adm',
      EnvironmentFile: '-/etc/default/sigaudit',
    };
    for (const [key, value] of Object.entries(expected)) assert.deepEqual(directive(shipped, key), [value], key);
    assert.match(directive(shipped, 'ExecStart')[0], / record \$SIGAUDIT_OPTIONS$/);
  });

  it('is accepted by systemd-analyze verify as install-service writes it', analyzeOptions, () => {
    const { unit } = renderUnit({ group: 'adm' });
    assert.equal(directive(unit, 'ExecStart')[0], `${process.execPath} ${join(__dirname, '..', 'src', 'index.js')} record $SIGAUDIT_OPTIONS`);
    // sigaudit's own page, not a man page a minimal server lacks (the systemd container test runs verify without man).
    assert.deepEqual(directive(unit, 'Documentation'), [`file://${join(__dirname, '..', '..', 'README.md')}`]);
    assert.equal(verifyUnit(unit), undefined);
    // And it does complain about a broken one, so the check above means something.
    assert.match(verifyUnit(unit.replace('Type=notify', 'Type=bogus')) ?? '', /Failed to parse service type|bogus/);
  });

  it('loosens ProtectHome only when the installation lives in a home directory, and says so', () => {
    const { unit, notes } = renderUnit({ group: 'adm', cliPath: '/root/sigaudit/dist/src/index.js' });
    assert.deepEqual(directive(unit, 'ProtectHome'), ['read-only']);
    assert.match(notes[0], /under a home directory/);
    assert.deepEqual(directive(renderUnit({ group: 'staff', cliPath: '/opt/sigaudit/dist/src/index.js' }).unit, 'Group'), ['staff']);
  });

  it('install-service --dry-run shows each step and the unit, and writes nothing', analyzeOptions, () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigaudit-units-'));
    const { code, stdout, stderr } = runCli(['install-service', '--dry-run', '--unit-dir', dir, '--environment-file', join(dir, 'env')]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^would install the sigaudit service \(dry run: nothing is changed\):\n {2}1\. write .*sigaudit\.service \(mode 0644\)\n {2}2\. write .*env .*sigaudit\.env\n {2}3\. .*systemctl daemon-reload/);
    assert.match(stdout, /systemctl enable sigaudit\.service/);
    assert.match(stdout, /systemctl restart sigaudit\.service/);
    assert.match(stdout, /note: systemd-analyze verify accepts the unit/);
    assert.match(stdout, /\nType=notify\n/);
    assert.deepEqual(readdirSync(dir), []);
    const uninstall = runCli(['uninstall-service', '--dry-run', '--unit-dir', dir]);
    assert.equal(uninstall.code, 0, uninstall.stderr);
    assert.match(uninstall.stdout, /systemctl disable --now sigaudit\.service/);
  });

  it('install-service writes the unit and settings (never overwriting them); without systemd it says nothing was started', (t) => {
    if (systemdRunning().running) return t.skip('systemd runs here: this test would enable a real service');
    const dir = mkdtempSync(join(tmpdir(), 'sigaudit-units-'));
    const envFile = join(dir, 'sigaudit');
    const first = runCli(['install-service', '--unit-dir', dir, '--environment-file', envFile]);
    assert.equal(first.code, 1);
    assert.match(first.stderr, /^sigaudit: wrote .*sigaudit\.service and .*, but systemd is not running on this machine \(PID 1 is .*\), so the service was not enabled or started \(fix: on a machine booted with systemd run: systemctl daemon-reload && systemctl enable --now sigaudit\.service/);
    assert.equal((statSync(join(dir, 'sigaudit.service')).mode & 0o777).toString(8), '644');
    assert.match(readFileSync(join(dir, 'sigaudit.service'), 'utf8'), new RegExp(`^EnvironmentFile=-${envFile}$`, 'm'));
    writeFileSync(envFile, 'SIGAUDIT_RETAIN=90d\n');
    runCli(['install-service', '--unit-dir', dir, '--environment-file', envFile]);
    assert.equal(readFileSync(envFile, 'utf8'), 'SIGAUDIT_RETAIN=90d\n', 'settings are kept');
    const removed = runCli(['uninstall-service', '--unit-dir', dir, '--environment-file', envFile]);
    assert.equal(removed.code, 1);
    assert.match(removed.stderr, /removed .*sigaudit\.service, but systemd is not running/);
    assert.ok(!existsSync(join(dir, 'sigaudit.service')));
    assert.ok(existsSync(envFile));
  });

  it('refuses an unknown --group before writing anything', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigaudit-units-'));
    const { code, stderr } = runCli(['install-service', '--unit-dir', dir, '--group', 'no-such-group-here']);
    assert.equal(code, 2);
    assert.match(stderr, /no such group/);
    assert.deepEqual(readdirSync(dir), []);
  });
});

describe("the unit's capabilities are enough", kernelTestOptions, () => {
  it('records with only CapabilityBoundingSet, Group=, Nice= and NoNewPrivileges from the unit', async () => {
    const caps = directive(shipped, 'CapabilityBoundingSet')[0].split(' ').map((cap) => `+${cap.replace(/^CAP_/, '').toLowerCase()}`).join(',');
    const group = directive(shipped, 'Group')[0];
    const nice = directive(shipped, 'Nice')[0];
    const dbPath = tempDbPath();
    const recorder = stopAfterFile(spawn('nice', ['-n', nice, 'setpriv',
      `--bounding-set=-all,${caps}`, `--inh-caps=-all,${caps}`, `--ambient-caps=-all,${caps}`,
      `--regid=${group}`, '--clear-groups', '--no-new-privs', process.execPath, CLI, 'record', '--db', dbPath,
    ], { stdio: ['ignore', 'ignore', 'pipe'] }));
    let stderr = '';
    recorder.stderr!.setEncoding('utf8');
    await new Promise<void>((resolve, reject) => {
      recorder.stderr!.on('data', (chunk: string) => {
        stderr += chunk;
        if (stderr.includes('recording to')) resolve();
      });
      recorder.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    const status = readFileSync(`/proc/${recorder.pid}/status`, 'utf8');
    assert.match(status, /^CapEff:\s+000000c000000000$/m, 'CAP_BPF and CAP_PERFMON only');
    // The unit's niceness is the recorder's default: nothing to raise, nothing to complain about.
    assert.equal(Number(nice), DEFAULT_NICE);
    assert.doesNotMatch(stderr, /could not set niceness/);
    const marker = 3_997_000 + (process.pid % 1000);
    spawnSync('/bin/kill', ['-0', String(marker)]);
    recorder.kill('SIGTERM');
    assert.equal(await new Promise((resolve) => recorder.once('exit', resolve)), 0, stderr);
    assert.equal(exportedRows(dbPath).filter((row) => row.target_pid === marker).length, 1);
  });
});
