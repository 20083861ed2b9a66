import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../shared/domain/duration.ts';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
const UNITS = { s: SECOND, m: MINUTE, h: HOUR, d: DAY, w: WEEK } as const;

describe('parseDuration', () => {
  it.each([
    ['30m', 30 * MINUTE],
    ['4h', 4 * HOUR],
    ['2d', 2 * DAY],
    ['90s', 90 * SECOND],
    ['1w', WEEK],
    ['999999s', 999_999 * SECOND],
    // Tag values are typed by hand: case and surrounding blanks do not matter.
    ['4H', 4 * HOUR],
    [' 6h ', 6 * HOUR],
  ])('reads %j as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    '4 hours',
    '4 h',
    '-1h',
    '+1h',
    '1.5h',
    '1e3s',
    '0h',
    '0',
    '4',
    'h',
    '4hh',
    '4y',
    '4ms',
    'yes please',
    'true',
    '',
    '   ',
    '1000000m',
    '99999999999999999999d',
    '٤h',
  ])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it('never returns anything but a positive whole number of seconds, at most 999999 weeks', () => {
    const piece = fc.oneof(
      fc.constantFrom('0', '1', '9', '10', '4', '.', '-', '+', ' ', 'e', 's', 'm', 'h', 'd', 'w', 'H', 'ms'),
      fc.string({ maxLength: 3 }),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 6 }), (pieces) => {
        const ms = parseDuration(pieces.join(''));
        if (ms === undefined) return;
        expect(Number.isSafeInteger(ms) && ms > 0 && ms % SECOND === 0 && ms <= 999_999 * WEEK).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe('formatDuration', () => {
  it('writes the largest unit that divides exactly', () => {
    expect(formatDuration(90 * MINUTE)).toBe('90m');
    expect(formatDuration(60 * MINUTE)).toBe('1h');
    expect(formatDuration(14 * DAY)).toBe('2w');
    expect(formatDuration(36 * HOUR)).toBe('36h');
    expect(formatDuration(61 * SECOND)).toBe('61s');
  });

  it('rounds to whole seconds, and says 0s for nothing left', () => {
    expect(formatDuration(1_499)).toBe('1s');
    expect(formatDuration(1_500)).toBe('2s');
    expect(formatDuration(400)).toBe('1s');
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(-5 * MINUTE)).toBe('0s');
  });

  it('round-trips whole units through parseDuration, to the shortest form', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 999_999 }),
        fc.constantFrom(...(Object.keys(UNITS) as (keyof typeof UNITS)[])),
        (n, unit) => {
          const ms = n * UNITS[unit];
          const text = formatDuration(ms);
          expect(parseDuration(text)).toBe(ms);
          expect(parseDuration(`${n}${unit}`)).toBe(ms);
          expect(text.length).toBeLessThanOrEqual(`${n}${unit}`.length);
        },
      ),
      { numRuns: 500 },
    );
  });
});
