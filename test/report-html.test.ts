// sigaudit report --html on a window the real recorder filled (a kill, a
// process-group kill, an ESRCH, a kernel SIGSEGV, a sender whose name is
// HTML): its numbers and verdicts are the query layer's, checked against
// `sigaudit query … --format json`, and Debian's chromium opens it from
// file:// with no error and no request, charts painted, verdicts visible.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { visitReport } from './helpers/browser';
import { kernelTestOptions } from './helpers/kernel';
import { runCli, settle, startRecorder, tempDbPath, type RunningRecorder } from './helpers/recorder';
import { exited, freePid, processGroup, run } from './helpers/senders';

/** Screenshots and pages are kept here, next to the compiled test, for a person to look at. */
const OUTPUT_DIR = join(__dirname, 'output');

/** A process name that is HTML: an unescaped page would show an image (and request it). */
const HTML_COMM = '<img src=x>';

const UNESCAPE: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" };
const text = (html: string) => html.replace(/<[^>]*>/g, '').replace(/&(amp|lt|gt|quot|#39);/g, (entity) => UNESCAPE[entity]).trim();

/** The cells of each body row of the page's table with this class. */
function tableRows(page: string, className: string): string[][] {
  const table = new RegExp(`<table class="${className}">([\\s\\S]*?)</table>`).exec(page);
  assert.ok(table, `the page has a ${className} table`);
  const body = table[1].split('<tbody>')[1];
  return [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((row) => [...row[1].matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((cell) => text(cell[1])));
}

function queryJson(args: string[]): any {
  const { code, stdout, stderr } = runCli([...args, '--format', 'json']);
  assert.equal(code, 0, stderr);
  return JSON.parse(stdout);
}

const count = (value: number) => value.toLocaleString('en-US');

describe('report --html on real signals', kernelTestOptions, () => {
  let recorder: RunningRecorder;
  let db: string;
  let window: string[];
  let page: string;
  let output: string;
  const pids: Record<string, number> = {};
  let group: number[] = [];

  before(async () => {
    mkdirSync(OUTPUT_DIR, { recursive: true });
    recorder = await startRecorder();
    db = recorder.dbPath;
    const since = new Date();

    // a process killed by another
    const termTarget = spawn('sleep', ['60'], { stdio: 'ignore' });
    pids.termTarget = termTarget.pid!;
    pids.termKiller = run('/bin/kill', ['-TERM', String(termTarget.pid)]).pid;
    await exited(termTarget);

    // a process-group kill
    const { parent, members } = await processGroup();
    group = members;
    pids.groupKiller = run('/bin/kill', ['-TERM', '--', `-${group[0]}`]).pid;
    await exited(parent);

    // an ESRCH
    pids.free = freePid();
    pids.esrchKiller = run('/bin/kill', ['-HUP', String(pids.free)]).pid;

    // the kernel's SIGSEGV
    pids.segfault = run('python3', ['-c', 'import ctypes; ctypes.string_at(0)']).pid;

    // a sender whose name is markup
    const htmlTarget = spawn('sleep', ['60'], { stdio: 'ignore' });
    pids.htmlTarget = htmlTarget.pid!;
    pids.htmlKiller = run('python3', ['-c', `
import ctypes, os, signal, sys
ctypes.CDLL(None).prctl(15, ${JSON.stringify(HTML_COMM)}.encode(), 0, 0, 0)
os.kill(int(sys.argv[1]), signal.SIGTERM)
`, String(htmlTarget.pid)]).pid;
    await exited(htmlTarget);

    await settle();
    window = ['--since', since.toISOString(), '--until', new Date().toISOString()];
    const { code, stderr } = await recorder.stop();
    assert.equal(code, 0, stderr);

    output = join(OUTPUT_DIR, 'report-html.html');
    const asked = [pids.termTarget, ...group, pids.segfault, pids.htmlTarget].flatMap((pid) => ['--pid', String(pid)]);
    const result = runCli(['report', '--html', '--db', db, ...window, ...asked, '--output', output]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /^sigaudit: wrote .*report-html\.html \(\d+ KiB\)\n$/);
    page = readFileSync(output, 'utf8');
  });

  after(async () => {
    await recorder?.stop();
  });

  /** The verdict card of a pid on the page. */
  function verdictOnPage(pid: number): string {
    const card = new RegExp(`<article class="verdict" data-pid="${pid}">\\s*<h3>pid ${pid}[ <][\\s\\S]*?<p class="verdict-text">([\\s\\S]*?)</p>`).exec(page);
    assert.ok(card, `a verdict for pid ${pid}`);
    return text(card[1]);
  }

  it('gives who-killed verdicts word for word: a kill, a process-group kill, a SIGSEGV', () => {
    for (const pid of [pids.termTarget, ...group, pids.segfault, pids.htmlTarget]) {
      const answer = queryJson(['query', 'who-killed', String(pid), '--utc', '--db', db, ...window]);
      assert.equal(verdictOnPage(pid), answer.verdict, `pid ${pid}`);
    }
    assert.match(verdictOnPage(pids.termTarget), new RegExp(`was killed by SIGTERM from kill\\[${pids.termKiller}\\] \\(uid 0`));
    for (const member of group) assert.match(verdictOnPage(member), new RegExp(`was killed by SIGTERM from kill\\[${pids.groupKiller}\\] .* via kill\\(-pg\\)`));
    assert.match(verdictOnPage(pids.segfault), /was killed by SIGSEGV from the kernel \(a fault in the process itself\) via kern\/fault/);
  });

  it('marks every death of the window on the timeline, as the SIGCHLD rows give them', () => {
    const data = JSON.parse(/<script type="application\/json" id="report-data">(.*?)<\/script>/.exec(page)![1]);
    const died = new Map<number, string>(data.timeline.deaths.map((death: any) => [death.pid, death.how]));
    for (const pid of [pids.termTarget, ...group, pids.htmlTarget]) assert.equal(died.get(pid), 'killed by a signal', `pid ${pid}`);
    assert.match(died.get(pids.segfault) ?? '', /^killed by a signal/);
    const chld = queryJson(['query', 'list', '--signal', 'CHLD', '--source', 'kernel', '--limit', '0', '--db', db, ...window]).rows
      .filter((row: any) => row.origin === 'child' && (row.si_code === 2 || row.si_code === 3));
    assert.equal(data.timeline.deaths.length, Math.min(chld.length, 200));
    assert.equal(text(/<strong id="fact-deaths">(.*?)<\/strong>/.exec(page)![1]), count(chld.length));
  });

  it('counts what top-senders counts, on the timeline and in the table', () => {
    const top = queryJson(['query', 'top-senders', '--db', db, ...window]);
    assert.equal(text(/<strong id="fact-sends">(.*?)<\/strong>/.exec(page)![1]), count(top.total));
    assert.deepEqual(
      tableRows(page, 'senders').map((row) => [row[0], row[1]]),
      top.senders.map((sender: any) => [sender.label, count(sender.total)]),
    );
    const data = JSON.parse(/<script type="application\/json" id="report-data">(.*?)<\/script>/.exec(page)![1]);
    const onTimeline = data.timeline.series.reduce((sum: number, series: any) => sum + series.counts.reduce((a: number, b: number) => a + b, 0), 0);
    assert.equal(onTimeline, top.total, 'the timeline sums to the sends top-senders counts');
    assert.deepEqual(data.senders.series.map((series: any) => series.counts), top.senders.map((sender: any) => sender.counts));
  });

  it('groups failed sends as query failed does, the ESRCH among them', () => {
    const failed = queryJson(['query', 'failed', '--db', db, ...window]);
    assert.equal(text(/<span id="failed-total">(.*?)<\/span>/.exec(page)![1]), count(failed.total));
    const rows = tableRows(page, 'failed');
    assert.deepEqual(
      rows.map((row) => [row[0], row[1], row[4]]),
      failed.groups.slice(0, 40).map((group: any) => [count(group.count), group.errno_name, group.target_pid < 0 ? `group ${-group.target_pid}` : `pid ${group.target_pid}`]),
    );
    assert.ok(rows.some((row) => row[1] === 'ESRCH' && row[2] === `kill[${pids.esrchKiller}]` && row[4] === `pid ${pids.free}` && row[5] === 'SIGHUP'));
  });

  it('shows who signalled whom, a group kill once per member reached', () => {
    const rows = tableRows(page, 'pairs');
    // The members are named alike: one pair, as many signals as tasks reached (other kills of a python3 too).
    const reached = queryJson(['query', 'list', '--per-target', '--sender-comm', 'kill', '--signal', 'TERM', '--limit', '0', '--db', db, ...window]).rows
      .filter((row: any) => row.delivered_comm === 'python3');
    for (const member of group) assert.ok(reached.some((row: any) => row.delivered_pid === member && row.sender_pid === pids.groupKiller), `kill reached ${member}`);
    const targets = new Set(reached.map((row: any) => row.delivered_pid)).size;
    assert.ok(rows.some((row) => row[0].startsWith('kill') && row[1] === `python3 (${targets} pids)` && row[2] === 'SIGTERM' && row[3] === count(reached.length)), 'kill → the group');
    assert.ok(rows.some((row) => row[0] === 'kill' && row[1] === `pid ${pids.free} (reached none)` && row[2] === 'SIGHUP' && row[4] === '1'));
  });

  it('escapes a process name that is HTML', () => {
    assert.ok(!page.includes(HTML_COMM), 'the raw name is nowhere in the page');
    assert.ok(page.includes('&lt;img src=x&gt;'));
    assert.match(verdictOnPage(pids.htmlTarget), new RegExp(`killed by SIGTERM from <img src=x>\\[${pids.htmlKiller}\\]`));
  });

  it('opens in headless chromium from file:// with no error and no request, charts painted, verdicts visible', async () => {
    const screenshot = join(OUTPUT_DIR, 'report-html.png');
    const visit = await visitReport(output, screenshot);
    assert.deepEqual(visit.errors, []);
    assert.deepEqual(visit.consoleErrors, []);
    assert.deepEqual(visit.requests, [visit.url], 'the page asks for nothing but itself');
    const timeline = visit.painted['timeline-chart'];
    assert.ok(timeline, 'the timeline has a canvas');
    assert.ok(timeline.series > 50, `the first signal's series is painted (${timeline.series} pixels)`);
    assert.ok(timeline.deaths > 20, `the deaths are marked (${timeline.deaths} pixels)`);
    assert.ok(visit.painted['senders-chart']?.series > 0, 'the top senders chart is painted');
    assert.ok(visit.visibleVerdicts.some((verdict) => verdict.startsWith(`pid ${pids.termTarget} (sleep) was killed by SIGTERM from kill[${pids.termKiller}]`)), visit.visibleVerdicts.join('\n'));
    assert.ok(visit.visibleVerdicts.some((verdict) => verdict.includes(`from ${HTML_COMM}[${pids.htmlKiller}]`)), 'the HTML name is shown as text');
    assert.match(visit.tooltip, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z, \d+ (ms|seconds?|minutes?)\n/);
    assert.ok(existsSync(screenshot));
  });

  it('shows the verdicts and tables with JavaScript turned off', async () => {
    const visit = await visitReport(output, join(OUTPUT_DIR, 'report-html-no-script.png'), { javaScript: false });
    assert.deepEqual(visit.errors, []);
    assert.deepEqual(visit.requests, [visit.url]);
    assert.ok(visit.visibleVerdicts.some((verdict) => verdict.startsWith(`pid ${pids.termTarget} (sleep) was killed by SIGTERM from kill[${pids.termKiller}]`)), visit.visibleVerdicts.join('\n'));
    assert.equal(visit.visibleVerdicts.length, [...page.matchAll(/class="verdict-text"/g)].length, 'every verdict is visible');
  });

  it('refuses an empty window, and writes a page that says so with --allow-empty', async () => {
    const empty = ['--since', '2001-01-01T00:00:00Z', '--until', '2001-01-02T00:00:00Z'];
    const path = join(OUTPUT_DIR, 'report-empty.html');
    rmSync(path, { force: true });
    const refused = runCli(['report', '--html', '--db', db, ...empty, '--output', path]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^sigaudit: no signal was recorded from 2001-01-01 00:00:00Z to 2001-01-02 00:00:00Z \(fix: .*--allow-empty/);
    assert.ok(!existsSync(path), 'no page was written');
    const allowed = runCli(['report', '--html', '--db', db, ...empty, '--allow-empty', '--output', path]);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.match(allowed.stderr, /no signals in the window/);
    const visit = await visitReport(path, join(OUTPUT_DIR, 'report-empty.png'));
    assert.deepEqual(visit.errors, []);
    assert.deepEqual(visit.requests, [visit.url]);
    assert.match(readFileSync(path, 'utf8'), /<h2>No signals in this window<\/h2>/);
  });

  it('refuses a pid never seen, naming it and how to look for it', () => {
    const path = join(OUTPUT_DIR, 'report-unseen.html');
    const result = runCli(['report', '--html', '--db', db, ...window, '--pid', String(pids.free + 1), '--output', path]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`^sigaudit: no signal to pid ${pids.free + 1} was recorded from .* \\(fix: check the pid \\(sigaudit query list --target-pid ${pids.free + 1}\\)`));
    assert.ok(!existsSync(path));
  });

  it('refuses an output it cannot write before reading anything, and leaves nothing behind', () => {
    const missingDir = runCli(['report', '--html', '--db', db, '--output', '/nonexistent-sigaudit-dir/report.html']);
    assert.equal(missingDir.code, 1);
    assert.match(missingDir.stderr, /^sigaudit: cannot write the report to \/nonexistent-sigaudit-dir\/report\.html: ENOENT in \/nonexistent-sigaudit-dir \(fix: pass --output with a path in an existing directory/);
    const directory = runCli(['report', '--html', '--db', db, '--output', OUTPUT_DIR]);
    assert.equal(directory.code, 1);
    assert.match(directory.stderr, /it is a directory \(fix: pass --output with a file name/);
    const noDb = runCli(['report', '--html', '--db', tempDbPath(), '--output', join(OUTPUT_DIR, 'never.html')]);
    assert.equal(noDb.code, 1);
    assert.match(noDb.stderr, /does not exist/);
    assert.ok(!existsSync(join(OUTPUT_DIR, 'never.html')));
  });
});
