// A host without libbpf.so.1: `sigaudit record` says in one line which
// library is missing and which package installs it, instead of a stack trace.
// The library is hidden for real: an overlay in a private mount namespace
// whites it out of the directory the dynamic loader finds it in.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { kernelTestOptions } from './helpers/kernel';
import { CLI, tempDbPath } from './helpers/recorder';

const ADDON = join(__dirname, '..', '..', 'build', 'Release', 'sigaudit.node');

/** Where the dynamic loader finds a library the addon links, as `ldd` reports it. */
function linkedLibrary(soname: string): string {
  const line = execFileSync('ldd', [ADDON], { encoding: 'utf8' }).split('\n').find((entry) => entry.trim().startsWith(`${soname} =>`));
  assert.ok(line, `ldd does not list ${soname} for ${ADDON}`);
  return realpathSync(line.split('=>')[1].trim().split(' ')[0]);
}

describe('record without a shared library the addon links', () => {
  it('names libbpf.so.1 and apt-get install libbpf1 in one line, exit 1', kernelTestOptions, () => {
    const libraryDir = dirname(linkedLibrary('libbpf.so.1'));
    const scratch = mkdtempSync(join(tmpdir(), 'sigaudit-nolib-'));
    const script = [
      'set -e',
      `mount -t tmpfs none "${scratch}"`,
      `mkdir "${scratch}/upper" "${scratch}/work"`,
      `mount -t overlay overlay -o lowerdir="${libraryDir}",upperdir="${scratch}/upper",workdir="${scratch}/work" "${libraryDir}"`,
      `rm -f "${libraryDir}"/libbpf.so.1*`,
      'exec "$@"',
    ].join('\n');
    const result = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', process.execPath, CLI, 'record', '--db', tempDbPath()], {
      encoding: 'utf8',
    });
    assert.equal(result.status, 1, result.stderr);
    assert.equal(
      result.stderr,
      'sigaudit: the kernel probe needs the shared library libbpf.so.1, which is not installed ' +
        '(fix: apt-get install libbpf1, or elsewhere the package that provides libbpf.so.1)\n',
    );
  });
});
