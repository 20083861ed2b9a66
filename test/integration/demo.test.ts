import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { expect, test } from 'vitest';

/** `npm start` runs `mirrorops demo`: the real bin, in its own process, offline. */
test('the demo tells the whole story and leaves nothing mirrored', async () => {
  const { code, stdout } = await new Promise<{ code: number; stdout: string }>((done) => {
    execFile(
      resolve('node_modules/.bin/node'),
      [resolve('cli/bin.mjs'), 'demo'],
      // No AWS settings from the developer's shell may leak in: the demo brings its own.
      { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' }, timeout: 120_000 },
      (error, out) => done({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout: out }),
    );
  });
  expect(code).toBe(0);
  const steps = stdout.split('\n== ').slice(1);
  const step = (start: string) => steps.find((s) => s.startsWith(start)) ?? '';
  expect(step('A security engineer tags')).toMatch(
    /-> tag-change\n.*\n\s+web-1\s+eni-\S+\s+20\s+tag\s+all traffic\s+7h 59m/,
  );
  expect(step('A second interface')).toMatch(/-> instance-launch/);
  expect(step('A second interface').match(/\s20\s+tag\s/g)).toHaveLength(2);
  const finding = step('GuardDuty: SSH brute force');
  expect(finding.match(/\s5\s+guardduty\s+198\.51\.100\.7\/32/g)).toHaveLength(2);
  expect(finding.match(/audit: Mirror Session Started/g)).toHaveLength(2);
  expect(step('GuardDuty: the same finding again')).toMatch(/Mirror Session Extended/);
  expect(step('GuardDuty: the same finding again')).not.toMatch(/Mirror Session Started/);
  expect(step('GuardDuty: a low-severity')).toMatch(/no rule matches: not delivered/);
  expect(step('GuardDuty: a finding on db-1')).toMatch(/Mirror Request Rejected\s+db-1.*c6i\.large/);
  const untag = step('The engineer removes the tag');
  expect(untag).not.toMatch(/\stag\s+all traffic/);
  expect(untag.match(/guardduty/g)).toHaveLength(2);
  expect(step('Time moves on')).toMatch(/removed 2 sessions and 2 filters\n\s+\(no mirror sessions\)/);
  expect(stdout).toMatch(/Demo finished in [\d.]+ s: 11 audit events, nothing left mirrored\./);
});
