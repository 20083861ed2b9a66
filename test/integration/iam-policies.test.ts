import {
  AttachRolePolicyCommand,
  CreatePolicyCommand,
  CreateRoleCommand,
  DeletePolicyCommand,
  DeleteRoleCommand,
  DeleteRolePermissionsBoundaryCommand,
  DeleteRolePolicyCommand,
  DetachRolePolicyCommand,
  GetPolicyCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  type IAMClient,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
  PutRolePermissionsBoundaryCommand,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { describe, expect, test } from 'vitest';
import { iamFor, trustPolicy } from '../support/accounts.ts';
import { useEmulator } from '../support/emulator.ts';
import { rejectsWith } from '../support/mirroring.ts';
import { must } from '../support/topology.ts';

const env = useEmulator();

let lastAccount = 410_000_000_000;
const fresh = () => String(++lastAccount);

const allow = (action: string, resource = '*') =>
  JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: action, Resource: resource }],
  });

async function roleIn(iam: IAMClient, account: string, name = 'fn'): Promise<void> {
  await iam.send(new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: trustPolicy(account) }));
}

describe('IAM identity policies of roles', () => {
  test('inline policies: put, read back (URL-encoded), list, replace, delete', async () => {
    const account = fresh();
    const iam = iamFor(env.url, account);
    await roleIn(iam, account);
    await iam.send(
      new PutRolePolicyCommand({ RoleName: 'fn', PolicyName: 'b', PolicyDocument: allow('ec2:Describe*') }),
    );
    await iam.send(
      new PutRolePolicyCommand({ RoleName: 'fn', PolicyName: 'a', PolicyDocument: allow('sqs:SendMessage') }),
    );
    const listed = await iam.send(new ListRolePoliciesCommand({ RoleName: 'fn' }));
    expect(listed.PolicyNames).toEqual(['a', 'b']);
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: 'fn',
        PolicyName: 'a',
        PolicyDocument: allow('events:PutEvents'),
      }),
    );
    const read = await iam.send(new GetRolePolicyCommand({ RoleName: 'fn', PolicyName: 'a' }));
    expect(JSON.parse(decodeURIComponent(must(read.PolicyDocument, 'PolicyDocument')))).toEqual(
      JSON.parse(allow('events:PutEvents')),
    );
    await iam.send(new DeleteRolePolicyCommand({ RoleName: 'fn', PolicyName: 'a' }));
    await rejectsWith(
      iam.send(new GetRolePolicyCommand({ RoleName: 'fn', PolicyName: 'a' })),
      'NoSuchEntityException',
    );
    expect((await iam.send(new ListRolePoliciesCommand({ RoleName: 'fn' }))).PolicyNames).toEqual(['b']);
  });

  test('a document IAM would refuse is MalformedPolicyDocument and changes nothing', async () => {
    const account = fresh();
    const iam = iamFor(env.url, account);
    await roleIn(iam, account);
    for (const bad of [
      '{not json',
      JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Maybe', Action: '*', Resource: '*' }] }),
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: 'ec2', Resource: '*' }],
      }),
    ]) {
      await rejectsWith(
        iam.send(new PutRolePolicyCommand({ RoleName: 'fn', PolicyName: 'p', PolicyDocument: bad })),
        'MalformedPolicyDocumentException',
      );
    }
    expect((await iam.send(new ListRolePoliciesCommand({ RoleName: 'fn' }))).PolicyNames).toEqual([]);
  });

  test('inline policies of one role are limited to 10,240 characters in all (whitespace not counted)', async () => {
    const account = fresh();
    const iam = iamFor(env.url, account);
    await roleIn(iam, account);
    const big = (n: number) =>
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: 'ec2:DescribeVpcs', Resource: `arn:aws:ec2:*:*:vpc/${'x'.repeat(n)}` },
        ],
      });
    await iam.send(
      new PutRolePolicyCommand({ RoleName: 'fn', PolicyName: 'one', PolicyDocument: big(6000) }),
    );
    await rejectsWith(
      iam.send(new PutRolePolicyCommand({ RoleName: 'fn', PolicyName: 'two', PolicyDocument: big(6000) })),
      'LimitExceededException',
    );
    // Replacing the one policy with one as large is fine: its old size does not count twice.
    await iam.send(
      new PutRolePolicyCommand({ RoleName: 'fn', PolicyName: 'one', PolicyDocument: big(6001) }),
    );
  });

  test('managed policies: attached, listed, counted, detached; the boundary is shown on the role', async () => {
    const account = fresh();
    const iam = iamFor(env.url, account);
    await roleIn(iam, account);
    const created = await iam.send(
      new CreatePolicyCommand({
        PolicyName: 'mirror',
        PolicyDocument: allow('ec2:*'),
        Description: 'mirroring',
      }),
    );
    const arn = must(created.Policy?.Arn, 'Policy.Arn');
    expect(arn).toBe(`arn:aws:iam::${account}:policy/mirror`);
    await rejectsWith(
      iam.send(new CreatePolicyCommand({ PolicyName: 'MIRROR', PolicyDocument: allow('ec2:*') })),
      'EntityAlreadyExistsException',
    );
    await iam.send(new AttachRolePolicyCommand({ RoleName: 'fn', PolicyArn: arn }));
    const attached = await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: 'fn' }));
    expect(attached.AttachedPolicies).toEqual([{ PolicyName: 'mirror', PolicyArn: arn }]);
    expect((await iam.send(new GetPolicyCommand({ PolicyArn: arn }))).Policy?.AttachmentCount).toBe(1);
    await rejectsWith(iam.send(new DeletePolicyCommand({ PolicyArn: arn })), 'DeleteConflictException');
    await rejectsWith(iam.send(new DeleteRoleCommand({ RoleName: 'fn' })), 'DeleteConflictException');

    const boundary = must(
      (
        await iam.send(
          new CreatePolicyCommand({ PolicyName: 'edge', PolicyDocument: allow('ec2:Describe*') }),
        )
      ).Policy?.Arn,
      'boundary ARN',
    );
    await iam.send(new PutRolePermissionsBoundaryCommand({ RoleName: 'fn', PermissionsBoundary: boundary }));
    const role = await iam.send(new GetRoleCommand({ RoleName: 'fn' }));
    expect(role.Role?.PermissionsBoundary).toEqual({
      PermissionsBoundaryType: 'Policy',
      PermissionsBoundaryArn: boundary,
    });
    await rejectsWith(iam.send(new DeletePolicyCommand({ PolicyArn: boundary })), 'DeleteConflictException');
    await iam.send(new DeleteRolePermissionsBoundaryCommand({ RoleName: 'fn' }));
    expect(
      (await iam.send(new GetRoleCommand({ RoleName: 'fn' }))).Role?.PermissionsBoundary,
    ).toBeUndefined();

    await iam.send(new DetachRolePolicyCommand({ RoleName: 'fn', PolicyArn: arn }));
    await rejectsWith(
      iam.send(new DetachRolePolicyCommand({ RoleName: 'fn', PolicyArn: arn })),
      'NoSuchEntityException',
    );
    await iam.send(new DeletePolicyCommand({ PolicyArn: arn }));
    await iam.send(new DeleteRoleCommand({ RoleName: 'fn' }));
  });

  test('CreateRole takes a boundary; a policy that does not exist is NoSuchEntity and no role is made', async () => {
    const account = fresh();
    const iam = iamFor(env.url, account);
    await rejectsWith(
      iam.send(
        new CreateRoleCommand({
          RoleName: 'fn',
          AssumeRolePolicyDocument: trustPolicy(account),
          PermissionsBoundary: `arn:aws:iam::${account}:policy/none`,
        }),
      ),
      'NoSuchEntityException',
    );
    await rejectsWith(iam.send(new GetRoleCommand({ RoleName: 'fn' })), 'NoSuchEntityException');
    const boundary = must(
      (await iam.send(new CreatePolicyCommand({ PolicyName: 'edge', PolicyDocument: allow('ec2:*') }))).Policy
        ?.Arn,
      'boundary ARN',
    );
    await iam.send(
      new CreateRoleCommand({
        RoleName: 'fn',
        AssumeRolePolicyDocument: trustPolicy(account),
        PermissionsBoundary: boundary,
      }),
    );
    expect(
      (await iam.send(new GetRoleCommand({ RoleName: 'fn' }))).Role?.PermissionsBoundary
        ?.PermissionsBoundaryArn,
    ).toBe(boundary);
  });
});
