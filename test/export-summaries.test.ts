// sigaudit export --summaries: the summaries table as CSV and JSON Lines with
// its documented columns, exact 64-bit times, empty fields where a coarse
// summary has no target, and the filters of the signal export; without the
// flag, export still writes the signals.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { COLUMNS } from '../src/export/columns';
import { SUMMARY_COLUMNS } from '../src/export/summaries';
import { closeWriting, openForWriting } from '../src/store/database';
import { SignalWriter } from '../src/store/writer';
import { runCli, tempDbPath } from './helpers/recorder';

const T0 = 1_795_307_200_517_754_112n;
const SECOND = 1_000_000_000n;

interface Summary {
  first: bigint;
  last: bigint;
  count: number;
  outcome: 'summarised' | 'dropped';
  pid: number;
  comm: string;
  signal: number;
  target: number | null;
  ret: number | null;
  result: string | null;
}

const SUMMARIES: Summary[] = [
  { first: T0, last: T0 + SECOND - 1n, count: 19_850_113, outcome: 'summarised', pid: 4242, comm: 'loadgen', signal: 0, target: 4242, ret: 0, result: null },
  { first: T0 + SECOND, last: T0 + 2n * SECOND, count: 3, outcome: 'dropped', pid: 4243, comm: 'a,b "c"', signal: 15, target: 77, ret: 0, result: 'delivered' },
  // Coarse: too many targets in a second for a row each.
  { first: T0 + 3n * SECOND, last: T0 + 4n * SECOND, count: 12, outcome: 'summarised', pid: 4242, comm: 'loadgen', signal: 10, target: null, ret: null, result: null },
];

function database(): string {
  const path = tempDbPath();
  const db = openForWriting(path);
  const writer = new SignalWriter(db);
  const runId = writer.beginRun({ startedNs: T0, host: 'h', kernel: 'k', version: 'v', recorderPid: process.pid, ringBytes: 4096 });
  const insert = db.prepare(`INSERT INTO summaries (run_id, first_ns, last_ns, count, outcome, source, sender_pid, sender_comm, sender_uid, signal, target_pid, ret, result)
    VALUES (?, ?, ?, ?, ?, 'kill', ?, ?, 65534, ?, ?, ?, ?)`);
  for (const s of SUMMARIES) insert.run(runId, s.first, s.last, s.count, s.outcome, s.pid, s.comm, s.signal, s.target, s.ret, s.result);
  closeWriting(db);
  return path;
}

describe('export --summaries', () => {
  const path = database();

  it('writes CSV with the documented columns, exact times, and empty fields for a coarse summary', () => {
    const out = tempDbPath('summaries.csv');
    const result = runCli(['export', '--summaries', '--db', path, '-o', out]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, new RegExp(`wrote ${SUMMARIES.length} summaries to`));
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
    assert.equal(lines[0], SUMMARY_COLUMNS.join(','));
    assert.deepEqual(lines.slice(1), [
      `2026-11-22T00:26:40.517754112Z,${T0},2026-11-22T00:26:41.517754111Z,${T0 + SECOND - 1n},19850113,summarised,kill,4242,loadgen,65534,0,,4242,0,,,1,1`,
      `2026-11-22T00:26:41.517754112Z,${T0 + SECOND},2026-11-22T00:26:42.517754112Z,${T0 + 2n * SECOND},3,dropped,kill,4243,"a,b ""c""",65534,15,SIGTERM,77,0,,delivered,1,2`,
      `2026-11-22T00:26:43.517754112Z,${T0 + 3n * SECOND},2026-11-22T00:26:44.517754112Z,${T0 + 4n * SECOND},12,summarised,kill,4242,loadgen,65534,10,SIGUSR1,,,,,1,3`,
    ]);
  });

  it('writes JSON Lines through the CLI, with the filters of export (sender, window, --no-probes)', () => {
    const exact = (line: string) => JSON.parse(line.replace(/"(first_ns|last_ns|id)":(\d+)/g, '"$1":"$2"')) as Record<string, unknown>;
    const run = (...args: string[]) => {
      const result = runCli(['export', '--summaries', '--format', 'jsonl', '--db', path, ...args]);
      assert.equal(result.code, 0, result.stderr);
      return result.stdout.trimEnd().split('\n').filter((line) => line !== '').map(exact);
    };
    const all = run();
    assert.deepEqual(Object.keys(all[0]), [...SUMMARY_COLUMNS]);
    assert.deepEqual(all[2], {
      first_time: '2026-11-22T00:26:43.517754112Z', first_ns: String(T0 + 3n * SECOND), last_time: '2026-11-22T00:26:44.517754112Z',
      last_ns: String(T0 + 4n * SECOND), count: 12, outcome: 'summarised', source: 'kill', sender_pid: 4242, sender_comm: 'loadgen',
      sender_uid: 65534, signal: 10, signal_name: 'SIGUSR1', target_pid: null, ret: null, errno_name: '', result: null, run_id: 1, id: '3',
    });
    assert.deepEqual(run('--sender-pid', '4242').map((row) => row.id), ['1', '3']);
    assert.deepEqual(run('--no-probes').map((row) => row.id), ['2', '3']);
    // A window that overlaps only the second summary's span.
    const inSecond = new Date(Number((T0 + SECOND + SECOND / 2n) / 1_000_000n)).toISOString();
    assert.deepEqual(run('--since', inSecond, '--until', inSecond).map((row) => row.id), ['2']);
    assert.deepEqual(run('--target-pid', '77').map((row) => row.id), ['2']);
  });

  it('leaves the signal export as it was', () => {
    const result = runCli(['export', '--format', 'csv', '--db', path]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `${COLUMNS.join(',')}\n`);
  });
});
