// The query layer's pure logic (times, tables, process splitting) and the
// CLI's answer to bad input: one line on stderr, a non-zero exit, and the
// database untouched.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { StoredRow } from '../src/export/columns';
import { renderTable, sparkline } from '../src/query/format';
import { parseTime, timeArgument } from '../src/query/time';
import { splitProcesses } from '../src/query/who-killed';
import { openForWriting } from '../src/store/database';
import { SignalWriter } from '../src/store/writer';
import { runCli, tempDbPath } from './helpers/recorder';

describe('time parsing', () => {
  const now = new Date('2026-11-21T12:00:00Z');
  it('reads ISO with a zone, and local times without one', () => {
    assert.equal(parseTime('2026-11-21T10:00:00Z', now)!.toISOString(), '2026-11-21T10:00:00.000Z');
    assert.equal(parseTime('2026-11-21T10:00:00+02:00', now)!.toISOString(), '2026-11-21T08:00:00.000Z');
    assert.equal(parseTime('2026-11-21 10:00', now)!.getTime(), new Date(2026, 10, 21, 10, 0).getTime());
    assert.equal(parseTime('2026-11-21 10:00:05', now)!.getTime(), new Date(2026, 10, 21, 10, 0, 5).getTime());
    assert.equal(parseTime('2026-11-21', now)!.getTime(), new Date(2026, 10, 21).getTime());
  });
  it('reads relative forms', () => {
    assert.equal(parseTime('2 hours ago', now)!.toISOString(), '2026-11-21T10:00:00.000Z');
    assert.equal(parseTime('30m', now)!.toISOString(), '2026-11-21T11:30:00.000Z');
    assert.equal(parseTime('1h30m', now)!.toISOString(), '2026-11-21T10:30:00.000Z');
    assert.equal(parseTime('3 days ago', now)!.toISOString(), '2026-11-18T12:00:00.000Z');
    assert.equal(parseTime('now', now), now);
    const yesterday = parseTime('yesterday', now)!;
    assert.equal(yesterday.getHours(), 0);
    assert.equal(yesterday.getMinutes(), 0);
  });
  it('refuses what it cannot read, with an accepted example', () => {
    for (const text of ['soon', '2026-13-45', '10:00', '5 fortnights ago', '']) assert.equal(parseTime(text, now), undefined, text);
    assert.throws(() => timeArgument('soon'), /cannot read "soon" as a time; use e\.g\. "2026-11-21 10:00"/);
  });
});

describe('tables', () => {
  it('fit 80 columns by cutting flexible columns', () => {
    const text = renderTable(
      [{ header: 'A' }, { header: 'B', flex: true }, { header: 'C', align: 'right' }],
      [['x'.repeat(20), 'y'.repeat(100), '1'], { note: 'z'.repeat(200) }],
    );
    for (const line of text.trimEnd().split('\n')) assert.ok(line.length <= 80, line);
    assert.match(text, /y…  1\n/);
  });
  it('draw a sparkline scaled to the largest value, blank for zero', () => {
    assert.equal(sparkline([0, 1, 4, 8]), ' ▂▅█');
  });
});

function stored(ts: number, comm: string | null, pid = 42): StoredRow {
  return {
    id: BigInt(ts), ts_ns: BigInt(ts), fanout: 0n, source: 'kill', sender_pid: 7n, sender_tid: 7n, sender_comm: 'kill', sender_uid: 0n,
    sender_auid: null, sender_ppid: 1n, sender_cgroup_id: null, sender_cgroup_path: null, sender_unit: null, target_pid: BigInt(pid), target_tid: null,
    delivered_pid: comm === null ? null : BigInt(pid), delivered_tid: comm === null ? null : BigInt(pid), delivered_comm: comm,
    delivered_cgroup_id: null, delivered_cgroup_path: null, delivered_unit: null, signal: 15n, ret: comm === null ? -3n : 0n,
    result: comm === null ? null : 'delivered', si_code: 0n, origin: null, sender_ns_pid: null, target_ns_pid: null, delivered_ns_pid: null,
  };
}

describe('splitting a pid into processes', () => {
  it('starts a new process after an exit, and a new segment when the name changes', () => {
    const exit = { tsNs: 25n, pid: 42, comm: 'sleep', siCode: 2, parentPid: 1, parentNsPid: null, parentComm: 'bash' };
    const segments = splitProcesses(42, [stored(10, 'sleep'), stored(20, null), stored(30, 'sleep'), stored(40, 'python3')], [exit]);
    assert.deepEqual(segments.map((s) => [s.startedBy, s.comm, s.rows.map((r) => Number(r.ts_ns)), s.exit?.tsNs ?? null]), [
      ['window', 'sleep', [10, 20], 25n],
      ['exit', 'sleep', [30], null],
      ['comm', 'python3', [40], null],
    ]);
  });
});

describe('bad input', () => {
  const dbPath = tempDbPath();
  const db = openForWriting(dbPath);
  new SignalWriter(db).write([]);
  db.close();
  const cases: [string, string[], RegExp][] = [
    ['an unknown subcommand', ['query', 'who-dunnit', '1'], /unknown command/],
    ['an unknown flag', ['query', 'failed', '--colour'], /unknown option/],
    ['a pid that is not a number', ['query', 'who-killed', 'abc'], /expected a process id/],
    ['an unknown signal name', ['query', 'list', '--signal', 'SIGFOO'], /expected a signal name or number/],
    ['an unparseable time', ['query', 'failed', '--since', 'last tuesdayish'], /use e\.g\. "2026-11-21 10:00"/],
    ['--since after --until', ['query', 'top-senders', '--since', '2026-11-21 10:00', '--until', '2026-11-20 10:00'], /--since \(.*\) is after --until/],
    ['an unknown --by', ['query', 'top-senders', '--by', 'colour'], /Allowed choices are comm, pid, uid, unit|expected one of/],
    ['an unknown --source', ['query', 'list', '--source', 'magic'], /expected syscall, kernel/],
    ['who-killed with neither pid nor --comm', ['query', 'who-killed'], /needs a pid or --comm/],
    ['a write through query sql', ['query', 'sql', 'DELETE FROM runs'], /refuses statements that write/],
  ];
  for (const [what, args, message] of cases) {
    it(`${what}: one line on stderr, non-zero exit`, () => {
      const before = readFileSync(dbPath);
      const { code, stdout, stderr } = runCli([...args, '--db', dbPath]);
      assert.notEqual(code, 0);
      assert.equal(stdout, '');
      assert.match(stderr, message);
      assert.equal(stderr.split('\n').filter((line) => line !== '' && !line.startsWith('(run with --help')).length, 1, stderr);
      assert.deepEqual(readFileSync(dbPath), before);
    });
  }
  it('a missing database and a file that is not sigaudit\'s', () => {
    const missing = runCli(['query', 'failed', '--db', '/nonexistent/x.db']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /does not exist/);
    const foreign = tempDbPath('notes.txt');
    writeFileSync(foreign, 'hello, not a database\n'.repeat(100));
    const result = runCli(['status', '--db', foreign]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /is not a sigaudit database/);
    assert.equal(readFileSync(foreign, 'utf8'), 'hello, not a database\n'.repeat(100));
  });

  it('a database a writer holds mid-transaction is still read (WAL), and what it has not committed is not', () => {
    const path = tempDbPath();
    const writer = openForWriting(path);
    const signals = new SignalWriter(writer);
    const row = {
      tsNs: 1_795_307_200_000_000_000n, fanout: 0, source: 'kill' as const, senderPid: 42, senderTid: 42, senderComm: 'kill', senderUid: 0, senderAuid: null,
      senderPpid: 1, senderCgroup: null, targetPid: 43, targetTid: null, deliveredPid: 43, deliveredTid: 43, deliveredComm: 'sleep',
      deliveredCgroup: null, signal: 15, ret: 0, result: 'delivered' as const, siCode: 0, origin: null,
    };
    signals.write([row]);
    writer.prepare('BEGIN IMMEDIATE').run();
    signals.write([{ ...row, senderPid: 44 }]);
    try {
      const result = runCli(['query', 'list', '--db', path, '--format', 'json']);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout).rows.map((r: { sender_pid: number }) => r.sender_pid), [42]);
    } finally {
      writer.prepare('ROLLBACK').run();
      writer.close();
    }
  });
});
