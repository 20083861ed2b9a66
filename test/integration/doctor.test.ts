import {
  AuthorizeSecurityGroupIngressCommand,
  CreateNetworkAclCommand,
  CreateNetworkAclEntryCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateTrafficMirrorTargetCommand,
  CreateVpcCommand,
  DeleteNetworkAclEntryCommand,
  DeleteTrafficMirrorSessionCommand,
  DescribeNetworkAclsCommand,
  type EC2Client,
  ReplaceNetworkAclAssociationCommand,
  RevokeSecurityGroupIngressCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { describe, expect, test } from 'vitest';
import { TAG } from '../../shared/domain/tags.ts';
import { doctor, doctorLines, instanceIn, lines, session, statuses } from '../support/doctor.ts';
import { useEmulator } from '../support/emulator.ts';
import { freshClient } from '../support/mirroring.ts';
import { must } from '../support/topology.ts';

const env = useEmulator();

/**
 * One account, one VPC (10.0.0.0/16) with a source subnet (10.0.0.0/24) and an appliance subnet
 * (10.0.1.0/24); a source instance; an appliance instance whose group allows UDP 4789 from the VPC,
 * its primary ENI the target. Every check passes on it.
 */
async function scene(sourceType = 'm5.large', applianceType = 'c5.large') {
  const { ec2, account } = freshClient(env.url);
  const vpcId = must((await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc?.VpcId, 'vpc');
  const subnet = async (cidr: string) =>
    must(
      (await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: cidr }))).Subnet?.SubnetId,
      'subnet',
    );
  const sourceSubnet = await subnet('10.0.0.0/24');
  const applianceSubnet = await subnet('10.0.1.0/24');
  const groupId = must(
    (
      await ec2.send(
        new CreateSecurityGroupCommand({ VpcId: vpcId, GroupName: 'appliance', Description: 'vxlan' }),
      )
    ).GroupId,
    'GroupId',
  );
  await ec2.send(
    new AuthorizeSecurityGroupIngressCommand({
      GroupId: groupId,
      IpPermissions: [
        { IpProtocol: 'udp', FromPort: 4789, ToPort: 4789, IpRanges: [{ CidrIp: '10.0.0.0/16' }] },
      ],
    }),
  );
  const source = await instanceIn(ec2, sourceSubnet, sourceType);
  const appliance = await instanceIn(ec2, applianceSubnet, applianceType, [groupId]);
  const targetId = must(
    (await ec2.send(new CreateTrafficMirrorTargetCommand({ NetworkInterfaceId: appliance.eniId })))
      .TrafficMirrorTarget?.TrafficMirrorTargetId,
    'target',
  );
  const run = (...args: string[]) => doctor(env.url, account, ['--target', targetId, ...args]);
  return { ec2, account, vpcId, sourceSubnet, applianceSubnet, groupId, source, appliance, targetId, run };
}

/** The network ACL a subnet is associated with, and that association's id. */
async function aclOf(ec2: EC2Client, subnetId: string) {
  const out = await ec2.send(
    new DescribeNetworkAclsCommand({ Filters: [{ Name: 'association.subnet-id', Values: [subnetId] }] }),
  );
  const acl = must(out.NetworkAcls?.[0], 'acl');
  const association = must(
    acl.Associations?.find((a) => a.SubnetId === subnetId)?.NetworkAclAssociationId,
    'association',
  );
  return { aclId: must(acl.NetworkAclId, 'NetworkAclId'), association };
}

/** A custom ACL (deny all) for the subnet, allowing all traffic in one direction only. */
async function customAcl(ec2: EC2Client, vpcId: string, subnetId: string, allowAll: 'ingress' | 'egress') {
  const aclId = must(
    (await ec2.send(new CreateNetworkAclCommand({ VpcId: vpcId }))).NetworkAcl?.NetworkAclId,
    'acl',
  );
  await ec2.send(
    new CreateNetworkAclEntryCommand({
      NetworkAclId: aclId,
      RuleNumber: 200,
      Protocol: '-1',
      RuleAction: 'allow',
      Egress: allowAll === 'egress',
      CidrBlock: '0.0.0.0/0',
    }),
  );
  const { association } = await aclOf(ec2, subnetId);
  await ec2.send(
    new ReplaceNetworkAclAssociationCommand({ AssociationId: association, NetworkAclId: aclId }),
  );
  return aclId;
}

const udpEntry = (
  aclId: string,
  ruleNumber: number,
  egress: boolean,
  cidr: string,
  action: 'allow' | 'deny',
) =>
  new CreateNetworkAclEntryCommand({
    NetworkAclId: aclId,
    RuleNumber: ruleNumber,
    Protocol: '17',
    RuleAction: action,
    Egress: egress,
    CidrBlock: cidr,
    PortRange: { From: 4789, To: 4789 },
  });

describe('mirrorops doctor: an ENI target in the source’s VPC', () => {
  test('all checks pass on a sound setup: exit 0, one line a check, the resource each looked at', async () => {
    const s = await scene();
    const d = await s.run('--instance', s.source.instanceId);
    expect(d.err).toEqual([]);
    expect(d.code).toBe(0);
    expect(d.checks.map((c) => [c.check, c.status])).toEqual([
      ['target', 'ok'],
      ['target-capacity', 'ok'],
      ['target-security-group', 'ok'],
      ['target-nacl-inbound', 'ok'],
      ['source-nacl-outbound', 'ok'],
      ['source-type', 'ok'],
      ['source-slots', 'ok'],
      ['path', 'ok'],
      ['session-quota', 'ok'],
      ['filter-quota', 'ok'],
    ]);
    expect(lines(d, 'target')[0]).toMatchObject({
      resource: s.targetId,
      detail: `ENI target ${s.appliance.eniId} (instance ${s.appliance.instanceId}, c5.large), owned by this account`,
    });
    expect(lines(d, 'target-capacity')[0]?.detail).toBe('0 of 10 sources in use; room for 1 new source');
    expect(lines(d, 'target-security-group')[0]?.resource).toBe(s.groupId);
    expect(lines(d, 'path')[0]).toMatchObject({ resource: s.source.eniId, detail: `both in ${s.vpcId}` });
  });

  test('table output: a header, a line a check, the count', async () => {
    const s = await scene();
    const { code, out } = await doctorLines(env.url, s.account, ['--target', s.targetId]);
    expect(code).toBe(0);
    const text = out.join('\n').split('\n');
    expect(text[0]).toMatch(/^STATUS\s+CHECK\s+RESOURCE\s+RESULT$/);
    expect(text[1]).toMatch(new RegExp(`^ok\\s+target\\s+${s.targetId}\\s+ENI target`));
    expect(text.find((l) => l.startsWith('warn'))).toMatch(/sources\s+-\s+no source given/);
    expect(text.at(-1)).toBe('0 failed, 1 warning, 4 ok');
  });

  test('target: an id that names nothing fails, naming RAM for another account’s target', async () => {
    const s = await scene();
    const d = await doctor(env.url, s.account, [
      '--target',
      'tmt-0123456789abcdef0',
      '--eni',
      s.source.eniId,
    ]);
    expect(d.code).toBe(1);
    expect(lines(d, 'target')[0]).toMatchObject({ status: 'fail', resource: 'tmt-0123456789abcdef0' });
    expect(lines(d, 'target')[0]?.fix).toContain('AWS RAM');
  });

  test('target: an appliance that is gone fails; a target on a live one passes', async () => {
    const s = await scene();
    await s.ec2.send(new TerminateInstancesCommand({ InstanceIds: [s.appliance.instanceId] }));
    const gone = await s.run('--eni', s.source.eniId);
    expect(gone.code).toBe(1);
    expect(lines(gone, 'target')[0]).toMatchObject({ status: 'fail', resource: s.targetId });
    expect(lines(gone, 'target')[0]?.detail).toContain(`its ENI ${s.appliance.eniId} no longer exists`);

    const appliance = await instanceIn(s.ec2, s.applianceSubnet, 'c5.large', [s.groupId]);
    const targetId = must(
      (await s.ec2.send(new CreateTrafficMirrorTargetCommand({ NetworkInterfaceId: appliance.eniId })))
        .TrafficMirrorTarget?.TrafficMirrorTargetId,
      'target',
    );
    const fixed = await doctor(env.url, s.account, ['--target', targetId, '--eni', s.source.eniId]);
    expect(fixed.code).toBe(0);
    expect(statuses(fixed, 'target')).toEqual(['ok']);
  });

  test('--output text: tab-separated, one line a check; no target: said, and a source alone is checked', async () => {
    const s = await scene();
    const { code, out } = await doctorLines(env.url, s.account, [
      '--instance',
      s.source.instanceId,
      '--output',
      'text',
    ]);
    expect(code).toBe(0);
    expect(out.map((l) => l.split('\t').slice(0, 3))).toEqual([
      ['WARN', 'target', '-'],
      ['OK', 'source-type', s.source.instanceId],
      ['OK', 'source-slots', s.source.eniId],
      ['OK', 'session-quota', `${s.account} us-east-1`],
      ['OK', 'filter-quota', `${s.account} us-east-1`],
    ]);
    expect(out[0]?.split('\t')).toHaveLength(5);
  });

  test('no --target: the target mirrorops start would use (MIRROROPS_TARGET_ID, then its per-VPC map)', async () => {
    const s = await scene();
    const configured = await doctor(env.url, s.account, ['--instance', s.source.instanceId], {
      MIRROROPS_TARGET_ID: s.targetId,
    });
    expect(configured.code).toBe(0);
    expect(lines(configured, 'target')[0]).toMatchObject({ status: 'ok', resource: s.targetId });
    expect(lines(configured, 'target')[0]?.detail).toContain(
      '(configured: MIRROROPS_TARGET_ID or its per-VPC map)',
    );
    const byVpc = await doctor(env.url, s.account, ['--instance', s.source.instanceId], {
      MIRROROPS_TARGET_ID: 'tmt-0123456789abcdef0',
      MIRROROPS_TARGETS_BY_VPC: JSON.stringify({ [s.vpcId]: s.targetId }),
    });
    expect(lines(byVpc, 'target')[0]).toMatchObject({ status: 'ok', resource: s.targetId });
    const elsewhere = await doctor(env.url, s.account, ['--instance', s.source.instanceId], {
      MIRROROPS_TARGET_ID: 'tmt-0123456789abcdef0',
    });
    expect(elsewhere.code).toBe(1);
    expect(lines(elsewhere, 'target')[0]).toMatchObject({
      status: 'fail',
      resource: 'tmt-0123456789abcdef0',
    });
  });

  test('--region: another Region does not see this one’s target', async () => {
    const s = await scene();
    const d = await s.run('--region', 'eu-west-1');
    expect(d.code).toBe(1);
    expect(lines(d, 'target')[0]?.detail).toBe(`${s.targetId} not found in account ${s.account}, eu-west-1`);
  });

  test('target-security-group: fails without a UDP 4789 rule for the source, passes once one is added', async () => {
    const s = await scene();
    await s.ec2.send(
      new RevokeSecurityGroupIngressCommand({
        GroupId: s.groupId,
        IpPermissions: [
          { IpProtocol: 'udp', FromPort: 4789, ToPort: 4789, IpRanges: [{ CidrIp: '10.0.0.0/16' }] },
        ],
      }),
    );
    // A rule for another port or another source does not count.
    await s.ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: s.groupId,
        IpPermissions: [
          { IpProtocol: 'udp', FromPort: 4790, ToPort: 4800, IpRanges: [{ CidrIp: '10.0.0.0/16' }] },
          { IpProtocol: 'udp', FromPort: 4789, ToPort: 4789, IpRanges: [{ CidrIp: '10.0.1.0/24' }] },
        ],
      }),
    );
    const broken = await s.run('--eni', s.source.eniId);
    expect(broken.code).toBe(1);
    expect(broken.checks.filter((c) => c.status === 'fail').map((c) => c.check)).toEqual([
      'target-security-group',
    ]);
    const line = lines(broken, 'target-security-group')[0];
    expect(line?.detail).toBe(`UDP 4789 not allowed in from ${s.source.address} (${s.source.eniId})`);
    expect(line?.fix).toContain(`--group-id ${s.groupId}`);
    expect(line?.fix).toContain(`CidrIp=${s.source.address}/32`);

    await s.ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: s.groupId,
        IpPermissions: [
          {
            IpProtocol: 'udp',
            FromPort: 4789,
            ToPort: 4789,
            IpRanges: [{ CidrIp: `${s.source.address}/32` }],
          },
        ],
      }),
    );
    const fixed = await s.run('--eni', s.source.eniId);
    expect(fixed.code).toBe(0);
    expect(statuses(fixed, 'target-security-group')).toEqual(['ok']);
  });

  test('target-nacl-inbound: the first matching rule decides, the * rule denies; passes once an allow comes first', async () => {
    const s = await scene();
    const aclId = await customAcl(s.ec2, s.vpcId, s.applianceSubnet, 'egress');
    const denied = await s.run('--instance', s.source.instanceId);
    expect(denied.code).toBe(1);
    expect(denied.checks.filter((c) => c.status === 'fail').map((c) => c.check)).toEqual([
      'target-nacl-inbound',
    ]);
    expect(lines(denied, 'target-nacl-inbound')[0]).toMatchObject({
      resource: aclId,
      detail: `inbound UDP 4789 denied from ${s.source.address} (rule *)`,
    });

    // A deny numbered before the allow still wins: rules are read by ascending number.
    await s.ec2.send(udpEntry(aclId, 90, false, `${s.source.address}/32`, 'deny'));
    await s.ec2.send(udpEntry(aclId, 100, false, '10.0.0.0/24', 'allow'));
    const shadowed = await s.run('--instance', s.source.instanceId);
    expect(lines(shadowed, 'target-nacl-inbound')[0]?.detail).toBe(
      `inbound UDP 4789 denied from ${s.source.address} (rule 90)`,
    );

    await s.ec2.send(
      new DeleteNetworkAclEntryCommand({ NetworkAclId: aclId, RuleNumber: 90, Egress: false }),
    );
    const fixed = await s.run('--instance', s.source.instanceId);
    expect(fixed.code).toBe(0);
    expect(statuses(fixed, 'target-nacl-inbound')).toEqual(['ok']);
  });

  test('source-nacl-outbound: the source subnet must let UDP 4789 out to the target; passes once it does', async () => {
    const s = await scene();
    const aclId = await customAcl(s.ec2, s.vpcId, s.sourceSubnet, 'ingress');
    const denied = await s.run('--instance', s.source.instanceId);
    expect(denied.code).toBe(1);
    expect(denied.checks.filter((c) => c.status === 'fail').map((c) => c.check)).toEqual([
      'source-nacl-outbound',
    ]);
    expect(lines(denied, 'source-nacl-outbound')[0]).toMatchObject({
      resource: aclId,
      detail: `outbound UDP 4789 to ${s.appliance.address} denied by rule * (subnet ${s.sourceSubnet})`,
    });
    expect(lines(denied, 'source-nacl-outbound')[0]?.fix).toContain(`--egress`);

    await s.ec2.send(udpEntry(aclId, 100, true, `${s.appliance.address}/32`, 'allow'));
    const fixed = await s.run('--instance', s.source.instanceId);
    expect(fixed.code).toBe(0);
    expect(lines(fixed, 'source-nacl-outbound')[0]?.detail).toContain('allowed (rule 100');
  });

  test('source-type: an instance type Traffic Mirroring does not take fails; a supported one passes', async () => {
    const s = await scene('t2.micro');
    const d = await s.run('--instance', s.source.instanceId);
    expect(d.code).toBe(1);
    expect(lines(d, 'source-type')[0]).toMatchObject({ status: 'fail', resource: s.source.instanceId });
    expect(lines(d, 'source-type')[0]?.detail).toContain('t2.micro');

    const other = await instanceIn(s.ec2, s.sourceSubnet, 'm5.xlarge');
    const fixed = await s.run('--instance', other.instanceId);
    expect(fixed.code).toBe(0);
    expect(lines(fixed, 'source-type')[0]?.detail).toBe('m5.xlarge can be a mirror source');
  });

  test('source-slots: three sessions mirrorops did not create fail (it never touches them); one deleted, it passes', async () => {
    const s = await scene();
    const ids = [];
    for (const n of [1, 2, 3]) ids.push(await session(s.ec2, s.source.eniId, s.targetId, n));
    const full = await s.run('--eni', s.source.eniId);
    expect(full.code).toBe(1);
    const line = lines(full, 'source-slots')[0];
    expect(line).toMatchObject({ status: 'fail', resource: s.source.eniId });
    expect(line?.detail).toBe(
      `0 of 3 slots free; held by ${ids[0]} #1 not mirrorops, ${ids[1]} #2 not mirrorops, ${ids[2]} #3 not mirrorops`,
    );

    await s.ec2.send(new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: ids[0] }));
    await session(s.ec2, s.source.eniId, s.targetId, 12, { [TAG.managed]: 'true', [TAG.reason]: 'manual' });
    const mine = await s.run('--eni', s.source.eniId);
    expect(mine.code).toBe(0);
    expect(lines(mine, 'source-slots')[0]).toMatchObject({ status: 'warn' });
    expect(lines(mine, 'source-slots')[0]?.detail).toContain('#12 mirrorops manual');

    await s.ec2.send(new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: ids[1] }));
    const free = await s.run('--eni', s.source.eniId);
    expect(lines(free, 'source-slots')[0]?.status).toBe('ok');
    expect(lines(free, 'source-slots')[0]?.detail).toMatch(/^1 of 3 slots free/);
  });

  test('target-capacity: an ENI target on a small instance takes 10 sources; the 11th fails, and fits once one stops', async () => {
    const s = await scene();
    const out = await s.ec2.send(
      new RunInstancesCommand({
        MinCount: 10,
        MaxCount: 10,
        ImageId: 'ami-12345678',
        InstanceType: 'm5.large',
        SubnetId: s.sourceSubnet,
      }),
    );
    const others = (out.Instances ?? []).map((i) =>
      must(i.NetworkInterfaces?.[0]?.NetworkInterfaceId, 'eni'),
    );
    const sessions = [];
    for (const eni of others) sessions.push(await session(s.ec2, eni, s.targetId, 1));
    const full = await s.run('--eni', s.source.eniId);
    expect(full.code).toBe(1);
    expect(lines(full, 'target-capacity')[0]).toMatchObject({
      status: 'fail',
      resource: s.targetId,
      detail: '10 of 10 sources in use; 1 more source would not fit',
    });
    // A source already on the target needs no more room.
    expect(statuses(await s.run('--eni', others[0] as string), 'target-capacity')).toEqual(['warn']);

    await s.ec2.send(new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: sessions[0] }));
    const fixed = await s.run('--eni', s.source.eniId);
    expect(fixed.code).toBe(0);
    expect(lines(fixed, 'target-capacity')[0]).toMatchObject({
      status: 'warn',
      detail: '9 of 10 sources in use; room for 1 new source',
    });
  });

  test('target-capacity: an ENI target on one of the largest sizes takes 100', async () => {
    const s = await scene('m5.large', 'c5n.18xlarge');
    const d = await s.run('--eni', s.source.eniId);
    expect(lines(d, 'target-capacity')[0]?.detail).toBe('0 of 100 sources in use; room for 1 new source');
  });

  test('bad command lines are usage errors that call nothing', async () => {
    const s = await scene();
    const both = await doctor(env.url, s.account, [
      '--instance',
      s.source.instanceId,
      '--eni',
      s.source.eniId,
    ]);
    expect(both.code).toBe(2);
    expect(both.err).toEqual([
      "mirrorops doctor: give --instance or --eni, not both (see 'mirrorops doctor --help')",
    ]);
    const bad = await doctor(env.url, s.account, ['--target', 'sg-12345678']);
    expect(bad.code).toBe(2);
    expect(bad.err[0]).toContain("--target 'sg-12345678' is not a tmt-... id");
    const missing = await doctor(env.url, s.account, [
      '--target',
      s.targetId,
      '--instance',
      'i-0123456789abcdef0',
    ]);
    expect(missing.code).toBe(1);
    expect(lines(missing, 'source')[0]).toMatchObject({
      status: 'fail',
      detail: `instance i-0123456789abcdef0 not found in account ${s.account}, us-east-1`,
    });
  });
});
