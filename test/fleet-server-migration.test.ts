// The server schema's migrations, on a real PostgreSQL: a server made by
// 0010 and 0020 (rows stored the 0020 way) is migrated by `server init` to
// the compact rows of 0030 and keeps every row, reading exactly as before
// through sigaudit.signal_rows, with its rollup; the codes it decodes are
// src/names.ts's.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ORIGINS, RESULTS, SOURCES } from '../src/names';
import { SERVER_MIGRATIONS_DIR } from '../src/fleet/schema';
import { postgresOptions, startCluster, type Cluster } from './helpers/postgres';
import { runCli } from './helpers/recorder';

const DAY_NS = 86_400_000_000_000n;

/** Every row as the reports read it, and the rollup, in one comparable text each. */
const ROWS = "SELECT count(*) || ' ' || md5(string_agg(r::text, ',' ORDER BY r.source_id, r.id)) FROM sigaudit.signal_rows r";
const HOURS = "SELECT count(*) || ' ' || md5(string_agg(h::text, ',' ORDER BY h::text)) FROM (SELECT hour, source_id, signal, sender_comm, sender_uid, sender_cgroup, sends, deliveries FROM sigaudit.sender_hours) h";

describe('server init migrates a 0020 server', postgresOptions, () => {
  let cluster: Cluster;

  before(async () => {
    cluster = await startCluster();
  });
  after(() => cluster?.drop());

  it('keeps every row, each reading as before, and the rollup', () => {
    cluster.createDatabase('old');
    const sql = (text: string) => cluster.psql(text, 'old');
    sql('CREATE SCHEMA sigaudit');
    sql('CREATE TABLE sigaudit.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    for (const [version, name] of [[10, '0010-initial.sql'], [20, '0020-read-views.sql']] as const) {
      sql(readFileSync(join(SERVER_MIGRATIONS_DIR, name), 'utf8'));
      sql(`INSERT INTO sigaudit.schema_migrations (version, name) VALUES (${version}, '${name}')`);
    }
    // Two hosts' rows stored the 0020 way: names for every string, 8-byte
    // uids and cgroups, tids written out; each case the compact rows treat
    // apart (a tid not the pid, no tid, a uid above 2^31, a cgroup without
    // a path, a fan-out, no result or origin, namespace pids).
    const day = (BigInt(Date.now()) * 1_000_000n / DAY_NS) * DAY_NS;
    sql(`INSERT INTO sigaudit.hosts (name) VALUES ('web-3'), ('web-4');
      INSERT INTO sigaudit.sources (uuid, host_id, last_id) VALUES (gen_random_uuid(), 1, 6), (gen_random_uuid(), 2, 2);
      INSERT INTO sigaudit.names (name) VALUES ('kill'), ('kernel'), ('delivered'), ('child'), ('bash'), ('sleep'), ('/system.slice/a.service'), ('a.service'), ('pidfd_send_signal'), ('ignored');
      INSERT INTO sigaudit.cgroups (source_id, id, path, unit) VALUES (1, 4242, 7, 8), (2, 4242, 7, NULL);
      SELECT sigaudit.ensure_days(${day}, ${day + DAY_NS});`);
    const row = (values: string) =>
      `INSERT INTO sigaudit.signals (source_id, id, ts_ns, fanout, source, sender_pid, sender_tid, sender_comm, sender_uid, sender_auid, sender_ppid,
        sender_cgroup, target_pid, target_tid, delivered_pid, delivered_tid, delivered_comm, delivered_cgroup, signal, ret, result, si_code, origin,
        sender_ns_pid, target_ns_pid, delivered_ns_pid) VALUES ${values}`;
    sql(row(`
      (1, 1, ${day + 1000n}, 0, 1, 100, 100, 5, 1000, 1000, 1, 4242, 200, NULL, 200, 200, 6, 4242, 15, 0, 3, 0, NULL, NULL, NULL, NULL),
      (1, 2, ${day + 2000n}, 0, 1, 100, 101, 5, 4294967294, NULL, 1, 99, -300, NULL, 300, 301, 6, NULL, 15, 0, 3, 0, NULL, NULL, NULL, NULL),
      (1, 3, ${day + 2000n}, 1, 1, 100, 101, 5, 4294967294, NULL, 1, 99, -300, NULL, 302, NULL, 6, NULL, 15, 0, 10, 0, NULL, NULL, NULL, NULL),
      (1, 4, ${day + 3000n}, 0, 1, 100, 100, 5, 0, 2147483648, 1, NULL, 400, NULL, NULL, NULL, NULL, NULL, 9, -3, NULL, 0, NULL, NULL, NULL, NULL),
      (1, 5, ${day + 4000n}, 0, 2, 200, 200, 6, 0, NULL, 1, 4242, 1, NULL, 1, 1, 6, 4242, 17, NULL, 3, 1, 4, 7, 1, 1),
      (1, 6, ${day + DAY_NS + 5n}, 0, 9, 100, NULL, NULL, NULL, NULL, NULL, NULL, 500, 501, NULL, NULL, NULL, NULL, 0, -1, NULL, -1, NULL, 50, 60, NULL),
      (2, 1, ${day + 1000n}, 0, 1, 100, 100, 5, 1000, 1000, 1, 4242, 200, NULL, 200, 200, 6, 4242, 15, 0, 3, 0, NULL, NULL, NULL, NULL),
      (2, 2, ${day + 7000n}, 0, 2, 1, 1, 6, 0, NULL, 0, 4242, 1, NULL, 1, 1, 6, 4242, 11, NULL, 3, 1, 4, NULL, NULL, NULL)`));
    const rows = sql(ROWS);
    const hours = sql(HOURS);
    assert.match(rows, /^8 /);
    assert.match(sql("SELECT string_agg(coalesce(source, '-') || ':' || coalesce(result, '-') || ':' || sender_tid || ':' || coalesce(sender_cgroup_path, '-'), ' ' ORDER BY source_id, id) FROM sigaudit.signal_rows"), /kill:delivered:100:\/system.slice\/a.service /);

    const init = runCli(['server', 'init', '--url', cluster.ownerUrl('old')]);
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stdout, /was 20\): applied 0030-compact-rows\.sql/);
    assert.equal(sql(ROWS), rows);
    assert.equal(sql(HOURS), hours);
    assert.equal(sql("SELECT count(*) FROM pg_class WHERE relname LIKE '%0020%'"), '0', 'the 0020 tables are gone');
    // The compact rows: codes, a tid only where it is not the pid, 4-byte uids, cgroup keys.
    assert.equal(sql("SELECT source || ',' || coalesce(sender_tid::text, 'same') || ',' || sender_uid FROM sigaudit.signals WHERE source_id = 1 AND id = 2"), `1,101,-2`);
    assert.equal(sql('SELECT count(*) FROM sigaudit.signals WHERE sender_tid IS NULL AND fanout IS NULL'), '5');
  });

  it('decodes the codes of src/names.ts', () => {
    cluster.createDatabase('codes');
    assert.equal(runCli(['server', 'init', '--url', cluster.ownerUrl('codes')]).code, 0);
    const decoded = (fn: string, count: number) =>
      cluster.psql(`SELECT string_agg(sigaudit.${fn}(code::smallint), ',' ORDER BY code) FROM generate_series(0, ${count - 1}) AS code`, 'codes');
    assert.equal(decoded('source_name', SOURCES.length), SOURCES.join(','));
    assert.equal(decoded('result_name', RESULTS.length), RESULTS.join(','));
    assert.equal(decoded('origin_name', ORIGINS.length), ORIGINS.join(','));
  });
});
