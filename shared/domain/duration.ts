/**
 * Durations as people write them in tags and configuration: a whole number and one unit,
 * `30m`, `4h`, `2d` (also `90s`, `1w`). Anything else is not a duration: `4 hours`, `-1h`,
 * `1.5h` and `0h` are refused so that a typo never becomes an expiry.
 */
const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const PATTERN = /^([1-9]\d{0,5})([smhdw])$/;

export function parseDuration(text: string): number | undefined {
  const match = PATTERN.exec(text.trim().toLowerCase());
  if (!match) return undefined;
  return Number(match[1]) * (UNITS[match[2] as string] as number);
}

/** The shortest exact rendering: 90 minutes is `90m`, two days `2d`. */
export function formatDuration(ms: number): string {
  for (const unit of ['w', 'd', 'h', 'm', 's']) {
    const size = UNITS[unit] as number;
    if (ms % size === 0 && ms >= size) return `${ms / size}${unit}`;
  }
  return `${Math.max(1, Math.round(ms / 1000))}s`;
}
