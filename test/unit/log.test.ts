import { describe, expect, test } from 'vitest';
import {
  functionLogger,
  LOG_LEVELS,
  type LogLevel,
  requestLogger,
  withKeys,
} from '../../shared/runtime/log.ts';

/** The JSON lines a logger of that level writes for one info, one warn and one error, by stream. */
function linesAt(level: LogLevel) {
  const lines: { stream: string; line: Record<string, unknown> }[] = [];
  const out = process.stdout.write;
  const err = process.stderr.write;
  const capture = (stream: string) =>
    ((chunk: string | Uint8Array) => {
      for (const text of String(chunk).split('\n'))
        if (text.startsWith('{')) lines.push({ stream, line: JSON.parse(text) as Record<string, unknown> });
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = capture('stdout');
  process.stderr.write = capture('stderr');
  try {
    const logger = functionLogger('guardduty-finding', level);
    logger.appendKeys({ requestId: 'r-1' });
    const log = withKeys(requestLogger(logger), { findingId: 'f-1' });
    log.info('one', { n: 1 });
    log.warn('two', { n: 2 });
    log.error('three', { n: 3 });
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
  return lines;
}

describe('the functions logger (Powertools)', () => {
  test('MIRROROPS_LOG_LEVEL: from that level up, none when silent', () => {
    const levels = Object.fromEntries(LOG_LEVELS.map((l) => [l, linesAt(l).map((x) => x.line.level)]));
    expect(levels).toEqual({
      info: ['INFO', 'WARN', 'ERROR'],
      warn: ['WARN', 'ERROR'],
      error: ['ERROR'],
      silent: [],
    });
  });

  test('one JSON line each, with the function, the request, the keys given and the extra fields', () => {
    const lines = linesAt('info');
    expect(lines.map((l) => l.stream)).toEqual(['stdout', 'stderr', 'stderr']);
    expect(lines[2]?.line).toMatchObject({
      level: 'ERROR',
      message: 'three',
      service: 'mirrorops',
      function: 'guardduty-finding',
      requestId: 'r-1',
      findingId: 'f-1',
      n: 3,
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
  });
});
