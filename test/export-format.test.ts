// The export formats each row inside SQLite (src/export/sql-format.ts) for
// speed; its CSV and JSON Lines must say exactly what exportRecord with
// csv-stringify and JSON says, including quoting, NULLs, errno and signal
// names, nanosecond times and 64-bit integers.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { stringify } from 'csv-stringify/sync';
import Database from 'better-sqlite3';
import { describe, it } from 'node:test';
import { COLUMNS, SELECT_ROWS, exportRecord, type StoredRow } from '../src/export/columns';
import { exportLines, exportSignals, jsonLine } from '../src/export';
import { loadLineFunctions } from '../src/export/sql-format';
import { openForWriting } from '../src/store/database';
import { SignalWriter, type SignalRow } from '../src/store/writer';
import { tempDbPath } from './helpers/recorder';

function rows(): SignalRow[] {
  const base: SignalRow = {
    tsNs: 1_795_307_200_517_754_112n, fanout: 0, source: 'kill', senderPid: 10, senderTid: 11, senderComm: 'kill', senderUid: 0, senderAuid: 1000,
    senderPpid: 1, senderCgroup: 7n, targetPid: 20, targetTid: null, deliveredPid: 20, deliveredTid: 20, deliveredComm: 'sleep',
    deliveredCgroup: 8n, signal: 15, ret: 0, result: 'delivered', siCode: 0, origin: null,
  };
  return [
    base,
    { ...base, tsNs: base.tsNs + 1n, fanout: 1, senderComm: 'a,b "c"', deliveredComm: 'line\nbreak', signal: 37 },
    { ...base, tsNs: base.tsNs + 2n, ret: -3, deliveredPid: null, deliveredTid: null, deliveredComm: null, deliveredCgroup: null, result: null, signal: 0 },
    { ...base, tsNs: base.tsNs + 3n, ret: -1, signal: 9, senderCgroup: 99n, senderAuid: null },
    { ...base, tsNs: base.tsNs + 4n, ret: -4095, signal: 64, source: 'kernel', senderPid: null, senderTid: null, senderComm: null, senderUid: null, senderPpid: null, senderCgroup: null, origin: 'oom', siCode: 128 },
    { ...base, tsNs: 999_000_000_123n, signal: 31, ret: -110 },
    // Namespace pids: a sender the recorder's namespace cannot see (0), a target and task it numbers 86.
    { ...base, tsNs: base.tsNs + 5n, senderNsPid: 0, targetNsPid: 86, deliveredNsPid: 86 },
    { ...base, tsNs: base.tsNs + 6n, senderNsPid: 7, deliveredPid: null, deliveredTid: null, deliveredComm: null, result: null, ret: -3, targetNsPid: 0 },
    // Times at the ends of the 64-bit range and around leap days: sigaudit_iso_time counts the calendar itself.
    { ...base, tsNs: 0n },
    { ...base, tsNs: 951_782_400_000_000_000n - 1n },
    { ...base, tsNs: 951_782_400_000_000_000n },
    { ...base, tsNs: 4_107_542_400_000_000_000n - 1n },
    { ...base, tsNs: 4_107_542_400_000_000_000n },
    { ...base, tsNs: 1_735_689_599_999_999_999n },
    { ...base, tsNs: 2n ** 63n - 1n },
    // Every field a value of its own, so that a column showing another field's value shows.
    {
      tsNs: base.tsNs + 7n, fanout: 2, source: 'tgkill', senderPid: 101, senderTid: 102, senderComm: 'killer', senderUid: 103, senderAuid: 104,
      senderPpid: 105, senderCgroup: 7n, targetPid: 106, targetTid: 107, deliveredPid: 108, deliveredTid: 109, deliveredComm: 'victim',
      deliveredCgroup: 8n, signal: 10, ret: -1, result: 'ignored', siCode: -6, origin: null, senderNsPid: 110, targetNsPid: 111, deliveredNsPid: 112,
    },
  ];
}

describe('export formats', () => {
  const path = tempDbPath();
  const db = openForWriting(path);
  const writer = new SignalWriter(db);
  writer.write(rows().slice(0, 3), [
    { id: 7n, path: '/system.slice/x,y.service', unit: 'x,y.service' },
    { id: 8n, path: '/user.slice/"quoted"', unit: null },
  ]);
  writer.archive(2);
  writer.write(rows().slice(3));
  db.close();

  const reader = new Database(path, { readonly: true });
  const stored = reader.prepare(`${SELECT_ROWS} ORDER BY s.id`).safeIntegers(true).all() as StoredRow[];
  reader.close();
  const records = stored.map(exportRecord);

  it('CSV is what csv-stringify writes for exportRecord', async () => {
    const out = tempDbPath('out.csv');
    assert.equal(await exportSignals({ dbPath: path, format: 'csv', output: out }), rows().length);
    const expected = stringify(records.map((record) => COLUMNS.map((column) => { const value = record[column]; return typeof value === 'bigint' ? value.toString() : value; })), { header: true, columns: [...COLUMNS] });
    assert.equal(readFileSync(out, 'utf8'), expected);
  });

  it('keeps the published columns where they were, with the namespace pids appended at the end', async () => {
    const published = [
      'time', 'ts_ns', 'source', 'sender_pid', 'sender_tid', 'sender_comm', 'sender_uid', 'sender_auid', 'sender_ppid', 'sender_cgroup',
      'target_pid', 'target_tid', 'delivered_pid', 'delivered_tid', 'delivered_comm', 'signal', 'signal_name', 'ret', 'errno_name',
      'result', 'si_code', 'origin', 'delivered_cgroup', 'id', 'send_id', 'sender_unit', 'delivered_unit',
    ];
    assert.deepEqual([...COLUMNS], [...published, 'sender_ns_pid', 'target_ns_pid', 'delivered_ns_pid']);
    const out = tempDbPath('out.csv');
    await exportSignals({ dbPath: path, format: 'csv', output: out });
    const lines = readFileSync(out, 'utf8').split('\n');
    assert.equal(lines[0], COLUMNS.join(','));
    assert.ok(lines.some((line) => line.endsWith(',0,86,86')), 'a row with namespace pids ends with them');
    assert.ok(lines.some((line) => line.endsWith(',7,0,')), 'a send that reached nothing: no delivered_ns_pid');
  });

  it('says each field of a row in its own column', () => {
    const row = stored.find((candidate) => candidate.ts_ns === rows()[0].tsNs + 7n)!;
    assert.deepEqual(exportRecord(row), {
      time: '2026-11-22T00:26:40.517754119Z', ts_ns: 1_795_307_200_517_754_119n, source: 'tgkill', sender_pid: 101, sender_tid: 102,
      sender_comm: 'killer', sender_uid: 103, sender_auid: 104, sender_ppid: 105, sender_cgroup: '/system.slice/x,y.service',
      target_pid: 106, target_tid: 107, delivered_pid: 108, delivered_tid: 109, delivered_comm: 'victim', signal: 10, signal_name: 'SIGUSR1',
      ret: -1, errno_name: 'EPERM', result: 'ignored', si_code: -6, origin: null, delivered_cgroup: '/user.slice/"quoted"', id: row.id,
      send_id: row.id - 2n, sender_unit: 'x,y.service', delivered_unit: null, sender_ns_pid: 110, target_ns_pid: 111, delivered_ns_pid: 112,
    });
  });

  it('JSON Lines parse to what jsonLine writes for exportRecord', async () => {
    const out = tempDbPath('out.jsonl');
    assert.equal(await exportSignals({ dbPath: path, format: 'jsonl', output: out }), rows().length);
    const exact = (line: string) => JSON.parse(line.replace(/"(ts_ns|id|send_id)":(-?\d+)/g, '"$1":"$2"'));
    const got = readFileSync(out, 'utf8').trimEnd().split('\n').map(exact);
    assert.deepEqual(got, records.map((record) => exact(jsonLine(record))));
  });

  it('writes the same lines in JavaScript (exportLines: the fleet export and tail), a fleet row\'s host at the end', async () => {
    const host = 'web\r1';
    for (const format of ['csv', 'jsonl'] as const) {
      const out = tempDbPath(`out.${format}`);
      await exportSignals({ dbPath: path, format, output: out });
      const sqlLines = readFileSync(out, 'utf8');
      assert.equal(exportLines(stored, format, false), format === 'csv' ? sqlLines.slice(sqlLines.indexOf('\n') + 1) : sqlLines);
      for (const row of stored) {
        const line = exportLines([row], format, false);
        const hosted = format === 'csv' ? `${line.slice(0, -1)},${stringify([[host]])}` : `${line.slice(0, -2)},"host":${JSON.stringify(host)}}\n`;
        assert.equal(exportLines([{ ...row, host }], format, true), hosted);
      }
    }
  });

  it('pages through more rows than one page, in order, with and without a window', async () => {
    const big = tempDbPath();
    const bigDb = openForWriting(big);
    const bigWriter = new SignalWriter(bigDb);
    bigWriter.write(Array.from({ length: 12_345 }, (_, i) => ({ ...rows()[0], tsNs: 1_795_307_200_000_000_000n + BigInt(i) * 1000n })));
    bigWriter.archive(7000);
    bigDb.close();
    for (const filters of [undefined, { since: new Date(Number(1_795_307_200_000_000_000n / 1_000_000n)) }]) {
      const out = tempDbPath('big.jsonl');
      assert.equal(await exportSignals({ dbPath: big, format: 'jsonl', output: out, filters }), 12_345);
      const ids = readFileSync(out, 'utf8').trimEnd().split('\n').map((line) => Number(/"id":(\d+)/.exec(line)![1]));
      assert.deepEqual(ids, Array.from({ length: 12_345 }, (_, i) => i + 1));
    }
  });

  it('joins lines in key order even when rows come out of order, and writes any value as a CSV field', () => {
    const sql = new Database(':memory:');
    loadLineFunctions(sql);
    const joined = sql.prepare("SELECT sigaudit_lines(column1, column2) AS lines FROM (VALUES (3, 'c'), (1, 'a'), (2, 'b'), (4, NULL))").get() as { lines: Buffer };
    assert.equal(joined.lines.toString(), 'abc');
    assert.equal((sql.prepare('SELECT sigaudit_lines(1, 2) AS lines WHERE 0').get() as { lines: null }).lines, null);
    const record = sql
      .prepare(`SELECT sigaudit_csv_record(NULL, 0, -9223372036854775808, 9223372036854775807, 1.5, '', 'plain', 'a,b "c"', 'cr\rlf\n') AS line`)
      .get() as { line: string };
    assert.equal(record.line, stringify([[null, 0, '-9223372036854775808', '9223372036854775807', 1.5, '', 'plain', 'a,b "c"', 'cr\rlf\n']]));
    sql.close();
  });
});
