// Opens a report in Debian's chromium (headless, through playwright-core, on
// a fresh profile) and reports what a reader's browser did with it: page
// errors, every request, how much of each chart was painted, and a screenshot.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Flags for a closed network and a machine shared with others: nothing phones home. */
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

export interface PageVisit {
  url: string;
  errors: string[];
  consoleErrors: string[];
  /** Every URL the page asked for, the file itself included. */
  requests: string[];
  /** Per chart id: canvas pixels of the chart's series colours, and of the death marks. */
  painted: Record<string, { series: number; deaths: number; width: number; height: number }>;
  /** Text of each verdict as the browser lays it out, for the visible ones. */
  visibleVerdicts: string[];
  /** The tooltip's text after hovering over the middle of the timeline. */
  tooltip: string;
  /** Milliseconds from navigation to the load event, as the page measured it. */
  loadMs: number;
}

/** Counts pixels near the given colours in every canvas under `selector`. */
const PAINTED = `(selector) => {
  const near = (data, i, rgb) => Math.abs(data[i] - rgb[0]) < 40 && Math.abs(data[i + 1] - rgb[1]) < 40 && Math.abs(data[i + 2] - rgb[2]) < 40 && data[i + 3] > 200;
  const canvas = document.querySelector(selector + ' canvas');
  if (!canvas) return null;
  const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
  let series = 0, deaths = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (near(data, i, [31, 119, 180])) series++;
    if (near(data, i, [214, 39, 40])) deaths++;
  }
  return { series, deaths, width: canvas.width, height: canvas.height };
}`;

/** `javaScript: false` opens it as a reader with scripts turned off would. */
export async function visitReport(path: string, screenshot: string, options: { javaScript?: boolean } = {}): Promise<PageVisit> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install --no-install-recommends chromium (scripts/quickstart.sh does)`);
  const profile = mkdtempSync(join(tmpdir(), 'sigaudit-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
    offline: true,
    javaScriptEnabled: options.javaScript !== false,
  });
  try {
    const page = await context.newPage();
    const url = pathToFileURL(path).href;
    const visit: PageVisit = { url, errors: [], consoleErrors: [], requests: [], painted: {}, visibleVerdicts: [], tooltip: '', loadMs: 0 };
    page.on('pageerror', (error) => visit.errors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') visit.consoleErrors.push(message.text());
    });
    page.on('request', (request) => visit.requests.push(request.url()));
    await page.goto(url, { waitUntil: 'load' });
    for (const verdict of await page.locator('.verdict-text').all()) if (await verdict.isVisible()) visit.visibleVerdicts.push(await verdict.innerText());
    if (options.javaScript === false) {
      await page.screenshot({ path: screenshot, fullPage: true });
      return visit;
    }
    visit.loadMs = (await page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")) as number;
    for (const id of ['timeline-chart', 'senders-chart']) {
      const painted = await page.evaluate(`(${PAINTED})('#${id}')`);
      if (painted) visit.painted[id] = painted as PageVisit['painted'][string];
    }
    const chart = page.locator('#timeline-chart .u-over');
    if ((await chart.count()) > 0) {
      const box = (await chart.boundingBox())!;
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      visit.tooltip = await page.locator('#timeline-tooltip').innerText();
    }
    await page.screenshot({ path: screenshot, fullPage: true });
    return visit;
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}
