import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { CreateVpcCommand, DescribeVpcsCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, test } from 'vitest';
import { main } from '../../cli/main.ts';
import { startEmulator } from '../../emulator/index.ts';
import { ec2For } from '../support/emulator.ts';

const NODE = resolve('node_modules/.bin/node');
const BIN = resolve('cli/bin.mjs');

interface Running {
  child: ChildProcess;
  /** Resolves with the first stdout line matching, or rejects after `ms`. */
  line(match: RegExp, ms?: number): Promise<string>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout: string[];
  stderr: () => string;
}

/** Processes a failed test left running. */
const children = new Set<ChildProcess>();
afterEach(() => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
});

/** Runs the real `mirrorops` bin in its own process. */
function run(args: string[]): Running {
  const child = spawn(NODE, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const stdout: string[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const lines = createInterface({ input: child.stdout ?? process.stdin });
  const waiting = new Set<(line: string) => void>();
  lines.on('line', (line) => {
    stdout.push(line);
    for (const notify of waiting) notify(line);
  });
  const exit = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  return {
    child,
    exit,
    stdout,
    stderr: () => stderr,
    line: (match, ms = 50_000) =>
      new Promise((resolveLine, reject) => {
        const found = stdout.find((l) => match.test(l));
        if (found !== undefined) return resolveLine(found);
        const timer = setTimeout(() => {
          waiting.delete(notify);
          reject(new Error(`no line matching ${match} in ${ms} ms; stderr: ${stderr}`));
        }, ms);
        const notify = (line: string) => {
          if (!match.test(line)) return;
          clearTimeout(timer);
          waiting.delete(notify);
          resolveLine(line);
        };
        waiting.add(notify);
        void exit.then(() => {
          if (!waiting.has(notify)) return;
          clearTimeout(timer);
          waiting.delete(notify);
          reject(new Error(`exited before a line matching ${match}; stderr: ${stderr}`));
        });
      }),
  };
}

/** Captures what `main` writes, for the in-process cases. */
function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

// A process start is tsx compiling the CLI: a second on an idle machine, far more on a busy one.
const PROCESS_TIMEOUT = 60_000;

describe('mirrorops emulator, as a process', () => {
  test.each(['SIGTERM', 'SIGINT'] as const)(
    'prints its URL once it serves, answers the SDK, and exits 0 on %s',
    async (signal) => {
      const cli = run(['emulator', '--port', '0']);
      const url = await cli.line(/^http:\/\//);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const ec2 = ec2For(url);
      await ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
      const vpcs = await ec2.send(new DescribeVpcsCommand({}));
      expect(vpcs.Vpcs).toHaveLength(1);
      expect(cli.stderr()).toContain(`export AWS_ENDPOINT_URL=${url}`);
      cli.child.kill(signal);
      expect(await cli.exit).toEqual({ code: 0, signal: null });
      expect(cli.stdout).toEqual([url]);
      expect(cli.stderr()).toContain(`stopped (${signal})`);
      await expect(fetch(url)).rejects.toThrow();
    },
    PROCESS_TIMEOUT,
  );

  test(
    'a port in use is a one-line error naming the port, exit 1',
    async () => {
      const taken = await startEmulator();
      try {
        const port = new URL(taken.url).port;
        const cli = run(['emulator', '--port', port]);
        expect(await cli.exit).toEqual({ code: 1, signal: null });
        const lines = cli.stderr().trimEnd().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toContain(port);
        expect(lines[0]).toMatch(/in use/);
        expect(cli.stdout).toEqual([]);
      } finally {
        await taken.stop();
      }
    },
    PROCESS_TIMEOUT,
  );

  test(
    'an unknown command is a one-line error, exit 2',
    async () => {
      const cli = run(['emulate']);
      expect(await cli.exit).toEqual({ code: 2, signal: null });
      const lines = cli.stderr().trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^mirrorops: unknown command 'emulate' \(commands: .*\bemulator\b.*\)$/);
    },
    PROCESS_TIMEOUT,
  );
});

describe('mirrorops, in process', () => {
  test('--help lists the commands on stdout, exit 0', async () => {
    const { io, out, err } = capture();
    expect(await main(['--help'], io)).toBe(0);
    expect(out.join('\n')).toMatch(/^Usage: mirrorops <command>/);
    expect(out.join('\n')).toMatch(/^ {2}emulator {2}/m);
    expect(err).toEqual([]);
  });

  test('--help documents the exit codes and the AWS options; each operator command has examples', async () => {
    const { io, out } = capture();
    expect(await main(['--help'], io)).toBe(0);
    const help = out.join('\n');
    for (const code of ['0', '1', '2', '3', '4', '5'])
      expect(help).toMatch(new RegExp(`^ {2}${code} {2}\\S`, 'm'));
    for (const flag of ['--region', '--profile', '--endpoint-url', '--output']) expect(help).toContain(flag);
    for (const name of ['start', 'extend', 'stop', 'status']) {
      const one = capture();
      expect(await main([name, '--help'], one.io)).toBe(0);
      const text = one.out.join('\n');
      expect(text).toMatch(new RegExp(`^Usage: mirrorops ${name} `));
      expect(text).toMatch(/^Examples:\n {2}mirrorops /m);
      expect(text).toContain('--profile P');
    }
  });

  test('no command at all prints the usage on stderr, exit 2', async () => {
    const { io, out, err } = capture();
    expect(await main([], io)).toBe(2);
    expect(out).toEqual([]);
    expect(err.join('\n')).toMatch(/^Usage: mirrorops/);
  });

  test('emulator --help lists its options', async () => {
    const { io, out } = capture();
    expect(await main(['emulator', '--help'], io)).toBe(0);
    for (const flag of ['--port', '--host', '--throttle', '--latency', '--failure-rate', '--seed']) {
      expect(out.join('\n')).toContain(flag);
    }
  });

  test.each([
    [['emulator', '--bogus'], /Unknown option '--bogus'/],
    [['emulator', '--port', 'abc'], /--port must be an integer/],
    [['emulator', '--port', '70000'], /--port must be an integer/],
    [['emulator', '--latency', '10-5'], /--latency/],
    [['emulator', '--failure-rate', '2'], /--failure-rate/],
    [['emulator', '--failure-rate', ''], /--failure-rate/],
    [['emulator', '--seed', '-1'], /--seed/],
    [['emulator', 'extra'], /positional/i],
  ])('%j is a one-line usage error, exit 2', async (argv, message) => {
    const { io, out, err } = capture();
    expect(await main(argv, io)).toBe(2);
    expect(out).toEqual([]);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(message);
    expect(err[0]).not.toContain('\n');
  });

  test('fault flags reach the emulator', async () => {
    const { io, out } = capture();
    const stop = new AbortController();
    const done = main(['emulator', '--port', '0', '--throttle', '--latency', '60'], io, stop.signal);
    await expect.poll(() => out.length, { timeout: 10_000 }).toBe(1);
    const ec2 = ec2For(out[0] ?? '');
    const start = performance.now();
    // RunInstances' bucket holds 5; a refused request still draws a token, as EC2 meters calls.
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, () => ec2.send(new RunInstancesCommand({ MinCount: 1, MaxCount: 1 }))),
    );
    expect(performance.now() - start).toBeGreaterThanOrEqual(58);
    const throttled = results.filter(
      (r) => r.status === 'rejected' && (r.reason as Error).name === 'RequestLimitExceeded',
    );
    expect(throttled).toHaveLength(1);
    stop.abort();
    expect(await done).toBe(0);
  });

  test('--failure-rate 1 makes every call fail', async () => {
    const { io, out } = capture();
    const stop = new AbortController();
    const done = main(['emulator', '--port', '0', '--failure-rate', '1'], io, stop.signal);
    await expect.poll(() => out.length, { timeout: 10_000 }).toBe(1);
    await expect(ec2For(out[0] ?? '').send(new DescribeVpcsCommand({}))).rejects.toMatchObject({
      name: 'InternalError',
    });
    stop.abort();
    expect(await done).toBe(0);
  });
});
