import { expect, test } from 'vitest';
import { benchBurst } from '../../bench/burst.ts';
import { benchCriticalPath } from '../../bench/guardduty.ts';

// The benchmark itself runs (no figure is asserted: they are ratios for people to read).
test('the critical-path benchmark runs and reports every case', async () => {
  const report = await benchCriticalPath({ latencyMs: 20, runs: 1 });
  for (const row of [
    'new finding, 4 ENIs, new 4-rule filter',
    'repeat, same container (sessions remembered)',
    'repeat, new container (reads first)',
    'new DNS finding, 4 ENIs, new amazon-dns filter',
    'new finding, first in a fresh process',
    'First finding in a fresh process / in a warm one',
    'sent again by a bare SDK client',
  ])
    expect(report).toContain(row);
  // Which requests started together is timing (not asserted here): guardduty-memory.test.ts checks
  // the order of a warm repeat's requests without it.
  expect(report).toContain('CreateTags');
}, 60_000);

// The burst benchmark on its own clock (seconds, not minutes), small: it runs and reports.
test('the burst benchmark runs and reports the ratio to the floor and the order by severity', async () => {
  const report = await benchBurst({ findings: 8, enis: 2, arrivalMs: 0, virtual: true });
  for (const row of ['ratio to the floor', 'severity >= 7', 'severity < 7', 'Completion order'])
    expect(report).toContain(row);
}, 60_000);
