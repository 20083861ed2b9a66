import { beforeAll, describe, expect, test } from 'vitest';
import type { FleetSweep } from '../../shared/fleet.ts';
import type { Logger } from '../../shared/runtime/log.ts';
import { type Handler, invoke } from '../support/emf.ts';
import { useEmulator } from '../support/emulator.ts';
import { buildFleet, enterSweeper, type Fleet, memberState, sweeperContainer } from '../support/fleet.ts';

/**
 * The sweeper across an organisation, as the deployed SweeperRole, entering each member through
 * its spoke role: 20 healthy members and one whose role was never deployed.
 */
const HUB = '140000000000';
const healthy = Array.from({ length: 20 }, (_, i) => `1400000001${String(i).padStart(2, '0')}`);
const ROLELESS = '140000000999';
const members = [...healthy.slice(0, 10), ROLELESS, ...healthy.slice(10)];
const EXTERNAL_ID = 'mirrorops-fleet';
const BUS = 'mirrorops-audit-fleet';

const env = useEmulator({ organization: { managementAccount: HUB, members: [HUB, ...members] } });

let fleet: Fleet;

/** A logger that keeps its lines. */
function recording() {
  const lines: { level: string; message: string; extra?: object }[] = [];
  const log: Logger = {
    info: (message, extra) => lines.push({ level: 'info', message, ...(extra ? { extra } : {}) }),
    warn: (message, extra) => lines.push({ level: 'warn', message, ...(extra ? { extra } : {}) }),
    error: (message, extra) => lines.push({ level: 'error', message, ...(extra ? { extra } : {}) }),
  };
  return { log, lines };
}

const outcome = (swept: FleetSweep, account: string) => swept.accounts.find((a) => a.account === account);

beforeAll(async () => {
  fleet = await buildFleet(env.url, {
    hub: HUB,
    members,
    withoutRole: [ROLELESS],
    expired: 4,
    live: 1,
    externalId: EXTERNAL_ID,
    auditBus: BUS,
  });
}, 120_000);

describe('the sweeper across accounts', () => {
  test('a member whose spoke role is missing is reported, with why, and the 20 others are swept', async () => {
    const { sweepFleet, config } = await sweeperContainer(env.url, fleet);
    const { log, lines } = recording();
    const later = new Date(Date.now() + 60_000);

    const swept = await sweepFleet(config, log, { remainingMs: () => 600_000, now: () => later });

    // Every enrolled account has an outcome: the hub, the 20, and the one without a role.
    expect(swept.accounts.map((a) => a.account).sort()).toEqual([HUB, ...members].sort());
    expect(outcome(swept, ROLELESS)).toEqual({
      account: ROLELESS,
      why: 'no-access',
      error: expect.stringMatching(
        new RegExp(`^AccessDenied: .*arn:aws:iam::${ROLELESS}:role/mirrorops-spoke`),
      ),
    });
    for (const member of healthy) {
      const expected = fleet.sessions.get(member);
      expect(outcome(swept, member)).toEqual({
        account: member,
        result: expect.objectContaining({ expired: 4, deferred: 0, failures: [] }),
      });
      const state = await memberState(env.url, member);
      expect({ member, left: state.sessions }).toEqual({ member, left: [...(expected?.live ?? [])].sort() });
      const swept1 = outcome(swept, member);
      expect(swept1 && 'result' in swept1 ? [...swept1.result.deleted].sort() : []).toEqual(
        [...(expected?.expired ?? [])].sort(),
      );
    }
    // The account without a role is untouched: its sessions wait for its role.
    const roleless = await memberState(env.url, ROLELESS);
    const its = fleet.sessions.get(ROLELESS);
    expect(roleless.sessions).toEqual([...(its?.expired ?? []), ...(its?.live ?? [])].sort());
    // The log names the account and why, once.
    expect(lines.filter((l) => l.level === 'error')).toEqual([
      {
        level: 'error',
        message: 'sweep failed in an account',
        extra: { account: ROLELESS, why: 'no-access', error: expect.stringContaining('AccessDenied') },
      },
    ]);
  });

  test("the sweeper's metrics name why it could not sweep an account, for the dashboard and the alarm", async () => {
    await enterSweeper(env.url, fleet);
    const { handler } = (await import('../../functions/ttl-sweeper.ts')) as unknown as { handler: Handler };

    const { metrics } = await invoke(handler, {});

    const dimensions = { service: 'mirrorops', function: 'ttl-sweeper' };
    const failed = { namespace: 'mirrorops', name: 'SweepAccountsFailed', unit: 'Count', value: 1 };
    // In all (what the alarm watches), and by why (the dashboard's lines).
    expect(metrics.filter((m) => m.name === 'SweepAccountsFailed')).toEqual([
      { ...failed, dimensions },
      { ...failed, dimensions: { ...dimensions, reason: 'no-access' } },
    ]);
    // Every account was reached within the run.
    expect(metrics.filter((m) => m.name === 'SweepAccountsSkipped')).toEqual([]);
  });
});
