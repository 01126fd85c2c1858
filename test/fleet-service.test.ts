// The forwarder's systemd unit: hardened like the recorder's but with no
// capability at all, accepted by systemd-analyze as install-service
// --forward-to writes it, and installed and removed with the recorder's.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FORWARD_UNIT_NAME, PACKAGING_DIR, renderUnit, systemdRunning, verifyUnit } from '../src/service/install';
import { runCli } from './helpers/recorder';
import { analyzeOptions, directive } from './helpers/service';

const shipped = readFileSync(join(PACKAGING_DIR, FORWARD_UNIT_NAME), 'utf8');

describe('the forwarder unit', () => {
  it('is Type=notify, reads its URL from /etc/default/sigaudit, and may do nothing but read the database and talk to the server', () => {
    const expected: Record<string, string> = {
      Type: 'notify',
      NotifyAccess: 'main',
      Restart: 'on-failure',
      EnvironmentFile: '-/etc/default/sigaudit',
      CapabilityBoundingSet: '',
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      StateDirectory: 'sigaudit',
      RestrictAddressFamilies: 'AF_UNIX AF_INET AF_INET6',
    };
    for (const [key, value] of Object.entries(expected)) assert.deepEqual(directive(shipped, key), [value], key);
    assert.match(directive(shipped, 'ExecStart')[0], / forward \$SIGAUDIT_FORWARD_OPTIONS$/);
    assert.deepEqual(directive(shipped, 'After'), ['network-online.target sigaudit.service']);
  });

  it('is accepted by systemd-analyze verify as install-service writes it', analyzeOptions, () => {
    const { unit } = renderUnit({ group: 'adm', unitName: FORWARD_UNIT_NAME });
    assert.equal(directive(unit, 'ExecStart')[0], `${process.execPath} ${join(__dirname, '..', 'src', 'index.js')} forward $SIGAUDIT_FORWARD_OPTIONS`);
    assert.equal(verifyUnit(unit, FORWARD_UNIT_NAME), undefined);
  });

  it('install-service --forward-to writes both units and sets the URL, keeping every other setting; uninstall removes both', (t) => {
    if (systemdRunning().running) return t.skip('systemd runs here: this test would enable a real service');
    const dir = mkdtempSync(join(tmpdir(), 'sigaudit-units-'));
    const envFile = join(dir, 'sigaudit');
    writeFileSync(envFile, 'SIGAUDIT_RETAIN=90d\nSIGAUDIT_FORWARD_TO=postgresql://old@db/fleet\n');
    const url = 'postgresql://web3@db.example:5432/fleet?sslmode=verify-full';
    const dry = runCli(['install-service', '--dry-run', '--unit-dir', dir, '--environment-file', envFile, '--forward-to', url]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /systemctl enable sigaudit\.service sigaudit-forward\.service/);
    assert.ok(!existsSync(join(dir, FORWARD_UNIT_NAME)), 'a dry run writes nothing');
    const installed = runCli(['install-service', '--unit-dir', dir, '--environment-file', envFile, '--forward-to', url]);
    assert.equal(installed.code, 1, 'systemd is not running here');
    assert.match(readFileSync(join(dir, FORWARD_UNIT_NAME), 'utf8'), new RegExp(`^EnvironmentFile=-${envFile}$`, 'm'));
    assert.equal(readFileSync(envFile, 'utf8'), `SIGAUDIT_RETAIN=90d\nSIGAUDIT_FORWARD_TO=${url}\n`);
    const removed = runCli(['uninstall-service', '--unit-dir', dir, '--environment-file', envFile]);
    assert.equal(removed.code, 1);
    assert.ok(!existsSync(join(dir, FORWARD_UNIT_NAME)));
    assert.ok(!existsSync(join(dir, 'sigaudit.service')));
  });

  it('refuses a --forward-to URL with a password, since the settings file is world-readable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigaudit-units-'));
    const { code, stderr } = runCli(['install-service', '--dry-run', '--unit-dir', dir, '--environment-file', join(dir, 'env'), '--forward-to', 'postgresql://web3:secret@db/fleet']);
    assert.equal(code, 2);
    assert.match(stderr, /--forward-to: the URL holds a password.*\/etc\/sigaudit\/pgpass/);
    assert.doesNotMatch(stderr, /secret/);
  });
});
