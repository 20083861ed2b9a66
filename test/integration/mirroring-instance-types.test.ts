import type { EC2Client } from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  familiesOf,
  HUNDRED_SOURCE_TARGETS,
  NON_NITRO_ALLOWED,
  UNSUPPORTED_ON_PAGE,
} from '../support/aws-pages.ts';
import { useEmulator } from '../support/emulator.ts';
import {
  allSessions,
  createFilter,
  createSession,
  eniTarget,
  freshClient,
  launchMany,
  nlbTarget,
  rejectsWith,
} from '../support/mirroring.ts';
import { createNetwork, must, type Network } from '../support/topology.ts';

/**
 * The emulator's own copy of AWS's instance-type rules (emulator/ec2/instance-types.ts), through the
 * SDK: which types EC2 takes as a mirror source (traffic-mirroring-network-limitations.html) and
 * how many sources an ENI target on a type takes (traffic-mirroring-quotas.html).
 */
const env = useEmulator();

interface World {
  ec2: EC2Client;
  network: Network;
  /** An NLB target: no source limit, so these tests see only the source rules. */
  targetId: string;
  filterId: string;
}

async function world(): Promise<World> {
  const { ec2, account } = freshClient(env.url);
  const network = await createNetwork(ec2);
  const [targetId, filterId] = await Promise.all([nlbTarget(ec2, account), createFilter(ec2)]);
  return { ec2, network, targetId, filterId };
}

/** Launches one instance of the type and asks for a session on its primary ENI. */
async function sessionOn(w: World, instanceType: string) {
  const [source] = await launchMany(w.ec2, w.network.subnetId, 1, instanceType);
  return createSession(w.ec2, {
    NetworkInterfaceId: must(source, 'source').eniId,
    TrafficMirrorTargetId: w.targetId,
    TrafficMirrorFilterId: w.filterId,
    SessionNumber: 1,
  });
}

describe('sources: every family the limitations page lists', () => {
  let w: World;
  beforeAll(async () => {
    w = await world();
  });

  it.each(UNSUPPORTED_ON_PAGE)(
    '%s: refuses %s as a source (NetworkInterfaceNotSupported)',
    async (_, family) => {
      await rejectsWith(sessionOn(w, `${family}.xlarge`), 'NetworkInterfaceNotSupported');
    },
  );

  it.each(familiesOf(NON_NITRO_ALLOWED))('accepts the non-Nitro exception %s', async (family) => {
    const session = await sessionOn(w, `${family}.xlarge`);
    expect(session.TrafficMirrorSessionId).toMatch(/^tms-/);
  });
});

describe('sources: one case per family class', () => {
  it.each([
    ['general purpose', 'm7a.large', 'm5.large'],
    ['compute optimized', 'c6gd.large', 'c5.large'],
    ['memory optimized', 'r7g.large', 'r6g.large'],
    ['storage optimized', 'im4gn.large', 'i3en.large'],
    ['accelerated computing', 'trn1n.32xlarge', 'p4d.24xlarge'],
    ['high-performance computing', 'hpc6id.32xlarge', 'hpc8a.96xlarge'],
    ['a longer name the page does not list', 'x2idn.16xlarge', 'x2gd.xlarge'],
  ])('%s: refuses %s, accepts %s', async (_, refused, accepted) => {
    const w = await world();

    await rejectsWith(sessionOn(w, refused), 'NetworkInterfaceNotSupported');
    const session = await sessionOn(w, accepted);

    expect((await allSessions(w.ec2)).map((s) => s.TrafficMirrorSessionId)).toEqual([
      session.TrafficMirrorSessionId,
    ]);
  });

  it.each([
    ['bare metal', 'm5.metal'],
    ['bare metal of a size suffix', 'c7i.metal-24xl'],
    ['non-Nitro (Xen) other than the exceptions', 'm3.medium'],
    ['T2, named by the page', 't2.micro'],
  ])('%s: refuses %s', async (_, type) => {
    const w = await world();

    await rejectsWith(sessionOn(w, type), 'NetworkInterfaceNotSupported');

    expect(await allSessions(w.ec2)).toEqual([]);
  });
});

describe('sources: a type refused by a fault (a family AWS listed after ours)', () => {
  it('refuses the type or family it is told to, and only while told', async () => {
    const w = await world();
    env.emulator.faults.set({ refuseSourceTypes: ['m8i', 'c5.large'] });
    try {
      await rejectsWith(sessionOn(w, 'm8i.large'), 'NetworkInterfaceNotSupported');
      await rejectsWith(sessionOn(w, 'c5.large'), 'NetworkInterfaceNotSupported');
      await sessionOn(w, 'c5.xlarge');
    } finally {
      env.emulator.faults.set({});
    }

    await sessionOn(w, 'm8i.large');
    expect(await allSessions(w.ec2)).toHaveLength(2);
  });

  it('throws at once for a value that is not an instance type or family', () => {
    expect(() => env.emulator.faults.set({ refuseSourceTypes: ['R7G Large'] })).toThrow(RangeError);
  });
});

describe('sources per ENI target', () => {
  /** An ENI target on `targetType` and `sources` instances to mirror to it. */
  async function targetOn(targetType: string, sources: number) {
    const w = await world();
    const [appliance] = await launchMany(w.ec2, w.network.subnetId, 1, targetType);
    const targetId = await eniTarget(w.ec2, must(appliance, 'appliance').eniId);
    const launched = await launchMany(w.ec2, w.network.subnetId, sources);
    const mirror = (eniId: string, SessionNumber = 1, TrafficMirrorTargetId = targetId) =>
      createSession(w.ec2, {
        NetworkInterfaceId: eniId,
        TrafficMirrorTargetId,
        TrafficMirrorFilterId: w.filterId,
        SessionNumber,
      });
    return { w, targetId, launched, mirror };
  }

  it.each([
    ['hpc7g.4xlarge', 'a small size the quotas page lists'],
    ['c5n.18xlarge', 'an 18xlarge the page lists'],
  ])('%s (%s) takes 100 sources; the 101st is refused', async (type) => {
    const { launched, mirror } = await targetOn(type, 101);
    const [last, ...hundred] = launched;
    await Promise.all(hundred.map((source) => mirror(source.eniId)));

    await rejectsWith(mirror(must(last, 'last').eniId), 'TrafficMirrorSourcesPerTargetLimitExceeded');
  });

  it.each([
    ['c6a.24xlarge', 'a 24xlarge the page does not list (c6a lists 48xlarge)'],
    ['m5.16xlarge', 'a smaller size of a listed family'],
    ['m5.metal', 'a metal size'],
  ])('%s (%s) takes 10 sources; the 11th is refused', async (type) => {
    const { launched, mirror } = await targetOn(type, 11);
    const [eleventh, ...ten] = launched;
    await Promise.all(ten.map((source) => mirror(source.eniId)));

    await rejectsWith(mirror(must(eleventh, 'eleventh').eniId), 'TrafficMirrorSourcesPerTargetLimitExceeded');
  });

  it(`takes more than 10 sources on each of the ${HUNDRED_SOURCE_TARGETS.length} types the quotas page lists`, async () => {
    expect(HUNDRED_SOURCE_TARGETS).toHaveLength(141);
    const w = await world();
    const appliances = await Promise.all(
      HUNDRED_SOURCE_TARGETS.map((type) => launchMany(w.ec2, w.network.subnetId, 1, type)),
    );
    const targets = await Promise.all(appliances.map(([a]) => eniTarget(w.ec2, must(a, 'appliance').eniId)));
    // Eleven sources serve three targets at once (three sessions per source ENI).
    const groups = Math.ceil(targets.length / 3);
    const sources = await launchMany(w.ec2, w.network.subnetId, 11 * groups);
    await Promise.all(
      targets.map((targetId, i) => {
        const group = sources.slice(11 * Math.floor(i / 3), 11 * Math.floor(i / 3) + 11);
        return Promise.all(
          group.map((source) =>
            createSession(w.ec2, {
              NetworkInterfaceId: source.eniId,
              TrafficMirrorTargetId: targetId,
              TrafficMirrorFilterId: w.filterId,
              SessionNumber: (i % 3) + 1,
            }),
          ),
        );
      }),
    );

    const sessions = await allSessions(w.ec2);
    const perTarget = new Map<string, number>();
    for (const s of sessions)
      perTarget.set(s.TrafficMirrorTargetId ?? '', (perTarget.get(s.TrafficMirrorTargetId ?? '') ?? 0) + 1);
    expect(targets.filter((t) => perTarget.get(t) !== 11)).toEqual([]);
  });
});
