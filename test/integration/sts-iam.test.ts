import { CreateVpcCommand, DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import {
  CreateRoleCommand,
  type CreateRoleCommandInput,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  GetRoleCommand,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import {
  AssumeRoleCommand,
  type AssumeRoleCommandInput,
  GetCallerIdentityCommand,
} from '@aws-sdk/client-sts';
import { describe, expect, test } from 'vitest';
import { ec2With, iamFor, type Keys, keysFrom, stsFor, trustPolicy } from '../support/accounts.ts';
import { ec2For, useEmulator } from '../support/emulator.ts';
import { form, send } from '../support/http.ts';
import { rejectsWith } from '../support/mirroring.ts';
import { must } from '../support/topology.ts';

const env = useEmulator();

let lastAccount = 400_000_000_000;
/** An account no other test uses. */
const fresh = () => String(++lastAccount);

/** A role in `account` trusting `principal`, created through IAM; returns its ARN. */
async function createRole(
  account: string,
  principal: string | string[],
  changes: Partial<CreateRoleCommandInput> & { externalId?: string } = {},
): Promise<string> {
  const { externalId, ...input } = changes;
  const out = await iamFor(env.url, account).send(
    new CreateRoleCommand({
      RoleName: 'mirrorops-spoke',
      AssumeRolePolicyDocument: trustPolicy(principal, externalId),
      ...input,
    }),
  );
  return must(out.Role?.Arn, 'Role.Arn');
}

const assume = (who: string | Keys, input: Partial<AssumeRoleCommandInput> & { RoleArn: string }) =>
  stsFor(env.url, who).send(new AssumeRoleCommand({ RoleSessionName: 'mirrorops', ...input }));

describe('IAM roles', () => {
  test('CreateRole returns the role, GetRole reads it back (policy URL-encoded as IAM returns it), DeleteRole removes it', async () => {
    const account = fresh();
    const iam = iamFor(env.url, account);
    const document = trustPolicy('111111111111', 'hub-secret');

    const created = await iam.send(
      new CreateRoleCommand({
        RoleName: 'mirrorops-spoke',
        Path: '/mirrorops/',
        AssumeRolePolicyDocument: document,
        Description: 'assumed by the hub',
        MaxSessionDuration: 7200,
        Tags: [{ Key: 'mirrorops:managed', Value: 'true' }],
      }),
    );
    const read = await iam.send(new GetRoleCommand({ RoleName: 'mirrorops-spoke' }));

    expect(created.Role).toMatchObject({
      RoleName: 'mirrorops-spoke',
      Path: '/mirrorops/',
      Arn: `arn:aws:iam::${account}:role/mirrorops/mirrorops-spoke`,
      Description: 'assumed by the hub',
      MaxSessionDuration: 7200,
      Tags: [{ Key: 'mirrorops:managed', Value: 'true' }],
    });
    expect(created.Role?.RoleId).toMatch(/^AROA[A-Z0-9]{17}$/);
    expect(created.Role?.CreateDate).toBeInstanceOf(Date);
    expect(read.Role).toEqual(created.Role);
    expect(decodeURIComponent(must(read.Role?.AssumeRolePolicyDocument, 'document'))).toBe(document);

    await iam.send(new DeleteRoleCommand({ RoleName: 'mirrorops-spoke' }));
    await rejectsWith(iam.send(new GetRoleCommand({ RoleName: 'mirrorops-spoke' })), 'NoSuchEntityException');
  });

  test('defaults: path /, one-hour MaxSessionDuration, no tags', async () => {
    const account = fresh();
    await createRole(account, account);

    const { Role } = await iamFor(env.url, account).send(new GetRoleCommand({ RoleName: 'mirrorops-spoke' }));

    expect(Role).toMatchObject({
      Path: '/',
      MaxSessionDuration: 3600,
      Arn: `arn:aws:iam::${account}:role/mirrorops-spoke`,
    });
    expect(Role?.Tags).toBeUndefined();
  });

  test('a name already taken, in any case, is EntityAlreadyExists (409) and leaves the first role as it was', async () => {
    const account = fresh();
    const arn = await createRole(account, '111111111111');

    const error = await createRole(account, '222222222222', { RoleName: 'MIRROROPS-SPOKE' }).catch(
      (e: unknown) => e,
    );

    expect(error).toMatchObject({ name: 'EntityAlreadyExistsException', $metadata: { httpStatusCode: 409 } });
    const { Role } = await iamFor(env.url, account).send(new GetRoleCommand({ RoleName: 'mirrorops-spoke' }));
    expect(Role?.Arn).toBe(arn);
    expect(decodeURIComponent(Role?.AssumeRolePolicyDocument ?? '')).toContain('111111111111');
  });

  test('role names are found regardless of case, as IAM treats them', async () => {
    const account = fresh();
    const arn = await createRole(account, account);

    const { Role } = await iamFor(env.url, account).send(new GetRoleCommand({ RoleName: 'MirrorOps-Spoke' }));

    expect(Role?.Arn).toBe(arn);
  });

  test('GetRole and DeleteRole of an unknown role are NoSuchEntity (404)', async () => {
    const iam = iamFor(env.url, fresh());

    await expect(iam.send(new GetRoleCommand({ RoleName: 'nope' }))).rejects.toMatchObject({
      name: 'NoSuchEntityException',
      $metadata: { httpStatusCode: 404 },
    });
    await rejectsWith(iam.send(new DeleteRoleCommand({ RoleName: 'nope' })), 'NoSuchEntityException');
  });

  test('roles belong to their account: the same name in two accounts is two roles', async () => {
    const [a, b] = [fresh(), fresh()];
    const arnA = await createRole(a, a);

    await rejectsWith(
      iamFor(env.url, b).send(new GetRoleCommand({ RoleName: 'mirrorops-spoke' })),
      'NoSuchEntityException',
    );
    const arnB = await createRole(b, b);

    expect([arnA, arnB]).toEqual([
      `arn:aws:iam::${a}:role/mirrorops-spoke`,
      `arn:aws:iam::${b}:role/mirrorops-spoke`,
    ]);
  });

  const statement = (changes: Record<string, unknown>) =>
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: { AWS: '111111111111' }, Action: 'sts:AssumeRole', ...changes },
      ],
    });

  test.each([
    ['not JSON', '{"Version": '],
    ['no Statement', JSON.stringify({ Version: '2012-10-17' })],
    ['a Resource (prohibited in a trust policy)', statement({ Resource: '*' })],
    ['an action other than STS', statement({ Action: 'ec2:CreateTrafficMirrorSession' })],
    ['no Principal', statement({ Principal: undefined })],
    ['a principal that is no account', statement({ Principal: { AWS: 'hub' } })],
    [
      'a role principal that does not exist',
      statement({ Principal: { AWS: 'arn:aws:iam::999999999999:role/none' } }),
    ],
    ['an Effect other than Allow or Deny', statement({ Effect: 'Permit' })],
  ])('a trust policy with %s is MalformedPolicyDocument and creates no role', async (_case, document) => {
    const account = fresh();
    const iam = iamFor(env.url, account);

    await expect(
      iam.send(new CreateRoleCommand({ RoleName: 'bad', AssumeRolePolicyDocument: document })),
    ).rejects.toMatchObject({ name: 'MalformedPolicyDocumentException', $metadata: { httpStatusCode: 400 } });

    await rejectsWith(iam.send(new GetRoleCommand({ RoleName: 'bad' })), 'NoSuchEntityException');
  });

  test.each([
    ['a role name with a space', { RoleName: 'mirror ops' }],
    ['a role name of 65 characters', { RoleName: 'r'.repeat(65) }],
    ['a path without slashes', { Path: 'mirrorops' }],
    ['MaxSessionDuration under an hour', { MaxSessionDuration: 900 }],
  ])('%s is ValidationError', async (_case, changes) => {
    await rejectsWith(createRole(fresh(), '111111111111', changes), 'ValidationError');
  });
});

describe('STS GetCallerIdentity', () => {
  test("a twelve-digit access key is that account's root; any other key the default account", async () => {
    const account = fresh();

    const own = await stsFor(env.url, account).send(new GetCallerIdentityCommand({}));
    const other = await stsFor(env.url, 'AKIAEXAMPLE').send(new GetCallerIdentityCommand({}));

    expect(own).toMatchObject({ Account: account, Arn: `arn:aws:iam::${account}:root`, UserId: account });
    expect(other).toMatchObject({ Account: '123456789012', Arn: 'arn:aws:iam::123456789012:root' });
  });

  test("with AssumeRole's credentials it names the assumed role and the session", async () => {
    const [hub, spoke] = [fresh(), fresh()];
    const roleArn = await createRole(spoke, hub);
    const assumed = await assume(hub, { RoleArn: roleArn, RoleSessionName: 'finding-42' });

    const identity = await stsFor(env.url, keysFrom(assumed.Credentials)).send(
      new GetCallerIdentityCommand({}),
    );
    const { Role } = await iamFor(env.url, spoke).send(new GetRoleCommand({ RoleName: 'mirrorops-spoke' }));

    expect(identity).toMatchObject({
      Account: spoke,
      Arn: `arn:aws:sts::${spoke}:assumed-role/mirrorops-spoke/finding-42`,
      UserId: `${Role?.RoleId}:finding-42`,
    });
  });

  test("a session token STS never issued is ignored: the caller is the key's account root", async () => {
    const account = fresh();

    const identity = await stsFor(env.url, {
      accessKeyId: account,
      secretAccessKey: 'test',
      sessionToken: 'not-a-token',
    }).send(new GetCallerIdentityCommand({}));

    expect(identity.Arn).toBe(`arn:aws:iam::${account}:root`);
  });
});

describe('STS AssumeRole', () => {
  test("returns credentials whose access key is the role's account, a session token, an expiry and the assumed-role user", async () => {
    const [hub, spoke] = [fresh(), fresh()];
    const roleArn = await createRole(spoke, hub);
    const before = Date.now();

    const out = await assume(hub, { RoleArn: roleArn, RoleSessionName: 'sweeper', DurationSeconds: 900 });

    expect(out.Credentials?.AccessKeyId).toBe(spoke);
    expect(out.Credentials?.SecretAccessKey).toMatch(/^\S{20,}$/);
    expect(out.Credentials?.SessionToken).toMatch(/^\S{40,}$/);
    const expires = must(out.Credentials?.Expiration, 'Expiration').getTime();
    expect(expires).toBeGreaterThanOrEqual(before + 900_000 - 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 900_000 + 1000);
    expect(out.AssumedRoleUser?.Arn).toBe(`arn:aws:sts::${spoke}:assumed-role/mirrorops-spoke/sweeper`);
    expect(out.AssumedRoleUser?.AssumedRoleId).toMatch(/^AROA[A-Z0-9]{17}:sweeper$/);
  });

  test("the credentials act as the role's account in EC2", async () => {
    const [hub, spoke] = [fresh(), fresh()];
    const roleArn = await createRole(spoke, hub);
    await iamFor(env.url, spoke).send(
      new PutRolePolicyCommand({
        RoleName: 'mirrorops-spoke',
        PolicyName: 'vpcs',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'ec2:CreateVpc', Resource: '*' }],
        }),
      }),
    );
    const keys = keysFrom((await assume(hub, { RoleArn: roleArn })).Credentials);

    const created = await ec2With(env.url, keys).send(new CreateVpcCommand({ CidrBlock: '10.42.0.0/16' }));

    const seenBySpoke = await ec2For(env.url, spoke).send(new DescribeVpcsCommand({}));
    const seenByHub = await ec2For(env.url, hub).send(new DescribeVpcsCommand({}));
    expect(seenBySpoke.Vpcs?.map((v) => v.VpcId)).toEqual([created.Vpc?.VpcId]);
    expect(seenByHub.Vpcs).toEqual([]);
  });

  test.each([
    ['an account id', (hub: string) => hub],
    ["the account's root ARN", (hub: string) => `arn:aws:iam::${hub}:root`],
    ['a list holding the account', (hub: string) => ['999999999999', hub]],
    ['everyone (*)', () => '*'],
  ])('a trust policy naming %s lets any caller of that account assume the role', async (_case, principal) => {
    const [hub, spoke] = [fresh(), fresh()];
    const roleArn = await createRole(spoke, principal(hub));

    const out = await assume(hub, { RoleArn: roleArn });

    expect(out.Credentials?.AccessKeyId).toBe(spoke);
  });

  test('an untrusted account is refused with AccessDenied (403)', async () => {
    const [hub, spoke, stranger] = [fresh(), fresh(), fresh()];
    const roleArn = await createRole(spoke, hub);

    const error = await assume(stranger, { RoleArn: roleArn }).catch((e: unknown) => e);

    expect(error).toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    expect((error as Error).message).toBe(
      `User: arn:aws:iam::${stranger}:root is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
    );
  });

  test('a role that does not exist is refused the same way (AccessDenied), as is a wrong path in its ARN', async () => {
    const [hub, spoke] = [fresh(), fresh()];
    await createRole(spoke, hub, { Path: '/mirrorops/' });

    await rejectsWith(assume(hub, { RoleArn: `arn:aws:iam::${spoke}:role/none` }), 'AccessDenied');
    await rejectsWith(assume(hub, { RoleArn: `arn:aws:iam::${spoke}:role/mirrorops-spoke` }), 'AccessDenied');
    await rejectsWith(
      assume(hub, { RoleArn: `arn:aws:iam::${spoke}:role/other/mirrorops-spoke` }),
      'AccessDenied',
    );
    const out = await assume(hub, { RoleArn: `arn:aws:iam::${spoke}:role/mirrorops/mirrorops-spoke` });
    expect(out.Credentials?.AccessKeyId).toBe(spoke);
  });

  test('a deleted role can no longer be assumed', async () => {
    const [hub, spoke] = [fresh(), fresh()];
    const roleArn = await createRole(spoke, hub);
    await iamFor(env.url, spoke).send(new DeleteRoleCommand({ RoleName: 'mirrorops-spoke' }));

    await rejectsWith(assume(hub, { RoleArn: roleArn }), 'AccessDenied');
  });

  describe('ExternalId', () => {
    test('the right ExternalId is accepted', async () => {
      const [hub, spoke] = [fresh(), fresh()];
      const roleArn = await createRole(spoke, hub, { externalId: 'mirrorops-7f3a' });

      const out = await assume(hub, { RoleArn: roleArn, ExternalId: 'mirrorops-7f3a' });

      expect(out.Credentials?.AccessKeyId).toBe(spoke);
    });

    test.each([
      ['a wrong ExternalId', 'mirrorops-0000'],
      ['the ExternalId in another case', 'MIRROROPS-7F3A'],
      ['no ExternalId', undefined],
    ])('%s is AccessDenied', async (_case, externalId) => {
      const [hub, spoke] = [fresh(), fresh()];
      const roleArn = await createRole(spoke, hub, { externalId: 'mirrorops-7f3a' });

      await rejectsWith(
        assume(hub, { RoleArn: roleArn, ...(externalId === undefined ? {} : { ExternalId: externalId }) }),
        'AccessDenied',
      );
    });

    test('a role without the condition accepts a call with or without an ExternalId', async () => {
      const [hub, spoke] = [fresh(), fresh()];
      const roleArn = await createRole(spoke, hub);

      const withId = await assume(hub, { RoleArn: roleArn, ExternalId: 'anything' });
      const without = await assume(hub, { RoleArn: roleArn });

      expect([withId.Credentials?.AccessKeyId, without.Credentials?.AccessKeyId]).toEqual([spoke, spoke]);
    });

    test('an ExternalId the model refuses (one character) is ValidationError', async () => {
      const [hub, spoke] = [fresh(), fresh()];
      const roleArn = await createRole(spoke, hub, { externalId: 'x' });

      await rejectsWith(assume(hub, { RoleArn: roleArn, ExternalId: 'x' }), 'ValidationError');
    });
  });

  describe('a role ARN as principal', () => {
    /**
     * The hub's role that its Lambdas run as, which the hub's own account may assume. Its identity
     * policy allows sts:AssumeRole: across accounts, the trust and the caller's policies must both allow.
     */
    async function hubRole(
      hub: string,
      name = 'mirrorops-lambda',
      sessionName = 'lambda',
    ): Promise<{ arn: string; keys: Keys }> {
      const arn = await createRole(hub, hub, { RoleName: name });
      await iamFor(env.url, hub).send(
        new PutRolePolicyCommand({
          RoleName: name,
          PolicyName: 'assume',
          PolicyDocument: JSON.stringify({
            Version: '2012-10-17',
            Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }],
          }),
        }),
      );
      const out = await assume(hub, { RoleArn: arn, RoleSessionName: sessionName });
      return { arn, keys: keysFrom(out.Credentials) };
    }

    test("trusts that role's sessions, not its account's other callers", async () => {
      const [hub, spoke] = [fresh(), fresh()];
      const lambda = await hubRole(hub);
      const roleArn = await createRole(spoke, lambda.arn, { externalId: 'x-1234' });

      const out = await assume(lambda.keys, { RoleArn: roleArn, ExternalId: 'x-1234' });
      const error = await assume(hub, { RoleArn: roleArn, ExternalId: 'x-1234' }).catch((e: unknown) => e);

      expect(out.Credentials?.AccessKeyId).toBe(spoke);
      expect(error).toMatchObject({ name: 'AccessDenied' });
      expect((error as Error).message).toContain(`User: arn:aws:iam::${hub}:root`);
    });

    test('a session of another role in the same account is refused, naming the session', async () => {
      const [hub, spoke] = [fresh(), fresh()];
      const lambda = await hubRole(hub);
      const roleArn = await createRole(spoke, lambda.arn);
      const other = (await hubRole(hub, 'something-else', 'other')).keys;

      const error = await assume(other, { RoleArn: roleArn }).catch((e: unknown) => e);

      expect(error).toMatchObject({ name: 'AccessDenied' });
      expect((error as Error).message).toContain(
        `User: arn:aws:sts::${hub}:assumed-role/something-else/other`,
      );
    });

    test('a role deleted and created again under the same name is another principal', async () => {
      const [hub, spoke] = [fresh(), fresh()];
      const lambda = await hubRole(hub);
      const roleArn = await createRole(spoke, lambda.arn);
      await assume(lambda.keys, { RoleArn: roleArn });
      const iam = iamFor(env.url, hub);
      await iam.send(new DeleteRolePolicyCommand({ RoleName: 'mirrorops-lambda', PolicyName: 'assume' }));
      await iam.send(new DeleteRoleCommand({ RoleName: 'mirrorops-lambda' }));
      const again = await hubRole(hub);

      await rejectsWith(assume(again.keys, { RoleArn: roleArn }), 'AccessDenied');
    });

    test('a role session assuming a role (chaining) gets at most one hour', async () => {
      const [hub, spoke] = [fresh(), fresh()];
      const lambda = await hubRole(hub);
      const roleArn = await createRole(spoke, lambda.arn, { MaxSessionDuration: 43200 });

      await rejectsWith(assume(lambda.keys, { RoleArn: roleArn, DurationSeconds: 3601 }), 'ValidationError');
      const out = await assume(lambda.keys, { RoleArn: roleArn, DurationSeconds: 3600 });
      expect(out.Credentials?.AccessKeyId).toBe(spoke);
    });
  });

  test('an explicit Deny wins over an Allow', async () => {
    const [hub, spoke] = [fresh(), fresh()];
    const document = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: { AWS: hub }, Action: 'sts:AssumeRole' },
        {
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Action: 'sts:*',
          Condition: { StringEquals: { 'sts:RoleSessionName': 'blocked' } },
        },
      ],
    });
    await iamFor(env.url, spoke).send(
      new CreateRoleCommand({ RoleName: 'r', AssumeRolePolicyDocument: document }),
    );
    const roleArn = `arn:aws:iam::${spoke}:role/r`;

    await rejectsWith(assume(hub, { RoleArn: roleArn, RoleSessionName: 'blocked' }), 'AccessDenied');
    const out = await assume(hub, { RoleArn: roleArn, RoleSessionName: 'allowed' });
    expect(out.Credentials?.AccessKeyId).toBe(spoke);
  });

  test.each([
    ['DurationSeconds under 900', { DurationSeconds: 899 }],
    ['DurationSeconds over 43200', { DurationSeconds: 43201 }],
    ["DurationSeconds over the role's MaxSessionDuration", { DurationSeconds: 3601 }],
    ['a one-character session name', { RoleSessionName: 'x' }],
    ['a session name with a space', { RoleSessionName: 'my session' }],
  ])('%s is ValidationError', async (_case, changes) => {
    const [hub, spoke] = [fresh(), fresh()];
    const roleArn = await createRole(spoke, hub);

    await rejectsWith(assume(hub, { RoleArn: roleArn, ...changes }), 'ValidationError');
  });

  test('a RoleArn that is no role ARN is ValidationError', async () => {
    await rejectsWith(assume(fresh(), { RoleArn: 'arn:aws:s3:::mirrorops-bucket-name' }), 'ValidationError');
  });
});

describe('the Query protocol of STS and IAM', () => {
  const STS = { Version: '2011-06-15' };

  test('an error is <ErrorResponse> with Type, Code, Message and the RequestId of the header', async () => {
    const response = await send(
      env.url,
      form({
        ...STS,
        Action: 'AssumeRole',
        RoleArn: 'arn:aws:iam::111111111111:role/none',
        RoleSessionName: 'raw',
      }),
    );

    expect(response.status).toBe(403);
    expect(response.contentType).toMatch(/^text\/xml/);
    expect(response.body).toMatch(
      new RegExp(
        `^<\\?xml version="1\\.0" encoding="UTF-8"\\?>\\n<ErrorResponse xmlns="https://sts\\.amazonaws\\.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>[^<]+</Message></Error><RequestId>${response.requestId}</RequestId></ErrorResponse>$`,
      ),
    );
  });

  test('an answer is <ActionResponse><ActionResult> with ResponseMetadata', async () => {
    const account = fresh();

    const response = await send(env.url, form({ ...STS, Action: 'GetCallerIdentity' }), {
      headers: {
        authorization: `AWS4-HMAC-SHA256 Credential=${account}/20240101/us-east-1/sts/aws4_request`,
      },
    });

    expect(response.status).toBe(200);
    expect(response.body).toBe(
      `<?xml version="1.0" encoding="UTF-8"?>\n<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><UserId>${account}</UserId><Account>${account}</Account><Arn>arn:aws:iam::${account}:root</Arn></GetCallerIdentityResult><ResponseMetadata><RequestId>${response.requestId}</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
    );
  });

  test("an action the service lacks is InvalidAction in that service's format; EC2 actions are not STS's", async () => {
    const sts = await send(env.url, form({ ...STS, Action: 'DescribeVpcs' }));
    const iam = await send(env.url, form({ Version: '2010-05-08', Action: 'CreateUser', UserName: 'u' }));

    expect(sts.status).toBe(400);
    expect(sts.body).toContain('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">');
    expect(sts.body).toContain('<Code>InvalidAction</Code>');
    expect(iam.body).toContain('<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">');
    expect(iam.body).toContain('<Code>InvalidAction</Code>');
  });

  test('DeleteRole answers a Response without a Result element', async () => {
    const account = fresh();
    await createRole(account, account);

    const response = await send(
      env.url,
      form({ Version: '2010-05-08', Action: 'DeleteRole', RoleName: 'mirrorops-spoke' }),
      {
        headers: {
          authorization: `AWS4-HMAC-SHA256 Credential=${account}/20240101/us-east-1/iam/aws4_request`,
        },
      },
    );

    expect(response.body).toBe(
      `<?xml version="1.0" encoding="UTF-8"?>\n<DeleteRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ResponseMetadata><RequestId>${response.requestId}</RequestId></ResponseMetadata></DeleteRoleResponse>`,
    );
  });

  test('injected failures reach STS too (failActions), in its error format', async () => {
    env.emulator.faults.set({ failActions: ['GetCallerIdentity'] });
    try {
      const response = await send(env.url, form({ ...STS, Action: 'GetCallerIdentity' }));
      expect(response.status).toBe(500);
      expect(response.body).toContain('<Type>Receiver</Type><Code>InternalError</Code>');
    } finally {
      env.emulator.faults.set({});
    }
  });
});
