import { runSimulation } from '@cloud-copilot/iam-simulate';
import { describe, expect, test } from 'vitest';
import { ec2Requests } from '../../emulator/identity/requests.ts';
import { parseForm } from '../../emulator/query.ts';
import { World } from '../../emulator/state.ts';

const ACCOUNT = '111111111111';
const REGION = 'us-east-1';
const arn = (type: string, id: string) => `arn:aws:ec2:${REGION}:${ACCOUNT}:${type}/${id}`;

describe("iam-simulate's context keys (why the emulator decides where aws:RequestTag goes)", () => {
  test('it drops keys the filter context does not offer, but keeps aws:RequestTag and aws:TagKeys, which iam-data lists as global', async () => {
    const result = await runSimulation(
      {
        request: {
          principal: `arn:aws:sts::${ACCOUNT}:assumed-role/r/s`,
          action: 'ec2:CreateTrafficMirrorSession',
          resource: { resource: arn('traffic-mirror-filter', 'tmf-1'), accountId: ACCOUNT },
          contextVariables: {
            'aws:RequestTag/mirrorops:managed': 'true',
            'aws:TagKeys': ['mirrorops:managed'],
            'ec2:CreateAction': 'CreateTrafficMirrorSession',
            'ec2:Vpc': arn('vpc', 'vpc-1'),
          },
        },
        identityPolicies: [],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
      },
      {},
    );

    expect(result.resultType).toBe('single');
    expect(result.resultType === 'single' && result.result.ignoredContextKeys).toEqual([
      'ec2:CreateAction',
      'ec2:Vpc',
    ]);
  });
});

describe('ec2Requests: the contexts the emulator evaluates for one request', () => {
  /** A world with an ENI, a filter (tagged) and a target in ACCOUNT. */
  function world() {
    const w = new World();
    const state = w.state(ACCOUNT, REGION);
    const eni = {
      ...state.base('eni'),
      subnetId: 'subnet-1',
      vpcId: 'vpc-1',
      availabilityZone: 'us-east-1a',
    };
    state.networkInterfaces.set(eni.id, {
      ...eni,
      description: '',
      privateIpAddress: '10.0.0.5',
      securityGroupIds: [],
      interfaceType: 'interface',
    });
    const filter = { ...state.base('tmf'), networkServices: new Set<string>(), rules: [] };
    filter.tags.set('team', 'secops');
    state.filters.set(filter.id, filter);
    const target = { ...state.base('tmt'), ownerId: ACCOUNT, networkInterfaceId: eni.id };
    state.targets.set(target.id, target);
    return { w, eniId: eni.id, filterId: filter.id, targetId: target.id };
  }

  test('CreateTrafficMirrorSession: four resources, request tags on the new session only, and ec2:CreateTags for them', async () => {
    const { w, eniId, filterId, targetId } = world();
    const p = parseForm(
      new URLSearchParams({
        Action: 'CreateTrafficMirrorSession',
        NetworkInterfaceId: eniId,
        TrafficMirrorFilterId: filterId,
        TrafficMirrorTargetId: targetId,
        SessionNumber: '1',
        'TagSpecification.1.ResourceType': 'traffic-mirror-session',
        'TagSpecification.1.Tag.1.Key': 'mirrorops:managed',
        'TagSpecification.1.Tag.1.Value': 'true',
      }).toString(),
    );

    const requests = await ec2Requests(w, ACCOUNT, REGION, 'CreateTrafficMirrorSession', p);

    expect(requests?.map((r) => [r.action, r.resource])).toEqual([
      ['ec2:CreateTrafficMirrorSession', arn('network-interface', eniId)],
      ['ec2:CreateTrafficMirrorSession', arn('traffic-mirror-filter', filterId)],
      ['ec2:CreateTrafficMirrorSession', arn('traffic-mirror-target', targetId)],
      ['ec2:CreateTrafficMirrorSession', arn('traffic-mirror-session', '*')],
      ['ec2:CreateTags', arn('traffic-mirror-session', '*')],
    ]);
    const withRequestTags = requests?.filter((r) => 'aws:RequestTag/mirrorops:managed' in r.context);
    expect(withRequestTags?.map((r) => r.resource)).toEqual([
      arn('traffic-mirror-session', '*'),
      arn('traffic-mirror-session', '*'),
    ]);
    expect(requests?.[1]?.context).toMatchObject({
      'aws:ResourceTag/team': 'secops',
      'ec2:ResourceTag/team': 'secops',
      'ec2:Region': REGION,
    });
    expect(requests?.[0]?.context).toMatchObject({
      'ec2:Vpc': arn('vpc', 'vpc-1'),
      'ec2:Subnet': arn('subnet', 'subnet-1'),
    });
    expect(requests?.[4]?.context).toMatchObject({
      'ec2:CreateAction': 'CreateTrafficMirrorSession',
      'aws:TagKeys': ['mirrorops:managed'],
    });
  });

  test('a resource the request names that does not exist leaves the answer to the action (undefined)', async () => {
    const { w, eniId, targetId } = world();
    const p = parseForm(
      `NetworkInterfaceId=${eniId}&TrafficMirrorFilterId=tmf-00000000000000000&TrafficMirrorTargetId=${targetId}`,
    );

    expect(await ec2Requests(w, ACCOUNT, REGION, 'CreateTrafficMirrorSession', p)).toBeUndefined();
  });

  test('Describe calls are wildcard-only: one context on *', async () => {
    const { w } = world();

    const requests = await ec2Requests(w, ACCOUNT, REGION, 'DescribeTrafficMirrorSessions', parseForm(''));

    expect(requests?.map((r) => r.resource)).toEqual(['*']);
  });
});
