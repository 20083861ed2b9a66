import { describe, expect, test } from 'vitest';
import { TAG } from '../../shared/domain/tags.ts';
import { responder } from '../support/cli.ts';
import { useEmulator } from '../support/emulator.ts';
import { tagsOf } from '../support/incident.ts';
import { allFilters, allSessions, applianceTargetIn } from '../support/mirroring.ts';

const env = useEmulator();
const HOUR = 3_600_000;

/** The expiry of a session as mirrorops wrote it, in ms from now. */
const fromNow = (tags: Record<string, string>) => Date.parse(tags[TAG.expiresAt] ?? '') - Date.now();

describe('mirrorops start', () => {
  test('mirrors every ENI of the instance, reason manual, number 10, until --for; the audit event says who and why', async () => {
    const r = await responder(env.url);
    const second = await r.attachEni(1);
    const ran = await r.run([
      'start',
      '--instance',
      r.instanceId,
      '--for',
      '2h',
      '--note',
      'case 4711',
      '--target',
      r.targetId,
    ]);
    expect(ran.err).toEqual([]);
    expect(ran.code).toBe(0);
    expect(ran.stdout.split('\n')[0]).toMatch(/^ENI\s+OUTCOME\s+SESSION\s+NO\s+EXPIRES AT\s+DETAIL$/);

    const sessions = await allSessions(r.ec2);
    expect(sessions.map((s) => s.NetworkInterfaceId).sort()).toEqual([r.eniId, second].sort());
    for (const s of sessions) {
      expect(s.SessionNumber).toBe(10);
      expect(s.TrafficMirrorTargetId).toBe(r.targetId);
      const tags = tagsOf(s);
      expect(tags[TAG.managed]).toBe('true');
      expect(tags[TAG.reason]).toBe('manual');
      expect(tags[TAG.instance]).toBe(r.instanceId);
      expect(tags[TAG.intent]).toBe(`start by arn:aws:iam::${r.account}:root: case 4711`);
      expect(fromNow(tags)).toBeGreaterThan(2 * HOUR - 60_000);
      expect(fromNow(tags)).toBeLessThanOrEqual(2 * HOUR);
    }
    // No --scope: all traffic, both families, both directions.
    const [filter] = await allFilters(r.ec2);
    expect(
      [...(filter?.IngressFilterRules ?? []), ...(filter?.EgressFilterRules ?? [])].map((rule) => [
        rule.TrafficDirection,
        rule.SourceCidrBlock,
        rule.DestinationCidrBlock,
      ]),
    ).toEqual(
      expect.arrayContaining([
        ['ingress', '0.0.0.0/0', '0.0.0.0/0'],
        ['egress', '0.0.0.0/0', '0.0.0.0/0'],
        ['ingress', '::/0', '::/0'],
        ['egress', '::/0', '::/0'],
      ]),
    );

    const started = (await r.audit()).filter((e) => e['detail-type'] === 'Mirror Session Started');
    expect(started).toHaveLength(2);
    for (const e of started) {
      expect(e.detail).toMatchObject({
        account: r.account,
        instanceId: r.instanceId,
        reason: 'manual',
        intent: `start by arn:aws:iam::${r.account}:root: case 4711`,
      });
    }
  });

  test('again: extends the same session; a wider scope widens it, a narrower or shorter one changes nothing it has', async () => {
    const r = await responder(env.url);
    const target = ['--target', r.targetId];
    expect(
      (
        await r.run([
          'start',
          '--instance',
          r.instanceId,
          '--for',
          '1h',
          '--scope',
          '198.51.100.7',
          ...target,
        ])
      ).code,
    ).toBe(0);
    const [first] = await allSessions(r.ec2);
    const firstTags = tagsOf(first);

    const wider = await r.run([
      'start',
      '--instance',
      r.instanceId,
      '--for',
      '3h',
      '--scope',
      '198.51.100.7,203.0.113.0/24',
      ...target,
      '--output',
      'json',
    ]);
    expect(wider.code).toBe(0);
    const answer = JSON.parse(wider.stdout) as {
      outcomes: { status: string; widened?: boolean }[];
      requestedBy: string;
    };
    expect(answer.outcomes).toEqual([expect.objectContaining({ status: 'extended', widened: true })]);
    expect(answer.requestedBy).toBe(`arn:aws:iam::${r.account}:root`);
    const [after] = await allSessions(r.ec2);
    expect(after?.TrafficMirrorSessionId).toBe(first?.TrafficMirrorSessionId);
    expect(fromNow(tagsOf(after))).toBeGreaterThan(3 * HOUR - 60_000);
    expect(fromNow(tagsOf(after))).toBeGreaterThan(fromNow(firstTags) + HOUR);
    const filter = (await allFilters(r.ec2)).find(
      (f) => f.TrafficMirrorFilterId === after?.TrafficMirrorFilterId,
    );
    expect((filter?.IngressFilterRules ?? []).map((rule) => rule.SourceCidrBlock).sort()).toEqual([
      '198.51.100.7/32',
      '203.0.113.0/24',
    ]);

    // Shorter and narrower: the session keeps its expiry and its filter.
    const narrow = await r.run([
      'start',
      '--instance',
      r.instanceId,
      '--for',
      '30m',
      '--scope',
      '198.51.100.7',
      ...target,
    ]);
    expect(narrow.code).toBe(0);
    const [last] = await allSessions(r.ec2);
    expect(last?.TrafficMirrorFilterId).toBe(after?.TrafficMirrorFilterId);
    expect(Math.abs(fromNow(tagsOf(last)) - fromNow(tagsOf(after)))).toBeLessThan(60_000);
  });

  test('--eni mirrors that ENI only; --target sends it to that target, over the configured one', async () => {
    const r = await responder(env.url);
    const second = await r.attachEni(1);
    const other = await applianceTargetIn(r.ec2, r.network.subnetId);
    const ran = await r.run(['start', '--eni', second, '--for', '30m', '--target', other], {
      MIRROROPS_TARGET_ID: r.targetId,
    });
    expect(ran.code).toBe(0);
    const sessions = await allSessions(r.ec2);
    expect(sessions.map((s) => [s.NetworkInterfaceId, s.TrafficMirrorTargetId])).toEqual([[second, other]]);

    // Without --target: MIRROROPS_TARGET_ID, as the functions have it.
    expect(
      (await r.run(['start', '--eni', r.eniId, '--for', '30m'], { MIRROROPS_TARGET_ID: r.targetId })).code,
    ).toBe(0);
    expect(
      (await allSessions(r.ec2)).find((s) => s.NetworkInterfaceId === r.eniId)?.TrafficMirrorTargetId,
    ).toBe(r.targetId);
  });

  test('--dry-run prints the plan and EC2 DryRun answers, and changes nothing', async () => {
    const r = await responder(env.url);
    const before = await r.state();
    const ran = await r.run([
      'start',
      '--instance',
      r.instanceId,
      '--for',
      '2h',
      '--target',
      r.targetId,
      '--dry-run',
    ]);
    expect(ran.err).toEqual([]);
    expect(ran.code).toBe(0);
    expect(ran.stdout).toMatch(/^Dry run, nothing changed/);
    expect(ran.stdout).toMatch(new RegExp(`${r.eniId}\\s+start a session, number 10`));
    expect(ran.stdout).toMatch(
      /CreateTrafficMirrorFilter\s+create filter for all traffic \(4 rules\)\s+allowed \(DryRunOperation\)/,
    );
    // No filter of mirrorops' exists to stand in for the new one: the session is not asked about.
    expect(ran.stdout).toMatch(/CreateTrafficMirrorSession\s+.*not asked/);
    expect(await r.state()).toEqual(before);
    expect(await r.audit()).toEqual([]);

    // Once a filter of mirrorops' exists, the session's create is asked too (and allowed).
    expect(
      (
        await r.run([
          'start',
          '--instance',
          r.instanceId,
          '--for',
          '1h',
          '--target',
          r.targetId,
          '--scope',
          '192.0.2.1',
        ])
      ).code,
    ).toBe(0);
    const after = await r.state();
    const json = await r.run([
      'start',
      '--instance',
      r.instanceId,
      '--for',
      '2h',
      '--target',
      r.targetId,
      '--dry-run',
      '--output',
      'json',
    ]);
    expect(json.code).toBe(0);
    const plan = JSON.parse(json.stdout) as {
      plans: { kind: string }[];
      calls: { action: string; answer: unknown }[];
    };
    expect(plan.plans.map((p) => p.kind)).toEqual(['extend']);
    expect(plan.calls).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: 'CreateTags', answer: { allowed: true } }),
        expect.objectContaining({ action: 'ModifyTrafficMirrorSession', answer: { allowed: true } }),
      ]),
    );
    expect(await r.state()).toEqual(after);
  });
});

describe('mirrorops extend', () => {
  test('--for and --until move the expiry of every mirrorops session of the instance out, never in', async () => {
    const r = await responder(env.url);
    const second = await r.attachEni(1);
    expect(
      (await r.run(['start', '--instance', r.instanceId, '--for', '1h', '--target', r.targetId])).code,
    ).toBe(0);

    const longer = await r.run(['extend', '--instance', r.instanceId, '--for', '4h', '--note', 'still open']);
    expect(longer.err).toEqual([]);
    expect(longer.code).toBe(0);
    const sessions = await allSessions(r.ec2);
    expect(sessions.map((s) => s.NetworkInterfaceId).sort()).toEqual([r.eniId, second].sort());
    for (const s of sessions) expect(fromNow(tagsOf(s))).toBeGreaterThan(4 * HOUR - 60_000);
    const extended = (await r.audit()).filter((e) => e['detail-type'] === 'Mirror Session Extended');
    expect(extended).toHaveLength(2);
    expect(extended[0]?.detail.intent).toBe(`extend by arn:aws:iam::${r.account}:root: still open`);

    // --until a day ahead, on one session.
    const until = new Date(Date.now() + 24 * HOUR).toISOString().replace(/:\d{2}\.\d{3}Z$/, 'Z');
    const one = sessions[0]?.TrafficMirrorSessionId ?? '';
    expect((await r.run(['extend', '--session', one, '--until', until])).code).toBe(0);
    const after = await allSessions(r.ec2);
    const expiryOf = (id: string) =>
      tagsOf(after.find((s) => s.TrafficMirrorSessionId === id))[TAG.expiresAt];
    expect(Date.parse(expiryOf(one) ?? '')).toBe(Date.parse(until));

    // Shorter than it runs: nothing to do (exit 4), nothing changed.
    const before = await r.state();
    const shorter = await r.run(['extend', '--session', one, '--for', '2h']);
    expect(shorter.code).toBe(4);
    expect(shorter.err).toEqual([expect.stringMatching(new RegExp(`^${one} already runs until `))]);
    expect(await r.state()).toEqual(before);
  });

  test('extends a session mirrorops started for another reason, keeping its reason and number', async () => {
    const r = await responder(env.url);
    expect((await r.run(['start', '--eni', r.eniId, '--for', '1h', '--target', r.targetId])).code).toBe(0);
    const [session] = await allSessions(r.ec2);
    const ran = await r.run(['extend', '--eni', r.eniId, '--for', '6h', '--dry-run']);
    expect(ran.code).toBe(0);
    expect(ran.stdout).toMatch(/CreateTags\s+extend tms-\w+ until .*allowed \(DryRunOperation\)/);
    expect(await allSessions(r.ec2)).toEqual([session]);
    expect((await r.run(['extend', '--eni', r.eniId, '--for', '6h'])).code).toBe(0);
    const [after] = await allSessions(r.ec2);
    expect(after?.SessionNumber).toBe(10);
    expect(tagsOf(after)[TAG.reason]).toBe('manual');
    expect(fromNow(tagsOf(after))).toBeGreaterThan(6 * HOUR - 60_000);
  });
});
