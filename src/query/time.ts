// Reading --since/--until and writing times back: absolute dates (local
// unless they carry Z or an offset), relative forms, and the ns timestamps
// the database stores.
import { InvalidArgumentError } from 'commander';
// One module each: the package root loads all of date-fns, which was most of a query's start-up.
import type { Duration } from 'date-fns';
import { isValid } from 'date-fns/isValid';
import { parse } from 'date-fns/parse';
import { parseISO } from 'date-fns/parseISO';
import { startOfToday } from 'date-fns/startOfToday';
import { startOfYesterday } from 'date-fns/startOfYesterday';
import { sub } from 'date-fns/sub';

export const TIME_EXAMPLES = '"2026-11-21 10:00", "2026-11-21T10:00:00Z", "2 hours ago", "30m", "yesterday"';

const UNITS: Record<string, keyof Duration> = {
  s: 'seconds', sec: 'seconds', secs: 'seconds', second: 'seconds', seconds: 'seconds',
  m: 'minutes', min: 'minutes', mins: 'minutes', minute: 'minutes', minutes: 'minutes',
  h: 'hours', hr: 'hours', hrs: 'hours', hour: 'hours', hours: 'hours',
  d: 'days', day: 'days', days: 'days',
  w: 'weeks', week: 'weeks', weeks: 'weeks',
};

/** Local-time layouts tried after ISO 8601, most specific first. */
const LOCAL_FORMATS = ['yyyy-MM-dd HH:mm:ss.SSS', 'yyyy-MM-dd HH:mm:ss', 'yyyy-MM-dd HH:mm', 'yyyy-MM-dd'];

/**
 * A time as the user wrote it, relative to now. Accepts ISO 8601 (a zone
 * or offset is honoured, none means local time), "2026-11-21 10:00"
 * (local), "2 hours ago", "30m" (30 minutes ago), "1h30m", "now", "today",
 * "yesterday". Returns undefined if it is none of these.
 */
export function parseTime(text: string, now: Date = new Date()): Date | undefined {
  const input = text.trim().toLowerCase();
  if (input === 'now') return now;
  if (input === 'today') return startOfToday();
  if (input === 'yesterday') return startOfYesterday();
  const relative = /^((?:\d+\s*[a-z]+\s*)+?)(?:\s*ago)?$/.exec(input);
  if (relative && !/^\d{4}-/.test(input)) {
    const duration: Duration = {};
    const parts = relative[1].matchAll(/(\d+)\s*([a-z]+)/g);
    let any = false;
    for (const [, amount, unit] of parts) {
      const key = UNITS[unit];
      if (!key) return undefined;
      duration[key] = (duration[key] ?? 0) + Number(amount);
      any = true;
    }
    return any ? sub(now, duration) : undefined;
  }
  const original = text.trim();
  if (/^\d{4}-\d{2}-\d{2}T/.test(original) || /(?:Z|[+-]\d{2}:?\d{2})$/.test(original)) {
    const iso = parseISO(original.replace(' ', 'T'));
    return isValid(iso) ? iso : undefined;
  }
  for (const format of LOCAL_FORMATS) {
    const date = parse(original, format, now);
    if (isValid(date)) return date;
  }
  return undefined;
}

/** commander parser for --since/--until. */
export function timeArgument(text: string): Date {
  const date = parseTime(text);
  if (date === undefined)
    throw new InvalidArgumentError(`cannot read "${text}" as a time; use e.g. ${TIME_EXAMPLES}`);
  return date;
}

export function dateToNs(date: Date): bigint {
  return BigInt(date.getTime()) * 1_000_000n;
}

const pad = (value: number, width = 2) => String(value).padStart(width, '0');

/**
 * A stored time for a table: "11-21 10:00:01.123" in local time, or with
 * a trailing Z in UTC. The year is left out to fit 80 columns; the report
 * header gives the whole window.
 */
export function shortTime(tsNs: bigint, utc: boolean): string {
  const date = new Date(Number(tsNs / 1_000_000n));
  const [month, day, hours, minutes, seconds] = utc
    ? [date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()]
    : [date.getMonth() + 1, date.getDate(), date.getHours(), date.getMinutes(), date.getSeconds()];
  return `${pad(month)}-${pad(day)} ${pad(hours)}:${pad(minutes)}:${pad(seconds)}.${pad(date.getUTCMilliseconds(), 3)}${utc ? 'Z' : ''}`;
}

/** A whole time with the year, for headers and verdicts: "2026-11-21 10:00:01" (local) or "...Z". */
export function longTime(tsNs: bigint, utc: boolean): string {
  const date = new Date(Number(tsNs / 1_000_000n));
  if (utc) return `${date.toISOString().slice(0, 19).replace('T', ' ')}Z`;
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}
