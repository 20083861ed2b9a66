import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateTrafficMirrorFilterCommand, CreateTrafficMirrorSessionCommand } from '@aws-sdk/client-ec2';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, test } from 'vitest';
import { useEmulator } from '../support/emulator.ts';
import { findingFor, incident } from '../support/incident.ts';

const env = useEmulator();
const NODE = resolve('node_modules/.bin/node');
const BIN = resolve('cli/bin.mjs');

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** The real `mirrorops` bin in its own process, as a user runs it. */
function mirrorops(args: string[], extraEnv: Record<string, string>): Promise<Outcome> {
  return new Promise((done) => {
    execFile(
      NODE,
      [BIN, ...args],
      {
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...extraEnv },
        timeout: 60_000,
      },
      (error, stdout, stderr) => {
        done({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

async function eventFile(event: unknown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mirrorops-invoke-'));
  const file = join(dir, 'event.json');
  await writeFile(file, JSON.stringify(event));
  return file;
}

/** The `level` of each JSON log line among the lines a run printed. */
function logLevels(output: string): string[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{"level":'))
    .map((line) => (JSON.parse(line) as { level: string }).level);
}

describe('mirrorops invoke', () => {
  test('guardduty-finding on a sample event mirrors the instance; ttl-sweeper runs; JSON on stdout', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(2);
    const file = await eventFile(findingFor('network-connection', world, instance));
    // Each function as Lambda runs it: with its role's credentials.
    const run = await mirrorops(
      ['invoke', 'guardduty-finding', '--event', file],
      await world.lambdaEnv('guardduty-finding'),
    );
    // Its log (Powertools JSON lines) on stderr: the outcome's line, and no error.
    expect(logLevels(run.stderr)).toContain('INFO');
    expect(logLevels(run.stderr)).not.toContain('ERROR');
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as { outcomes: { status: string }[] };
    expect(result.outcomes.map((o) => o.status)).toEqual(['started', 'started']);
    expect(await world.sessions()).toHaveLength(2);

    const sweep = await mirrorops(['invoke', 'ttl-sweeper'], await world.lambdaEnv('ttl-sweeper'));
    expect(sweep.code).toBe(0);
    expect(JSON.parse(sweep.stdout)).toEqual({
      accounts: [{ account: world.account, result: expect.objectContaining({ expired: 0, deleted: [] }) }],
    });
  });

  test('the target can come from --param, as serverless.yml declares it', async () => {
    const world = await incident(env.url);
    const instance = await world.instance(1);
    const file = await eventFile(findingFor('network-connection', world, instance));
    const run = await mirrorops(
      ['invoke', 'guardduty-finding', '--event', file, '--param', `targetId=${world.targetId}`],
      {
        AWS_ENDPOINT_URL: env.url,
        AWS_ACCESS_KEY_ID: world.account,
        AWS_SECRET_ACCESS_KEY: 'test',
        MIRROROPS_HUB_ACCOUNT_ID: world.account,
      },
    );
    expect(run.code).toBe(0);
    expect(await world.sessions()).toHaveLength(1);
  });

  test('a malformed event goes to the dead-letter queue with the field named, and mirrors nothing', async () => {
    const world = await incident(env.url);
    const sqs = new SQSClient({
      endpoint: env.url,
      region: 'us-east-1',
      credentials: { accessKeyId: world.account, secretAccessKey: 'test' },
    });
    // The queue the stack's roles may send to (test/support/roles.ts deploys them for this name).
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'mirrorops-dead-letters-test' }));
    const instance = await world.instance(1);
    const event = findingFor('network-connection', world, instance, (d) => {
      d.severity = Number.NaN;
      (d.resource.instanceDetails as { instanceId: unknown }).instanceId = 42;
    });
    const run = await mirrorops(['invoke', 'guardduty-finding', '--event', await eventFile(event)], {
      ...(await world.lambdaEnv('guardduty-finding')),
      MIRROROPS_DLQ_URL: QueueUrl ?? '',
    });
    expect({ code: run.code, levels: logLevels(run.stderr) }).toEqual({ code: 0, levels: ['WARN'] });
    expect(JSON.parse(run.stdout)).toMatchObject({
      status: 'invalid',
      error: expect.stringContaining('instanceId'),
    });
    const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10 }));
    expect(Messages).toHaveLength(1);
    expect(JSON.parse(Messages?.[0]?.Body ?? '{}')).toMatchObject({
      function: 'guardduty-finding',
      reason: expect.stringContaining('detail.resource.instanceDetails.instanceId'),
    });
    expect(await world.sessions()).toHaveLength(0);
  });

  test('status shows what is mirrored; stop removes mirrorops sessions and nothing else', async () => {
    const world = await incident(env.url);
    const [a, b] = [await world.instance(1), await world.instance(1)];
    // The operator's commands run with the operator's credentials (here the account's root).
    const aws = {
      AWS_ENDPOINT_URL: env.url,
      AWS_ACCESS_KEY_ID: world.account,
      AWS_SECRET_ACCESS_KEY: 'test',
      MIRROROPS_TARGET_ID: world.targetId,
      MIRROROPS_HUB_ACCOUNT_ID: world.account,
    };
    for (const instance of [a, b]) {
      const run = await mirrorops(
        [
          'invoke',
          'guardduty-finding',
          '--event',
          await eventFile(findingFor('network-connection', world, instance)),
        ],
        await world.lambdaEnv('guardduty-finding'),
      );
      expect(run.code).toBe(0);
    }
    // A session someone else made on b's ENI.
    const filter = await world.ec2.send(new CreateTrafficMirrorFilterCommand({}));
    const theirs = await world.ec2.send(
      new CreateTrafficMirrorSessionCommand({
        NetworkInterfaceId: b.eniIds[0],
        TrafficMirrorTargetId: world.targetId,
        TrafficMirrorFilterId: filter.TrafficMirrorFilter?.TrafficMirrorFilterId,
        SessionNumber: 30,
      }),
    );
    const theirId = theirs.TrafficMirrorSession?.TrafficMirrorSessionId ?? '';

    const status = await mirrorops(['status'], aws);
    expect(status.code).toBe(0);
    const [sessionLines, eniLines] = status.stdout
      .trim()
      .split('\n\n')
      .map((t) => t.split('\n'));
    expect(sessionLines?.[0]).toMatch(/^INSTANCE\s+ENI\s+SESSION\s+NO\s+REASON\s+MIRRORS\s+EXPIRES IN$/);
    expect(sessionLines).toHaveLength(3);
    for (const instance of [a, b]) {
      const line = sessionLines?.find((l) => l.startsWith(instance.instanceId)) ?? '';
      expect(line).toMatch(/\sguardduty\s+198\.51\.100\.7\/32\s+5h 5\dm$/);
    }
    // Their session is not in the sessions' table; b's ENI shows it holds a slot.
    expect(sessionLines?.join('\n')).not.toContain(theirId);
    expect(eniLines?.[0]).toMatch(/^ENI\s+INSTANCE\s+SLOTS FREE\s+NOT MIRROROPS$/);
    expect(eniLines?.find((l) => l.startsWith(b.eniIds[0] ?? '-'))).toMatch(
      new RegExp(`\\s1 of 3\\s+${theirId} \\(no 30\\)$`),
    );
    expect(eniLines?.find((l) => l.startsWith(a.eniIds[0] ?? '-'))).toMatch(/\s2 of 3\s+-$/);
    const all = await mirrorops(['status', '--all', '--json'], aws);
    const [account] = (
      JSON.parse(all.stdout) as { accounts: { sessions: { sessionId: string; managed: boolean }[] }[] }
    ).accounts;
    expect(account?.sessions.find((r) => r.sessionId === theirId)).toMatchObject({ managed: false });

    const refused = await mirrorops(['stop', '--session', theirId], aws);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('not created by mirrorops');

    const one = await mirrorops(['stop', '--instance', a.instanceId], aws);
    expect(one.code).toBe(0);
    expect((await world.sessions()).map((s) => s.NetworkInterfaceId).sort()).toEqual(
      [b.eniIds[0], b.eniIds[0]].sort(),
    );

    const dry = await mirrorops(['stop', '--all', '--dry-run'], aws);
    expect(dry.stdout).toContain('would stop');
    expect(await world.sessions()).toHaveLength(2);

    const everything = await mirrorops(['stop', '--all'], aws);
    expect(everything.code).toBe(0);
    const left = await world.sessions();
    expect(left.map((s) => s.TrafficMirrorSessionId)).toEqual([theirId]);
    // mirrorops' filter is gone; the other filter (in use, not ours) stays.
    expect((await world.filters()).map((f) => f.TrafficMirrorFilterId)).toEqual([
      filter.TrafficMirrorFilter?.TrafficMirrorFilterId,
    ]);
  }, 120_000);

  test('misuse and bad configuration: one line naming what was wrong, non-zero exit', async () => {
    const local = { AWS_ENDPOINT_URL: env.url };
    const unknown = await mirrorops(['invoke', 'no-such-function'], local);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toContain("no function 'no-such-function'");

    const noTarget = await mirrorops(['invoke', 'ttl-sweeper'], local);
    expect(noTarget.code).toBe(1);
    expect(noTarget.stderr.trim().split('\n')).toHaveLength(1);
    expect(noTarget.stderr).toContain('MIRROROPS_TARGET_ID');

    const badEnv = await mirrorops(['invoke', 'ttl-sweeper'], {
      ...local,
      MIRROROPS_TARGET_ID: 'tmt-0123456789abcdef0',
      MIRROROPS_MAX_EXPIRY: 'forever',
    });
    expect(badEnv.code).toBe(1);
    expect(badEnv.stderr).toContain("MIRROROPS_MAX_EXPIRY: 'forever' is not a duration");

    const stopWhat = await mirrorops(['stop'], local);
    expect(stopWhat.code).toBe(2);
    expect(stopWhat.stderr).toContain('--instance ID, --eni ID, --session ID or --all');

    const missingFile = await mirrorops(
      ['invoke', 'guardduty-finding', '--event', '/nonexistent.json'],
      local,
    );
    expect(missingFile.code).toBe(1);
    expect(missingFile.stderr).toContain('/nonexistent.json');
  });
});
