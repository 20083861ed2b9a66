import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTrafficMirrorFilterCommand } from '@aws-sdk/client-ec2';
import { CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import { describe, expect, test } from 'vitest';
import { iamFor, keysFrom, stsFor, trustPolicy } from '../support/accounts.ts';
import { type Ran, responder } from '../support/cli.ts';
import { useEmulator } from '../support/emulator.ts';
import { allSessions, applianceTargetIn, createSession, freshClient } from '../support/mirroring.ts';
import { createNetwork } from '../support/topology.ts';

const env = useEmulator();

/** One line on stderr, nothing on stdout, this exit code. */
function failedWith(ran: Ran, code: number, message: RegExp): void {
  expect(ran.code).toBe(code);
  expect(ran.out).toEqual([]);
  expect(ran.err).toHaveLength(1);
  expect(ran.err[0]).not.toContain('\n');
  expect(ran.err[0]).toMatch(message);
}

describe('the operator commands refuse bad input in one line and change nothing', () => {
  test('usage errors (exit 2), before any call', async () => {
    const r = await responder(env.url);
    const before = await r.state();
    const i = r.instanceId;
    const cases: [string[], RegExp][] = [
      [['start', '--instance', i, '--for', '0'], /^mirrorops start: --for '0' is not a duration such as 30m/],
      [
        ['start', '--instance', i, '--for', '2h', '--scope', 'not-an-ip'],
        /--scope: 'not-an-ip' is not an IP address or CIDR block/,
      ],
      [
        ['start', '--instance', i, '--for', '2h', '--scope', '10.0.0.1,'],
        /--scope '10\.0\.0\.1,' has an empty entry/,
      ],
      [
        ['start', '--instance', i, '--for', '30d'],
        /--for asks for more than the longest mirroring allowed \(7d, MIRROROPS_MAX_EXPIRY\)/,
      ],
      [['start', '--instance', i], /say for how long: --for 2h/],
      [['start', '--for', '2h'], /say what to mirror: --instance ID or --eni ID/],
      [['start', '--instance', 'i-nothex', '--for', '2h'], /--instance 'i-nothex' is not a i-\.\.\. id/],
      [
        ['start', '--instance', i, '--for', '2h', '--target', 'tgt-1'],
        /--target 'tgt-1' is not a tmt-\.\.\. id/,
      ],
      [['start', '--instance', i, '--for', '2h', '--note', 'a\nb'], /--note must be one line/],
      [
        ['start', '--instance', i, '--for', '2h', '--output', 'yaml'],
        /--output must be table, json or text, not 'yaml'/,
      ],
      [['extend', '--instance', i], /say until when: --for DURATION or --until TIME/],
      [
        ['extend', '--instance', i, '--until', '2020-01-01T00:00Z'],
        /--until 2020-01-01T00:00Z is not in the future/,
      ],
      [
        ['extend', '--instance', i, '--until', 'tomorrow'],
        /--until 'tomorrow' is not a date and time with a zone/,
      ],
      [['stop'], /say what to stop: one of --instance ID, --eni ID, --session ID or --all/],
      [['stop', '--reason', 'whim'], /--reason must be one of guardduty, manual, tag, launch, not 'whim'/],
      [['status', '--interval', '1'], /--interval goes with --watch/],
      [['status', '--bogus'], /Unknown option '--bogus'/],
    ];
    for (const [argv, message] of cases) {
      const ran = await r.run(argv);
      failedWith(ran, 2, message);
      expect(ran.err[0]).toMatch(/\(see 'mirrorops \w+ --help'\)$/);
    }
    // Without --target or MIRROROPS_TARGET_ID there is no target to mirror to.
    failedWith(
      await r.run(['start', '--instance', i, '--for', '2h']),
      2,
      /no mirror target: pass --target tmt-\.\.\. or set MIRROROPS_TARGET_ID/,
    );
    expect(await r.state()).toEqual(before);
  });

  test('an unknown instance, ENI or session: exit 3 naming it', async () => {
    const r = await responder(env.url);
    const before = await r.state();
    const target = ['--target', r.targetId];
    failedWith(
      await r.run(['start', '--instance', 'i-0123456789abcdef0', '--for', '2h', ...target]),
      3,
      new RegExp(`^mirrorops start: no instance i-0123456789abcdef0 in ${r.account} us-east-1$`),
    );
    failedWith(
      await r.run(['start', '--eni', 'eni-0123456789abcdef0', '--for', '2h', ...target]),
      3,
      /no network interface eni-0123456789abcdef0/,
    );
    failedWith(
      await r.run(['extend', '--session', 'tms-0123456789abcdef0', '--for', '2h']),
      3,
      /no mirror session tms-0123456789abcdef0/,
    );
    failedWith(
      await r.run(['extend', '--instance', 'i-0123456789abcdef0', '--for', '2h']),
      3,
      /no instance i-0123456789abcdef0/,
    );
    failedWith(
      await r.run(['stop', '--session', 'tms-0123456789abcdef0']),
      3,
      /no mirror session tms-0123456789abcdef0/,
    );
    failedWith(
      await r.run(['status', '--instance', 'i-0123456789abcdef0']),
      3,
      /no instance i-0123456789abcdef0/,
    );
    // An instance with nothing mirrored: nothing to do, exit 4.
    failedWith(
      await r.run(['extend', '--instance', r.instanceId, '--for', '2h']),
      4,
      /nothing to extend: no mirrorops session for instance/,
    );
    failedWith(
      await r.run(['stop', '--instance', r.instanceId]),
      4,
      /nothing to stop: no mirrorops session for instance/,
    );
    expect(await r.state()).toEqual(before);
    expect(await r.audit()).toEqual([]);
  });

  test('a target of another account that is not shared with this one: exit 3, no filter made', async () => {
    const r = await responder(env.url);
    const other = freshClient(env.url);
    const theirs = await applianceTargetIn(other.ec2, (await createNetwork(other.ec2)).subnetId);
    const before = await r.state();
    failedWith(
      await r.run(['start', '--instance', r.instanceId, '--for', '2h', '--target', theirs]),
      3,
      new RegExp(
        `^mirrorops start: no mirror target ${theirs} in ${r.account} us-east-1, nor shared with it \\(RAM\\)$`,
      ),
    );
    failedWith(
      await r.run(['start', '--instance', r.instanceId, '--for', '2h'], { MIRROROPS_TARGET_ID: theirs }),
      3,
      /nor shared with it \(RAM\) \(from MIRROROPS_TARGET_ID\)$/,
    );
    expect(await r.state()).toEqual(before);
  });

  test('an ENI whose three slots other sessions hold: turned down, exit 1, nothing changed', async () => {
    const r = await responder(env.url);
    for (const number of [1, 2, 3]) {
      const filter = await r.ec2.send(new CreateTrafficMirrorFilterCommand({}));
      await createSession(r.ec2, {
        NetworkInterfaceId: r.eniId,
        TrafficMirrorTargetId: r.targetId,
        TrafficMirrorFilterId: filter.TrafficMirrorFilter?.TrafficMirrorFilterId,
        SessionNumber: number,
      });
    }
    const before = await allSessions(r.ec2);
    const ran = await r.run(['start', '--eni', r.eniId, '--for', '1h', '--target', r.targetId]);
    expect(ran.code).toBe(1);
    expect(ran.stdout).toMatch(
      new RegExp(`${r.eniId}\\s+rejected\\s+-\\s+-\\s+-\\s+all 3 session slots are taken`),
    );
    expect(ran.err).toEqual([
      `not all mirrored: ${r.eniId}: all 3 session slots are taken by sessions of equal or higher priority (3 not managed by mirrorops)`,
    ]);
    expect(await allSessions(r.ec2)).toEqual(before);
    // The dry run says the same, and exits 1 too.
    const dry = await r.run(['start', '--eni', r.eniId, '--for', '1h', '--target', r.targetId, '--dry-run']);
    expect(dry.code).toBe(1);
    expect(dry.stdout).toMatch(/turned down: all 3 session slots are taken/);
  });

  test('an expired SSO profile and a missing one: exit 5 naming the profile', async () => {
    const r = await responder(env.url);
    const home = await mkdtemp(join(tmpdir(), 'mirrorops-home-'));
    const startUrl = 'https://example.awsapps.com/start';
    await mkdir(join(home, '.aws', 'sso', 'cache'), { recursive: true });
    await writeFile(
      join(home, '.aws', 'config'),
      [
        '[profile responder]',
        `sso_start_url = ${startUrl}`,
        'sso_region = us-east-1',
        `sso_account_id = ${r.account}`,
        'sso_role_name = IncidentResponder',
        'region = us-east-1',
        '',
      ].join('\n'),
    );
    // What `aws sso login` left behind, a day ago.
    await writeFile(
      join(home, '.aws', 'sso', 'cache', `${createHash('sha1').update(startUrl).digest('hex')}.json`),
      JSON.stringify({
        startUrl,
        region: 'us-east-1',
        accessToken: 'expired-token',
        expiresAt: new Date(Date.now() - 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      }),
    );
    const files = {
      HOME: home,
      AWS_CONFIG_FILE: join(home, '.aws', 'config'),
      AWS_SHARED_CREDENTIALS_FILE: join(home, '.aws', 'credentials'),
      AWS_ACCESS_KEY_ID: undefined,
      AWS_SECRET_ACCESS_KEY: undefined,
    };
    const before = await r.state();
    failedWith(
      await r.run(
        [
          'start',
          '--instance',
          r.instanceId,
          '--for',
          '2h',
          '--target',
          r.targetId,
          '--profile',
          'responder',
        ],
        files,
      ),
      5,
      /^mirrorops start: the credentials of profile 'responder' have expired: .*\(refresh them, e\.g\. aws sso login --profile responder/,
    );
    failedWith(
      await r.run(['status'], { ...files, AWS_PROFILE: 'responder' }),
      5,
      /^mirrorops status: the credentials of profile 'responder' have expired/,
    );
    failedWith(
      await r.run(['stop', '--all', '--profile', 'nobody'], files),
      5,
      /^mirrorops stop: the credentials of profile 'nobody' are missing or not accepted/,
    );
    expect(await r.state()).toEqual(before);
  });

  test('--dry-run as a role that may not create sessions: EC2 answers UnauthorizedOperation, exit 1, nothing changed', async () => {
    const r = await responder(env.url);
    // A filter of mirrorops' to stand in for the new one, so the session's create is asked.
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
          '192.0.2.9',
        ])
      ).code,
    ).toBe(0);
    const other = await r.attachEni(1);
    const iam = iamFor(env.url, r.account);
    await iam.send(
      new CreateRoleCommand({
        RoleName: 'reader',
        AssumeRolePolicyDocument: trustPolicy(`arn:aws:iam::${r.account}:root`),
      }),
    );
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: 'reader',
        PolicyName: 'read',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: ['ec2:Describe*', 'ec2:CreateTrafficMirrorFilter', 'ec2:CreateTags'],
              Resource: '*',
            },
          ],
        }),
      }),
    );
    const assumed = await stsFor(env.url, r.account).send(
      new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${r.account}:role/reader`, RoleSessionName: 'alice' }),
    );
    const keys = keysFrom(assumed.Credentials);
    const before = await r.state();
    const ran = await r.run(['start', '--eni', other, '--for', '2h', '--target', r.targetId, '--dry-run'], {
      AWS_ACCESS_KEY_ID: keys.accessKeyId,
      AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
      AWS_SESSION_TOKEN: keys.sessionToken,
    });
    expect(ran.code).toBe(1);
    expect(ran.stdout).toMatch(
      /CreateTrafficMirrorSession\s+start session number 10 to tmt-\w+ \(checked with tmf-\w+ standing in for the new filter\)\s+REFUSED UnauthorizedOperation/,
    );
    expect(ran.stdout).toMatch(
      /CreateTrafficMirrorFilter\s+create filter for all traffic \(4 rules\)\s+allowed/,
    );
    expect(ran.err).toEqual([
      'mirrorops start: not allowed: CreateTrafficMirrorSession (UnauthorizedOperation)'.replace(
        'mirrorops start: ',
        '',
      ),
    ]);
    expect(await r.state()).toEqual(before);
  });
});
