import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { route, routesOf } from '../../cli/routes.ts';
import { loadStack } from '../../cli/stack.ts';

const stack = loadStack('serverless.yml', { params: { targetId: 'tmt-0123456789abcdef0' } });
const routes = routesOf(stack);
const event = (path: string) =>
  JSON.parse(readFileSync(new URL(`../../events/${path}`, import.meta.url), 'utf8')) as unknown;

/** Every sample event and the functions serverless.yml's rules deliver it to: all of them, none left out. */
const expected: Record<string, string[]> = {
  'guardduty/network-connection.json': ['guardduty-finding'],
  'guardduty/network-connection-high.json': ['guardduty-finding'],
  'guardduty/port-probe.json': ['guardduty-finding'],
  'guardduty/dns-request.json': ['guardduty-finding'],
  'guardduty/aws-api-call.json': ['guardduty-finding'],
  'guardduty/missing-eni-id.json': ['guardduty-finding'],
  'guardduty/low-severity.json': [],
  'guardduty/s3-bucket.json': [],
  'tag/mirror-true.json': ['tag-change'],
  'tag/mirror-4h.json': ['tag-change'],
  'tag/mirror-false.json': ['tag-change'],
  'tag/mirror-removed.json': ['tag-change'],
  'tag/mirror-invalid.json': ['tag-change'],
  'tag/eni-mirror-2h.json': ['tag-change'],
  'tag/other-key.json': [],
  'tag/s3-bucket.json': [],
  'ec2/running.json': ['instance-launch'],
  'ec2/stopped.json': [],
  'ec2/run-instances.json': ['instance-launch'],
  'ec2/attach-network-interface.json': ['instance-launch'],
  'ec2/attach-network-interface-denied.json': [],
  'schedule/every-minute.json': [],
};

describe('the rules in serverless.yml', () => {
  test('every sample event in events/ is in the table', () => {
    const all = readdirSync(new URL('../../events/', import.meta.url), { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.json'))
      .sort();
    expect(all).toEqual(Object.keys(expected).sort());
  });

  test.each(Object.entries(expected))('%s reaches %j', (path, functions) => {
    expect(route(routes, event(path))).toEqual(functions);
  });

  test('the minimum severity parameter moves the GuardDuty rule', () => {
    const strict = routesOf(
      loadStack('serverless.yml', { params: { targetId: 'tmt-0123456789abcdef0', minSeverity: 7 } }),
    );
    expect(route(strict, event('guardduty/network-connection.json'))).toEqual([]);
    expect(route(strict, event('guardduty/network-connection-high.json'))).toEqual(['guardduty-finding']);
  });

  test('a minimum severity given as a string (as --param would give it) is refused, as EventBridge refuses it', () => {
    expect(() =>
      routesOf(
        loadStack('serverless.yml', { params: { targetId: 'tmt-0123456789abcdef0', minSeverity: '7' } }),
      ),
    ).toThrow(/must be a number/);
  });

  test('the sweeper runs on a schedule, not on an event pattern', () => {
    expect(stack.functions['ttl-sweeper']?.events).toEqual([{ schedule: 'rate(1 minute)' }]);
  });
});
