import {
  CreateNetworkInterfaceCommand,
  CreateTrafficMirrorFilterCommand,
  CreateTrafficMirrorSessionCommand,
} from '@aws-sdk/client-ec2';
import { CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { CreateResourceShareCommand } from '@aws-sdk/client-ram';
import { beforeAll, describe, expect, test } from 'vitest';
import { TAG } from '../../shared/domain/tags.ts';
import { associationStatuses, iamFor, ramFor, targetArnOf, trustPolicy } from '../support/accounts.ts';
import { runMain } from '../support/cli.ts';
import { ec2For, useEmulator } from '../support/emulator.ts';
import { allSessions, nlbTarget } from '../support/mirroring.ts';
import { createNetwork, must } from '../support/topology.ts';

/**
 * `mirrorops status --all-accounts` and `stop --all-accounts` from the hub, as an operator of the
 * hub (its root here) entering each member through a role it may assume there; one member has no
 * such role.
 */
const HUB = '190000000000';
const [M1, M2, NO_ROLE] = ['190000000001', '190000000002', '190000000003'];
const ROLE = 'operator-access';

const env = useEmulator({ organization: { managementAccount: HUB, members: [HUB, M1, M2, NO_ROLE] } });

let targetId: string;
const sessions: Record<string, { managed: string[]; theirs: string[] }> = {};

/** A managed session (or, `managed` false, one someone else made) in `account` on the hub's target. */
async function sessionIn(account: string, subnetId: string, managed: boolean): Promise<string> {
  const ec2 = ec2For(env.url, account);
  const eni = await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: subnetId }));
  const filter = await ec2.send(
    new CreateTrafficMirrorFilterCommand(
      managed
        ? {
            TagSpecifications: [
              { ResourceType: 'traffic-mirror-filter', Tags: [{ Key: TAG.managed, Value: 'true' }] },
            ],
          }
        : {},
    ),
  );
  const out = await ec2.send(
    new CreateTrafficMirrorSessionCommand({
      NetworkInterfaceId: eni.NetworkInterface?.NetworkInterfaceId,
      TrafficMirrorTargetId: targetId,
      TrafficMirrorFilterId: filter.TrafficMirrorFilter?.TrafficMirrorFilterId,
      SessionNumber: 10,
      ...(managed
        ? {
            TagSpecifications: [
              {
                ResourceType: 'traffic-mirror-session',
                Tags: [
                  { Key: TAG.managed, Value: 'true' },
                  { Key: TAG.reason, Value: 'manual' },
                ],
              },
            ],
          }
        : {}),
    }),
  );
  return must(out.TrafficMirrorSession?.TrafficMirrorSessionId, 'session id');
}

beforeAll(async () => {
  targetId = await nlbTarget(ec2For(env.url, HUB), HUB);
  const ram = ramFor(env.url, HUB);
  const share = await ram.send(
    new CreateResourceShareCommand({
      name: `mirrorops-${targetId}`,
      resourceArns: [targetArnOf(HUB, targetId)],
      principals: [M1, M2, NO_ROLE],
      allowExternalPrincipals: false,
      tags: [{ key: TAG.managed, value: 'true' }],
    }),
  );
  const shareArn = must(share.resourceShare?.resourceShareArn, 'share');
  for (let read = 0; read < 5; read++) {
    const all = [
      ...(await associationStatuses(ram, shareArn, 'PRINCIPAL')),
      ...(await associationStatuses(ram, shareArn, 'RESOURCE')),
    ];
    if (all.every((a) => a.status === 'ASSOCIATED')) break;
  }
  for (const account of [M1, M2]) {
    // A role the hub's operators may assume: reads, and deletes of mirroring resources.
    const iam = iamFor(env.url, account);
    await iam.send(
      new CreateRoleCommand({
        RoleName: ROLE,
        AssumeRolePolicyDocument: trustPolicy(`arn:aws:iam::${HUB}:root`),
      }),
    );
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: ROLE,
        PolicyName: 'mirroring',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: ['ec2:Describe*', 'ec2:DeleteTrafficMirrorSession', 'ec2:DeleteTrafficMirrorFilter'],
              Resource: '*',
            },
          ],
        }),
      }),
    );
  }
  for (const account of [M1, M2, NO_ROLE]) {
    const { subnetId } = await createNetwork(ec2For(env.url, account));
    sessions[account] = {
      managed: [await sessionIn(account, subnetId, true), await sessionIn(account, subnetId, true)],
      theirs: [await sessionIn(account, subnetId, false)],
    };
  }
});

const asHub = {
  AWS_ENDPOINT_URL: undefined,
  AWS_ACCESS_KEY_ID: HUB,
  AWS_SECRET_ACCESS_KEY: 'test',
  AWS_REGION: 'us-east-1',
};
const cli = (argv: string[]) => runMain([...argv, '--endpoint-url', env.url], asHub);
const ownSessions = async (account: string) =>
  (await allSessions(ec2For(env.url, account)))
    .filter((s) => s.OwnerId === account)
    .map((s) => must(s.TrafficMirrorSessionId, 'id'))
    .sort();

describe('mirrorops status and stop --all-accounts', () => {
  test('status lists every enrolled account it can enter; the one it cannot is named on stderr with why, exit 1', async () => {
    const ran = await cli(['status', '--all-accounts', '--role', ROLE, '--output', 'json']);

    expect(ran.code).toBe(1);
    const accounts = (
      JSON.parse(ran.stdout) as { accounts: { account: string; sessions: { sessionId: string }[] }[] }
    ).accounts;
    expect(accounts.map((a) => a.account).sort()).toEqual([HUB, M1, M2].sort());
    // The hub sees the members' sessions on its target, but lists only its own (none here): the
    // members' filters are theirs to read.
    expect(accounts.find((a) => a.account === HUB)?.sessions).toEqual([]);
    for (const member of [M1, M2]) {
      expect(
        accounts
          .find((a) => a.account === member)
          ?.sessions.map((s) => s.sessionId)
          .sort(),
      ).toEqual([...(sessions[member]?.managed ?? [])].sort());
    }
    expect(ran.err).toEqual([
      expect.stringMatching(new RegExp(`^account ${NO_ROLE}: no-access: AccessDenied`)),
    ]);
  });

  test('the default role (the spoke) says it trusts only the hub functions; a bad flag changes nothing', async () => {
    const ran = await cli(['status', '--all-accounts', '--accounts', M1]);
    expect(ran.code).toBe(1);
    expect(ran.err).toEqual([expect.stringContaining('pass --role with a role you may assume there')]);
    const bad = await cli(['status', '--all-accounts', '--accounts', `${M1},12345`]);
    expect({ code: bad.code, err: bad.err }).toEqual({
      code: 2,
      err: [expect.stringContaining("'12345' is not a 12-digit account id")],
    });
    expect((await cli(['status', '--role', ROLE])).code).toBe(2);
  });

  test('stop --all stops the managed sessions in every account it can enter and nothing else', async () => {
    const before = await ownSessions(NO_ROLE);

    const ran = await cli(['stop', '--all', '--all-accounts', '--role', ROLE]);

    expect(ran.code).toBe(1);
    expect(ran.err).toEqual([expect.stringMatching(new RegExp(`^account ${NO_ROLE}: no-access`))]);
    for (const member of [M1, M2]) expect(await ownSessions(member)).toEqual(sessions[member]?.theirs);
    expect(await ownSessions(NO_ROLE)).toEqual(before);
  });
});
