// The fleet, for real: two databases the real recorder filled with real
// signals (kill, a process-group kill, ESRCH; EPERM, a pidfd, a kernel
// SIGSEGV) stand for two hosts and are forwarded to a real PostgreSQL
// cluster; a forwarder killed mid-batch and a server stopped mid-follow
// lose nothing and duplicate nothing; bad input is refused in one line.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import Database from 'better-sqlite3';
import { after, before, describe, it } from 'node:test';
import { isoTime } from '../src/export/columns';
import { openForWriting } from '../src/store/database';
import { SignalWriter, type SignalRow } from '../src/store/writer';
import { kernelTestOptions } from './helpers/kernel';
import { postgresOptions, startCluster, type Cluster } from './helpers/postgres';
import { CLI, EVERY_SIGNAL, exportedRows, runCli, settle, startRecorder, tempDbPath } from './helpers/recorder';
import { exited, freePid, killInitAsNobody, processGroup, run } from './helpers/senders';
import { runStorm } from './helpers/service';

const options = { ...kernelTestOptions, ...postgresOptions };
const FORWARDER_PASSWORD = 'forward-secret';
const READER_PASSWORD = 'read-secret';

/** Every row of one host on the server, with its names, as export spells the same fields. */
const SERVER_ROWS = `
  SELECT id::text, ts_ns::text, source, sender_pid, sender_comm, signal, ret, delivered_pid, delivered_comm, result, origin
  FROM sigaudit.signal_rows r WHERE host = $1 ORDER BY r.id`;

function comparable(row: Record<string, unknown>): string {
  const fields = ['id', 'ts_ns', 'source', 'sender_pid', 'sender_comm', 'signal', 'ret', 'delivered_pid', 'delivered_comm', 'result', 'origin'];
  return fields.map((field) => (row[field] === null || row[field] === undefined ? '' : String(row[field]))).join('|');
}

function syntheticRows(count: number, startNs: bigint): SignalRow[] {
  return Array.from({ length: count }, (_, i) => ({
    tsNs: startNs + BigInt(i) * 1000n, fanout: 0, source: 'kill', senderPid: 1000 + (i % 50), senderTid: 1000 + (i % 50), senderComm: `sender${i % 50}`,
    senderUid: 0, senderAuid: null, senderPpid: 1, senderCgroup: null, targetPid: 2000 + i, targetTid: null, deliveredPid: 2000 + i, deliveredTid: 2000 + i,
    deliveredComm: 'sleep', deliveredCgroup: null, signal: 15, ret: 0, result: 'delivered', siCode: 0, origin: null,
  }));
}

function appendRows(dbPath: string, count: number, startNs = BigInt(Date.now()) * 1_000_000n): void {
  const db = openForWriting(dbPath);
  new SignalWriter(db).write(syntheticRows(count, startNs));
  db.close();
}

function localPosition(dbPath: string): number | undefined {
  const db = new Database(dbPath, { readonly: true });
  try {
    return (db.prepare('SELECT signal_id FROM forward_state').get() as { signal_id: number } | undefined)?.signal_id;
  } catch {
    return undefined;
  } finally {
    db.close();
  }
}

describe('the fleet: forwarding to PostgreSQL', options, () => {
  let cluster: Cluster;
  let owner: Client;
  const hostA = tempDbPath('web-3.db');
  const hostB = tempDbPath('web-4.db');
  const pids: Record<string, number> = {};
  let group: number[] = [];
  let forwarderUrl: string;
  const env = (extra: Record<string, string> = {}) => ({ ...process.env, PGPASSWORD: FORWARDER_PASSWORD, ...extra });

  async function serverQuery<T extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await owner.query<T>(sql, params)).rows;
  }

  before(async () => {
    cluster = await startCluster();
    cluster.createDatabase('fleet');
    const init = runCli(['server', 'init', '--url', cluster.ownerUrl('fleet')]);
    assert.equal(init.code, 0, init.stderr);
    cluster.psql(`CREATE ROLE web LOGIN PASSWORD '${FORWARDER_PASSWORD}' IN ROLE sigaudit_forwarder`, 'fleet');
    cluster.psql(`CREATE ROLE oncall LOGIN PASSWORD '${READER_PASSWORD}' IN ROLE sigaudit_reader`, 'fleet');
    cluster.psql(`CREATE ROLE outsider LOGIN PASSWORD '${FORWARDER_PASSWORD}'`, 'fleet');
    forwarderUrl = cluster.tcpUrl('web', 'fleet');
    owner = new Client({ connectionString: cluster.ownerUrl('fleet') });
    await owner.connect();

    // Host A: kill(1), a process-group kill, an ESRCH.
    // Without a flood budget: another test's flood as nobody must not summarise
    // the EPERM send. Without signal 0 probes, which floods on this shared host
    // send by the million and this test never does.
    const recorderFlags = [...EVERY_SIGNAL, '--skip-probes'];
    const a = await startRecorder(hostA, recorderFlags);
    const target = spawn('sleep', ['60'], { stdio: 'ignore' });
    pids.termTarget = target.pid!;
    pids.termKiller = run('/bin/kill', ['-TERM', String(target.pid)]).pid;
    await exited(target);
    const { parent, members } = await processGroup();
    group = members;
    pids.groupKiller = run('/bin/kill', ['-TERM', '--', `-${group[0]}`]).pid;
    await exited(parent);
    pids.free = freePid();
    pids.esrchKiller = run('/bin/kill', ['-TERM', String(pids.free)]).pid;
    await settle();
    assert.equal((await a.stop()).code, 0);

    // Host B: an EPERM, a pidfd kill, a kernel SIGSEGV.
    const b = await startRecorder(hostB, recorderFlags);
    pids.epermKiller = killInitAsNobody().pid;
    const pidfdTarget = spawn('sleep', ['60'], { stdio: 'ignore' });
    pids.pidfdTarget = pidfdTarget.pid!;
    pids.pidfdKiller = run('python3', ['-c', 'import os,sys,signal; signal.pidfd_send_signal(os.pidfd_open(int(sys.argv[1])), signal.SIGKILL)', String(pidfdTarget.pid)]).pid;
    await exited(pidfdTarget);
    pids.segfault = run('python3', ['-c', 'import ctypes; ctypes.string_at(0)']).pid;
    // The same failed send as on host A: a group on each host.
    assert.equal(freePid(), pids.free, 'the free pid is still free');
    run('/bin/kill', ['-TERM', String(pids.free)]);
    await settle();
    assert.equal((await b.stop()).code, 0);
  });

  after(async () => {
    await owner?.end();
    cluster?.drop();
  });

  it('server init is idempotent and says the schema is up to date', () => {
    const again = runCli(['server', 'init', '--url', cluster.ownerUrl('fleet')]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /is up to date \(version \d+\)/);
  });

  it('forwards both hosts: every row arrives once, with its host, as export shows it locally', async () => {
    for (const [db, host] of [[hostA, 'web-3'], [hostB, 'web-4']]) {
      const first = runCli(['forward', '--to', forwarderUrl, '--db', db, '--host', host, '--once'], { env: env() });
      assert.equal(first.code, 0, first.stderr);
      // A second pass sends nothing new and changes nothing.
      const second = runCli(['forward', '--to', forwarderUrl, '--db', db, '--host', host, '--once'], { env: env() });
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stderr, /forwarded 0 signal rows/);
      const local = exportedRows(db).sort((x, y) => Number(BigInt(x.id as string) - BigInt(y.id as string)));
      const remote = await serverQuery(SERVER_ROWS, [host]);
      assert.equal(remote.length, local.length, `${host}: as many rows on the server as locally`);
      assert.deepEqual(remote.map(comparable), local.map(comparable));
    }
    const rowsOf = async (host: string, where: string, params: unknown[]) =>
      serverQuery<{ signal: number; ret: number | null; result: string | null }>(`SELECT * FROM (${SERVER_ROWS}) r WHERE ${where}`, [host, ...params]);
    // Host A's signals are host A's only.
    assert.equal((await rowsOf('web-3', 'delivered_pid = $2 AND signal = 15', [pids.termTarget])).length, 1);
    assert.equal((await rowsOf('web-3', 'sender_pid = $2 AND signal = 15', [pids.groupKiller])).length, group.length);
    assert.deepEqual((await rowsOf('web-3', 'sender_pid = $2 AND signal = 15', [pids.esrchKiller])).map((row) => row.ret), [-3]);
    assert.equal((await rowsOf('web-4', 'sender_pid = $2', [pids.groupKiller])).length, 0);
    // Host B's.
    assert.deepEqual((await rowsOf('web-4', 'sender_pid = $2 AND signal = 15', [pids.epermKiller])).map((row) => row.ret), [-1]);
    assert.deepEqual((await rowsOf('web-4', 'delivered_pid = $2', [pids.pidfdTarget])).map((row) => row.signal), [9]);
    assert.deepEqual((await rowsOf('web-4', "delivered_pid = $2 AND source = 'kernel' AND signal = 11", [pids.segfault])).map((row) => row.result), ['delivered']);
    // The runs came too, with the host's name and a clean stop.
    const runs = await serverQuery<{ host: string; stop_reason: string }>(
      'SELECT h.name AS host, r.stop_reason FROM sigaudit.runs r JOIN sigaudit.sources s ON s.id = r.source_id JOIN sigaudit.hosts h ON h.id = s.host_id ORDER BY 1',
    );
    assert.deepEqual(runs.map((row) => [row.host, row.stop_reason]), [['web-3', 'stopped'], ['web-4', 'stopped']]);
    // The rollup counts each row once.
    const [rollup] = await serverQuery<{ sends: string; rows: string }>(
      "SELECT (SELECT sum(sends) FROM sigaudit.sender_hours) AS sends, (SELECT count(*) FROM sigaudit.signal_rows WHERE fanout = 0) AS rows",
    );
    assert.equal(rollup.sends, rollup.rows);
  });

  describe('the same answers from the fleet as from each host (reports defined once, src/query/read.ts)', () => {
    const readerEnv = () => ({ ...process.env, PGPASSWORD: READER_PASSWORD });
    const ask = (args: string[], where: string[]) => {
      const result = runCli([...args, ...where], { env: readerEnv() });
      assert.equal(result.code, 0, result.stderr);
      return result.stdout;
    };
    const exact = (text: string) => JSON.parse(text.replace(/"(ts_ns|id|send_id)":(\d+)/g, '"$1":"$2"'));
    const withoutHost = (rows: Record<string, unknown>[], host: string) =>
      rows.map(({ host: rowHost, ...rest }) => {
        assert.equal(rowHost, host);
        return rest;
      });
    const reports = [
      ['query', 'list', '--limit', '2000', '--per-target'],
      ['query', 'list', '--limit', '5'],
      ['query', 'failed', '--raw', '--limit', '500'],
      ['query', 'list', '--signal', 'TERM', '--source', 'syscall', '--limit', '500'],
    ];

    for (const report of reports) {
      it(`${report.join(' ')}: json, jsonl and csv equal to the local ones but for the host column at the end`, () => {
        for (const [db, host] of [[hostA, 'web-3'], [hostB, 'web-4']]) {
          const remote = ['--remote', cluster.tcpUrl('oncall', 'fleet'), '--host', host];
          const local = exact(ask([...report, '--format', 'json'], ['--db', db]));
          const fleet = exact(ask([...report, '--format', 'json'], remote));
          assert.ok(local.rows.length > 0, `${host} has rows for ${report.join(' ')}`);
          assert.deepEqual({ ...fleet, rows: withoutHost(fleet.rows, host) }, local);
          const localLines = ask([...report, '--format', 'jsonl'], ['--db', db]).trimEnd().split('\n').map(exact);
          const fleetLines = ask([...report, '--format', 'jsonl'], remote).trimEnd().split('\n').map(exact);
          assert.deepEqual(withoutHost(fleetLines, host), localLines);
          const localCsv = ask([...report, '--format', 'csv'], ['--db', db]).trimEnd().split('\n');
          const fleetCsv = ask([...report, '--format', 'csv'], remote).trimEnd().split('\n');
          assert.deepEqual(fleetCsv, localCsv.map((line, i) => `${line},${i === 0 ? 'host' : host}`));
        }
      });
    }

    it('export --remote: csv and jsonl line for line the local export with host at the end, per host and merged for the fleet', () => {
      const withHostLine = (format: string, host: string) => (line: string, i: number) =>
        format === 'csv' ? `${line},${i === 0 ? 'host' : host}` : `${line.slice(0, -1)},"host":${JSON.stringify(host)}}`;
      for (const format of ['csv', 'jsonl']) {
        // In id order, and in time order (a window).
        for (const window of [[], ['--since', '2000-01-01T00:00:00Z']]) {
          let merged: string[] = [];
          for (const [db, host] of [[hostA, 'web-3'], [hostB, 'web-4']]) {
            const local = ask(['export', '--format', format, ...window], ['--db', db]).trimEnd().split('\n');
            const fleet = ask(['export', '--format', format, ...window], ['--remote', cluster.tcpUrl('oncall', 'fleet'), '--host', host]).trimEnd().split('\n');
            assert.ok(local.length > 3, `${host} exported rows`);
            assert.deepEqual(fleet, local.map(withHostLine(format, host)));
            // concat, not push(...): a host recorded among other engineers' floods exports more lines than a call takes arguments.
            merged = merged.concat(fleet.slice(format === 'csv' && merged.length > 0 ? 1 : 0));
          }
          // The fleet: every host's rows, host after host (in id order; in time order by time).
          const fleet = ask(['export', '--format', format, ...window], ['--remote', cluster.tcpUrl('oncall', 'fleet')]).trimEnd().split('\n');
          const byTime = (line: string) => (format === 'csv' ? line.split(',')[1] : String(exact(line).ts_ns));
          if (window.length === 0) assert.deepEqual(fleet, merged);
          else {
            assert.deepEqual([...fleet].sort(), [...merged].sort());
            const times = fleet.slice(format === 'csv' ? 1 : 0).map((line) => BigInt(byTime(line)));
            assert.ok(times.every((time, i) => i === 0 || times[i - 1] <= time), 'in time order');
          }
        }
      }
      const output = join(tempDbPath('export'), '..', 'fleet.csv');
      const toFile = runCli(['export', '--remote', cluster.tcpUrl('oncall', 'fleet'), '--host', 'web-3', '-o', output], { env: readerEnv() });
      assert.equal(toFile.code, 0, toFile.stderr);
      assert.equal(readFileSync(output, 'utf8'), ask(['export'], ['--remote', cluster.tcpUrl('oncall', 'fleet'), '--host', 'web-3']));
      // A refused connection leaves no file behind.
      const refused = join(tempDbPath('export'), '..', 'refused.csv');
      const down = runCli(['export', '--remote', 'postgresql://oncall@127.0.0.1:1/fleet', '-o', refused], { env: readerEnv() });
      assert.equal(down.code, 1);
      assert.equal(down.stderr.trim().split('\n').length, 1, down.stderr);
      assert.ok(!existsSync(refused));
    });

    it('query top-senders: the same senders, counts and buckets per host (sender_hours on the server); the fleet counts each name over every host', () => {
      // Each key by the rows alone, and with the rollup (hour and day buckets) and a filter.
      const extras: Record<string, string[]> = { comm: ['--bucket', '1h'], uid: ['--per-target', '--bucket', '1d'], unit: ['--signal', 'TERM,KILL', '--bucket', '1h'], pid: ['--bucket', '1h'] };
      for (const [by, rollup] of Object.entries(extras)) {
        for (const extra of [[], rollup]) {
          for (const [db, host] of [[hostA, 'web-3'], [hostB, 'web-4']]) {
            const args = ['query', 'top-senders', '--by', by, '--limit', '1000', ...extra, '--format', 'json'];
            const local = exact(ask(args, ['--db', db]));
            assert.ok(local.senders.length > 0, `${host} has senders by ${by}`);
            assert.deepEqual(exact(ask(args, ['--remote', cluster.tcpUrl('oncall', 'fleet'), '--host', host])), local, `${host}: top-senders --by ${by} ${extra.join(' ')}`);
          }
        }
      }
      const csvArgs = ['query', 'top-senders', '--by', 'unit', '--format', 'csv'];
      assert.equal(ask(csvArgs, ['--remote', cluster.tcpUrl('oncall', 'fleet'), '--host', 'web-4']), ask(csvArgs, ['--db', hostB]));
      // The fleet over one fixed window: each name's count is the sum of its counts on every host.
      const window = ['--since', new Date(Date.now() - 86_400_000).toISOString(), '--until', new Date(Date.now() + 3_600_000).toISOString(), '--bucket', '1h', '--limit', '1000', '--format', 'json'];
      const expected = new Map<string, number>();
      let total = 0;
      for (const db of [hostA, hostB]) {
        const local = exact(ask(['query', 'top-senders', ...window], ['--db', db]));
        for (const sender of local.senders) expected.set(sender.sender_comm, (expected.get(sender.sender_comm) ?? 0) + sender.total);
        total += local.total;
      }
      const fleet = exact(ask(['query', 'top-senders', ...window], ['--remote', cluster.tcpUrl('oncall', 'fleet')]));
      assert.equal(fleet.total, total);
      assert.deepEqual(new Map(fleet.senders.map((sender: { sender_comm: string; total: number }) => [sender.sender_comm, sender.total])), expected);
      const byPid = runCli(['query', 'top-senders', '--by', 'pid', '--remote', cluster.tcpUrl('oncall', 'fleet')], { env: readerEnv() });
      assert.equal(byPid.code, 2);
      assert.match(byPid.stderr, /top-senders --by pid --remote needs --host NAME/);
    });

    it('query who-killed: the same processes, rows and verdict per host', () => {
      const cases: [string, string, number][] = [
        [hostA, 'web-3', pids.termTarget], [hostA, 'web-3', group[1]], [hostA, 'web-3', pids.free],
        [hostB, 'web-4', pids.pidfdTarget], [hostB, 'web-4', pids.segfault],
      ];
      let limited = 0;
      for (const [db, host, pid] of cases) {
        const remote = ['--remote', cluster.tcpUrl('oncall', 'fleet'), '--host', host];
        const local = exact(ask(['query', 'who-killed', String(pid), '--format', 'json'], ['--db', db]));
        const fleet = exact(ask(['query', 'who-killed', String(pid), '--format', 'json'], remote));
        assert.ok(local.rows.length > 0, `pid ${pid} has rows on ${host}`);
        assert.deepEqual({ ...fleet, rows: withoutHost(fleet.rows, host) }, local);
        const localCsv = ask(['query', 'who-killed', String(pid), '--format', 'csv'], ['--db', db]).trimEnd().split('\n');
        assert.deepEqual(ask(['query', 'who-killed', String(pid), '--format', 'csv'], remote).trimEnd().split('\n'), localCsv.map((line, i) => `${line},${i === 0 ? 'host' : host}`));
        const localTable = ask(['query', 'who-killed', String(pid), '--utc'], ['--db', db]);
        const verdict = localTable.slice(localTable.indexOf('\nverdict: '));
        assert.ok(verdict.length > 10 && ask(['query', 'who-killed', String(pid), '--utc'], remote).endsWith(verdict), 'the same verdict');
        // A limit under the rows: each lookup reads only its newest limit + 1, yet the newest rows and "more" are the whole answer's.
        if (local.rows.length > 1) {
          limited++;
          const limit = ['--limit', String(local.rows.length - 1)];
          const localLimited = exact(ask(['query', 'who-killed', String(pid), ...limit, '--format', 'json'], ['--db', db]));
          const fleetLimited = exact(ask(['query', 'who-killed', String(pid), ...limit, '--format', 'json'], remote));
          assert.equal(localLimited.more, true);
          // By id: the process numbers count from the oldest row shown.
          const ids = (rows: { id: string }[]) => rows.map((row) => row.id);
          assert.deepEqual(ids(localLimited.rows), ids(local.rows.slice(0, -1)));
          assert.deepEqual({ ...fleetLimited, rows: withoutHost(fleetLimited.rows, host) }, localLimited);
        }
      }
      assert.ok(limited > 0, 'some pid has rows enough to limit');
      const noHost = runCli(['query', 'who-killed', String(pids.termTarget), '--remote', cluster.tcpUrl('oncall', 'fleet')], { env: readerEnv() });
      assert.equal(noHost.code, 2);
      assert.match(noHost.stderr, /who-killed --remote needs --host NAME/);
    });

    it('query failed (groups): the same groups per host, and for the fleet split by host; tables gain a HOST column', () => {
      const groups = ['query', 'failed', '--limit', '0', '--format', 'json'];
      const fleet = exact(ask(groups, ['--remote', cluster.tcpUrl('oncall', 'fleet')]));
      let total = 0;
      for (const [db, host] of [[hostA, 'web-3'], [hostB, 'web-4']]) {
        const remote = ['--remote', cluster.tcpUrl('oncall', 'fleet'), '--host', host];
        const local = exact(ask(groups, ['--db', db]));
        const one = exact(ask(groups, remote));
        assert.deepEqual({ ...one, groups: withoutHost(one.groups, host) }, local);
        // Both hosts sent SIGTERM to the same free pid: one group on each, never merged across hosts.
        assert.deepEqual(withoutHost(fleet.groups.filter((group: { host: string }) => group.host === host), host), local.groups);
        assert.ok(local.groups.some((group: { target_pid: number; errno_name: string }) => group.target_pid === pids.free && group.errno_name === 'ESRCH'), `${host}: the ESRCH group`);
        total += local.total;
        const csvLines = ask(['query', 'failed', '--limit', '0', '--format', 'csv'], remote).trimEnd().split('\n');
        const localCsv = ask(['query', 'failed', '--limit', '0', '--format', 'csv'], ['--db', db]).trimEnd().split('\n');
        assert.deepEqual(csvLines, localCsv.map((line, i) => `${line},${i === 0 ? 'host' : host}`));
        const table = ask(['query', 'list', '--utc', '--limit', '500'], remote).split('\n');
        assert.match(table[0], /^TIME\s+HOST\s+SIGNAL/);
        assert.equal(table.length, ask(['query', 'list', '--utc', '--limit', '500'], ['--db', db]).split('\n').length);
      }
      assert.equal(fleet.total, total);
      assert.equal(fleet.groups.length, fleet.groups.filter((group: { host: string }) => group.host === 'web-3' || group.host === 'web-4').length);
      assert.match(ask(['query', 'failed'], ['--remote', cluster.tcpUrl('oncall', 'fleet')]).split('\n')[1], /^COUNT\s+HOST\s+ERROR/);
    });

    it('without --host, the fleet: both hosts\' rows, each with its host', () => {
      const terms = ['query', 'list', '--signal', 'TERM,KILL,SEGV', '--limit', '0', '--format', 'json'];
      const fleet = exact(ask(terms, ['--remote', cluster.tcpUrl('oncall', 'fleet')]));
      const perHost = (host: string) => fleet.rows.filter((row: { host: string }) => row.host === host).length;
      assert.equal(perHost('web-3'), exact(ask(terms, ['--db', hostA])).rows.length);
      assert.equal(perHost('web-4'), exact(ask(terms, ['--db', hostB])).rows.length);
      // SIGAUDIT_REMOTE is --remote's environment variable.
      const viaEnv = runCli([...terms, '--host', 'web-4'], { env: { ...readerEnv(), SIGAUDIT_REMOTE: cluster.tcpUrl('oncall', 'fleet') } });
      assert.equal(viaEnv.code, 0, viaEnv.stderr);
      assert.equal(exact(viaEnv.stdout).rows.length, perHost('web-4'));
    });

    it('status --remote lists each host with its rows, lag and whether its record is complete', () => {
      const fleet = exact(ask(['status', '--format', 'json'], ['--remote', cluster.tcpUrl('oncall', 'fleet')]));
      for (const [db, host] of [[hostA, 'web-3'], [hostB, 'web-4']]) {
        const entry = fleet.hosts.find((candidate: { host: string }) => candidate.host === host);
        const local = exact(ask(['status', '--format', 'json'], ['--db', db]));
        // A reduce, not Math.max(...rows): a host on this shared machine may have recorded too many rows to spread.
        const newestId = exportedRows(db).reduce((max, row) => Math.max(max, Number(row.id)), 0);
        assert.equal(entry.forwarded_to_id, newestId, `${host}: forwarded up to its newest row`);
        assert.equal(entry.newest, local.to);
        assert.ok(entry.lag_seconds >= 0);
        assert.deepEqual(entry.incomplete, { drops: 0, unclean: 0, prunes: 0, gaps: 0 });
      }
      const table = ask(['status'], ['--remote', cluster.tcpUrl('oncall', 'fleet'), '--host', 'web-3']).split('\n');
      assert.match(table[0], /^HOST\s+UP TO ID\s+NEWEST ROW\s+LAG\s+RECORD/);
      assert.match(table[1], /^web-3\s.*complete$/);
    });

    it('refuses a malformed --remote, an unknown --host, and --host without --remote, in one line each', () => {
      const cases: [string[], number, RegExp][] = [
        [['--remote', 'http://fleet/db'], 2, /--remote: "http:\/\/fleet\/db" is not a PostgreSQL URL/],
        [['--remote', 'postgresql://oncall@127.0.0.1'], 2, /names no database/],
        [['--remote', cluster.tcpUrl('oncall', 'fleet'), '--host', 'web-99'], 1, /--host web-99: no such host .*hosts: .*web-3, web-4/],
        [['--host', 'web-3', '--db', hostA], 2, /--host web-3: hosts are the fleet's, and no --remote was given/],
      ];
      for (const [args, code, pattern] of cases) {
        const result = runCli(['query', 'list', ...args], { env: readerEnv() });
        assert.equal(result.code, code, result.stderr);
        assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
        assert.match(result.stderr, pattern);
      }
    });
  });

  it('export --summaries --remote: each host\'s summaries line for line its own export with the host at the end, host after host for the fleet', () => {
    const summarised = (host: string, pid: number) => {
      const db = tempDbPath(`${host}.db`);
      const writing = openForWriting(db);
      const runId = new SignalWriter(writing).beginRun({ startedNs: BigInt(Date.now()) * 1_000_000n, host, kernel: 'k', version: 'v', recorderPid: process.pid, ringBytes: 4096 });
      const insert = writing.prepare(`INSERT INTO summaries (run_id, first_ns, last_ns, count, outcome, source, sender_pid, sender_comm, sender_uid, signal, target_pid, ret, result)
        VALUES (?, ?, ?, ?, ?, 'kill', ?, 'loadgen', 65534, ?, ?, ?, ?)`);
      const t0 = BigInt(Date.now()) * 1_000_000n;
      insert.run(runId, t0, t0 + 999_999_999n, 19_850_113, 'summarised', pid, 0, pid, 0, null);
      insert.run(runId, t0 + 1_000_000_000n, t0 + 2_000_000_000n, 3, 'dropped', pid, 15, 77, 0, 'delivered');
      insert.run(runId, t0 + 3_000_000_000n, t0 + 4_000_000_000n, 12, 'summarised', pid, 10, null, null, null);
      writing.close();
      assert.equal(runCli(['forward', '--to', forwarderUrl, '--db', db, '--host', host, '--once'], { env: env() }).code, 0);
      return db;
    };
    const readerEnv = { ...process.env, PGPASSWORD: READER_PASSWORD };
    const exported = (where: string[], format: string) => {
      const result = runCli(['export', '--summaries', '--format', format, ...where], { env: readerEnv });
      assert.equal(result.code, 0, result.stderr);
      return result.stdout.trimEnd().split('\n');
    };
    const hosts = [['summarised-a', summarised('summarised-a', 4242)], ['summarised-b', summarised('summarised-b', 4343)]];
    for (const format of ['csv', 'jsonl']) {
      const withHost = (host: string) => (line: string, i: number) =>
        format === 'csv' ? `${line},${i === 0 ? 'host' : host}` : `${line.slice(0, -1)},"host":${JSON.stringify(host)}}`;
      const expected = hosts.map(([host, db]) => exported(['--db', db], format).map(withHost(host)));
      for (const [i, [host]] of hosts.entries()) {
        assert.equal(expected[i].length, format === 'csv' ? 4 : 3);
        assert.deepEqual(exported(['--remote', cluster.tcpUrl('oncall', 'fleet'), '--host', host], format), expected[i]);
      }
      // The fleet: these two hosts' summaries among any other's, in host order, each in its own order.
      const fleet = exported(['--remote', cluster.tcpUrl('oncall', 'fleet')], format);
      const ours = fleet.filter((line) => hosts.some(([host]) => line.endsWith(format === 'csv' ? `,${host}` : `"host":"${host}"}`)));
      assert.deepEqual(ours, expected.flatMap((lines) => lines.slice(format === 'csv' ? 1 : 0)));
      // A filter applies there as here.
      assert.deepEqual(exported(['--remote', cluster.tcpUrl('oncall', 'fleet'), '--host', 'summarised-a', '--no-probes'], format),
        exported(['--db', hosts[0][1], '--no-probes'], format).map(withHost('summarised-a')));
    }
  });

  it('tail --remote follows the rows forwarders add, line for line the local tail with the host at the end', async () => {
    const db = tempDbPath('tailed.db');
    const forwardOnce = () => assert.equal(runCli(['forward', '--to', forwarderUrl, '--db', db, '--host', 'tailed', '--once'], { env: env() }).code, 0);
    appendRows(db, 5);
    forwardOnce();
    const child = spawn(process.execPath, [CLI, 'tail', '--remote', cluster.tcpUrl('oncall', 'fleet'), '--host', 'tailed', '-n', '2', '--format', 'jsonl'], {
      env: { ...process.env, PGPASSWORD: READER_PASSWORD }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const lines = () => stdout.split('\n').filter((line) => line !== '');
    const waitForLines = async (count: number) => {
      while (lines().length < count) {
        assert.equal(child.exitCode, null, `tail is still running:\n${stderr}`);
        await settle(100);
      }
    };
    await waitForLines(2);
    appendRows(db, 30);
    forwardOnce();
    await waitForLines(32);
    child.kill('SIGTERM');
    await exited(child);
    assert.equal(stderr, '');
    const local = runCli(['tail', '--db', db, '--no-follow', '-n', '32', '--format', 'jsonl']);
    assert.equal(local.code, 0, local.stderr);
    assert.deepEqual(lines(), local.stdout.trimEnd().split('\n').map((line) => `${line.slice(0, -1)},"host":"tailed"}`));
  });

  it('rows the real recorder\'s retention deleted before they were forwarded: a gap on the server, shown by status and the fleet\'s reports', async () => {
    const db = tempDbPath('pruned.db');
    const dayNs = 86_400_000_000_000n;
    const now = BigInt(Date.now()) * 1_000_000n;
    appendRows(db, 50, now - 40n * dayNs);
    assert.equal(runCli(['forward', '--to', forwarderUrl, '--db', db, '--host', 'pruned', '--once'], { env: env() }).code, 0);
    // Ids 51-100 are older than --retain 30d and not yet forwarded; 101-120 are kept.
    const t1 = now - 39n * dayNs;
    appendRows(db, 50, t1);
    appendRows(db, 20, now);
    const recorder = await startRecorder(db, ['--retain', '30d', '--skip-probes']);
    const oldest = () => {
      const reader = new Database(db, { readonly: true });
      try {
        return (reader.prepare('SELECT min(id) AS id FROM signals').get() as { id: number }).id;
      } finally {
        reader.close();
      }
    };
    while (oldest() <= 100) await settle(200);
    assert.equal((await recorder.stop()).code, 0);
    const shipped = runCli(['forward', '--to', forwarderUrl, '--db', db, '--host', 'pruned', '--once'], { env: env() });
    assert.equal(shipped.code, 0, shipped.stderr);
    assert.match(shipped.stderr, /rows 51-100 were deleted here \(retention\) before they were forwarded: recorded on the server as a gap/);
    const gaps = await serverQuery<{ from_id: string; to_id: string; from_ns: string; to_ns: string }>(
      "SELECT g.from_id, g.to_id, g.from_ns, g.to_ns FROM sigaudit.forward_gaps g JOIN sigaudit.sources so ON so.id = g.source_id JOIN sigaudit.hosts h ON h.id = so.host_id WHERE h.name = 'pruned'",
    );
    assert.deepEqual(gaps.map((gap) => [gap.from_id, gap.to_id]), [['51', '100']]);
    // Between the newest row it had and the oldest that came after the gap.
    const t2 = now;
    assert.ok(BigInt(gaps[0].from_ns) <= t1 && BigInt(gaps[0].to_ns) >= t1 + 49_000n && BigInt(gaps[0].to_ns) <= t2 + 20_000n, JSON.stringify(gaps));

    const reader = ['--remote', cluster.tcpUrl('oncall', 'fleet'), '--host', 'pruned'];
    const readerEnv = { ...process.env, PGPASSWORD: READER_PASSWORD };
    const status = runCli(['status', '--format', 'json', ...reader], { env: readerEnv });
    assert.equal(status.code, 0, status.stderr);
    const [entry] = JSON.parse(status.stdout).hosts;
    assert.equal(entry.incomplete.gaps, 1);
    assert.ok(entry.incomplete.prunes >= 1, 'the retention prune came too');
    const table = runCli(['status', ...reader], { env: readerEnv });
    assert.match(table.stdout, /^pruned\s.*1 retention prunes, 1 gaps/m);
    assert.match(table.stdout, /^ {2}pruned: 50 rows deleted by its retention before they were forwarded between \S+ \S+ and \S+ \S+$/m);
    const iso = (ns: string) => isoTime(BigInt(ns));
    assert.deepEqual(entry.incomplete_windows.find((window: { reason: string }) => window.reason === 'not_forwarded'), { from: iso(gaps[0].from_ns), to: iso(gaps[0].to_ns), count: 50, reason: 'not_forwarded' });
    // A report over the window says the host's record is incomplete there, and when.
    const list = runCli(['query', 'list', '--since', new Date(Number(t1 / 1_000_000n) - 60_000).toISOString(), '--format', 'json', ...reader], { env: readerEnv });
    assert.equal(list.code, 0, list.stderr);
    const report = JSON.parse(list.stdout);
    assert.equal(report.incomplete, true);
    const gap = report.drops.find((drop: { reason: string }) => drop.reason === 'not_forwarded');
    assert.deepEqual(gap, {
      from: new Date(Number(BigInt(gaps[0].from_ns) / 1_000_000n)).toISOString(), to: new Date(Number(BigInt(gaps[0].to_ns) / 1_000_000n)).toISOString(), count: 50, reason: 'not_forwarded',
    });
    const text = runCli(['query', 'failed', ...reader], { env: readerEnv });
    assert.match(text.stdout.replace(/\s+/g, ' '), /the host's retention deleted 50 rows before they were forwarded, between/);
  });

  it('forwards while the real recorder writes a storm: every row arrives once', async () => {
    const db = tempDbPath('storm.db');
    const recorder = await startRecorder(db, EVERY_SIGNAL);
    const forwarder = spawn(process.execPath, [CLI, 'forward', '--to', forwarderUrl, '--db', db, '--host', 'storm', '--poll-ms', '100', '--batch-rows', '5000'], { env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    forwarder.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    // Signal 0 to pids above pid_max, numbered by their target: 100,000 sends while the forwarder follows.
    const first = 5_000_000;
    const count = 100_000;
    const storm = await runStorm(first, count, undefined, 20_000);
    assert.equal(storm.code, 0);
    const local = () => {
      const reader = new Database(db, { readonly: true });
      try {
        return reader.prepare('SELECT count(*) AS n, coalesce(sum(id), 0) AS ids, coalesce(max(id), 0) AS last, sum(sender_pid = ? AND target_pid BETWEEN ? AND ?) AS storm FROM signals')
          .get(storm.pid, first, first + count - 1) as { n: number; ids: number; last: number; storm: number };
      } finally {
        reader.close();
      }
    };
    // The recorder writes what it holds when stopped; a drop, if the ring overflowed, would be its row count's business, not the forwarder's.
    await settle();
    assert.equal((await recorder.stop()).code, 0);
    const recorded = local();
    assert.ok(recorded.storm > count / 2, `the storm was recorded (${recorded.storm} of ${count})`);
    const onServer = async () =>
      (await serverQuery<{ n: string; distinct_ids: string; ids: string; storm: string }>(
        `SELECT count(*) AS n, count(DISTINCT s.id) AS distinct_ids, coalesce(sum(s.id), 0) AS ids, count(*) FILTER (WHERE s.sender_pid = $1 AND s.target_pid BETWEEN $2 AND $3) AS storm
         FROM sigaudit.signals s JOIN sigaudit.sources so ON so.id = s.source_id JOIN sigaudit.hosts h ON h.id = so.host_id WHERE h.name = 'storm'`,
        [storm.pid, first, first + count - 1],
      ))[0];
    while (localPosition(db) !== recorded.last) {
      assert.equal(forwarder.exitCode, null, `the forwarder is still running:\n${stderr}`);
      await settle(200);
    }
    forwarder.kill('SIGTERM');
    await exited(forwarder);
    assert.equal(forwarder.exitCode, 0, stderr);
    assert.deepEqual(await onServer(), { n: String(recorded.n), distinct_ids: String(recorded.n), ids: String(recorded.ids), storm: String(recorded.storm) });
    // Its export from the fleet, many pages long, line for line the host's own.
    const exported = (where: string[]) => {
      const result = runCli(['export', '--format', 'csv', ...where], { env: { ...process.env, PGPASSWORD: READER_PASSWORD } });
      assert.equal(result.code, 0, result.stderr);
      return result.stdout.trimEnd().split('\n');
    };
    const here = exported(['--db', db]);
    assert.equal(here.length, recorded.n + 1);
    assert.deepEqual(exported(['--remote', cluster.tcpUrl('oncall', 'fleet'), '--host', 'storm']), here.map((line, i) => `${line},${i === 0 ? 'host' : 'storm'}`));
  });

  it('a forwarder killed with SIGKILL mid-batch resends nothing twice and leaves no gap', async () => {
    const db = tempDbPath('killed.db');
    appendRows(db, 60_000);
    const child = spawn(process.execPath, [CLI, 'forward', '--to', forwarderUrl, '--db', db, '--host', 'killed', '--once', '--batch-rows', '1000'], { env: env(), stdio: 'ignore' });
    // Kill it once the server holds part of the rows.
    for (;;) {
      const [{ n }] = await serverQuery<{ n: string }>("SELECT coalesce(max(last_id), 0) AS n FROM sigaudit.sources s JOIN sigaudit.hosts h ON h.id = s.host_id WHERE h.name = 'killed'");
      if (Number(n) > 0) break;
      assert.equal(child.exitCode, null, 'the forwarder is still running');
      await settle(20);
    }
    child.kill('SIGKILL');
    await exited(child);
    const partial = await serverQuery<{ n: string }>("SELECT count(*) AS n FROM sigaudit.signals s JOIN sigaudit.sources so ON so.id = s.source_id JOIN sigaudit.hosts h ON h.id = so.host_id WHERE h.name = 'killed'");
    assert.ok(Number(partial[0].n) < 60_000, 'killed before it was done');
    const rerun = runCli(['forward', '--to', forwarderUrl, '--db', db, '--host', 'killed', '--once'], { env: env() });
    assert.equal(rerun.code, 0, rerun.stderr);
    const [stats] = await serverQuery<{ n: string; distinct_ids: string; min: string; max: string }>(
      "SELECT count(*) AS n, count(DISTINCT s.id) AS distinct_ids, min(s.id) AS min, max(s.id) AS max FROM sigaudit.signals s JOIN sigaudit.sources so ON so.id = s.source_id JOIN sigaudit.hosts h ON h.id = so.host_id WHERE h.name = 'killed'",
    );
    assert.deepEqual([stats.n, stats.distinct_ids, stats.min, stats.max], ['60000', '60000', '1', '60000']);
  });

  it('rows the server already holds are not sent again when the local note of them was lost', async () => {
    const db = tempDbPath('renoted.db');
    appendRows(db, 3000);
    const forwardIt = () => runCli(['forward', '--to', forwarderUrl, '--db', db, '--host', 'renoted', '--once', '--batch-rows', '1000'], { env: env() });
    assert.equal(forwardIt().code, 0);
    // As if the forwarder had been killed after the server committed, before it noted the batch.
    const local = new Database(db);
    local.prepare('UPDATE forward_state SET signal_id = 1000, signal_ts_ns = NULL').run();
    local.close();
    appendRows(db, 500);
    const again = forwardIt();
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /forwarded 500 signal rows/);
    const [stats] = await serverQuery<{ n: string; distinct_ids: string; max: string }>(
      "SELECT count(*) AS n, count(DISTINCT id) AS distinct_ids, max(id) AS max FROM sigaudit.signal_rows WHERE host = 'renoted'",
    );
    assert.deepEqual([stats.n, stats.distinct_ids, stats.max], ['3500', '3500', '3500']);
    assert.equal(localPosition(db), 3500);
  });

  it('a server stopped while following is waited for, logged once, and caught up', async () => {
    const db = tempDbPath('outage.db');
    appendRows(db, 1000);
    const child: ChildProcess = spawn(process.execPath, [CLI, 'forward', '--to', forwarderUrl, '--db', db, '--host', 'outage', '--poll-ms', '100'], { env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const waitFor = async (done: () => boolean | Promise<boolean>) => {
      while (!(await done())) {
        assert.equal(child.exitCode, null, `the forwarder is still running:\n${stderr}`);
        await settle(100);
      }
    };
    const shipped = async () => Number((await serverQuery<{ n: string }>("SELECT coalesce(max(last_id), 0) AS n FROM sigaudit.sources s JOIN sigaudit.hosts h ON h.id = s.host_id WHERE h.name = 'outage'"))[0].n);
    await waitFor(async () => (await shipped()) === 1000);
    await owner.end();
    cluster.stop();
    appendRows(db, 2000);
    await waitFor(() => /cannot reach PostgreSQL/.test(stderr));
    await settle(1500); // several retries while it is down
    cluster.start();
    owner = new Client({ connectionString: cluster.ownerUrl('fleet') });
    await owner.connect();
    await waitFor(() => /reachable again/.test(stderr));
    await waitFor(async () => (await shipped()) === 3000);
    child.kill('SIGTERM');
    await exited(child);
    assert.equal(child.exitCode, 0, stderr);
    assert.equal(stderr.match(/cannot reach PostgreSQL/g)!.length, 1, `one line per outage:\n${stderr}`);
    const [{ n }] = await serverQuery<{ n: string }>("SELECT count(DISTINCT s.id) AS n FROM sigaudit.signals s JOIN sigaudit.sources so ON so.id = s.source_id JOIN sigaudit.hosts h ON h.id = so.host_id WHERE h.name = 'outage'");
    assert.equal(n, '3000');
    assert.equal(localPosition(db), 3000);
  });

  it('reads the password from PGPASSFILE as libpq does', () => {
    const db = tempDbPath('pgpass.db');
    appendRows(db, 10);
    const passfile = join(tempDbPath('pgpass'), '..', 'pgpass');
    writeFileSync(passfile, `127.0.0.1:${cluster.port}:fleet:web:${FORWARDER_PASSWORD}\n`);
    chmodSync(passfile, 0o600);
    const withoutPassword = { ...process.env };
    delete withoutPassword.PGPASSWORD;
    const result = runCli(['forward', '--to', forwarderUrl, '--db', db, '--host', 'pgpass', '--once'], { env: { ...withoutPassword, PGPASSFILE: passfile } });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /forwarded 10 signal rows/);
    // Read by sigaudit, not by node-postgres's deprecated fallback, which warns on stderr.
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  });

  describe('bad input: one line, non-zero exit, nothing changed on either side', () => {
    const refused = async (args: string[], environment: NodeJS.ProcessEnv, pattern: RegExp, exitCode = 1) => {
      const db = tempDbPath('refused.db');
      appendRows(db, 5);
      const before = await serverQuery<{ n: string }>('SELECT count(*) AS n FROM sigaudit.signals');
      const result = runCli(['forward', '--db', db, '--once', ...args], { env: environment });
      assert.equal(result.code, exitCode, result.stderr);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.match(result.stderr, pattern);
      assert.match(result.stderr, /\(fix: /);
      assert.deepEqual(await serverQuery<{ n: string }>('SELECT count(*) AS n FROM sigaudit.signals'), before);
      assert.ok(!localPosition(db), 'the local position is not moved');
    };

    it('an unreachable server', async () => {
      await refused(['--to', 'postgresql://web@127.0.0.1:1/fleet'], env(), /cannot reach PostgreSQL at web@127\.0\.0\.1:1\/fleet/);
    });
    it('a wrong password', async () => {
      await refused(['--to', forwarderUrl], env({ PGPASSWORD: 'wrong' }), /refused the login of web/);
    });
    it('a database that is not sigaudit\'s', async () => {
      cluster.createDatabase('other');
      cluster.psql('GRANT ALL ON SCHEMA public TO PUBLIC', 'other');
      await refused(['--to', cluster.tcpUrl('web', 'other')], env(), /is not a sigaudit fleet database/);
    });
    it('a newer server schema', async () => {
      cluster.createDatabase('newer');
      assert.equal(runCli(['server', 'init', '--url', cluster.ownerUrl('newer')]).code, 0);
      cluster.psql("INSERT INTO sigaudit.schema_migrations (version, name) VALUES (9990, '9990-future.sql')", 'newer');
      await refused(['--to', cluster.tcpUrl('web', 'newer')], env(), /has version 9990, newer than this sigaudit knows/);
      const init = runCli(['server', 'init', '--url', cluster.ownerUrl('newer')]);
      assert.equal(init.code, 1);
      assert.match(init.stderr, /newer than this sigaudit knows/);
    });
    it('a login without the forwarder role', async () => {
      await refused(['--to', cluster.tcpUrl('outsider', 'fleet')], env(), /refused outsider: permission denied.*GRANT sigaudit_forwarder TO "outsider"/);
    });
    it('a malformed URL', async () => {
      await refused(['--to', 'mysql://web@host/fleet'], env(), /--to: "mysql:\/\/web@host\/fleet" is not a PostgreSQL URL/, 2);
      await refused(['--to', 'not a url'], env(), /--to: "not a url" is not a URL/, 2);
    });

    it('the reports refuse the same servers as the reader: one line, exit 1, no file written', () => {
      const cases: [string, NodeJS.ProcessEnv, RegExp][] = [
        ['postgresql://oncall@127.0.0.1:1/fleet', {}, /cannot reach PostgreSQL at oncall@127\.0\.0\.1:1\/fleet/],
        [cluster.tcpUrl('oncall', 'fleet'), { PGPASSWORD: 'wrong' }, /refused the login of oncall/],
        [cluster.tcpUrl('oncall', 'other'), {}, /is not a sigaudit fleet database/],
        [cluster.tcpUrl('oncall', 'newer'), {}, /has version 9990, newer than this sigaudit knows/],
        [cluster.tcpUrl('outsider', 'fleet'), { PGPASSWORD: FORWARDER_PASSWORD }, /refused outsider: permission denied.*GRANT sigaudit_reader TO "outsider"/],
      ];
      for (const [url, extra, pattern] of cases) {
        const output = join(tempDbPath('refused'), '..', 'refused.csv');
        for (const args of [['query', 'list'], ['status'], ['export', '-o', output], ['tail', '--no-follow']]) {
          const result = runCli([...args, '--remote', url], { env: { ...process.env, PGPASSWORD: READER_PASSWORD, ...extra } });
          assert.equal(result.code, 1, `${args.join(' ')} ${url}: ${result.stderr}`);
          assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
          assert.match(result.stderr, pattern);
          assert.match(result.stderr, /\(fix: /);
          assert.equal(result.stdout, '');
        }
        assert.ok(!existsSync(output), 'export wrote no file');
      }
    });
  });

  it('the forwarder role can only insert, the reader role only read', async () => {
    const as = async (user: string, password: string, sql: string) => {
      const client = new Client({ connectionString: cluster.tcpUrl(`${user}:${password}`, 'fleet') });
      await client.connect();
      try {
        await client.query(sql);
        return 'allowed';
      } catch (error) {
        return (error as { code?: string }).code;
      } finally {
        await client.end();
      }
    };
    assert.equal(await as('web', FORWARDER_PASSWORD, 'SELECT count(*) FROM sigaudit.signals'), '42501');
    assert.equal(await as('web', FORWARDER_PASSWORD, 'DELETE FROM sigaudit.signals'), '42501');
    assert.equal(await as('web', FORWARDER_PASSWORD, 'DELETE FROM sigaudit.runs'), '42501');
    assert.equal(await as('web', FORWARDER_PASSWORD, 'DROP TABLE sigaudit.signals'), '42501');
    assert.equal(await as('oncall', READER_PASSWORD, 'SELECT count(*) FROM sigaudit.signals'), 'allowed');
    assert.equal(await as('oncall', READER_PASSWORD, 'SELECT count(*) FROM sigaudit.runs'), 'allowed');
    assert.equal(await as('oncall', READER_PASSWORD, "INSERT INTO sigaudit.names (name) VALUES ('x')"), '42501');
    assert.equal(await as('oncall', READER_PASSWORD, 'DELETE FROM sigaudit.signals'), '42501');
  });

  it('server prune drops whole days older than --retain', async () => {
    const db = tempDbPath('old.db');
    const dayNs = 86_400_000_000_000n;
    const today = (BigInt(Date.now()) * 1_000_000n / dayNs) * dayNs;
    appendRows(db, 10, today - 200n * dayNs);
    appendRows(db, 10, today);
    assert.equal(runCli(['forward', '--to', forwarderUrl, '--db', db, '--host', 'old', '--once'], { env: env() }).code, 0);
    const oldDay = new Date(Number((today - 200n * dayNs) / 1_000_000n)).toISOString().slice(0, 10);
    const pruned = runCli(['server', 'prune', '--url', cluster.ownerUrl('fleet'), '--retain', '90d']);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.match(pruned.stdout, new RegExp(`dropped 1 day\\(s\\) of signals .*: ${oldDay}`));
    const left = await serverQuery<{ n: string }>("SELECT count(*) AS n FROM sigaudit.signals s JOIN sigaudit.sources so ON so.id = s.source_id JOIN sigaudit.hosts h ON h.id = so.host_id WHERE h.name = 'old'");
    assert.equal(left[0].n, '10');
    assert.deepEqual((await serverQuery<{ day: string }>('SELECT day::text AS day FROM sigaudit.server_prunes')).map((row) => row.day), [oldDay]);
  });
});
