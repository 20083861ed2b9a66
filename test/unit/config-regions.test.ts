import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, targetFor, targetsIn } from '../../shared/runtime/config.ts';

const A = 'tmt-0aaaaaaaaaaaaaaa1';
const B = 'tmt-0bbbbbbbbbbbbbbb2';
const C = 'tmt-0ccccccccccccccc3';

const failure = (env: Record<string, string>) => {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('loadConfig accepted the configuration');
};

describe('MIRROROPS_TARGETS_BY_REGION: targets configured per Region', () => {
  const byRegion = JSON.stringify({
    'us-east-1': A,
    'eu-west-1': { targetId: B, targetsByVpc: { 'vpc-0123456789abcdef0': C } },
  });

  it("gives the function its own Region's default and per-VPC targets, without MIRROROPS_TARGET_ID", () => {
    const config = loadConfig({ AWS_REGION: 'eu-west-1', MIRROROPS_TARGETS_BY_REGION: byRegion });
    expect(config.region).toBe('eu-west-1');
    expect(config.targetId).toBe(B);
    expect(targetFor(config, 'vpc-0123456789abcdef0')).toBe(C);
    expect(targetFor(config, 'vpc-0fffffffffffffff0')).toBe(B);
    expect(targetsIn(config, 'us-east-1')).toEqual({ targetId: A, targetsByVpc: {} });
    expect(targetsIn(config, 'eu-west-1')).toEqual({
      targetId: B,
      targetsByVpc: { 'vpc-0123456789abcdef0': C },
    });
    expect(targetsIn(config, 'ap-southeast-2')).toBeUndefined();
  });

  it('is the same map for every Region: each stack takes its own entry', () => {
    const here = (region: string) =>
      loadConfig({ AWS_REGION: region, MIRROROPS_TARGETS_BY_REGION: byRegion }).targetId;
    expect([here('us-east-1'), here('eu-west-1')]).toEqual([A, B]);
  });

  it("without the map, MIRROROPS_TARGET_ID and MIRROROPS_TARGETS_BY_VPC are this Region's, as before", () => {
    const config = loadConfig({
      AWS_REGION: 'eu-west-1',
      MIRROROPS_TARGET_ID: A,
      MIRROROPS_TARGETS_BY_VPC: JSON.stringify({ 'vpc-0123456789abcdef0': C }),
    });
    expect([config.targetId, targetFor(config, 'vpc-0123456789abcdef0')]).toEqual([A, C]);
    expect(config.targetsByRegion).toEqual({
      'eu-west-1': { targetId: A, targetsByVpc: { 'vpc-0123456789abcdef0': C } },
    });
    expect(targetsIn(config, 'us-east-1')).toBeUndefined();
  });

  it('takes MIRROROPS_TARGET_ID with the map when both name the same target', () => {
    const config = loadConfig({
      AWS_REGION: 'us-east-1',
      MIRROROPS_TARGET_ID: A,
      MIRROROPS_TARGETS_BY_REGION: byRegion,
    });
    expect(config.targetId).toBe(A);
  });

  it.each([
    [
      'this Region missing from the map, no MIRROROPS_TARGET_ID',
      { AWS_REGION: 'ap-southeast-2', MIRROROPS_TARGETS_BY_REGION: byRegion },
      'MIRROROPS_TARGETS_BY_REGION: has no target for ap-southeast-2, the Region this runs in (it lists us-east-1, eu-west-1)',
    ],
    ['no target at all', { AWS_REGION: 'us-east-1' }, 'MIRROROPS_TARGET_ID: is required'],
    [
      'MIRROROPS_TARGET_ID disagreeing with the map',
      { AWS_REGION: 'us-east-1', MIRROROPS_TARGET_ID: B, MIRROROPS_TARGETS_BY_REGION: byRegion },
      `MIRROROPS_TARGET_ID (${B}) and MIRROROPS_TARGETS_BY_REGION's us-east-1 (${A}) disagree`,
    ],
    [
      'MIRROROPS_TARGETS_BY_VPC with the map',
      {
        AWS_REGION: 'us-east-1',
        MIRROROPS_TARGETS_BY_REGION: byRegion,
        MIRROROPS_TARGETS_BY_VPC: JSON.stringify({ 'vpc-0123456789abcdef0': C }),
      },
      "MIRROROPS_TARGETS_BY_VPC: cannot be set with MIRROROPS_TARGETS_BY_REGION's us-east-1",
    ],
    [
      'a key that is not a Region',
      { MIRROROPS_TARGETS_BY_REGION: JSON.stringify({ 'eu-west': A }) },
      'MIRROROPS_TARGETS_BY_REGION: ',
    ],
    [
      'a value that is not a target id',
      { MIRROROPS_TARGETS_BY_REGION: JSON.stringify({ 'us-east-1': 'eni-0123456789abcdef0' }) },
      'MIRROROPS_TARGETS_BY_REGION: ',
    ],
    [
      'an unknown member',
      { MIRROROPS_TARGETS_BY_REGION: JSON.stringify({ 'us-east-1': { targetId: A, pool: [B] } }) },
      'MIRROROPS_TARGETS_BY_REGION: ',
    ],
    [
      'not JSON',
      { MIRROROPS_TARGETS_BY_REGION: '{us-east-1: tmt' },
      'MIRROROPS_TARGETS_BY_REGION: is not valid JSON',
    ],
  ])('refuses %s with one message naming the variable', (_, env, message) => {
    const text = failure(env);
    expect(text).toContain(message);
    expect(text.split('\n')).toHaveLength(1);
  });

  it('any map: each Region gets its own entry, never another Region’s target', () => {
    const regions = fc.constantFrom('us-east-1', 'us-west-2', 'eu-west-1', 'eu-central-1', 'ap-south-1');
    const target = fc.stringMatching(/^[0-9a-f]{17}$/).map((hex) => `tmt-${hex}`);
    fc.assert(
      fc.property(fc.dictionary(regions, target, { minKeys: 1 }), regions, (map, region) => {
        const env = { AWS_REGION: region, MIRROROPS_TARGETS_BY_REGION: JSON.stringify(map) };
        if (!(region in map)) {
          expect(() => loadConfig(env)).toThrow(ConfigError);
          return;
        }
        const config = loadConfig(env);
        expect(config.targetId).toBe(map[region]);
        for (const [other, id] of Object.entries(map)) expect(targetsIn(config, other)?.targetId).toBe(id);
      }),
    );
  });
});
