// Who may read the record: the database directory is 0750 and its files
// (the database, -wal, -shm, the lock) 0640, owned by root and a group (adm
// by default, --group to choose). A member of the group can query while the
// recorder runs and after it stopped; anyone else is refused with a message
// naming the group.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { kernelTestOptions } from './helpers/kernel';
import { CLI, runCli, startRecorder, tempDbPath } from './helpers/recorder';
import { asUser, ensureGroup, ensureUser } from './helpers/service';

const MEMBER = 'sigaudit-test-member';
const OUTSIDER = 'sigaudit-test-outsider';

function modeAndGroup(path: string): { mode: string; uid: number; gid: number } {
  const stat = statSync(path);
  return { mode: (stat.mode & 0o777).toString(8), uid: stat.uid, gid: stat.gid };
}

/** A temporary directory others may pass through (mkdtemp makes it 0700). */
function openTempDir(): string {
  const dir = join(tempDbPath('unused'), '..');
  chmodSync(dir, 0o755);
  return dir;
}

function queryAs(user: string, dbPath: string) {
  // Only the test's own probe: other processes on the host signal too.
  return spawnSync(asUser(user)[0], [...asUser(user).slice(1), process.execPath, CLI, 'query', 'list', '--db', dbPath, '--include-probes', '--sender-comm', 'kill', '--target-pid', String(process.pid), '--limit', '1'], { encoding: 'utf8' });
}

describe('permissions', kernelTestOptions, () => {
  it('creates the directory 0750 and every file 0640 in group adm; members read, others are told which group', async () => {
    const adm = ensureGroup('adm');
    ensureUser(MEMBER, ['adm']);
    ensureUser(OUTSIDER);
    const dbPath = join(openTempDir(), 'state', 'sigaudit.db');
    const recorder = await startRecorder(dbPath);
    try {
      spawnSync('/bin/kill', ['-0', String(process.pid)]);
      assert.deepEqual(modeAndGroup(join(dbPath, '..')), { mode: '750', uid: 0, gid: adm });
      for (const suffix of ['', '-wal', '-shm', '.lock'])
        assert.deepEqual(modeAndGroup(dbPath + suffix), { mode: '640', uid: 0, gid: adm }, `sigaudit.db${suffix}`);

      const member = queryAs(MEMBER, dbPath);
      assert.equal(member.status, 0, member.stderr);
      const outsider = queryAs(OUTSIDER, dbPath);
      assert.equal(outsider.status, 1);
      assert.match(outsider.stderr, /^sigaudit: permission denied reading .*sigaudit\.db: its directory .*state is open to root and members of the group adm \(fix: ask an administrator to add you to adm \(usermod -aG adm \$USER/);
    } finally {
      const { code, stderr } = await recorder.stop();
      assert.equal(code, 0, stderr);
    }
    // At rest: no -wal or -shm for a member to need (or be unable to create in a 0750 directory).
    const member = queryAs(MEMBER, dbPath);
    assert.equal(member.status, 0, member.stderr);
    assert.match(member.stdout, /kill/);
    assert.equal(queryAs(OUTSIDER, dbPath).status, 1);
  });

  it('--group names another group, and fixes the mode of files an older run left open', async () => {
    const readers = ensureGroup('sigaudit-test-readers');
    ensureUser(OUTSIDER);
    const dbPath = join(openTempDir(), 'sigaudit.db');
    const first = await startRecorder(dbPath, ['--group', 'sigaudit-test-readers']);
    assert.equal((await first.stop()).code, 0);
    assert.deepEqual(modeAndGroup(dbPath), { mode: '640', uid: 0, gid: readers });
    const refused = queryAs(OUTSIDER, dbPath);
    assert.match(refused.stderr, /members of the group sigaudit-test-readers/);

    spawnSync('chmod', ['0644', dbPath]);
    const second = await startRecorder(dbPath, ['--group', 'sigaudit-test-readers']);
    assert.equal((await second.stop()).code, 0);
    assert.equal(modeAndGroup(dbPath).mode, '640');
  });

  it('an unknown --group is a usage error naming the flag', () => {
    const { code, stderr } = runCli(['record', '--db', tempDbPath(), '--group', 'no-such-group-here']);
    assert.equal(code, 2);
    assert.match(stderr, /--group no-such-group-here: no such group in \/etc\/group \(fix: create it \(groupadd no-such-group-here\)/);
  });
});
