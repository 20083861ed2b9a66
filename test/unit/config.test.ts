import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../shared/runtime/config.ts';

const TARGET = 'tmt-0aaaaaaaaaaaaaaa1';

const failure = (env: Record<string, string>) => {
  try {
    loadConfig({ MIRROROPS_TARGET_ID: TARGET, ...env });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('loadConfig accepted the configuration');
};

describe('a bad setting fails the cold start with a message naming the variable and what is wrong', () => {
  // What an operator reads in the function's log: the variable, and why its value was refused
  // (zod/mini gives "Invalid input" for all of these unless its English messages are loaded).
  it.each([
    [{ MIRROROPS_SCOPE: 'everything' }, 'MIRROROPS_SCOPE: Invalid option: expected one of "finding"|"full"'],
    [
      { MIRROROPS_PACKET_LENGTH: '1.5' },
      'MIRROROPS_PACKET_LENGTH: Invalid input: expected int, received number',
    ],
    [{ MIRROROPS_PACKET_LENGTH: '9000' }, 'MIRROROPS_PACKET_LENGTH: Too big: expected number to be <=8500'],
    [{ MIRROROPS_SWEEP_RATE: '0' }, 'MIRROROPS_SWEEP_RATE: Too small: expected number to be >0'],
    [
      { MIRROROPS_MIN_SEVERITY: 'high' },
      'MIRROROPS_MIN_SEVERITY: Invalid input: expected number, received NaN',
    ],
    [{ MIRROROPS_DLQ_URL: 'not a url' }, 'MIRROROPS_DLQ_URL: Invalid URL'],
    [
      { MIRROROPS_EXPIRY_HIGH: 'soon' },
      "MIRROROPS_EXPIRY_HIGH: 'soon' is not a duration such as 30m, 6h or 2d",
    ],
    [
      { MIRROROPS_TARGET_ID: 'tmt-nope' },
      'MIRROROPS_TARGET_ID: must be a traffic mirror target id (tmt-...)',
    ],
    [{ MIRROROPS_ALWAYS_MIRROR: '{' }, 'MIRROROPS_ALWAYS_MIRROR: is not valid JSON'],
    [{ MIRROROPS_ALWAYS_MIRROR: '{"vpcs": []}' }, 'MIRROROPS_ALWAYS_MIRROR: ✖ Unrecognized key: "vpcs"'],
    [
      { MIRROROPS_TARGETS_BY_VPC: JSON.stringify({ 'vpc-0123456789abcdef0': [] }) },
      'MIRROROPS_TARGETS_BY_VPC: ✖ a pool lists at least one target',
    ],
    [
      { MIRROROPS_EXTERNAL_ID: 'x' },
      'MIRROROPS_EXTERNAL_ID: Too small: expected string to have >=2 characters',
    ],
  ])('%j', (env, message) => {
    expect(failure(env)).toContain(message);
  });

  it('names every bad variable at once, not only the first', () => {
    const message = failure({ MIRROROPS_SCOPE: 'x', MIRROROPS_LOG_LEVEL: 'loud', AWS_REGION: 'mars' });
    for (const name of ['MIRROROPS_SCOPE', 'MIRROROPS_LOG_LEVEL', 'AWS_REGION'])
      expect(message).toContain(`${name}:`);
  });

  it('takes the defaults and the documented forms', () => {
    const config = loadConfig({
      MIRROROPS_TARGET_ID: TARGET,
      MIRROROPS_PACKET_LENGTH: '128',
      MIRROROPS_EXPIRY_LOW: '90m',
      MIRROROPS_TARGETS_BY_VPC: JSON.stringify({ 'vpc-0123456789abcdef0': 'tmt-0bbbbbbbbbbbbbbb2' }),
    });
    expect(config).toMatchObject({
      region: 'us-east-1',
      scope: 'finding',
      minSeverity: 4,
      packetLength: 128,
      sweepRatePerSecond: 5,
      auditBus: 'default',
      spokeRoleName: 'mirrorops-spoke',
      targetPools: { 'vpc-0123456789abcdef0': [{ targetId: 'tmt-0bbbbbbbbbbbbbbb2' }] },
      intake: { queues: undefined, mutating: { burst: 35, perSecond: 5 } },
    });
    expect(config.expiry.bySeverity.find((b) => b.minSeverity === 0)?.ms).toBe(90 * 60_000);
    expect(config.filterGraceMs).toBe(10 * 60_000);
  });
});
