/**
 * Durations as people write them in tags and configuration: a whole number and one unit,
 * `30m`, `4h`, `2d` (also `90s`, `1w`). Anything else is not a duration: `4 hours`, `-1h`,
 * `1.5h` and `0h` are refused so that a typo never becomes an expiry.
 */
const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const PATTERN = /^([1-9]\d{0,5})([smhdw])$/;

/**
 * The milliseconds `text` stands for, or undefined when it is not a duration. Case and surrounding
 * blanks are ignored (tag values are typed by hand). At most six digits: a pasted timestamp or a
 * runaway number is refused instead of read as centuries; the expiry cap bounds the rest.
 */
export function parseDuration(text: string): number | undefined {
  const match = PATTERN.exec(text.trim().toLowerCase());
  if (!match) return undefined;
  return Number(match[1]) * (UNITS[match[2] as string] as number);
}

/**
 * The shortest rendering parseDuration reads back exactly: 90 minutes is `90m`, two days `2d`.
 * Other amounts round to whole seconds, at least `1s` while any time is left; nothing left
 * (zero, negative, NaN) is `0s`, never a time that is not there.
 */
export function formatDuration(ms: number): string {
  if (!(ms > 0)) return '0s';
  for (const unit of ['w', 'd', 'h', 'm', 's']) {
    const size = UNITS[unit] as number;
    if (ms % size === 0 && ms >= size) return `${ms / size}${unit}`;
  }
  return `${Math.max(1, Math.round(ms / 1000))}s`;
}
