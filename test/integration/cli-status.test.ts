import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { CreateTrafficMirrorFilterCommand } from '@aws-sdk/client-ec2';
import { describe, expect, test } from 'vitest';
import { TAG } from '../../shared/domain/tags.ts';
import { responder } from '../support/cli.ts';
import { useEmulator } from '../support/emulator.ts';
import { tagsOf } from '../support/incident.ts';
import { allFilters, allSessions, createSession } from '../support/mirroring.ts';
import { must } from '../support/topology.ts';

const env = useEmulator();

/** A session someone else made on the ENI (no mirrorops tags), at this number. */
async function foreignSession(r: Awaited<ReturnType<typeof responder>>, eniId: string, number: number) {
  const filter = await r.ec2.send(new CreateTrafficMirrorFilterCommand({}));
  const session = await createSession(r.ec2, {
    NetworkInterfaceId: eniId,
    TrafficMirrorTargetId: r.targetId,
    TrafficMirrorFilterId: must(filter.TrafficMirrorFilter?.TrafficMirrorFilterId, 'filter'),
    SessionNumber: number,
  });
  return must(session.TrafficMirrorSessionId, 'session id');
}

describe('mirrorops status', () => {
  test('per ENI: free slots and the sessions mirrorops did not create; --instance shows all its ENIs', async () => {
    const r = await responder(env.url);
    const second = await r.attachEni(1);
    expect(
      (
        await r.run([
          'start',
          '--eni',
          r.eniId,
          '--for',
          '2h',
          '--target',
          r.targetId,
          '--scope',
          '198.51.100.7',
        ])
      ).code,
    ).toBe(0);
    const theirs = await foreignSession(r, r.eniId, 1);

    const ran = await r.run(['status']);
    expect(ran.code).toBe(0);
    const lines = ran.stdout.split('\n');
    expect(lines[0]).toMatch(/^INSTANCE\s+ENI\s+SESSION\s+NO\s+REASON\s+MIRRORS\s+EXPIRES IN$/);
    expect(lines[1]).toMatch(
      new RegExp(
        `^${r.instanceId}\\s+${r.eniId}\\s+tms-\\w+\\s+10\\s+manual\\s+198\\.51\\.100\\.7/32\\s+1h 5\\dm$`,
      ),
    );
    expect(lines[2]).toBe('');
    expect(lines[3]).toMatch(/^ENI\s+INSTANCE\s+SLOTS FREE\s+NOT MIRROROPS$/);
    expect(lines[4]).toMatch(new RegExp(`^${r.eniId}\\s+${r.instanceId}\\s+1 of 3\\s+${theirs} \\(no 1\\)$`));
    expect(lines).toHaveLength(5);

    const json = await r.run(['status', '--instance', r.instanceId, '--output', 'json']);
    const [account] = (
      JSON.parse(json.stdout) as {
        accounts: {
          account: string;
          sessions: { sessionId: string; managed: boolean }[];
          interfaces: unknown[];
        }[];
      }
    ).accounts;
    expect(account?.account).toBe(r.account);
    expect(account?.sessions.map((s) => s.managed).sort()).toEqual([false, true]);
    expect(account?.interfaces).toEqual([
      {
        networkInterfaceId: r.eniId,
        instanceId: r.instanceId,
        used: 2,
        free: 1,
        notMirrorops: [{ sessionId: theirs, sessionNumber: 1 }],
      },
      { networkInterfaceId: second, instanceId: r.instanceId, used: 0, free: 3, notMirrorops: [] },
    ]);

    const text = await r.run(['status', '--eni', second, '--output', 'text']);
    expect(text.out).toEqual([
      ['INTERFACE', r.account, 'us-east-1', second, r.instanceId, '0', '3', '-'].join('\t'),
    ]);
    // --json is --output json.
    expect(JSON.parse((await r.run(['status', '--json'])).stdout)).toHaveProperty('accounts');
  });

  test('--watch refreshes until the shutdown signal, showing what changed', async () => {
    const r = await responder(env.url);
    const stop = new AbortController();
    const lines: string[] = [];
    const watching = r.run(
      ['status', '--watch', '--interval', '0.05', '--instance', r.instanceId],
      {},
      stop.signal,
      (l) => lines.push(l),
    );
    await expect
      .poll(() => lines.filter((l) => l.startsWith('Every 0.05s: mirrorops status')).length)
      .toBeGreaterThan(0);
    expect(lines.join('\n')).not.toMatch(/\smanual\s/);
    expect(
      (await r.run(['start', '--instance', r.instanceId, '--for', '1h', '--target', r.targetId])).code,
    ).toBe(0);
    // A later refresh shows the session started meanwhile.
    await expect
      .poll(() => /\s10\s+manual\s+all traffic\s/.test(lines.join('\n')), { timeout: 10_000 })
      .toBe(true);
    stop.abort();
    const done = await watching;
    expect(done.code).toBe(0);
    expect(done.err).toEqual([]);
  });
});

describe('AWS options', () => {
  test('--region, AWS_DEFAULT_REGION and --endpoint-url pick where the command looks, as the AWS CLI does', async () => {
    const r = await responder(env.url);
    expect(
      (await r.run(['start', '--instance', r.instanceId, '--for', '1h', '--target', r.targetId])).code,
    ).toBe(0);
    const sessionsIn = async (argv: string[], vars: Record<string, string | undefined> = {}) => {
      const ran = await r.run(['status', '--output', 'json', ...argv], vars);
      expect(ran.code).toBe(0);
      const [account] = (JSON.parse(ran.stdout) as { accounts: { region: string; sessions: unknown[] }[] })
        .accounts;
      return [account?.region, account?.sessions.length];
    };
    expect(await sessionsIn([])).toEqual(['us-east-1', 1]);
    expect(await sessionsIn(['--region', 'eu-west-1'])).toEqual(['eu-west-1', 0]);
    expect(await sessionsIn([], { AWS_REGION: undefined, AWS_DEFAULT_REGION: 'eu-west-1' })).toEqual([
      'eu-west-1',
      0,
    ]);
    expect(await sessionsIn(['--endpoint-url', env.url], { AWS_ENDPOINT_URL: undefined })).toEqual([
      'us-east-1',
      1,
    ]);
    const bad = await r.run(['status', '--region', 'mars']);
    expect(bad.code).toBe(2);
    expect(bad.err).toEqual([
      "mirrorops status: 'mars' is not a Region name such as us-east-1 (see 'mirrorops status --help')",
    ]);
  });
});

describe('the real bin, in its own process', () => {
  test('start, status and stop as a responder types them: output on stdout, exit codes', async () => {
    const r = await responder(env.url);
    const bin = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
        execFile(
          resolve('node_modules/.bin/node'),
          [resolve('cli/bin.mjs'), ...args],
          {
            env: {
              PATH: process.env.PATH ?? '',
              HOME: process.env.HOME ?? '/tmp',
              AWS_ENDPOINT_URL: env.url,
              AWS_ACCESS_KEY_ID: r.account,
              AWS_SECRET_ACCESS_KEY: 'test',
              AWS_DEFAULT_REGION: 'us-east-1',
            },
            timeout: 60_000,
          },
          (error, stdout, stderr) =>
            done({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
    const started = await bin([
      'start',
      '--instance',
      r.instanceId,
      '--for',
      '2h',
      '--target',
      r.targetId,
      '--output',
      'text',
    ]);
    expect(started.stderr).toBe('');
    expect(started.code).toBe(0);
    expect(started.stdout).toMatch(
      new RegExp(`^OUTCOME\\t${r.instanceId}\\t${r.eniId}\\tstarted\\ttms-\\w+\\t10\\t`),
    );
    const status = await bin(['status', '--output', 'text']);
    expect(status.code).toBe(0);
    expect(status.stdout.split('\n')).toContain(
      ['INTERFACE', r.account, 'us-east-1', r.eniId, r.instanceId, '1', '2', '-'].join('\t'),
    );
    const stopped = await bin(['stop', '--instance', r.instanceId, '--reason', 'manual']);
    expect(stopped.code).toBe(0);
    expect(await allSessions(r.ec2)).toEqual([]);
    const again = await bin(['stop', '--instance', r.instanceId]);
    expect(again.code).toBe(4);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
  }, 120_000);
});

describe('mirrorops stop', () => {
  test('--session, --reason and --eni stop only mirrorops sessions that match; audit events say who', async () => {
    const r = await responder(env.url);
    const second = await r.attachEni(1);
    expect(
      (await r.run(['start', '--instance', r.instanceId, '--for', '2h', '--target', r.targetId])).code,
    ).toBe(0);
    const theirs = await foreignSession(r, second, 20);
    const ours = (await allSessions(r.ec2)).filter((s) => tagsOf(s)[TAG.managed] === 'true');
    expect(ours).toHaveLength(2);

    // Not theirs, whatever the selector.
    const refused = await r.run(['stop', '--session', theirs]);
    expect(refused.code).toBe(1);
    expect(refused.err).toEqual([
      `mirrorops stop: session ${theirs} was not created by mirrorops; it is left alone`,
    ]);
    // No tag sessions: nothing to do.
    expect((await r.run(['stop', '--instance', r.instanceId, '--reason', 'tag'])).code).toBe(4);

    const dry = await r.run(['stop', '--eni', second, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(
      /would stop\s+tms-\w+\s+i-\w+\s+eni-\w+\s+manual\s+allowed \(DryRunOperation\)/,
    );
    expect(await allSessions(r.ec2)).toHaveLength(3);

    const one = await r.run(['stop', '--eni', second]);
    expect(one.code).toBe(0);
    expect((await allSessions(r.ec2)).map((s) => s.NetworkInterfaceId).sort()).toEqual(
      [r.eniId, second].sort(),
    );
    const rest = await r.run(['stop', '--reason', 'manual', '--output', 'json']);
    expect(rest.code).toBe(0);
    expect(JSON.parse(rest.stdout)).toMatchObject({
      dryRun: false,
      accounts: [{ account: r.account, stopped: [{ networkInterfaceId: r.eniId, reason: 'manual' }] }],
    });
    expect((await allSessions(r.ec2)).map((s) => s.TrafficMirrorSessionId)).toEqual([theirs]);

    const stopped = (await r.audit()).filter((e) => e['detail-type'] === 'Mirror Session Stopped');
    expect(stopped).toHaveLength(2);
    for (const e of stopped)
      expect(e.detail.message).toBe(`stopped by arn:aws:iam::${r.account}:root (mirrorops stop)`);

    // --all removes mirrorops' filters nothing uses; theirs stays.
    const all = await r.run(['stop', '--all']);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/removed\s+tmf-\w+/);
    expect((await allFilters(r.ec2)).every((f) => tagsOf(f)[TAG.managed] !== 'true')).toBe(true);
    expect((await allFilters(r.ec2)).length).toBe(1);
    // Now nothing at all: exit 4.
    expect((await r.run(['stop', '--all'])).code).toBe(4);
  });
});
