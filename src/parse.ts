// Parsers for flag values. Each failure names the flag, what it expects,
// and an example, and is raised as commander's InvalidArgumentError.
import { InvalidArgumentError } from 'commander';
import { signalNumber } from './names';

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** '16M', '16MiB', '4096' -> bytes. */
export function parseSize(text: string): number {
  const match = /^(\d+)\s*([KMG]?)(?:i?B)?$/i.exec(text.trim());
  if (!match) throw new InvalidArgumentError(`expected a size such as 16M, 512K or 4096, got "${text}"`);
  return Number(match[1]) * SIZE_UNITS[match[2].toUpperCase()];
}

/** A ring buffer size: a power of two of at least one page, as the kernel requires. */
export function parseRingSize(text: string): number {
  const bytes = parseSize(text);
  if (bytes < 4096 || (bytes & (bytes - 1)) !== 0 || bytes > 1024 ** 3)
    throw new InvalidArgumentError(`expected a power of two between 4K and 1G (e.g. 16M), got "${text}"`);
  return bytes;
}

export function parsePositiveInt(text: string): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) <= 0)
    throw new InvalidArgumentError(`expected a positive whole number, got "${text}"`);
  return Number(text);
}

/** Detailed records per second per uid, and the burst before the rate applies. */
export interface FloodBudgetFlag {
  rate: number;
  burst: number;
}

/** --flood-budget: RATE[/BURST] (burst defaults to ten seconds at RATE), or 'off' (commander takes undefined for no value). */
export function parseFloodBudget(text: string): FloodBudgetFlag | 'off' {
  const trimmed = text.trim();
  if (trimmed === 'off') return 'off';
  const match = /^(\d+)(?:\/(\d+))?$/.exec(trimmed);
  const rate = match ? Number(match[1]) : 0;
  const burst = match?.[2] === undefined ? rate * 10 : Number(match[2]);
  if (!match || rate <= 0 || rate > 1_000_000_000 || burst <= 0 || burst > 1_000_000_000)
    throw new InvalidArgumentError(`expected RATE[/BURST] per uid in signals per second (e.g. 100/1000), or off, got "${text}"`);
  return { rate, burst };
}

/** A niceness, -20 (most favoured) to 19. */
export function parseNice(text: string): number {
  if (!/^[-+]?\d+$/.test(text.trim()) || Number(text) < -20 || Number(text) > 19)
    throw new InvalidArgumentError(`expected a niceness from -20 to 19 (e.g. -4), got "${text}"`);
  return Number(text);
}

/** 'TERM', 'SIGKILL', '9' -> signal number. */
export function parseSignal(text: string): number {
  const signal = signalNumber(text);
  if (signal === undefined)
    throw new InvalidArgumentError(`expected a signal name or number (e.g. TERM, SIGKILL, 9, RTMIN+1), got "${text}"`);
  return signal;
}

/** 'TERM,KILL,HUP' -> signal numbers (signal 0 excluded: see --skip-probes). */
export function parseSignalList(text: string): number[] {
  const signals = text.split(',').map((part) => parseSignal(part));
  if (signals.includes(0)) throw new InvalidArgumentError('signal 0 is not a signal here; use --skip-probes to drop liveness checks');
  return signals;
}

export function collect(value: string, previous: string[]): string[] {
  if (Buffer.byteLength(value) > 15) throw new InvalidArgumentError(`a process name (comm) has at most 15 bytes, got "${value}"`);
  return [...previous, value];
}
