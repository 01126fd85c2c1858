// Every expected failure of `sigaudit record` names its cause and its fix,
// exits non-zero, and leaves any database it was pointed at as it was.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SigauditError, NativeError } from '../src/errors';
import { nativeFailure, verifierLogTail } from '../src/record/native-errors';
import { checkBtf } from '../src/record/preflight';
import { loadAddon } from '../src/record/probe';
import { kernelTestOptions } from './helpers/kernel';
import { CLI, exportedRows, runCli, startRecorder, tempDbPath } from './helpers/recorder';

describe('record refuses bad input and missing privileges', () => {
  it('without CAP_BPF/CAP_PERFMON it says how to get them, exit 1', () => {
    // Root with every capability dropped, so the files stay readable.
    const result = spawnSync('setpriv', ['--bounding-set', '-all', '--inh-caps', '-all', process.execPath, CLI, 'record', '--db', tempDbPath()], { encoding: 'utf8' });
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, /^sigaudit: recording needs privileges .*CAP_BPF.*CAP_PERFMON/);
    assert.equal(result.stderr.trim().split('\n').length, 1);
  });

  it('a database path that cannot be created is named, exit 1', () => {
    // /proc refuses new directories; Node's own recursive mkdir would spin on it.
    const { code, stderr } = runCli(['record', '--db', '/proc/no-such-dir/sigaudit.db']);
    assert.equal(code, 1);
    assert.match(stderr, /cannot create the directory of \/proc\/no-such-dir\/sigaudit.db.*fix: choose a --db path/);
    const underFile = runCli(['record', '--db', '/etc/hostname/sigaudit.db']);
    assert.equal(underFile.code, 1);
    assert.match(underFile.stderr, /cannot open \/etc\/hostname\/sigaudit.db: .*fix: check that the directory exists and is writable/);
  });

  it('a file that is not a sigaudit database is refused and left untouched', () => {
    const path = tempDbPath();
    writeFileSync(path, 'not a database\n'.repeat(100));
    const before = readFileSync(path);
    const { code, stderr } = runCli(['record', '--db', path]);
    assert.equal(code, 1);
    assert.match(stderr, /is not a sigaudit database/);
    assert.deepEqual(readFileSync(path), before);
  });

  it('unknown flags and bad sizes are usage errors, exit 2', () => {
    const unknown = runCli(['record', '--frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown option '--frobnicate'/);
    const size = runCli(['record', '--ring-size', '1000']);
    assert.equal(size.code, 2);
    assert.match(size.stderr, /--ring-size.*power of two/);
    const signal = runCli(['record', '--only-signals', 'TERM,BOGUS']);
    assert.equal(signal.code, 2);
    assert.match(signal.stderr, /expected a signal name or number.*BOGUS/);
  });

  it('a kernel without BTF is named with the config option to enable', () => {
    assert.throws(
      () => checkBtf('/nonexistent/vmlinux'),
      (error: unknown) => error instanceof SigauditError && error.code === 'ENOBTF' && /CONFIG_DEBUG_INFO_BTF=y/.test(error.fix),
    );
  });

  it('a verifier rejection shows the tail of the verifier log', () => {
    const log = [
      "libbpf: prog 'signal_generate': BPF program load failed: Permission denied\n",
      "libbpf: prog 'signal_generate': -- BEGIN PROG LOAD LOG --\n0: R1=ctx() R10=fp0\n; int BPF_PROG(...)\n12: invalid mem access 'scalar'\n-- END PROG LOAD LOG --\n",
    ];
    assert.deepEqual(verifierLogTail(log), ['0: R1=ctx() R10=fp0', '; int BPF_PROG(...)', "12: invalid mem access 'scalar'"]);
    const error = nativeFailure(new NativeError({ message: 'loading the BPF program into the kernel failed: Permission denied', step: 'load', errno: 13, libbpfLog: log }));
    assert.equal(error.code, 'EVERIFIER');
    assert.match(error.message, /verifier rejected the program:\n {2}0: R1=ctx\(\)/);
  });
});

/**
 * Runs the recorder in a private mount namespace with tracefs (and debugfs,
 * whose tracing directory would mount it again) unmounted there only, so the
 * host and other recorders see no change; then with `privileges` (setpriv
 * arguments) applied.
 */
function withoutTracefs(privileges: string[] = []): string[] {
  const unmount = 'for dir in /sys/kernel/debug/tracing /sys/kernel/debug /sys/kernel/tracing; do umount "$dir" 2>/dev/null; done; exec "$@"';
  return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', unmount, 'sh', ...(privileges.length ? ['setpriv', ...privileges] : [])];
}

async function recordsKillProbe(extraArgs: string[], launcher: string[]) {
  const recorder = await startRecorder(tempDbPath(), extraArgs, launcher);
  const sender = spawnSync('/bin/kill', ['-0', String(process.pid)]);
  const { code, stderr } = await recorder.stop();
  assert.equal(code, 0, stderr);
  assert.equal(exportedRows(recorder.dbPath).filter((row) => row.sender_pid === sender.pid && row.source === 'kill').length, 1);
  return stderr;
}

describe('record without tracefs', kernelTestOptions, () => {
  it('mounts tracefs when it may, and says so once', async () => {
    const stderr = await recordsKillProbe([], withoutTracefs());
    assert.equal(stderr.match(/mounted tracefs at \/sys\/kernel\/tracing/g)?.length, 1, stderr);
    assert.doesNotMatch(stderr, /raw sys_exit/);
  });

  it('without CAP_SYS_ADMIN falls back to the raw sys_exit tracepoint and says so once, with the cost and the fix', async () => {
    const stderr = await recordsKillProbe([], withoutTracefs(['--bounding-set', '-sys_admin', '--inh-caps', '-sys_admin']));
    const warnings = stderr.split('\n').filter((line) => /tracefs/.test(line));
    assert.equal(warnings.length, 1, stderr);
    assert.match(warnings[0], /mounting it needs CAP_SYS_ADMIN: .*raw sys_exit tracepoint.*every system call of the host.*sys-kernel-tracing.mount/);
  });
});

describe('--exclude-comm holds as many names as the BPF program', kernelTestOptions, () => {
  const names = (n: number) => Array.from({ length: n }, (_, i) => ['--exclude-comm', `excluded${i}`]).flat();

  it('takes the limit, and one more is a usage error naming it, exit 2', async () => {
    const { maxExcludedComms } = loadAddon();
    assert.ok(maxExcludedComms >= 1);
    const recorder = await startRecorder(tempDbPath(), names(maxExcludedComms));
    assert.equal((await recorder.stop()).code, 0);
    const tooMany = runCli(['record', '--db', tempDbPath(), ...names(maxExcludedComms + 1)]);
    assert.equal(tooMany.code, 2, tooMany.stderr);
    assert.match(tooMany.stderr, new RegExp(`at most ${maxExcludedComms} names can be excluded .*excluded${maxExcludedComms}`));
  });

  it('the addon refuses more names than it holds', () => {
    const { Probe, maxExcludedComms } = loadAddon();
    const options = { ringBytes: 4096, wakeupBytes: 1, skipProbes: false, onlySignals: 0n, compatExitTraced: false, floodIntervalNs: 0n, floodBurstNs: 0n, pidnsInum: 0, log: () => {} };
    assert.throws(
      () => new Probe({ ...options, excludedComms: Array.from({ length: maxExcludedComms + 1 }, (_, i) => `c${i}`) }),
      (error: unknown) => error instanceof NativeError && error.step === 'exclude-comm',
    );
  });
});
