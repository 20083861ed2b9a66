import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { type Capture, type CaptureOptions, startCapture } from '../../cli/capture/capture.ts';
import { INDEX_FORMAT, type IndexEntry, PcapFiles } from '../../cli/capture/files.ts';
import { main } from '../../cli/main.ts';
import { ethernetFrame, sendUdp, vxlan } from '../support/vxlan.ts';
import { readWithWireshark } from '../support/wireshark.ts';

const NODE = resolve('node_modules/.bin/node');
const BIN = resolve('cli/bin.mjs');
/**
 * Root may write to any directory, so as root the unwritable-directory case runs as nobody, which
 * needs a checkout nobody can read (a clone in a private temporary directory is not one).
 */
const AS_NOBODY = { uid: 65534, gid: 65534 };
const unwritableTestable =
  process.getuid?.() !== 0 ||
  spawnSync(NODE, ['-e', `require('node:fs').accessSync(${JSON.stringify(BIN)})`], AS_NOBODY).status === 0;
const NS = 1_000_000_000n;

const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function scratch(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'mirrorops-capture-'));
}

/** Waits until `check` holds, looking again every few milliseconds; fails with `what` after 10 s. */
async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function capture(options: Partial<CaptureOptions> & { dir: string }): Promise<Capture> {
  const running = await startCapture({ host: '127.0.0.1', port: 0, tickMs: 0, ...options });
  cleanup.push(() => running.stop());
  return running;
}

async function received(c: Capture, datagrams: number): Promise<void> {
  await until(async () => {
    const s = await c.stats();
    return s.packets + s.dropped + s.malformed >= datagrams;
  }, `${datagrams} datagrams`);
}

/** `mirrorops capture` through main(), in this process, stopped by the shutdown signal. */
function runCli(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const waiting = new Set<() => void>();
  const notify = () => {
    for (const wake of waiting) wake();
  };
  const shutdown = new AbortController();
  const exit = main(
    ['capture', ...args],
    {
      out: (line) => {
        out.push(line);
        notify();
      },
      err: (line) => {
        err.push(...line.split('\n'));
        notify();
      },
    },
    shutdown.signal,
  );
  cleanup.push(() => {
    shutdown.abort();
    return exit;
  });
  const line = (lines: string[], match: RegExp) =>
    new Promise<string>((resolveLine, reject) => {
      const look = () => {
        const found = lines.find((l) => match.test(l));
        if (found !== undefined) {
          waiting.delete(look);
          clearTimeout(timer);
          resolveLine(found);
        }
      };
      const timer = setTimeout(() => {
        waiting.delete(look);
        reject(new Error(`no line ${match} in ${JSON.stringify([...out, ...err])}`));
      }, 15_000);
      waiting.add(look);
      look();
      void exit.then(() => setImmediate(() => look()));
    });
  return {
    out,
    err,
    exit,
    stop: () => {
      shutdown.abort();
      return exit;
    },
    outLine: (match: RegExp) => line(out, match),
    errLine: (match: RegExp) => line(err, match),
    port: async () => Number((await line(out, /^127\.0\.0\.1:\d+$/)).split(':')[1]),
  };
}

async function pcapFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.pcap')).sort();
}

async function index(dir: string): Promise<IndexEntry[]> {
  const parsed = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
  expect(parsed.format).toBe(INDEX_FORMAT);
  return parsed.files;
}

describe('mirrorops capture', () => {
  test('writes one nanosecond Ethernet pcap per VNI that Wireshark reads: frames, lengths, truncation; malformed datagrams are counted and skipped', async () => {
    const dir = await scratch();
    const cli = runCli(['--listen', '127.0.0.1:0', '--out', dir, '--status-seconds', '1']);
    const port = await cli.port();
    const ssh = ethernetFrame({ destinationPort: 22, payload: Buffer.from('SSH-2.0-attacker') });
    const big = ethernetFrame({ destinationPort: 443, payload: Buffer.alloc(1200, 0x41) });
    const cut = big.subarray(0, 100); // what a session with PacketLength 100 delivers
    const dns = ethernetFrame({
      version: 6,
      protocol: 17,
      destinationPort: 53,
      payload: Buffer.alloc(40, 1),
    });
    const before = BigInt(Date.now()) * 1_000_000n;
    await sendUdp(port, [
      vxlan(7, ssh),
      Buffer.from('not vxlan'),
      vxlan(7, cut),
      vxlan(9, dns),
      vxlan(7, ssh, 0x00),
      vxlan(9, dns.subarray(0, 10)),
      vxlan(7, big),
    ]);
    await cli.errLine(/4 packets, .*; dropped 0.*, malformed 3$/);
    expect(await cli.stop()).toBe(0);
    const after = BigInt(Date.now()) * 1_000_000n;
    expect(cli.err.at(-1)).toMatch(
      /^mirrorops capture: stopped \(shutdown\): 4 packets, .*2 files \(0 open\); dropped 0.*, malformed 3$/,
    );

    expect(await pcapFiles(dir)).toEqual(['7_1.pcap', '9_1.pcap']);
    const seven = await readWithWireshark(join(dir, '7_1.pcap'));
    expect(seven.fileType).toBe('Wireshark/tcpdump/... - nanosecond pcap');
    expect(seven.encapsulation).toBe('Ethernet');
    expect(seven.frames.map((f) => [f.length, f.capturedLength])).toEqual([
      [ssh.length, ssh.length],
      [big.length, 100],
      [big.length, big.length],
    ]);
    expect(seven.frames.map((f) => f.bytes)).toEqual([ssh, cut, big]);
    expect(seven.frames[0]?.protocols).toMatch(/^eth:ethertype:ip:tcp/);
    expect(seven.frames[0]?.fields.get('tcp.dstport')).toBe('22');
    expect(seven.frames[1]?.fields.get('ip.len')).toBe(String(big.length - 14));
    const times = seven.frames.map((f) => f.epochNs);
    for (const t of times) {
      // The capture's clock is the wall clock at its start plus a monotonic one: a second of slack
      // covers any slewing of the wall clock since.
      expect(t).toBeGreaterThanOrEqual(before - NS);
      expect(t).toBeLessThanOrEqual(after + NS);
    }
    expect([...times].sort()).toEqual(times);

    const nine = await readWithWireshark(join(dir, '9_1.pcap'));
    expect(nine.frames).toHaveLength(1);
    expect(nine.frames[0]?.protocols).toBe('eth:ethertype:ipv6:udp:dns');
    expect(nine.frames[0]?.bytes).toEqual(dns);

    const raw = await readFile(join(dir, '7_1.pcap'));
    // magic a1b23c4d (nanoseconds) little-endian, version 2.4, zone 0, sigfigs 0, snaplen 262144, Ethernet
    expect(raw.subarray(0, 24).toString('hex')).toBe('4d3cb2a102000400000000000000000000000400' + '01000000');

    expect(await index(dir)).toEqual([
      expect.objectContaining({ file: '7_1.pcap', vni: 7, sequence: 1, packets: 3, complete: true }),
      expect.objectContaining({ file: '9_1.pcap', vni: 9, sequence: 1, packets: 1, complete: true }),
    ]);
    const seventh = (await index(dir))[0];
    expect(seventh?.bytes).toBe((await stat(join(dir, '7_1.pcap'))).size);
  });

  test('timestamps are the arrival clock to the nanosecond; a file rotates once it is S seconds old, idle or not', async () => {
    const dir = await scratch();
    let now = 1_700_000_000n * NS + 123_456_789n;
    const c = await capture({ dir, rotateSeconds: 10, clock: () => now });
    const frame = ethernetFrame();
    await sendUdp(c.address.port, [vxlan(5, frame)]);
    await received(c, 1);
    now += 9n * NS + 999_999_999n; // 9.999999999 s after the first packet: same file
    await sendUdp(c.address.port, [vxlan(5, frame)]);
    await received(c, 2);
    now += 1n; // 10 s: the next packet starts file 2
    await sendUdp(c.address.port, [vxlan(5, frame)]);
    await received(c, 3);
    expect((await c.stats()).filesOpened).toBe(2);
    now += 10n * NS; // file 2 is now 10 s old with no packet since: the tick closes it
    c.tick();
    await until(async () => (await c.stats()).filesOpen === 0, 'the aged file to close');
    await until(async () => (await index(dir).catch(() => [])).every((e) => e.complete), 'the index');
    await c.stop();

    expect(await pcapFiles(dir)).toEqual(['5_1.pcap', '5_2.pcap']);
    const first = await readWithWireshark(join(dir, '5_1.pcap'));
    expect(first.frames.map((f) => f.epochNs)).toEqual([
      1_700_000_000_123_456_789n,
      1_700_000_010_123_456_788n,
    ]);
    expect(first.frames[0]?.fields.get('frame.time_epoch')).toBe('1700000000.123456789');
    const second = await readWithWireshark(join(dir, '5_2.pcap'));
    expect(second.frames.map((f) => f.epochNs)).toEqual([1_700_000_010_123_456_789n]);
    expect((await index(dir)).map((e) => [e.file, e.firstPacket, e.lastPacket])).toEqual([
      ['5_1.pcap', '2023-11-14T22:13:20.123456789Z', '2023-11-14T22:13:30.123456788Z'],
      ['5_2.pcap', '2023-11-14T22:13:30.123456789Z', '2023-11-14T22:13:30.123456789Z'],
    ]);
  });

  test('rotates by size: no file passes the limit, and every packet is in one file, in order', async () => {
    const dir = await scratch();
    const frames = Array.from({ length: 12 }, (_, i) =>
      ethernetFrame({ sourcePort: 40_000 + i, payload: Buffer.alloc(100 + i) }),
    );
    const limit = 24 + 3 * (16 + 160); // the header and three records of about 150 bytes
    const c = await capture({ dir, rotateBytes: limit });
    await sendUdp(
      c.address.port,
      frames.map((f) => vxlan(3, f)),
    );
    await received(c, frames.length);
    await c.stop();
    const names = await pcapFiles(dir);
    expect(names.length).toBeGreaterThan(3);
    const read: Buffer[] = [];
    for (const name of names.sort(
      (a, b) => Number(a.split('_')[1]?.split('.')[0]) - Number(b.split('_')[1]?.split('.')[0]),
    )) {
      expect((await stat(join(dir, name))).size).toBeLessThanOrEqual(limit);
      read.push(...(await readWithWireshark(join(dir, name))).frames.map((f) => f.bytes));
    }
    expect(read).toEqual(frames);
  });

  test('at most N files are open: the least recently written is closed, and its VNI goes on in a new file', async () => {
    const dir = await scratch();
    const c = await capture({ dir, maxOpenFiles: 2 });
    const frame = (vni: number, i: number) => vxlan(vni, ethernetFrame({ sourcePort: vni * 100 + i }));
    // 1, 2 open; 3 closes 1 (least recent); 2 is written; 1 again closes 3 (2 was written after it).
    await sendUdp(c.address.port, [frame(1, 0), frame(2, 0), frame(3, 0), frame(2, 1), frame(1, 1)]);
    await received(c, 5);
    const s = await c.stats();
    expect(s.filesOpen).toBe(2);
    expect(s.filesOpened).toBe(4);
    await c.stop();
    expect(await pcapFiles(dir)).toEqual(['1_1.pcap', '1_2.pcap', '2_1.pcap', '3_1.pcap']);
    const ports = async (name: string) =>
      (await readWithWireshark(join(dir, name))).frames.map((f) => f.fields.get('tcp.srcport'));
    expect(await ports('1_1.pcap')).toEqual(['100']);
    expect(await ports('1_2.pcap')).toEqual(['101']);
    expect(await ports('2_1.pcap')).toEqual(['200', '201']);
    expect(await ports('3_1.pcap')).toEqual(['300']);
  });

  test('bytes waiting to be written are capped: past the cap packets are dropped and counted, the rest written', async () => {
    const dir = await scratch();
    const files = await PcapFiles.create({ dir, maxBufferedTotal: 5_000, maxBufferedPerFile: 3_000 });
    const datagram = vxlan(1, ethernetFrame({ payload: Buffer.alloc(200) }));
    const record = 16 + datagram.length - 8; // 270 bytes
    // In one turn of the event loop nothing is written yet, so the caps hold what arrives.
    for (let i = 0; i < 20; i++) files.packet(1, datagram, 8, 0, i);
    for (let i = 0; i < 20; i++) files.packet(2, datagram, 8, 0, i);
    const perFile = Math.floor((3_000 - 24) / record); // 11
    const second = Math.floor((5_000 - 24 - perFile * record - 24) / record); // 6
    expect(files.snapshot()).toMatchObject({ packets: perFile + second, dropped: 40 - perFile - second });
    expect(files.snapshot().buffered).toBeLessThanOrEqual(5_000);
    await files.close();
    expect(files.snapshot().buffered).toBe(0);
    expect((await readWithWireshark(join(dir, '1_1.pcap'))).frames).toHaveLength(perFile);
    expect((await readWithWireshark(join(dir, '2_1.pcap'))).frames).toHaveLength(second);
  });

  test('files already in the directory are never overwritten; an index.json it did not write is refused', async () => {
    const dir = await scratch();
    await writeFile(join(dir, '4_1.pcap'), 'a capture from before');
    const c = await capture({ dir });
    await sendUdp(c.address.port, [vxlan(4, ethernetFrame())]);
    await received(c, 1);
    await c.stop();
    expect(await readFile(join(dir, '4_1.pcap'), 'utf8')).toBe('a capture from before');
    expect((await readWithWireshark(join(dir, '4_2.pcap'))).frames).toHaveLength(1);
    // A second run adds to the index of the first.
    const again = await capture({ dir });
    await sendUdp(again.address.port, [vxlan(4, ethernetFrame())]);
    await received(again, 1);
    await again.stop();
    expect((await index(dir)).map((e) => e.file)).toEqual(['4_2.pcap', '4_3.pcap']);

    const other = await scratch();
    await writeFile(join(other, 'index.json'), '{"mine": true}');
    const cli = runCli(['--listen', '127.0.0.1:0', '--out', other]);
    expect(await cli.exit).toBe(1);
    expect(cli.err).toEqual([
      `mirrorops capture: ${join(other, 'index.json')} exists and is not a mirrorops capture index; choose another --out`,
    ]);
    expect(await readFile(join(other, 'index.json'), 'utf8')).toBe('{"mine": true}');
  });

  test('--health-port accepts TCP connections and closes them, as a load balancer health check needs', async () => {
    const dir = await scratch();
    const cli = runCli(['--listen', '127.0.0.1:0', '--out', dir, '--health-port', '0']);
    const line = await cli.errLine(/health checks answered on TCP 127\.0\.0\.1:\d+$/);
    const healthPort = Number(line.split(':').at(-1));
    for (let i = 0; i < 3; i++) {
      const socket = connect(healthPort, '127.0.0.1');
      await once(socket, 'connect');
      await once(socket, 'end'); // the capture closed it
      socket.destroy();
    }
    expect(await cli.stop()).toBe(0);
    const refused = connect(healthPort, '127.0.0.1');
    const [error] = await once(refused, 'error');
    expect((error as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  test('a UDP or health port already taken is a one-line error and exit 1', async () => {
    const dir = await scratch();
    const taken: UdpSocket = createSocket('udp4');
    await new Promise<void>((r) => taken.bind(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => taken.close(() => r())));
    const udpPort = taken.address().port;
    const cli = runCli(['--listen', `127.0.0.1:${udpPort}`, '--out', dir]);
    expect(await cli.exit).toBe(1);
    expect(cli.err).toEqual([`mirrorops capture: UDP port ${udpPort} on 127.0.0.1 is already in use`]);

    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => server.close(r)));
    const tcpPort = (server.address() as { port: number }).port;
    const health = runCli(['--listen', '127.0.0.1:0', '--out', dir, '--health-port', String(tcpPort)]);
    expect(await health.exit).toBe(1);
    expect(health.err).toEqual([
      `mirrorops capture: TCP health port ${tcpPort} on 127.0.0.1 is already in use`,
    ]);
  });

  test('a directory that is not a directory is a one-line error and exit 1; bad flags exit 2', async () => {
    const dir = await scratch();
    await writeFile(join(dir, 'file'), '');
    const cli = runCli(['--listen', '127.0.0.1:0', '--out', join(dir, 'file', 'pcaps')]);
    expect(await cli.exit).toBe(1);
    expect(cli.err).toEqual([
      `mirrorops capture: cannot write to directory ${join(dir, 'file', 'pcaps')}: a part of the path is not a directory`,
    ]);
    for (const [args, message] of [
      [['--listen', '127.0.0.1:0'], '--out DIR is required'],
      [['--out', dir, '--rotate-mb', '0'], "--rotate-mb must be a number above 0, got '0'"],
      [['--out', dir, '--rotate-seconds', 'soon'], "--rotate-seconds must be a number above 0, got 'soon'"],
      [
        ['--out', dir, '--listen', 'localhost:4789'],
        "--listen must be IP:PORT (an IPv6 address in brackets), got 'localhost:4789'",
      ],
    ] as const) {
      const bad = runCli([...args]);
      expect(await bad.exit).toBe(2);
      expect(bad.err).toEqual([`mirrorops capture: ${message} (see 'mirrorops capture --help')`]);
    }
  });
});

describe('mirrorops capture as its own process', () => {
  const children = new Set<ChildProcess>();
  afterEach(() => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    children.clear();
  });

  function spawnCli(args: string[], options: { uid?: number; gid?: number } = {}) {
    const child = spawn(NODE, [BIN, 'capture', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '', HOME: tmpdir() },
      ...options,
    });
    children.add(child);
    let out = '';
    let err = '';
    const waiting = new Set<() => void>();
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      for (const wake of waiting) wake();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      err += chunk.toString('utf8');
      for (const wake of waiting) wake();
    });
    const exit = once(child, 'exit').then(([code]) => code as number | null);
    const waitFor = (match: RegExp, from: () => string) =>
      new Promise<RegExpExecArray>((resolveMatch, reject) => {
        const look = () => {
          const found = match.exec(from());
          if (found) {
            waiting.delete(look);
            clearTimeout(timer);
            resolveMatch(found);
          }
        };
        const timer = setTimeout(() => reject(new Error(`no ${match} in ${out}${err}`)), 25_000);
        waiting.add(look);
        look();
      });
    return {
      child,
      exit,
      out: () => out,
      err: () => err,
      stdout: (m: RegExp) => waitFor(m, () => out),
      stderr: (m: RegExp) => waitFor(m, () => err),
    };
  }

  test('SIGTERM and SIGINT write and close every file before it exits 0', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const dir = await scratch();
      const run = spawnCli(['--listen', '127.0.0.1:0', '--out', dir, '--status-seconds', '1']);
      const port = Number((await run.stdout(/127\.0\.0\.1:(\d+)/))[1]);
      const datagrams = Array.from({ length: 50 }, (_, i) =>
        vxlan(i % 2 === 0 ? 11 : 12, ethernetFrame({ sourcePort: 1000 + i })),
      );
      await sendUdp(port, datagrams);
      await run.stderr(/50 packets/);
      run.child.kill(signal);
      expect(await run.exit).toBe(0);
      expect(run.err()).toContain(`stopped (${signal}): 50 packets`);
      const eleven = await readWithWireshark(join(dir, '11_1.pcap'));
      const twelve = await readWithWireshark(join(dir, '12_1.pcap'));
      expect(eleven.frames.map((f) => f.fields.get('tcp.srcport'))).toEqual(
        Array.from({ length: 25 }, (_, i) => String(1000 + 2 * i)),
      );
      expect(twelve.frames).toHaveLength(25);
      expect((await index(dir)).every((e) => e.complete)).toBe(true);
    }
  });

  test.skipIf(!unwritableTestable)(
    'a directory it may not write to is a one-line error and exit 1',
    async () => {
      const root = await scratch();
      await chmod(root, 0o755);
      const readOnly = join(root, 'read-only');
      await mkdir(readOnly, { mode: 0o555 });
      await chmod(readOnly, 0o555);
      // root may write anywhere: run as nobody then.
      const asNobody = process.getuid?.() === 0 ? AS_NOBODY : {};
      const run = spawnCli(['--listen', '127.0.0.1:0', '--out', readOnly], asNobody);
      expect(await run.exit).toBe(1);
      expect(run.err()).toBe(`mirrorops capture: cannot write to directory ${readOnly}: permission denied\n`);
      expect(await readdir(readOnly)).toEqual([]);
    },
  );
});
