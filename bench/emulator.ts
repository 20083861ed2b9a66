import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  CreateNetworkInterfaceCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DescribeInstancesCommand,
  DescribeVpcsCommand,
  EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { type BucketName, EC2_RATES } from '../emulator/index.ts';

/**
 * Requests per second of the emulator, through the real SDK over HTTP, with the emulator in its
 * own process (started by the `mirrorops emulator` bin) so that client and server each have a
 * core. What it measures is a floor: on a small machine the SDK's signing and XML parsing cost
 * as much as the emulator's work.
 */

export interface Bounds {
  /** Requests per cell (operation x concurrency) at most. */
  requests: number;
  /** Seconds per cell at most. */
  seconds: number;
  concurrency: readonly number[];
}

export const DEFAULT_BOUNDS: Bounds = { requests: 2000, seconds: 2, concurrency: [1, 16, 64] };

export interface Row {
  operation: string;
  bucket: BucketName;
  concurrency: number;
  requests: number;
  failures: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time the emulator process spent per request (Linux only), so its own capacity shows even when the client is the bottleneck. */
  serverCpuMs: number;
}

interface Operation {
  name: string;
  bucket: BucketName;
  /** One call; `i` numbers the calls of a cell, for unique ClientTokens. */
  call(i: number): Promise<unknown>;
}

/** Starts `mirrorops emulator --port 0 [args]` and resolves with its URL once it prints it. */
export async function spawnEmulator(
  args: readonly string[] = [],
): Promise<{ url: string; child: ChildProcess }> {
  const bin = fileURLToPath(new URL('../cli/bin.mjs', import.meta.url));
  const child = spawn(process.execPath, [bin, 'emulator', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const timer = setTimeout(() => child.kill(), 30_000);
  try {
    for await (const line of createInterface({ input: child.stdout ?? process.stdin })) {
      if (/^https?:\/\//.test(line)) return { url: line, child };
    }
  } finally {
    clearTimeout(timer);
  }
  throw new Error(`the emulator did not print its URL: ${stderr.trim()}`);
}

/** CPU seconds a process has used, from /proc (Linux); NaN elsewhere. */
export function cpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the file, 12 and 13 after the command name; ticks of 1/100 s.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Runs `call` from `concurrency` workers until the request or time bound is reached. */
async function cell(op: Operation, concurrency: number, bounds: Bounds, serverPid?: number): Promise<Row> {
  const cpuBefore = cpuSeconds(serverPid);
  const latencies: number[] = [];
  let issued = 0;
  let failures = 0;
  const start = performance.now();
  const deadline = start + bounds.seconds * 1000;
  const worker = async () => {
    while (issued < bounds.requests && performance.now() < deadline) {
      const i = issued++;
      const t = performance.now();
      try {
        await op.call(i);
      } catch {
        failures++;
      }
      latencies.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - start) / 1000;
  const serverCpuMs = ((cpuSeconds(serverPid) - cpuBefore) * 1000) / Math.max(1, latencies.length);
  latencies.sort((a, b) => a - b);
  return {
    operation: op.name,
    bucket: op.bucket,
    concurrency,
    requests: latencies.length,
    failures,
    seconds,
    perSecond: latencies.length / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    serverCpuMs,
  };
}

/** A world worth describing: 100 tagged VPCs, 200 instances of which 10 carry the mirror tag. */
async function prepare(ec2: EC2Client): Promise<{ subnetId: string; vpcId: string }> {
  let vpcId = '';
  for (let i = 0; i < 100; i++) {
    const out = await ec2.send(
      new CreateVpcCommand({
        CidrBlock: `10.${i}.0.0/16`,
        TagSpecifications: [{ ResourceType: 'vpc', Tags: [{ Key: 'team', Value: `team-${i % 10}` }] }],
      }),
    );
    if (i === 0) vpcId = out.Vpc?.VpcId ?? '';
  }
  const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: '10.0.0.0/16' }));
  const subnetId = subnet.Subnet?.SubnetId ?? '';
  await ec2.send(
    new RunInstancesCommand({ MinCount: 190, MaxCount: 190, ImageId: 'ami-12345678', SubnetId: subnetId }),
  );
  await ec2.send(
    new RunInstancesCommand({
      MinCount: 10,
      MaxCount: 10,
      ImageId: 'ami-12345678',
      SubnetId: subnetId,
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'mirrorops:mirror', Value: 'true' }] }],
    }),
  );
  return { subnetId, vpcId };
}

export async function benchEmulator(bounds: Bounds = DEFAULT_BOUNDS): Promise<Row[]> {
  const { url, child } = await spawnEmulator();
  const maxSockets = Math.max(...bounds.concurrency);
  const ec2 = new EC2Client({
    endpoint: url,
    region: 'us-east-1',
    maxAttempts: 1,
    credentials: { accessKeyId: '111111111111', secretAccessKey: 'bench' },
    requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets }) },
  });
  try {
    const { subnetId, vpcId } = await prepare(ec2);
    let run = 0;
    const operations: Operation[] = [
      {
        name: 'DescribeVpcs, tag filter (10 of 100)',
        bucket: 'describe',
        call: () =>
          ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:team', Values: ['team-3'] }] })),
      },
      {
        name: 'DescribeInstances, 2 filters (10 of 200)',
        bucket: 'describe',
        call: () =>
          ec2.send(
            new DescribeInstancesCommand({
              Filters: [
                { Name: 'tag:mirrorops:mirror', Values: ['true'] },
                { Name: 'instance-state-name', Values: ['running'] },
              ],
            }),
          ),
      },
      {
        name: 'CreateNetworkInterface, ClientToken',
        bucket: 'mutating',
        call: (i) =>
          ec2.send(
            new CreateNetworkInterfaceCommand({ SubnetId: subnetId, ClientToken: `bench-${run}-${i}` }),
          ),
      },
      {
        name: 'CreateTags, 2 tags',
        bucket: 'tags',
        call: (i) =>
          ec2.send(
            new CreateTagsCommand({
              Resources: [vpcId],
              Tags: [
                { Key: 'mirrorops:intent', Value: `bench-${i}` },
                { Key: 'mirrorops:managed', Value: 'true' },
              ],
            }),
          ),
      },
    ];
    const rows: Row[] = [];
    for (const op of operations) {
      // A short warm-up, so the first cell does not pay for JIT and connections.
      await cell(op, Math.min(8, maxSockets), { ...bounds, requests: 50 });
      for (const concurrency of bounds.concurrency) {
        run++;
        rows.push(await cell(op, concurrency, bounds, child.pid));
      }
    }
    return rows;
  } finally {
    ec2.destroy();
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
}

const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : '-');

/** The rows as a table, then each operation's best rate against EC2's sustained rate for its bucket. */
export function formatReport(rows: readonly Row[]): string {
  const header = [
    'operation',
    'conc',
    'requests',
    'failed',
    'seconds',
    'req/s',
    'p50 ms',
    'p99 ms',
    'emu CPU ms/req',
  ];
  const body = rows.map((r) => [
    r.operation,
    String(r.concurrency),
    String(r.requests),
    String(r.failures),
    fixed(r.seconds, 2),
    fixed(r.perSecond, 0),
    fixed(r.p50Ms, 2),
    fixed(r.p99Ms, 2),
    fixed(r.serverCpuMs, 2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  const best = new Map<string, Row>();
  for (const r of rows) {
    const seen = best.get(r.operation);
    if (!seen || r.perSecond > seen.perSecond) best.set(r.operation, r);
  }
  const ratios = [...best.values()].map((r) => {
    const rate = EC2_RATES[r.bucket];
    const cpu = Math.min(...rows.filter((x) => x.operation === r.operation).map((x) => x.serverCpuMs));
    const capacity =
      Number.isFinite(cpu) && cpu > 0 ? `; emulator alone ~${fixed(1000 / cpu, 0)} req/s per core` : '';
    return `  ${r.operation.padEnd(widths[0] ?? 0)}  ${fixed(r.perSecond, 0).padStart(6)} req/s = ${fixed(r.perSecond / rate.perSecond, 0).padStart(4)}x EC2's ${r.bucket} refill (${rate.perSecond}/s)${capacity}`;
  });
  return [
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...body.map(line),
    '',
    "Measured rate (best concurrency) against EC2's sustained limit per account and Region:",
    ...ratios,
  ].join('\n');
}
