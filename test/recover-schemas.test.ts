// sigaudit recover on files an earlier sigaudit wrote and a later one
// damaged, or the other way round: the rows are salvaged at the file's own
// schema and migrated, so each surviving row exports exactly as the
// undamaged file does after its normal migration, and the rollups and the
// minute map count exactly the rows salvaged. A file of a schema this
// sigaudit does not know (a newer one's) is refused, nothing written.
import assert from 'node:assert/strict';
import { copyFileSync, readdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { parse } from 'csv-parse/sync';
import { exportSignals } from '../src/export';
import { recover, type LostRange } from '../src/recover';
import { closeWriting, openForWriting } from '../src/store/database';
import { latestVersion } from '../src/store/migrations';
import { PID_HOUR_ORIGIN, SignalWriter, type SignalRow } from '../src/store/writer';
import { damageMiddlePage, writtenDatabase } from './helpers/damage';
import { archiveAsBefore, BEFORE_COMPACT_TARGETS, BEFORE_ID_WINDOWS, databaseAt, signalsOfEveryShape } from './helpers/earlier-schemas';
import { runCli, tempDbPath } from './helpers/recorder';

const ROWS = 6000;
const HOT_ROWS = 300;

/** Rows of every shape, with the targets 0150 stores otherwise: a group kill (target -pgid) and kernel rows that name the pid they reached. */
function signals(): SignalRow[] {
  return signalsOfEveryShape(ROWS).map((row, i) => {
    if (i % 10 === 7 && row.source === 'kill' && row.deliveredPid !== null) return { ...row, targetPid: -row.deliveredPid };
    if (i % 10 === 3 && row.source === 'kernel' && row.deliveredPid !== null) return { ...row, targetPid: row.deliveredPid };
    return row;
  });
}

/** A file as sigaudit at `version` wrote it: cgroups, rows through that schema's view, all but the newest moved by its mover. */
function writtenAt(path: string, version: number): void {
  const db = databaseAt(path, version);
  const cgroups = db.prepare('INSERT INTO cgroups (id, path, unit) VALUES (?, ?, ?)');
  cgroups.run(1, '/system.slice/x,y.service', 'x,y.service');
  cgroups.run(2, '/user.slice/"quoted"', null);
  cgroups.run(3, '/init.scope', 'init.scope');
  const rows = signals();
  const writer = new SignalWriter(db);
  for (let i = 0; i < rows.length; i += 500) writer.write(rows.slice(i, i + 500));
  archiveAsBefore(db, rows.length - HOT_ROWS, version);
  db.close();
}

async function exported(path: string, format: 'csv' | 'jsonl'): Promise<string> {
  const out = tempDbPath(`out.${format}`);
  await exportSignals({ dbPath: path, format, output: out });
  return readFileSync(out, 'utf8');
}

/** An export's lines without the rows whose id a damaged page hid (the header and the end have no id: -1). */
function withoutLost(text: string, idOf: (line: string) => number, lost: LostRange): string {
  return text
    .split('\n')
    .filter((line) => idOf(line) <= Number(lost.afterRowid) || idOf(line) >= Number(lost.resumeRowid))
    .join('\n');
}

/** Each CSV export line's id, by the header's id column (-1 for the header and the end; no field here holds a line break). */
function csvIds(text: string): (line: string) => number {
  const at = (parse(text.slice(0, text.indexOf('\n')))[0] as string[]).indexOf('id');
  assert.ok(at > 0);
  return (line) => (line === '' || line.startsWith('time,') ? -1 : Number((parse(line)[0] as string[])[at]));
}
const jsonlId = (line: string) => Number(/"id":(\d+)/.exec(line)?.[1] ?? -1);

/** The rollups as the archive's rows give them, read through the current views (ids in `skip` left out), each in its key's order. */
function rollupsOfRows(path: string, skip: LostRange | undefined): unknown[][] {
  const db = new Database(path, { readonly: true });
  const kept = skip ? `id NOT BETWEEN ${skip.afterRowid! + 1n} AND ${skip.resumeRowid! - 1n}` : 'true';
  try {
    return [
      `SELECT ts_ns / 3600000000000, source, signal, coalesce(sender_comm, ''), coalesce(sender_uid, -1), coalesce(sender_cgroup, 0),
        sum(fanout = 0), sum(delivered_pid IS NOT NULL) FROM archived_signals WHERE ${kept} GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6`,
      `SELECT ts_ns / 3600000000000, coalesce(sender_pid, -1), max(coalesce(sender_comm, '')), sum(fanout = 0 AND signal != 0),
        sum(delivered_pid IS NOT NULL AND signal != 0), sum(fanout = 0 AND signal = 0), sum(delivered_pid IS NOT NULL AND signal = 0)
        FROM archived_signals WHERE ${kept} GROUP BY 1, 2 ORDER BY 1, 2`,
      `SELECT DISTINCT ts_ns / 3600000000000, delivered_comm, delivered_pid FROM archived_signals
        WHERE ${kept} AND delivered_comm IS NOT NULL AND delivered_pid IS NOT NULL ORDER BY 1, 2, 3`,
      `SELECT ts_ns / 60000000000, min(id), max(id), min(ts_ns), max(ts_ns) FROM signals_archive WHERE ${kept} GROUP BY 1 ORDER BY 1`,
    ].map((sql) => db.prepare(sql).raw().safeIntegers(true).all());
  } finally {
    db.close();
  }
}

/** The rollups and the minute map as the file stores them, names spelled out, in the same shape as rollupsOfRows. */
function storedRollups(path: string): unknown[][] {
  const db = new Database(path, { readonly: true });
  try {
    return [
      'SELECT * FROM sender_hours ORDER BY 1, 2, 3, 4, 5, 6',
      `SELECT r.hour + ${PID_HOUR_ORIGIN}, r.sender_pid, coalesce(n.name, ''), r.sends, r.deliveries, r.probe_sends, r.probe_deliveries
        FROM sender_pid_hours AS r LEFT JOIN names AS n ON n.id = r.sender_comm_id ORDER BY 1, 2`,
      'SELECT h.hour, n.name, h.delivered_pid FROM delivered_comm_hours AS h JOIN names AS n ON n.id = h.comm_id ORDER BY 1, 2, 3',
      'SELECT minute, first_id, last_id, first_ns, last_ns FROM archive_minutes ORDER BY minute',
    ].map((sql) => db.prepare(sql).raw().safeIntegers(true).all());
  } finally {
    db.close();
  }
}

describe('recover on a file written by an earlier schema', () => {
  for (const version of [BEFORE_COMPACT_TARGETS, BEFORE_ID_WINDOWS]) {
    it(`schema ${version}: every surviving row exports as the migrated undamaged file's, rollups and minutes count the rows salvaged`, async () => {
      const path = tempDbPath();
      writtenAt(path, version);
      // What the file says once migrated as any older file is, before the damage.
      const undamaged = tempDbPath();
      copyFileSync(path, undamaged);
      closeWriting(openForWriting(undamaged));
      const expected = { csv: await exported(undamaged, 'csv'), jsonl: await exported(undamaged, 'jsonl') };

      damageMiddlePage(path, 'signals_archive');
      const damagedBytes = readFileSync(path);
      const output = `${path}.recovered`;
      const report = recover({ damagedPath: path, outputPath: output });
      assert.ok(readFileSync(path).equals(damagedBytes), 'the damaged file is untouched');

      // One damaged leaf page: one range of ids lost from the archive, dated, nothing else.
      assert.equal(report.lost.length, 1, JSON.stringify(report.lost, (_key, value: unknown) => (typeof value === 'bigint' ? String(value) : value)));
      const [lost] = report.lost;
      assert.equal(lost.table, 'signals_archive');
      assert.ok(lost.afterRowid !== null && lost.resumeRowid !== null && lost.rows !== undefined && lost.rows > 0n);
      assert.equal(lost.resumeRowid - lost.afterRowid - 1n, lost.rows);
      assert.ok(report.tables.every((table) => table.unreadable === undefined));
      assert.equal(report.tables.find((table) => table.table === 'signals_archive')!.rows, ROWS - HOT_ROWS - Number(lost.rows));
      assert.equal(report.tables.find((table) => table.table === 'signals_hot')!.rows, HOT_ROWS);

      const db = new Database(output, { readonly: true });
      const sound = db.pragma('integrity_check', { simple: true });
      const stored = db.prepare('SELECT user_version FROM pragma_user_version').pluck().get();
      // 0150's encoding: a syscall's target equal to the pid it reached is stored as nothing.
      const oldTargets = db.prepare('SELECT count(*) FROM signals_archive WHERE source_code != 0 AND target_pid = delivered_pid').pluck().get();
      const compactTargets = db.prepare('SELECT count(*) FROM signals_archive WHERE source_code != 0 AND target_pid IS NULL AND delivered_pid IS NOT NULL').pluck().get();
      db.close();
      assert.equal(sound, 'ok');
      assert.equal(stored, latestVersion());
      assert.equal(oldTargets, 0);
      assert.ok((compactTargets as number) > 0);

      // Every row that survived exports byte for byte as from the undamaged file; the lost ids are all that is missing.
      const csv = await exported(output, 'csv');
      const expectedCsv = withoutLost(expected.csv, csvIds(expected.csv), lost);
      assert.equal(expected.csv.split('\n').length - expectedCsv.split('\n').length, Number(lost.rows));
      assert.ok(csv === expectedCsv, 'CSV export is the undamaged file\'s, less the lost ids');
      assert.ok((await exported(output, 'jsonl')) === withoutLost(expected.jsonl, jsonlId, lost), 'JSON Lines export is the undamaged file\'s, less the lost ids');

      // The rollups and the minute map: exactly the undamaged rows' less the lost ones, through the current views.
      const recovered = storedRollups(output);
      assert.ok(recovered.every((table) => table.length > 0));
      assert.deepEqual(recovered, rollupsOfRows(undamaged, lost));
      // The undamaged file's own (kept by that schema's mover, then migrated) are the same sums over all its rows...
      assert.deepEqual(storedRollups(undamaged), rollupsOfRows(undamaged, undefined));
      // ...and so count the lost rows, which the recovered ones do not.
      const sends = (tables: unknown[][]) => (tables[0] as bigint[][]).reduce((sum, row) => sum + row[6], 0n);
      assert.ok(sends(storedRollups(undamaged)) > sends(recovered));
    });
  }
});

describe('recover on a file of a schema this sigaudit does not know', () => {
  const cases = [
    {
      what: 'a newer sigaudit\'s',
      version: latestVersion() + 10,
      line: `newer than this sigaudit knows (${latestVersion()}): it cannot tell what its columns mean (fix: upgrade sigaudit, then run sigaudit recover again; the damaged file is untouched)`,
    },
    {
      what: 'a version between two migrations',
      version: BEFORE_COMPACT_TARGETS + 5,
      line: 'which none of this sigaudit\'s migrations makes (fix: recover it with the sigaudit build that wrote it; the damaged file is untouched)',
    },
  ];
  for (const { what, version, line } of cases)
    it(`${what}: refused in one line naming the version and the fix, exit 1, nothing written`, () => {
      const path = tempDbPath();
      writtenDatabase(path, 2000);
      const db = new Database(path);
      db.pragma(`user_version = ${version}`);
      db.close();
      damageMiddlePage(path, 'signals_archive');
      const before = readFileSync(path);
      const result = runCli(['recover', path, '--output', `${path}.recovered`]);
      assert.equal(result.code, 1, result.stdout);
      assert.deepEqual(result.stderr.trim().split('\n'), [`sigaudit: ${path} has schema version ${version}, ${line}`]);
      assert.deepEqual(readdirSync(dirname(path)), ['sigaudit.db']);
      assert.ok(readFileSync(path).equals(before));
    });
});
