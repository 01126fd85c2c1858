// Every expected failure of `sigaudit record` names its cause and its fix,
// exits non-zero, and leaves any database it was pointed at as it was.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SigauditError, NativeError } from '../src/errors';
import { nativeFailure, verifierLogTail } from '../src/record/native-errors';
import { checkBtf } from '../src/record/preflight';
import { kernelTestOptions } from './helpers/kernel';
import { CLI, exportedRows, runCli, startRecorder, tempDbPath } from './helpers/recorder';

const TRACEFS_MOUNTS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

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

describe('record needs no tracefs', kernelTestOptions, () => {
  it('records with tracefs unmounted: every probe is a BTF tracepoint', async (t) => {
    for (const dir of TRACEFS_MOUNTS.filter((d) => existsSync(`${d}/events`))) {
      const unmount = spawnSync('umount', [dir], { encoding: 'utf8' });
      if (unmount.status !== 0) return t.skip(`tracefs is busy here and cannot be unmounted: ${unmount.stderr.trim()}`);
    }
    assert.ok(!TRACEFS_MOUNTS.some((dir) => existsSync(`${dir}/events`)), 'tracefs is unmounted before the recorder starts');
    const recorder = await startRecorder();
    const sender = spawnSync('/bin/kill', ['-0', String(process.pid)]);
    const { code } = await recorder.stop();
    assert.equal(code, 0);
    assert.equal(exportedRows(recorder.dbPath).filter((row) => row.sender_pid === sender.pid && row.source === 'kill').length, 1);
  });
});
