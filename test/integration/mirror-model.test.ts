import {
  CreateTagsCommand,
  CreateTrafficMirrorFilterCommand,
  CreateTrafficMirrorSessionCommand,
  DeleteTagsCommand,
  DeleteTrafficMirrorSessionCommand,
  DescribeTrafficMirrorFiltersCommand,
} from '@aws-sdk/client-ec2';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { contains, parseCidr } from '../../shared/domain/cidr.ts';
import { sessionExpiry } from '../../shared/domain/claims.ts';
import { preferredNumber } from '../../shared/domain/slots.ts';
import { TAG } from '../../shared/domain/tags.ts';
import { tagTrigger } from '../../shared/events/tag.ts';
import { Memory } from '../../shared/memory.ts';
import { apply } from '../../shared/mirror.ts';
import { onTagChange } from '../../shared/optin.ts';
import { useEmulator } from '../support/emulator.ts';
import { findingFor, type Incident, incident, intentOf, tagEventFor, tagsOf } from '../support/incident.ts';

/**
 * Random incidents against the real use cases: findings (new ones, repeats, late ones) handled by
 * three Lambda containers, each with its own memory, some at the same moment, and sessions deleted
 * behind their backs. Whatever the order, once the instance's findings settle, each ENI has one
 * session that honours every finding still standing: the latest expiry asked for, the highest
 * severity's number, and a filter covering every remote address.
 */
const env = useEmulator();
const HOUR = 3_600_000;
const BASE = Date.now();
const REMOTES = ['198.51.100.1', '198.51.100.2', '203.0.113.9', '192.0.2.77'];

interface Finding {
  kind: 'finding';
  container: number;
  instance: number;
  finding: number;
  count: number;
  hoursAgo: number;
  severity: number;
  remote: number;
}
interface Deletion {
  kind: 'delete';
  instance: number;
}
type Step = Finding[] | [Deletion];

const finding = fc.record({
  kind: fc.constant('finding' as const),
  container: fc.integer({ min: 0, max: 2 }),
  instance: fc.integer({ min: 0, max: 1 }),
  finding: fc.integer({ min: 0, max: 3 }),
  count: fc.integer({ min: 1, max: 9 }),
  hoursAgo: fc.integer({ min: 0, max: 4 }),
  severity: fc.constantFrom(4, 5.5, 7, 8.5),
  remote: fc.integer({ min: 0, max: REMOTES.length - 1 }),
});
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.array(finding, { minLength: 1, maxLength: 3 }) },
  {
    weight: 1,
    arbitrary: fc.tuple(
      fc.record({ kind: fc.constant('delete' as const), instance: fc.integer({ min: 0, max: 1 }) }),
    ),
  },
);

/** What a finding id asked for so far: a finding keeps its type, so its remote and severity. */
interface Asked {
  expiresAt: number;
  severity: number;
  remote: string;
}

let world: Incident;

test('findings from three containers, concurrent and interleaved with deletions, settle on sessions honouring every finding', async () => {
  world ??= await incident(env.url);
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 2, maxLength: 8 }), async (steps) => {
      const instances = [await world.instance(2), await world.instance(1)];
      const memories = [new Memory(), new Memory(), new Memory()];
      // Finding ids are per run; a finding keeps its severity and remote (GuardDuty's do).
      const run = `${instances[0]?.instanceId}`;
      const fixed = new Map<string, { severity: number; remote: number }>();
      const asked = instances.map(() => new Map<string, Asked>());

      const request = (f: Finding) => {
        const id = `${run}-${f.instance}-${f.finding}`;
        const kept = fixed.get(id) ?? { severity: f.severity, remote: f.remote };
        fixed.set(id, kept);
        const instance = instances[f.instance] ?? instances[0];
        if (!instance) throw new Error('no instance');
        const intent = intentOf(
          findingFor('network-connection', world, instance, (d) => {
            d.id = id;
            d.severity = kept.severity;
            d.service.count = f.count;
            d.updatedAt = new Date(BASE - f.hoursAgo * HOUR).toISOString();
            d.service.action = {
              actionType: 'NETWORK_CONNECTION',
              networkConnectionAction: { remoteIpDetails: { ipAddressV4: REMOTES[kept.remote] } },
            };
          }),
          world.config,
        );
        return { id, intent, remote: `${REMOTES[kept.remote]}/32`, severity: kept.severity };
      };

      /** Someone stops these ENIs' sessions (mirrorops stop, or a person); no container is told. */
      const stop = async (eniIds: readonly string[]) => {
        for (const session of await world.sessions()) {
          if (!eniIds.includes(session.NetworkInterfaceId ?? '')) continue;
          await world.ec2.send(
            new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: session.TrafficMirrorSessionId }),
          );
        }
      };

      try {
        for (const s of steps) {
          const [first] = s;
          if (first?.kind === 'delete') {
            await stop(instances[first.instance]?.eniIds ?? []);
            asked[first.instance]?.clear(); // its findings are forgotten with the sessions
            continue;
          }
          await Promise.all(
            (s as Finding[]).map(async (f) => {
              const { id, intent, remote, severity } = request(f);
              const result = await apply(
                intent,
                world.deps({ memory: memories[f.container] ?? new Memory() }),
              );
              expect(
                result.outcomes.filter((o) => o.status !== 'started' && o.status !== 'extended'),
              ).toEqual([]);
              const before = asked[f.instance]?.get(id);
              asked[f.instance]?.set(id, {
                expiresAt: Math.max(before?.expiresAt ?? 0, Date.parse(result.expiresAt)),
                severity,
                remote,
              });
            }),
          );
        }

        // Settle: one more delivery of a standing finding per instance, by a new container.
        for (const [i, wanted] of asked.entries()) {
          const [id] = wanted.keys();
          if (id === undefined) continue;
          const [, instanceIndex, findingIndex] = id.slice(run.length).split('-').map(Number);
          const { intent } = request({
            kind: 'finding',
            container: 0,
            instance: instanceIndex ?? i,
            finding: findingIndex ?? 0,
            count: 1,
            hoursAgo: 4,
            severity: 4,
            remote: 0,
          });
          await apply(intent, world.deps({ memory: new Memory() }));
        }

        const sessions = await world.sessions();
        for (const [i, wanted] of asked.entries()) {
          const instance = instances[i];
          for (const eniId of instance?.eniIds ?? []) {
            const onEni = sessions.filter((s) => s.NetworkInterfaceId === eniId);
            if (wanted.size === 0) {
              expect(onEni).toEqual([]);
              continue;
            }
            expect(onEni).toHaveLength(1);
            const [session] = onEni;
            const tags = tagsOf(session);
            const latest = Math.max(...[...wanted.values()].map((a) => a.expiresAt));
            expect(tags[TAG.expiresAt]).toBe(new Date(latest).toISOString());
            expect(sessionExpiry(tags)).toBe(new Date(latest).toISOString());
            const severity = Math.max(...[...wanted.values()].map((a) => a.severity));
            expect(session?.SessionNumber).toBe(preferredNumber('guardduty', severity));
            const filter = (
              await world.ec2.send(
                new DescribeTrafficMirrorFiltersCommand({
                  TrafficMirrorFilterIds: [session?.TrafficMirrorFilterId ?? ''],
                }),
              )
            ).TrafficMirrorFilters?.[0];
            const blocks = (filter?.IngressFilterRules ?? []).map((r) => parseCidr(r.SourceCidrBlock ?? ''));
            for (const { remote } of wanted.values()) {
              const want = parseCidr(remote);
              expect(blocks.some((b) => b !== undefined && want !== undefined && contains(b, want))).toBe(
                true,
              );
            }
          }
        }
      } finally {
        // The target takes 10 sources: the next run starts from none.
        await stop(instances.flatMap((i) => i.eniIds));
      }
    }),
    { numRuns: 25, seed: 20261201, endOnFailure: true },
  );
}, 120_000);

/** Tag opt-in values and how long each mirrors from the change (24 h for `true`, the default). */
const LIFETIMES: Record<string, number | undefined> = {
  true: 24 * HOUR,
  '1h': HOUR,
  '2h': 2 * HOUR,
  '8h': 8 * HOUR,
  false: undefined,
};

type TagOp =
  | { kind: 'set'; value: string | undefined; container: number }
  | { kind: 'redeliver'; container: number }
  | { kind: 'stop' };

const tagOp: fc.Arbitrary<TagOp> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('set' as const),
      value: fc.constantFrom<string | undefined>(...Object.keys(LIFETIMES), undefined),
      container: fc.integer({ min: 0, max: 2 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('redeliver' as const),
      container: fc.integer({ min: 0, max: 2 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('stop' as const) }) },
);

test('a tag set, changed, removed, redelivered and stopped from three containers: the sessions always follow the tag as it is now', async () => {
  world ??= await incident(env.url);
  await fc.assert(
    fc.asyncProperty(fc.array(tagOp, { minLength: 1, maxLength: 10 }), async (ops) => {
      const instance = await world.instance(2);
      const memories = [new Memory(), new Memory(), new Memory()];
      let last: { value: string | undefined; at: Date } | undefined;
      /** When the sessions should end, or undefined when there should be none. */
      let expected: number | undefined;
      const deliver = async (value: string | undefined, at: Date, container: number) => {
        const event = tagEventFor(world, instance.instanceId, value, at);
        const deps = world.deps({ memory: memories[container] ?? new Memory() });
        return onTagChange(tagTrigger(event), deps);
      };
      const stop = async () => {
        for (const session of await world.sessions()) {
          if (!instance.eniIds.includes(session.NetworkInterfaceId ?? '')) continue;
          await world.ec2.send(
            new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: session.TrafficMirrorSessionId }),
          );
        }
      };
      try {
        for (const [i, op] of ops.entries()) {
          if (op.kind === 'stop') {
            await stop();
            expected = undefined;
          } else if (op.kind === 'redeliver') {
            if (!last) continue;
            await deliver(last.value, last.at, op.container);
            const lifetime = last.value === undefined ? undefined : LIFETIMES[last.value];
            expected = lifetime === undefined ? undefined : last.at.getTime() + lifetime;
          } else {
            const at = new Date(BASE + i * 60_000);
            if (op.value === undefined) {
              await world.ec2.send(
                new DeleteTagsCommand({ Resources: [instance.instanceId], Tags: [{ Key: TAG.mirror }] }),
              );
            } else {
              await world.ec2.send(
                new CreateTagsCommand({
                  Resources: [instance.instanceId],
                  Tags: [{ Key: TAG.mirror, Value: op.value }],
                }),
              );
            }
            await deliver(op.value, at, op.container);
            last = { value: op.value, at };
            const lifetime = op.value === undefined ? undefined : LIFETIMES[op.value];
            expected = lifetime === undefined ? undefined : at.getTime() + lifetime;
          }
          const sessions = (await world.sessions()).filter((s) =>
            instance.eniIds.includes(s.NetworkInterfaceId ?? ''),
          );
          if (expected === undefined) {
            expect({ op: i, sessions }).toEqual({ op: i, sessions: [] });
            continue;
          }
          expect(sessions.map((s) => s.NetworkInterfaceId).sort()).toEqual([...instance.eniIds].sort());
          for (const session of sessions) {
            const tags = tagsOf(session);
            expect({ op: i, expiresAt: tags[TAG.expiresAt], effective: sessionExpiry(tags) }).toEqual({
              op: i,
              expiresAt: new Date(expected).toISOString(),
              effective: new Date(expected).toISOString(),
            });
          }
        }
      } finally {
        await stop();
      }
    }),
    { numRuns: 25, seed: 20261202, endOnFailure: true },
  );
}, 120_000);

type SlotOp =
  | { kind: 'finding'; finding: number; severity: number; container: number }
  | { kind: 'tag'; on: boolean; container: number };

const slotOp: fc.Arbitrary<SlotOp> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('finding' as const),
      finding: fc.integer({ min: 0, max: 2 }),
      severity: fc.constantFrom(4, 5.5, 7, 8.5),
      container: fc.integer({ min: 0, max: 2 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('tag' as const),
      on: fc.boolean(),
      container: fc.integer({ min: 0, max: 2 }),
    }),
  },
);

test('an ENI shared with sessions mirrorops did not create: those are never touched, and the findings and the tag share what is left by priority', async () => {
  world ??= await incident(env.url);
  const filter = await world.ec2.send(new CreateTrafficMirrorFilterCommand({ Description: 'not mirrorops' }));
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(fc.integer({ min: 1, max: 32766 }), { maxLength: 2 }),
      fc.array(fc.array(slotOp, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 6 }),
      async (foreignNumbers, batches) => {
        const instance = await world.instance(1);
        const [eniId = ''] = instance.eniIds;
        const memories = [new Memory(), new Memory(), new Memory()];
        const foreign = [];
        for (const number of foreignNumbers) {
          const created = await world.ec2.send(
            new CreateTrafficMirrorSessionCommand({
              NetworkInterfaceId: eniId,
              TrafficMirrorTargetId: world.targetId,
              TrafficMirrorFilterId: filter.TrafficMirrorFilter?.TrafficMirrorFilterId,
              SessionNumber: number,
              TagSpecifications: [
                { ResourceType: 'traffic-mirror-session', Tags: [{ Key: 'owner', Value: 'network team' }] },
              ],
            }),
          );
          foreign.push(created.TrafficMirrorSession);
        }
        const onEni = async () =>
          (await world.sessions()).filter((session) => session.NetworkInterfaceId === eniId);
        const severities = new Map<number, number>();
        let tagged = false;
        let at = BASE;
        const finding = (op: { finding: number; severity: number }) => {
          const severity = severities.get(op.finding) ?? op.severity;
          severities.set(op.finding, severity);
          return intentOf(
            findingFor('network-connection', world, instance, (d) => {
              d.id = `${instance.instanceId}-slot-${op.finding}`;
              d.severity = severity;
              d.updatedAt = new Date(BASE).toISOString();
            }),
            world.config,
          );
        };
        const tag = async (on: boolean, container: number) => {
          at += 60_000;
          const value = on ? '8h' : undefined;
          if (on) {
            await world.ec2.send(
              new CreateTagsCommand({
                Resources: [instance.instanceId],
                Tags: [{ Key: TAG.mirror, Value: '8h' }],
              }),
            );
          } else {
            await world.ec2.send(
              new DeleteTagsCommand({ Resources: [instance.instanceId], Tags: [{ Key: TAG.mirror }] }),
            );
          }
          const event = tagEventFor(world, instance.instanceId, value, new Date(at));
          await onTagChange(tagTrigger(event), world.deps({ memory: memories[container] ?? new Memory() }));
        };
        try {
          for (const batch of batches) {
            // Tag changes in a batch happen one after the other (the tag as it is now decides);
            // findings run at once, with them.
            const findings = batch.filter((op) => op.kind === 'finding');
            const tags = batch.filter((op) => op.kind === 'tag');
            await Promise.all([
              ...findings.map((op) =>
                apply(finding(op), world.deps({ memory: memories[op.container] ?? new Memory() })),
              ),
              (async () => {
                for (const op of tags) {
                  await tag(op.on, op.container);
                  tagged = op.on;
                }
              })(),
            ]);
          }
          // Settle: a standing finding and the tag as it is are delivered once more.
          const [standing] = severities.keys();
          if (standing !== undefined)
            await apply(finding({ finding: standing, severity: 0 }), world.deps({ memory: new Memory() }));
          await tag(tagged, 0);

          const sessions = await onEni();
          // Never touched: the same sessions, numbers, filters and tags.
          for (const mine of foreign) {
            const now = sessions.find((x) => x.TrafficMirrorSessionId === mine?.TrafficMirrorSessionId);
            expect(now).toMatchObject({
              SessionNumber: mine?.SessionNumber,
              TrafficMirrorFilterId: mine?.TrafficMirrorFilterId,
              Tags: mine?.Tags,
            });
          }
          expect(sessions.length).toBeLessThanOrEqual(3);
          expect(new Set(sessions.map((x) => x.SessionNumber)).size).toBe(sessions.length);
          const reasons = sessions.map((x) => tagsOf(x)[TAG.reason]).filter((r) => r !== undefined);
          expect(new Set(reasons).size).toBe(reasons.length);
          const free = 3 - foreign.length;
          // A finding always gets a slot: at least one is not taken by others, and a tag session gives way.
          expect(reasons.includes('guardduty')).toBe(severities.size > 0);
          expect(reasons.includes('tag')).toBe(tagged && free - (severities.size > 0 ? 1 : 0) >= 1);
          const gd = sessions.find((x) => tagsOf(x)[TAG.reason] === 'guardduty');
          if (gd) expect(gd.SessionNumber).toBeLessThanOrEqual(9);
        } finally {
          for (const session of await onEni()) {
            if (
              tagsOf(session)[TAG.managed] !== 'true' &&
              !foreign.some((f) => f?.TrafficMirrorSessionId === session.TrafficMirrorSessionId)
            )
              continue;
            await world.ec2.send(
              new DeleteTrafficMirrorSessionCommand({
                TrafficMirrorSessionId: session.TrafficMirrorSessionId,
              }),
            );
          }
        }
      },
    ),
    { numRuns: 25, seed: 20261203, endOnFailure: true },
  );
}, 120_000);
