import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  CreateTrafficMirrorFilterCommand,
  CreateTrafficMirrorSessionCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { startEmulator } from '../emulator/index.ts';
import { TAG } from '../shared/domain/tags.ts';
import { launchMany, nlbTarget } from '../test/support/mirroring.ts';
import { createNetwork, must } from '../test/support/topology.ts';
import { fixed, median, table, verdict } from './table.ts';

/**
 * How fast `mirrorops` starts, as a responder runs it: fresh processes of the real bin (the build
 * `npm ci` makes, dist/cli), against `node -e 0` measured in the same run, interleaved so that the
 * machine's load falls on all of them alike. Issue 14's targets: `mirrorops --help` <= 0.3 s, and
 * `mirrorops status` against an emulator holding 100 sessions <= 1 s; for comparison, the same two
 * from the TypeScript sources through tsx (what every start cost before the build).
 */
export interface CliStartOptions {
  /** Fresh processes per case; the median counts. */
  runs: number;
  sessions: number;
}

export const DEFAULT_CLI_START: CliStartOptions = { runs: 7, sessions: 100 };

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const NODE = `${root}node_modules/.bin/node`;
const BIN = `${root}cli/bin.mjs`;

async function timed(args: string[], env: Record<string, string>): Promise<number> {
  const start = performance.now();
  await run(NODE, args, {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
  });
  return (performance.now() - start) / 1000;
}

export async function benchCliStart(options: CliStartOptions = DEFAULT_CLI_START): Promise<string> {
  // The build `npm ci` makes (prepare), fresh for the sources as they are now.
  await run(NODE, [`${root}cli/build.mjs`], { cwd: root });
  const emulator = await startEmulator();
  try {
    const account = '210000000001';
    const ec2 = new EC2Client({
      endpoint: emulator.url,
      region: 'us-east-1',
      credentials: { accessKeyId: account, secretAccessKey: 'bench' },
    });
    const network = await createNetwork(ec2, { cidr: '10.0.0.0/16', subnetCidr: '10.0.0.0/20' });
    const [instances, targetId, filter] = await Promise.all([
      launchMany(ec2, network.subnetId, options.sessions),
      // An NLB target: an ENI target takes 10 sources.
      nlbTarget(ec2, account),
      ec2.send(new CreateTrafficMirrorFilterCommand({})),
    ]);
    const filterId = must(filter.TrafficMirrorFilter?.TrafficMirrorFilterId, 'filter');
    const expires = new Date(Date.now() + 3_600_000).toISOString();
    for (const instance of instances) {
      const tags = {
        [TAG.managed]: 'true',
        [TAG.reason]: 'manual',
        [TAG.expiresAt]: expires,
        [TAG.instance]: instance.instanceId,
      };
      await ec2.send(
        new CreateTrafficMirrorSessionCommand({
          NetworkInterfaceId: instance.eniId,
          TrafficMirrorTargetId: targetId,
          TrafficMirrorFilterId: filterId,
          SessionNumber: 10,
          TagSpecifications: [
            {
              ResourceType: 'traffic-mirror-session',
              Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
            },
          ],
        }),
      );
    }
    const aws = {
      AWS_ENDPOINT_URL: emulator.url,
      AWS_ACCESS_KEY_ID: account,
      AWS_SECRET_ACCESS_KEY: 'bench',
    };
    // The build just made, even if a source changes meanwhile (the bin would run the sources then).
    const build = { ...aws, MIRROROPS_CLI: 'build' };
    const sources = { ...aws, MIRROROPS_CLI: 'sources' };
    const cases: { name: string; args: string[]; env: Record<string, string>; target?: number }[] = [
      { name: 'node -e 0', args: ['-e', '0'], env: {} },
      { name: 'mirrorops --help', args: [BIN, '--help'], env: build, target: 0.3 },
      {
        name: `mirrorops status (${options.sessions} sessions)`,
        args: [BIN, 'status'],
        env: build,
        target: 1,
      },
      { name: 'mirrorops --help, from sources (tsx)', args: [BIN, '--help'], env: sources },
      { name: 'mirrorops status, from sources (tsx)', args: [BIN, 'status'], env: sources },
    ];
    // One warm-up each (the OS's file cache, V8's compile cache), then rounds of every case.
    for (const c of cases) await timed(c.args, c.env);
    const times = cases.map(() => [] as number[]);
    for (let round = 0; round < options.runs; round++) {
      for (const [i, c] of cases.entries()) times[i]?.push(await timed(c.args, c.env));
    }
    const medians = times.map(median);
    const floor = medians[0] ?? Number.NaN;
    const rows = cases.map((c, i) => {
      const m = medians[i] ?? Number.NaN;
      return [
        c.name,
        fixed(m, 3),
        fixed(m / floor, 2),
        c.target === undefined ? '' : `<= ${c.target} s`,
        c.target === undefined ? '' : verdict(m <= c.target),
      ];
    });
    return [
      `CLI start: median of ${options.runs} fresh processes each, interleaved; ratio to node -e 0 in this run`,
      table(['case', 'seconds', 'ratio', 'target', ''], rows),
    ].join('\n');
  } finally {
    await emulator.stop();
  }
}
