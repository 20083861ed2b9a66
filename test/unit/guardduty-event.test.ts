import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { findingToIntent } from '../../shared/events/guardduty.ts';
import { EventValidationError } from '../../shared/events/validation.ts';
import { loadConfig } from '../../shared/runtime/config.ts';

const config = loadConfig({ MIRROROPS_TARGET_ID: 'tmt-0123456789abcdef0' });
const fixtures = ['network-connection', 'port-probe', 'dns-request', 'aws-api-call', 'missing-eni-id'].map(
  (name) =>
    JSON.parse(
      readFileSync(new URL(`../../events/guardduty/${name}.json`, import.meta.url), 'utf8'),
    ) as unknown,
);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every path to a value in a JSON tree, e.g. ['detail', 'resource', 'instanceDetails', 'instanceId']. */
function paths(value: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = prefix.length > 0 ? [prefix] : [];
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) out.push(...paths(v, [...prefix, i]));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  }
  return out;
}

function mutate(event: Json, path: (string | number)[], replacement: Json | undefined): Json {
  const copy = structuredClone(event);
  let node = copy as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, Json>;
  const last = path[path.length - 1] as string | number;
  if (replacement === undefined) {
    if (Array.isArray(node)) node.splice(Number(last), 1);
    else delete node[last];
  } else node[last] = replacement;
  return copy;
}

const wrong: fc.Arbitrary<Json | undefined> = fc.oneof(
  fc.constant(undefined), // the field removed, or the subtree truncated
  fc.constant(null),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 12 }),
  fc.boolean(),
  fc.constant([] as Json[]),
  fc.constant({}),
  fc.constantFrom('i-nothex!', 'eni-', '123', 'not-a-date', '999.1.2.3', '-5', 'us_east_1'),
);

describe('malformed and truncated findings', () => {
  test('fail with a validation error naming the bad field, or are read correctly; nothing else is thrown', () => {
    let rejected = 0;
    fc.assert(
      fc.property(fc.constantFrom(...fixtures), fc.nat(), wrong, (fixture, pick, replacement) => {
        const all = paths(fixture as Json);
        const path = all[pick % all.length] as (string | number)[];
        const event = mutate(fixture as Json, path, replacement);
        try {
          findingToIntent(event, config);
        } catch (error) {
          expect(error).toBeInstanceOf(EventValidationError);
          const issues = (error as EventValidationError).issues;
          expect(issues.length).toBeGreaterThan(0);
          // The error names the mutated field or the object that lost it.
          const named = path.join('.');
          expect(issues.some((i) => named.startsWith(i.path) || i.path.startsWith(named))).toBe(true);
          expect((error as Error).message).toContain(issues[0]?.path || '(event)');
          rejected++;
        }
      }),
      { numRuns: 4000 },
    );
    expect(rejected).toBeGreaterThan(500);
  });

  test('non-objects and empty events are validation errors too', () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.constant({}), fc.constant(null)), (value) => {
        expect(() => findingToIntent(value, config)).toThrow(EventValidationError);
      }),
      { numRuns: 500 },
    );
  });

  test('a specific bad field is named by its path', () => {
    const event = structuredClone(fixtures[0]) as {
      detail: { resource: { instanceDetails: { instanceId: string } } };
    };
    event.detail.resource.instanceDetails.instanceId = 'vol-123';
    expect(() => findingToIntent(event, config)).toThrow(
      /detail\.resource\.instanceDetails\.instanceId: must be an EC2 instance id/,
    );
  });

  test('findings mirrorops does not act on are ignored with a reason, not errors', () => {
    const low = JSON.parse(
      readFileSync(new URL('../../events/guardduty/low-severity.json', import.meta.url), 'utf8'),
    );
    const s3 = JSON.parse(
      readFileSync(new URL('../../events/guardduty/s3-bucket.json', import.meta.url), 'utf8'),
    );
    expect(findingToIntent(low, config)).toEqual({ kind: 'ignore', reason: 'severity 2 is below 4' });
    expect(findingToIntent(s3, config)).toMatchObject({
      kind: 'ignore',
      reason: expect.stringContaining('S3Bucket'),
    });
  });
});
