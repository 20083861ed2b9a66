import {
  AcceptVpcPeeringConnectionCommand,
  AssociateRouteTableCommand,
  AuthorizeSecurityGroupEgressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateNetworkAclCommand,
  CreateNetworkAclEntryCommand,
  CreateRouteCommand,
  CreateRouteTableCommand,
  CreateTransitGatewayCommand,
  CreateTransitGatewayVpcAttachmentCommand,
  CreateVpcPeeringConnectionCommand,
  DeleteNetworkAclEntryCommand,
  DescribeNetworkAclsCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupRulesCommand,
  DescribeSecurityGroupsCommand,
  DescribeTransitGatewayVpcAttachmentsCommand,
  DescribeVpcPeeringConnectionsCommand,
  ReplaceNetworkAclAssociationCommand,
  RevokeSecurityGroupIngressCommand,
} from '@aws-sdk/client-ec2';
import { describe, expect, test } from 'vitest';
import { useEmulator } from '../support/emulator.ts';
import { freshClient, rejectsWith } from '../support/mirroring.ts';
import { createNetwork, must } from '../support/topology.ts';

const env = useEmulator();

const udp4789 = (cidr: string) => ({
  IpProtocol: 'udp',
  FromPort: 4789,
  ToPort: 4789,
  IpRanges: [{ CidrIp: cidr }],
});

describe('security group rules', () => {
  test('ingress and egress rules have ids that DescribeSecurityGroupRules and Revoke use', async () => {
    const { ec2 } = freshClient(env.url);
    const net = await createNetwork(ec2);
    const added = await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: net.securityGroupId,
        IpPermissions: [udp4789('10.0.0.0/24'), udp4789('10.0.1.0/24')],
      }),
    );
    const ids = (added.SecurityGroupRules ?? []).map((r) => must(r.SecurityGroupRuleId, 'rule id'));
    expect(ids).toHaveLength(2);
    await ec2.send(
      new AuthorizeSecurityGroupEgressCommand({
        GroupId: net.securityGroupId,
        IpPermissions: [
          { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
        ],
      }),
    );
    const rules = await ec2.send(
      new DescribeSecurityGroupRulesCommand({
        Filters: [{ Name: 'group-id', Values: [net.securityGroupId] }],
      }),
    );
    const summary = (rules.SecurityGroupRules ?? []).map((r) => [
      r.IsEgress,
      r.IpProtocol,
      r.FromPort,
      r.ToPort,
      r.CidrIpv4,
    ]);
    expect(summary).toEqual([
      [false, 'udp', 4789, 4789, '10.0.0.0/24'],
      [false, 'udp', 4789, 4789, '10.0.1.0/24'],
      [true, '-1', -1, -1, '0.0.0.0/0'],
      [true, 'tcp', 443, 443, '0.0.0.0/0'],
    ]);
    expect(rules.SecurityGroupRules?.slice(0, 2).map((r) => r.SecurityGroupRuleId)).toEqual(ids);

    await ec2.send(
      new RevokeSecurityGroupIngressCommand({
        GroupId: net.securityGroupId,
        SecurityGroupRuleIds: [ids[0] as string],
      }),
    );
    await ec2.send(
      new RevokeSecurityGroupIngressCommand({
        GroupId: net.securityGroupId,
        IpPermissions: [udp4789('10.0.1.0/24')],
      }),
    );
    const group = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [net.securityGroupId] }));
    expect(group.SecurityGroups?.[0]?.IpPermissions).toEqual([]);
    expect(group.SecurityGroups?.[0]?.IpPermissionsEgress).toHaveLength(2);
  });

  test('revoking a rule that is not there changes nothing and names the error', async () => {
    const { ec2 } = freshClient(env.url);
    const net = await createNetwork(ec2);
    await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: net.securityGroupId,
        IpPermissions: [udp4789('10.0.0.0/24')],
      }),
    );
    await rejectsWith(
      ec2.send(
        new RevokeSecurityGroupIngressCommand({
          GroupId: net.securityGroupId,
          IpPermissions: [udp4789('10.0.0.0/24'), udp4789('10.9.0.0/24')],
        }),
      ),
      'InvalidPermission.NotFound',
    );
    await rejectsWith(
      ec2.send(
        new RevokeSecurityGroupIngressCommand({
          GroupId: net.securityGroupId,
          SecurityGroupRuleIds: ['sgr-0123456789abcdef0'],
        }),
      ),
      'InvalidSecurityGroupRuleId.NotFound',
    );
    const group = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [net.securityGroupId] }));
    expect(group.SecurityGroups?.[0]?.IpPermissions?.[0]?.IpRanges).toEqual([{ CidrIp: '10.0.0.0/24' }]);
    await rejectsWith(
      ec2.send(
        new AuthorizeSecurityGroupEgressCommand({
          GroupId: net.securityGroupId,
          IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
        }),
      ),
      'InvalidPermission.Duplicate',
    );
  });
});

describe('network ACLs', () => {
  test('each VPC has a default ACL allowing everything, associated with each subnet', async () => {
    const { ec2 } = freshClient(env.url);
    const net = await createNetwork(ec2);
    const acls = await ec2.send(
      new DescribeNetworkAclsCommand({
        Filters: [{ Name: 'association.subnet-id', Values: [net.subnetId] }],
      }),
    );
    const acl = must(acls.NetworkAcls?.[0], 'the default ACL');
    expect(acls.NetworkAcls).toHaveLength(1);
    expect(acl.IsDefault).toBe(true);
    expect(acl.VpcId).toBe(net.vpcId);
    expect(acl.Entries?.map((e) => [e.Egress, e.RuleNumber, e.Protocol, e.RuleAction, e.CidrBlock])).toEqual([
      [false, 100, '-1', 'allow', '0.0.0.0/0'],
      [false, 32767, '-1', 'deny', '0.0.0.0/0'],
      [true, 100, '-1', 'allow', '0.0.0.0/0'],
      [true, 32767, '-1', 'deny', '0.0.0.0/0'],
    ]);
    expect(acl.Associations?.map((a) => a.SubnetId)).toEqual([net.subnetId]);
  });

  test('a custom ACL denies all until entries are added; replacing the association moves the subnet', async () => {
    const { ec2 } = freshClient(env.url);
    const net = await createNetwork(ec2);
    const created = await ec2.send(new CreateNetworkAclCommand({ VpcId: net.vpcId }));
    const aclId = must(created.NetworkAcl?.NetworkAclId, 'NetworkAclId');
    expect(created.NetworkAcl?.IsDefault).toBe(false);
    expect(created.NetworkAcl?.Entries?.map((e) => [e.RuleNumber, e.RuleAction])).toEqual([
      [32767, 'deny'],
      [32767, 'deny'],
    ]);
    await ec2.send(
      new CreateNetworkAclEntryCommand({
        NetworkAclId: aclId,
        RuleNumber: 100,
        Protocol: '17',
        RuleAction: 'allow',
        Egress: false,
        CidrBlock: '10.0.0.0/16',
        PortRange: { From: 4789, To: 4789 },
      }),
    );
    await rejectsWith(
      ec2.send(
        new CreateNetworkAclEntryCommand({
          NetworkAclId: aclId,
          RuleNumber: 100,
          Protocol: '-1',
          RuleAction: 'deny',
          Egress: false,
          CidrBlock: '0.0.0.0/0',
        }),
      ),
      'NetworkAclEntryAlreadyExists',
    );
    await rejectsWith(
      ec2.send(
        new CreateNetworkAclEntryCommand({
          NetworkAclId: aclId,
          RuleNumber: 110,
          Protocol: '17',
          RuleAction: 'allow',
          Egress: false,
          CidrBlock: '10.0.0.0/16',
        }),
      ),
      'MissingParameter',
    );
    const before = await ec2.send(
      new DescribeNetworkAclsCommand({
        Filters: [{ Name: 'association.subnet-id', Values: [net.subnetId] }],
      }),
    );
    const association = must(
      before.NetworkAcls?.[0]?.Associations?.[0]?.NetworkAclAssociationId,
      'association',
    );
    const replaced = await ec2.send(
      new ReplaceNetworkAclAssociationCommand({ AssociationId: association, NetworkAclId: aclId }),
    );
    expect(replaced.NewAssociationId).toMatch(/^aclassoc-/);
    const after = await ec2.send(
      new DescribeNetworkAclsCommand({
        Filters: [{ Name: 'association.subnet-id', Values: [net.subnetId] }],
      }),
    );
    expect(after.NetworkAcls?.map((a) => a.NetworkAclId)).toEqual([aclId]);
    expect(after.NetworkAcls?.[0]?.Entries?.find((e) => e.RuleNumber === 100)).toMatchObject({
      Protocol: '17',
      PortRange: { From: 4789, To: 4789 },
    });
    await ec2.send(new DeleteNetworkAclEntryCommand({ NetworkAclId: aclId, RuleNumber: 100, Egress: false }));
    await rejectsWith(
      ec2.send(new DeleteNetworkAclEntryCommand({ NetworkAclId: aclId, RuleNumber: 100, Egress: false })),
      'InvalidNetworkAclEntry.NotFound',
    );
  });
});

describe('route tables, peering and transit gateways', () => {
  test('the main route table has the local route; a subnet associated elsewhere uses that table', async () => {
    const { ec2 } = freshClient(env.url);
    const net = await createNetwork(ec2);
    const main = await ec2.send(
      new DescribeRouteTablesCommand({
        Filters: [
          { Name: 'vpc-id', Values: [net.vpcId] },
          { Name: 'association.main', Values: ['true'] },
        ],
      }),
    );
    expect(main.RouteTables?.[0]?.Routes).toEqual([
      {
        DestinationCidrBlock: '10.0.0.0/16',
        GatewayId: 'local',
        State: 'active',
        Origin: 'CreateRouteTable',
      },
    ]);
    expect(main.RouteTables?.[0]?.Associations?.[0]?.Main).toBe(true);
    const table = await ec2.send(new CreateRouteTableCommand({ VpcId: net.vpcId }));
    const tableId = must(table.RouteTable?.RouteTableId, 'RouteTableId');
    const assoc = await ec2.send(
      new AssociateRouteTableCommand({ RouteTableId: tableId, SubnetId: net.subnetId }),
    );
    expect(assoc.AssociationState?.State).toBe('associated');
    await rejectsWith(
      ec2.send(new AssociateRouteTableCommand({ RouteTableId: tableId, SubnetId: net.subnetId })),
      'Resource.AlreadyAssociated',
    );
    const bySubnet = await ec2.send(
      new DescribeRouteTablesCommand({
        Filters: [{ Name: 'association.subnet-id', Values: [net.subnetId] }],
      }),
    );
    expect(bySubnet.RouteTables?.map((t) => t.RouteTableId)).toEqual([tableId]);
  });

  test('a peering connection is pending until the other account accepts; its routes are blackholes until then', async () => {
    const a = freshClient(env.url);
    const b = freshClient(env.url);
    const netA = await createNetwork(a.ec2, { cidr: '10.1.0.0/16' });
    const netB = await createNetwork(b.ec2, { cidr: '10.2.0.0/16' });
    const created = await a.ec2.send(
      new CreateVpcPeeringConnectionCommand({
        VpcId: netA.vpcId,
        PeerVpcId: netB.vpcId,
        PeerOwnerId: b.account,
      }),
    );
    const pcx = must(created.VpcPeeringConnection?.VpcPeeringConnectionId, 'pcx id');
    expect(created.VpcPeeringConnection?.Status?.Code).toBe('pending-acceptance');
    const main = await a.ec2.send(
      new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [netA.vpcId] }] }),
    );
    const rtb = must(main.RouteTables?.[0]?.RouteTableId, 'main route table');
    await a.ec2.send(
      new CreateRouteCommand({
        RouteTableId: rtb,
        DestinationCidrBlock: '10.2.0.0/16',
        VpcPeeringConnectionId: pcx,
      }),
    );
    const pending = await a.ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [rtb] }));
    expect(pending.RouteTables?.[0]?.Routes?.[1]).toMatchObject({
      VpcPeeringConnectionId: pcx,
      State: 'blackhole',
    });
    await rejectsWith(
      a.ec2.send(new AcceptVpcPeeringConnectionCommand({ VpcPeeringConnectionId: pcx })),
      'OperationNotPermitted',
    );
    const accepted = await b.ec2.send(new AcceptVpcPeeringConnectionCommand({ VpcPeeringConnectionId: pcx }));
    expect(accepted.VpcPeeringConnection?.Status?.Code).toBe('active');
    expect(accepted.VpcPeeringConnection?.RequesterVpcInfo).toMatchObject({
      OwnerId: a.account,
      CidrBlock: '10.1.0.0/16',
    });
    const active = await a.ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [rtb] }));
    expect(active.RouteTables?.[0]?.Routes?.[1]?.State).toBe('active');
    const seenByB = await b.ec2.send(
      new DescribeVpcPeeringConnectionsCommand({ Filters: [{ Name: 'status-code', Values: ['active'] }] }),
    );
    expect(seenByB.VpcPeeringConnections?.map((p) => p.VpcPeeringConnectionId)).toEqual([pcx]);
    const stranger = freshClient(env.url);
    await rejectsWith(
      stranger.ec2.send(new DescribeVpcPeeringConnectionsCommand({ VpcPeeringConnectionIds: [pcx] })),
      'InvalidVpcPeeringConnectionID.NotFound',
    );
  });

  test('overlapping VPCs cannot be peered: the request fails', async () => {
    const { ec2 } = freshClient(env.url);
    const one = await createNetwork(ec2, { cidr: '10.0.0.0/16' });
    const two = await createNetwork(ec2, { cidr: '10.0.0.0/20' });
    const created = await ec2.send(
      new CreateVpcPeeringConnectionCommand({ VpcId: one.vpcId, PeerVpcId: two.vpcId }),
    );
    expect(created.VpcPeeringConnection?.Status?.Code).toBe('failed');
  });

  test('a transit gateway route is active once the VPC is attached', async () => {
    const { ec2 } = freshClient(env.url);
    const net = await createNetwork(ec2);
    const tgw = must(
      (await ec2.send(new CreateTransitGatewayCommand({ Description: 'hub' }))).TransitGateway
        ?.TransitGatewayId,
      'tgw',
    );
    const main = await ec2.send(
      new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [net.vpcId] }] }),
    );
    const rtb = must(main.RouteTables?.[0]?.RouteTableId, 'main route table');
    await ec2.send(
      new CreateRouteCommand({
        RouteTableId: rtb,
        DestinationCidrBlock: '10.50.0.0/16',
        TransitGatewayId: tgw,
      }),
    );
    await rejectsWith(
      ec2.send(
        new CreateRouteCommand({
          RouteTableId: rtb,
          DestinationCidrBlock: '10.50.0.0/16',
          TransitGatewayId: tgw,
        }),
      ),
      'RouteAlreadyExists',
    );
    const before = await ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [rtb] }));
    expect(before.RouteTables?.[0]?.Routes?.[1]).toMatchObject({ TransitGatewayId: tgw, State: 'blackhole' });
    const attachment = await ec2.send(
      new CreateTransitGatewayVpcAttachmentCommand({
        TransitGatewayId: tgw,
        VpcId: net.vpcId,
        SubnetIds: [net.subnetId],
      }),
    );
    expect(attachment.TransitGatewayVpcAttachment).toMatchObject({
      State: 'available',
      SubnetIds: [net.subnetId],
    });
    const listed = await ec2.send(
      new DescribeTransitGatewayVpcAttachmentsCommand({ Filters: [{ Name: 'vpc-id', Values: [net.vpcId] }] }),
    );
    expect(listed.TransitGatewayVpcAttachments?.map((x) => x.TransitGatewayId)).toEqual([tgw]);
    const after = await ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [rtb] }));
    expect(after.RouteTables?.[0]?.Routes?.[1]?.State).toBe('active');
  });
});
