// The report as one HTML file: verdicts and tables in plain HTML (readable
// without JavaScript), the charts drawn by uPlot and ./assets/page.js, all
// inlined, and a Content-Security-Policy that lets the page load nothing.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StoredRow } from '../export/columns';
import { signalName } from '../names';
import { exitWord, resultLabel, senderLabel, signalLabel, targetLabel, viaLabel } from '../query/describe';
import { MINUTE_NS, type DropWindow } from '../query/filters';
import { count } from '../query/format';
import { longTime } from '../query/time';
import { VERSION } from '../version';
import { LIMITS, type Report, type Verdict } from './model';

const ASSETS_DIR = join(__dirname, '..', '..', '..', 'src', 'report', 'assets');
const UPLOT_DIR = join(require.resolve('uplot'), '..');

/** Where the page's own script and style, and uPlot's, are read from (once, when a page is written). */
function assets(): { style: string; script: string } {
  const read = (path: string) => readFileSync(path, 'utf8');
  return {
    style: read(join(UPLOT_DIR, 'uPlot.min.css')) + read(join(ASSETS_DIR, 'page.css')),
    script: `${read(join(UPLOT_DIR, 'uPlot.iife.min.js'))}\n${read(join(ASSETS_DIR, 'page.js'))}`,
  };
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Process names and paths come from whoever runs on the host: always escaped. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => ENTITIES[character]);
}

/** Tagged template: interpolated strings are escaped, Html fragments are not. */
class Html {
  constructor(readonly text: string) {}
}

type Part = string | number | Html | Part[] | null | undefined | false;

function flatten(part: Part): string {
  if (part === null || part === undefined || part === false) return '';
  if (part instanceof Html) return part.text;
  if (Array.isArray(part)) return part.map(flatten).join('');
  return escapeHtml(String(part));
}

function html(strings: TemplateStringsArray, ...parts: Part[]): Html {
  return new Html(strings.reduce((out, string, i) => out + string + (i < parts.length ? flatten(parts[i]) : ''), ''));
}

/** JSON for a <script type="application/json">: no "</script>" can end it early. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value, (_key, item) => (typeof item === 'bigint' ? Number(item) : item)).replace(/</g, '\\u003c');
}

const time = (ns: bigint) => longTime(ns, true);
const seconds = (ns: bigint) => Number(ns / 1_000_000n) / 1000;

function table(headers: (string | [string, 'num'])[], rows: Part[][], className = ''): Html {
  const cell = (header: string | [string, 'num']) => (Array.isArray(header) ? html`<th class="num">${header[0]}</th>` : html`<th>${header}</th>`);
  const numeric = headers.map((header) => Array.isArray(header));
  return html`<table class="${className}"><thead><tr>${headers.map(cell)}</tr></thead><tbody>${rows.map(
    (row) => html`<tr>${row.map((value, i) => (numeric[i] ? html`<td class="num">${value}</td>` : html`<td>${value}</td>`))}</tr>`,
  )}</tbody></table>`;
}

function dropKind(drop: DropWindow): string {
  if (drop.reason === 'unclean_shutdown') return 'the recorder was down (it did not stop cleanly)';
  if (drop.reason.startsWith('retention_')) return `retention deleted ${drop.count === null ? 'rows' : `${count(drop.count)} rows`} (${drop.reason.slice('retention_'.length)})`;
  return `${drop.count === null ? 'signals' : `${count(drop.count)} signals`} were dropped (${drop.reason.replace(/_/g, ' ')})`;
}

function header(report: Report): Html {
  const hosts = report.hosts.length === 0 ? 'unknown host' : report.hosts.join(', ');
  const window = `${time(report.fromNs)} to ${time(report.toNs)}`;
  const asked = report.since || report.until ? 'the window asked for' : 'everything recorded';
  const runs = report.runs.map((run) => [
    String(run.id),
    run.host,
    time(run.startedNs),
    run.stoppedNs === null ? (run.recording ? 'recording now' : '-') : time(run.stoppedNs),
    count(run.events),
    count(run.drops),
    run.recording ? 'recording' : run.crashed ? 'did not stop cleanly' : run.stopReason ?? '',
  ]);
  return html`<header>
<h1>Signals on ${hosts}</h1>
<p class="window">${window} <span class="muted">(UTC; ${asked})</span></p>
<p class="muted">From ${report.dbPath}, written ${time(report.generatedNs)} by sigaudit ${VERSION}.</p>
${report.runs.length === 0
    ? html`<p class="muted">No recorder run overlaps this window.</p>`
    : html`<details><summary>What was recorded: ${report.runs.length === 1 ? '1 recorder run' : `${report.runs.length} recorder runs`} ${report.runs.length === 1 ? 'overlaps' : 'overlap'} the window</summary>
${table(['run', 'host', 'started', 'stopped', ['events', 'num'], ['drops', 'num'], 'state'], runs)}</details>`}
</header>
${report.drops.length > 0 &&
    html`<section class="warning" id="incomplete" role="alert"><h2>This record is incomplete</h2>
<p>The window overlaps ${report.drops.length === 1 ? 'a window' : `${report.drops.length} windows`} in which signals are missing; an answer below may leave out what happened there.</p>
<ul>${report.drops.map((drop) => html`<li>${time(drop.fromNs)} to ${time(drop.toNs)}: ${dropKind(drop)}</li>`)}</ul></section>`}`;
}

function summary(report: Report): Html {
  const failedTotal = report.failed.total;
  const busiest = report.top.senders[0];
  return html`<section id="summary"><ul class="facts">
<li><strong id="fact-sends">${count(report.top.total)}</strong> signals sent<span class="muted"> (signal 0 probes left out)</span></li>
<li><strong id="fact-deaths">${count(report.deathTotal)}</strong> ${report.deathTotal === 1 ? 'process' : 'processes'} killed by a signal</li>
<li><strong id="fact-failed">${count(failedTotal)}</strong> failed ${failedTotal === 1 ? 'send' : 'sends'}</li>
${busiest && html`<li>busiest sender <strong>${busiest.label}</strong> (${count(busiest.total)})</li>`}
</ul></section>`;
}

function timeline(report: Report): Html {
  const t = report.timeline;
  const names = t.merged.map(signalName).join(', ');
  return html`<section id="timeline"><h2>Timeline</h2>
<p class="muted">Signals sent per ${bucketName(t.bucketMs)}, by signal; red marks are processes killed by a signal${
    report.deathTotal > report.deaths.length ? html` (the newest ${count(report.deaths.length)} of ${count(report.deathTotal)})` : ''
  }.${report.drops.length > 0 ? ' Orange bands are windows with missing signals.' : ''} Drag to zoom, double-click to zoom out; hover for who sent what.</p>
${t.merged.length > 0 && html`<p class="muted">"other" sums ${t.merged.length} less frequent signals: ${names}.</p>`}
<noscript><p class="muted">The charts need JavaScript; every figure they show is also in the tables below.</p></noscript>
<div class="chart" id="timeline-chart" role="img" aria-label="signals over time by signal"></div>
<div class="tooltip" id="timeline-tooltip" hidden></div>
</section>`;
}

function bucketName(ms: number): string {
  const units: [number, string][] = [[86_400_000, 'day'], [3_600_000, 'hour'], [60_000, 'minute'], [1000, 'second'], [1, 'ms']];
  const [size, unit] = units.find(([size]) => ms % size === 0)!;
  const n = ms / size;
  return unit === 'ms' ? `${n} ms` : `${n} ${unit}${n === 1 ? '' : 's'}`;
}

function senderCells(row: StoredRow): Part[] {
  const unit = row.sender_unit ?? row.sender_cgroup_path ?? (row.sender_cgroup_id === null ? '' : `cgroup ${row.sender_cgroup_id}`);
  return [
    time(row.ts_ns),
    signalLabel(Number(row.signal)),
    senderLabel(row),
    row.sender_uid === null ? '' : String(row.sender_uid),
    row.sender_ppid === null ? '' : String(row.sender_ppid),
    unit,
    viaLabel(row),
    targetLabel(row),
    resultLabel(row),
  ];
}

function verdictCard(verdict: Verdict): Html {
  const death = verdict.death;
  return html`<article class="verdict" data-pid="${verdict.pid ?? ''}">
<h3>${verdict.subject}${death && html` <span class="muted">${exitWord(death.siCode)} at ${time(death.tsNs)}</span>`}${verdict.reason === 'asked' && html` <span class="muted">(asked for)</span>`}</h3>
<p class="verdict-text">${verdict.text}</p>
${verdict.rows.length > 0 &&
    table(['time', 'signal', 'sender', ['uid', 'num'], ['parent', 'num'], 'unit / cgroup', 'path', 'target', 'result'], verdict.rows.map(senderCells), 'rows')}
${verdict.moreRows > 0 && html`<p class="muted">${count(verdict.moreRows)} older signals to it are left out (sigaudit query who-killed shows them).</p>`}
</article>`;
}

function verdicts(report: Report): Html {
  const withVerdict = new Set(report.verdicts.filter((verdict) => verdict.death).map((verdict) => verdict.death!.tsNs));
  const rest = report.deaths.filter((death) => !withVerdict.has(death.tsNs)).slice(0, LIMITS.deathRows);
  const unlisted = report.deathTotal - withVerdict.size - rest.length;
  return html`<section id="who-killed"><h2>Who killed what</h2>
${report.verdicts.length === 0 ? html`<p>No process was killed by a signal in this window.</p>` : report.verdicts.map(verdictCard)}
${rest.length > 0 &&
    html`<h3>More processes killed by a signal</h3><p class="muted">Without a verdict here: sigaudit query who-killed PID gives it.</p>
${table(['died', ['pid', 'num'], 'name', 'how'], rest.map((death) => [time(death.tsNs), String(death.pid), death.comm ?? '?', exitWord(death.siCode)]))}`}
${unlisted > 0 && html`<p class="muted">${count(unlisted)} older deaths in the window are not listed.</p>`}
</section>`;
}

function pairs(report: Report): Html {
  const target = (pair: Report['pairs'][number]) =>
    pair.targetComm === null
      ? pair.targetPid === null ? '' : pair.targetPid === -1 ? 'all (-1)' : pair.targetPid < 0 ? `group ${-pair.targetPid}` : `pid ${pair.targetPid} (reached none)`
      : pair.targetPids === 1 ? `${pair.targetComm}[${pair.targetPid}]` : `${pair.targetComm} (${pair.targetPids} pids)`;
  const rows = report.pairs.map((pair) => [
    pair.senderComm === null ? '(kernel, no task)' : pair.senderPids === 1 ? pair.senderComm : `${pair.senderComm} (${pair.senderPids} pids)`,
    target(pair),
    signalLabel(pair.signal),
    count(pair.count),
    pair.failed === 0 ? '' : count(pair.failed),
  ]);
  const left = report.pairCount - report.pairs.length;
  return html`<section id="who-whom"><h2>Who signalled whom</h2>
<p class="muted">Sender name → the task each signal reached (a process-group kill counts once per task), or the pid a send addressed when it reached none.</p>
${rows.length === 0 ? html`<p>No signals.</p>` : table(['sender', 'target', 'signal', ['signals', 'num'], ['failed', 'num']], rows, 'pairs')}
${left > 0 && html`<p class="muted">The ${report.pairs.length} largest of ${count(report.pairCount)} sender → target pairs (${count(report.pairRows)} signals in all) are shown.</p>`}
</section>`;
}

function failedSends(report: Report): Html {
  const groups = report.failed.groups ?? [];
  const target = (pid: number | null) => (pid === null ? '' : pid === -1 ? 'all (-1)' : pid < 0 ? `group ${-pid}` : `pid ${pid}`);
  const rows = groups.map((group) => [
    count(group.count),
    group.errno,
    group.senderComm === null ? '?' : group.senderPids === 1 ? `${group.senderComm}[${group.lastSenderPid}]` : `${group.senderComm} (${group.senderPids} pids)`,
    group.senderUid === null ? '' : String(group.senderUid),
    target(group.targetPid),
    group.signals.map(signalLabel).join(' '),
    time(group.lastNs),
  ]);
  const shownSends = groups.reduce((sum, group) => sum + group.count, 0);
  return html`<section id="failed"><h2>Failed sends</h2>
${rows.length === 0
    ? html`<p>No send failed in this window.</p>`
    : html`<p><span id="failed-total">${count(report.failed.total)}</span> failed sends, grouped by sender name and uid, target and error (as sigaudit query failed).</p>
${table([['count', 'num'], 'error', 'sender', ['uid', 'num'], 'target', 'signals', 'last'], rows, 'failed')}`}
${shownSends < report.failed.total && html`<p class="muted">The ${groups.length} largest groups are shown (${count(shownSends)} of the sends).</p>`}
</section>`;
}

function topSenders(report: Report): Html {
  const top = report.top;
  const rows = top.senders.map((sender) => [sender.label, count(sender.total), top.total === 0 ? '' : `${((100 * sender.total) / top.total).toFixed(1)}%`]);
  const shown = top.senders.reduce((sum, sender) => sum + sender.total, 0);
  return html`<section id="top-senders"><h2>Top senders</h2>
${rows.length === 0
    ? html`<p>No signals.</p>`
    : html`<div class="chart" id="senders-chart" role="img" aria-label="the top senders' signals over time"></div>
${table(['sender', ['signals', 'num'], ['share', 'num']], rows, 'senders')}
<p class="muted">All senders: ${count(top.total)} signals${shown < top.total ? html`; the ${top.senders.length} busiest are shown, the others sent ${count(top.total - shown)}` : ''}.</p>`}
</section>`;
}

function reproduce(report: Report): Html {
  // Whole ms that hold the window: the flags take ms, the window may end mid-ms.
  const ms = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString();
  const window = `--since ${ms(report.fromNs)} --until ${ms(report.toNs + 999_999n)} --utc`;
  return html`<footer><h2>The same answers in a terminal</h2><pre>sigaudit query top-senders ${window}
sigaudit query failed ${window}
sigaudit query who-killed PID ${window}</pre></footer>`;
}

/** What page.js draws: bucket starts in seconds, counts, deaths and the senders of each bucket. */
function chartData(report: Report) {
  const t = report.timeline;
  const origin = seconds(t.originNs);
  const verdictOf = new Map(report.verdicts.filter((verdict) => verdict.death).map((verdict) => [verdict.death!.tsNs, verdict.text]));
  return {
    timeline: {
      origin,
      step: t.bucketMs / 1000,
      stepName: bucketName(t.bucketMs),
      count: t.bucketCount,
      series: t.series.map((series) => ({ name: series.signal === null ? 'other' : signalLabel(series.signal), counts: series.counts })),
      hover: t.hover.map((row) => [row.bucket, row.senderComm ?? '(kernel)', signalLabel(row.signal), row.count]),
      deaths: report.deaths.map((death) => ({ t: seconds(death.tsNs), pid: death.pid, comm: death.comm, how: exitWord(death.siCode), verdict: verdictOf.get(death.tsNs) ?? null })),
      gaps: report.drops.map((drop) => [seconds(drop.fromNs), seconds(drop.toNs)]),
    },
    senders: {
      origin: seconds(report.top.firstMinute * MINUTE_NS),
      step: report.top.bucketMinutes * 60,
      series: report.top.senders.map((sender) => ({ name: sender.label, counts: sender.buckets })),
    },
  };
}

export function renderHtml(report: Report): string {
  const { style, script } = assets();
  const title = `sigaudit report: ${report.hosts.join(', ') || 'signals'}, ${time(report.fromNs)} to ${time(report.toNs)}`;
  const body = report.empty
    ? html`<section id="empty"><h2>No signals in this window</h2><p>Nothing was recorded from ${time(report.fromNs)} to ${time(report.toNs)}${report.drops.length > 0 ? ' (see the warning above: some of it may be missing)' : ''}.</p></section>`
    : html`${summary(report)}${timeline(report)}${verdicts(report)}${pairs(report)}${failedSends(report)}${topSenders(report)}${reproduce(report)}`;
  // The page fetches nothing: no source is allowed but the inline script and style.
  const policy = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${policy}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${style}</style>
</head><body>
${header(report).text}
${body.text}
<script type="application/json" id="report-data">${scriptJson(report.empty ? null : chartData(report))}</script>
<script>${script}</script>
</body></html>
`;
}
