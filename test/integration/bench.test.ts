import { expect, test } from 'vitest';
import { benchCriticalPath } from '../../bench/guardduty.ts';

// The benchmark itself runs (no figure is asserted: they are ratios for people to read).
test('the critical-path benchmark runs and reports every case', async () => {
  const report = await benchCriticalPath({ latencyMs: 20, runs: 1 });
  for (const row of [
    'new finding, 4 ENIs, new 4-rule filter',
    'repeat, same container (sessions remembered)',
    'repeat, new container (reads first)',
  ])
    expect(report).toContain(row);
  expect(report).toMatch(/t=\d+ms DescribeTrafficMirrorSessions \+ CreateTags\n/);
}, 60_000);
