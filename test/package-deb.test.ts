// The Debian package: built from this checkout, inspected, installed with apt on this host, recording with no compiler on PATH, then removed and purged.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildDeb, INSTALL_DIR } from '../scripts/deb/build';
import { verifyUnit } from '../src/service/install';
import { kernelTestOptions } from './helpers/kernel';
import { stopAfterFile } from './helpers/recorder';
import { exited } from './helpers/senders';

const CHECKOUT = join(__dirname, '..', '..');
const STATE_DIR = '/var/lib/sigaudit';
const WANTS_LINK = '/etc/systemd/system/multi-user.target.wants/sigaudit.service';
/** Packages a host must not need to run sigaudit: the build toolchain. */
const BUILD_TOOLS = ['clang', 'llvm', 'bpftool', 'build-essential', 'gcc', 'g++', 'make', 'cc', 'python3', 'node-gyp', 'libbpf-dev', 'libelf-dev', 'zlib1g-dev'];

function ok(result: SpawnSyncReturns<string>, what: string): string {
  assert.equal(result.error, undefined, `${what}: ${result.error?.message}`);
  assert.equal(result.status, 0, `${what} exited with ${result.status}:\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

/** apt-get, waiting for the dpkg lock: other work on this machine installs packages too. */
function apt(args: string[]): string {
  const result = spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', '-y', ...args], {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return ok(result, `apt-get ${args.join(' ')}`) + result.stderr;
}

/** dpkg's state of sigaudit: "install ok installed", "deinstall ok config-files", or "" when nothing of it is there. */
function packageStatus(): string {
  const status = spawnSync('dpkg-query', ['-W', '-f=${Status}', 'sigaudit'], { encoding: 'utf8' }).stdout.trim();
  return status.endsWith(' not-installed') ? '' : status;
}

/** Whether a path is there, a dangling symbolic link included. */
function present(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

describe('the Debian package', kernelTestOptions, () => {
  let outDir: string;
  let deb: string;
  /** A PATH with nothing on it: no clang, bpftool or compiler can be found. */
  let emptyPath: string;
  let stateDirCreated = false;
  let dbDir: string;

  before(() => {
    assert.equal(packageStatus(), '', 'sigaudit is already known to dpkg here; purge it first: apt-get purge sigaudit');
    outDir = mkdtempSync(join(tmpdir(), 'sigaudit-deb-test-'));
    emptyPath = mkdtempSync(join(tmpdir(), 'sigaudit-empty-path-'));
    deb = buildDeb(outDir);
    stateDirCreated = !existsSync(STATE_DIR);
    dbDir = join(STATE_DIR, `package-test-${process.pid}`);
  });

  after(() => {
    // Whatever failed, the host is left without the package.
    if (packageStatus() !== '') apt(['purge', 'sigaudit']);
    rmSync(outDir, { recursive: true, force: true });
    rmSync(emptyPath, { recursive: true, force: true });
    rmSync(dbDir, { recursive: true, force: true });
    if (stateDirCreated) rmSync(STATE_DIR, { recursive: true, force: true });
  });

  it('holds the program, its addons, the unit, the settings and the man page', () => {
    const listed = ok(spawnSync('dpkg-deb', ['-c', deb], { encoding: 'utf8' }), 'dpkg-deb -c');
    const paths = new Set(listed.split('\n').map((line) => line.split(/\s+/)[5]?.replace(/^\./, '')));
    for (const path of [
      '/usr/bin/sigaudit',
      `${INSTALL_DIR}/dist/src/index.js`,
      `${INSTALL_DIR}/build/Release/sigaudit.node`,
      `${INSTALL_DIR}/build/Release/notify.node`,
      `${INSTALL_DIR}/build/Release/sigaudit_sqlite.node`,
      `${INSTALL_DIR}/migrations/0010-initial.sql`,
      `${INSTALL_DIR}/node_modules/better-sqlite3/build/Release/better_sqlite3.node`,
      `${INSTALL_DIR}/node_modules/commander/package.json`,
      '/lib/systemd/system/sigaudit.service',
      '/etc/default/sigaudit',
      '/usr/share/man/man1/sigaudit.1.gz',
      '/usr/share/doc/sigaudit/copyright',
    ])
      assert.ok(paths.has(path), `${path} is not in the package`);
    for (const devOnly of ['typescript', 'csv-parse', '@types', 'node-addon-api'])
      assert.ok(![...paths].some((path) => path?.startsWith(`${INSTALL_DIR}/node_modules/${devOnly}/`)), `the development module ${devOnly} is in the package`);
    const ownFiles = [...paths].filter((path) => path?.startsWith(`${INSTALL_DIR}/`) && !path.startsWith(`${INSTALL_DIR}/node_modules/`));
    assert.deepEqual(ownFiles.filter((path) => path!.endsWith('.ts') || path!.endsWith('.map') || /\/dist\/(?!src\/)./.test(path!)), [], 'sources, source maps, tests or benches are in the package');
    assert.equal(ok(spawnSync('dpkg-deb', ['-I', deb, 'conffiles'], { encoding: 'utf8' }), 'dpkg-deb -I conffiles').trim(), '/etc/default/sigaudit');
  });

  it('carries the compiled BPF object inside the addon', () => {
    const extracted = mkdtempSync(join(tmpdir(), 'sigaudit-deb-x-'));
    try {
      ok(spawnSync('dpkg-deb', ['-x', deb, extracted], { encoding: 'utf8' }), 'dpkg-deb -x');
      const addon = readFileSync(join(extracted, INSTALL_DIR, 'build', 'Release', 'sigaudit.node'));
      // An ELF object embedded past the addon's own header, whose e_machine is EM_BPF (247): the skeleton's object.
      let found = false;
      for (let at = addon.indexOf('\x7fELF', 1); at > 0 && !found; at = addon.indexOf('\x7fELF', at + 1)) found = addon.readUInt16LE(at + 18) === 247;
      assert.ok(found, 'no BPF ELF object inside sigaudit.node');
    } finally {
      rmSync(extracted, { recursive: true, force: true });
    }
  });

  it('depends on what runs it and on no build tool', () => {
    const depends = ok(spawnSync('dpkg-deb', ['-f', deb, 'Depends'], { encoding: 'utf8' }), 'dpkg-deb -f Depends').trim();
    const names = depends.split(/[,|]/).map((alternative) => alternative.trim().split(/[\s(]/)[0]);
    const major = process.versions.node.split('.')[0];
    assert.match(depends, new RegExp(`nodejs \\(>= ${major}\\), nodejs \\(<< ${Number(major) + 1}\\)`));
    assert.ok(names.includes('libbpf1'), `libbpf1 missing from ${depends}`);
    for (const name of names) {
      assert.ok(!BUILD_TOOLS.includes(name), `Depends names the build tool ${name}: ${depends}`);
      assert.ok(!name.endsWith('-dev'), `Depends names the development package ${name}: ${depends}`);
    }
  });

  it('passes lintian without errors', () => {
    const result = spawnSync('lintian', ['--tag-display-limit', '0', deb], { encoding: 'utf8' });
    assert.equal(result.error, undefined, `lintian: ${result.error?.message} (apt-get install lintian)`);
    const tags = result.stdout.split('\n').filter((line) => /^[EW]: /.test(line));
    assert.deepEqual(tags.filter((line) => line.startsWith('E: ')), [], 'lintian errors');
    assert.ok(result.status === 0 || result.status === 2, `lintian failed to run (exit ${result.status}):\n${result.stderr}`);
  });

  it('installs, and the installed sigaudit records a signal with no compiler on PATH, outside the checkout', async () => {
    apt(['install', '--no-install-recommends', deb]);
    assert.equal(packageStatus(), 'install ok installed');
    const env = { PATH: emptyPath, LANG: 'C.UTF-8' };
    for (const tool of ['cc', 'gcc', 'clang', 'bpftool', 'make', 'node'])
      assert.equal((spawnSync(tool, ['--version'], { env }).error as NodeJS.ErrnoException | undefined)?.code, 'ENOENT', `${tool} is on the test's PATH`);

    mkdirSync(dbDir, { recursive: true });
    const dbPath = join(dbDir, 'sigaudit.db');
    const recorder = stopAfterFile(spawn('/usr/bin/sigaudit', ['record', '--db', dbPath], { cwd: emptyPath, env, stdio: ['ignore', 'ignore', 'pipe'] }));
    let stderr = '';
    recorder.stderr.setEncoding('utf8');
    await new Promise<void>((resolve, reject) => {
      recorder.stderr.on('data', (chunk: string) => {
        stderr += chunk;
        if (stderr.includes(`recording to ${dbPath}`)) resolve();
      });
      recorder.once('exit', (code) => reject(new Error(`the installed sigaudit exited with ${code} before recording:\n${stderr}`)));
    });
    const maps = readFileSync(`/proc/${recorder.pid}/maps`, 'utf8');
    assert.ok(maps.includes(`${INSTALL_DIR}/build/Release/sigaudit.node`), 'the recorder did not load the installed addon');
    assert.ok(!maps.includes(CHECKOUT), `the recorder loaded something from the checkout ${CHECKOUT}`);

    const target = spawn('/bin/sleep', ['60'], { stdio: 'ignore' });
    await new Promise((resolve) => target.once('spawn', resolve));
    process.kill(target.pid!, 'SIGUSR1');
    await exited(target);
    recorder.kill('SIGTERM');
    const code = await new Promise((resolve) => (recorder.exitCode !== null ? resolve(recorder.exitCode) : recorder.once('exit', resolve)));
    assert.equal(code, 0, `the recorder exited with ${code}:\n${stderr}`);

    const query = spawnSync('/usr/bin/sigaudit', ['query', 'list', '--db', dbPath, '--target-pid', String(target.pid), '--format', 'json'], { cwd: emptyPath, env, encoding: 'utf8' });
    const { rows } = JSON.parse(ok(query, 'sigaudit query list')) as { rows: Record<string, unknown>[] };
    assert.ok(
      rows.some((row) => row.signal_name === 'SIGUSR1' && row.sender_pid === process.pid && row.target_pid === target.pid),
      `no SIGUSR1 from ${process.pid} to ${target.pid} in ${JSON.stringify(rows)}`,
    );
  });

  it('installs the man page, the unit with the package paths, and enables it', () => {
    assert.equal(ok(spawnSync('man', ['-w', 'sigaudit'], { encoding: 'utf8' }), 'man -w sigaudit').trim(), '/usr/share/man/man1/sigaudit.1.gz');
    const page = ok(spawnSync('man', ['-P', 'cat', 'sigaudit'], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '80' } }), 'man sigaudit');
    for (const command of ['sigaudit record', 'sigaudit query who-killed', 'sigaudit export', 'sigaudit tail']) assert.ok(page.includes(command), `man sigaudit lacks ${command}`);
    const unit = readFileSync('/lib/systemd/system/sigaudit.service', 'utf8');
    assert.match(unit, new RegExp(`^ExecStart=/usr/bin/node ${INSTALL_DIR}/dist/src/index.js record \\$SIGAUDIT_OPTIONS$`, 'm'));
    assert.equal(verifyUnit(unit), undefined, 'systemd-analyze verify rejects the installed unit');
    assert.equal(readlinkSync(WANTS_LINK), '/lib/systemd/system/sigaudit.service');
  });

  it('remove takes the program away and keeps the settings and the database', () => {
    apt(['remove', 'sigaudit']);
    assert.equal(packageStatus(), 'deinstall ok config-files');
    for (const path of ['/usr/bin/sigaudit', INSTALL_DIR, '/lib/systemd/system/sigaudit.service', '/usr/share/man/man1/sigaudit.1.gz']) assert.ok(!present(path), `${path} is still there`);
    assert.ok(existsSync('/etc/default/sigaudit'), 'remove deleted the settings');
    assert.ok(existsSync(join(dbDir, 'sigaudit.db')), 'remove deleted the database');
  });

  it('purge removes the settings, keeps the database and says where it is', () => {
    const output = apt(['purge', 'sigaudit']);
    assert.equal(packageStatus(), '');
    assert.match(output, /recorded signals are kept in \/var\/lib\/sigaudit/);
    for (const path of ['/etc/default/sigaudit', WANTS_LINK, '/etc/systemd/system/sigaudit.service']) assert.ok(!present(path), `${path} is still there`);
    assert.ok(existsSync(join(dbDir, 'sigaudit.db')), 'purge deleted the database');
  });
});
