// The HTML report on a generated database (bench/generate.ts): how long
// `sigaudit report --html` takes to write the page, how large the page is,
// and how long headless chromium takes to load it and draw its charts
// (loadEventEnd: the charts are drawn by the page's script before load).
//
//   node dist/bench/report-page.js --db /tmp/sigaudit-bench/1m.db [--rounds 5]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { visitReport } from '../test/helpers/browser';
import { summarize, type Summary } from './stats';

const CLI = join(__dirname, '..', 'src', 'index.js');

export interface ReportPageResult {
  bytes: number;
  writeMs: Summary;
  loadMs: Summary;
}

export async function measureReportPage(dbPath: string, rounds: number): Promise<ReportPageResult> {
  const dir = mkdtempSync(join(tmpdir(), 'sigaudit-report-bench-'));
  const output = join(dir, 'report.html');
  const writeMs: number[] = [];
  const loadMs: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const started = process.hrtime.bigint();
    const result = spawnSync(process.execPath, [CLI, 'report', '--html', '--db', dbPath, '--output', output], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`sigaudit report failed: ${result.stderr}`);
    writeMs.push(Number(process.hrtime.bigint() - started) / 1e6);
    const visit = await visitReport(output, join(dir, 'report.png'));
    if (visit.errors.length > 0) throw new Error(`the page threw: ${visit.errors.join('; ')}`);
    loadMs.push(visit.loadMs);
  }
  return { bytes: statSync(output).size, writeMs: summarize(writeMs), loadMs: summarize(loadMs) };
}

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : process.argv[i + 1];
}

if (require.main === module) {
  const dbPath = flag('--db', '/tmp/sigaudit-bench/10m.db');
  const rounds = Number(flag('--rounds', '5'));
  void measureReportPage(dbPath, rounds).then((result) => {
    const ms = (summary: Summary) => `${summary.median.toFixed(0)} ms (${summary.min.toFixed(0)}–${summary.max.toFixed(0)}, n=${summary.n})`;
    process.stdout.write(
      `${dbPath}: page ${(result.bytes / 1024).toFixed(0)} KiB\n` +
        `sigaudit report --html: ${ms(result.writeMs)}\n` +
        `chromium load and draw: ${ms(result.loadMs)}\n`,
    );
  });
}
