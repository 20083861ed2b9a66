import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { INDEX_FORMAT, type IndexEntry } from '../../cli/capture/files.ts';
import { main } from '../../cli/main.ts';
import { useEmulator } from '../support/emulator.ts';
import { createFilter, createRule, createSession, freshClient, mirrorSetup } from '../support/mirroring.ts';
import { must } from '../support/topology.ts';
import { ethernetFrame, sendUdp, vxlan } from '../support/vxlan.ts';
import { readWithWireshark } from '../support/wireshark.ts';

/**
 * `mirrorops capture --resolve` against sessions made through the SDK in the emulator, and the
 * whole path: a session in the emulator, packets injected on its ENI, the emulator's data plane
 * delivering VXLAN to the capture, the pcap read back with Wireshark.
 */
const env = useEmulator();

const stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

function runCli(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const waiting = new Set<() => void>();
  const wake = () => {
    for (const look of waiting) look();
  };
  const shutdown = new AbortController();
  const exit = main(
    ['capture', ...args],
    {
      out: (line) => {
        out.push(line);
        wake();
      },
      err: (line) => {
        err.push(...line.split('\n'));
        wake();
      },
    },
    shutdown.signal,
  );
  const stop = () => {
    shutdown.abort();
    return exit;
  };
  stops.push(stop);
  const line = (lines: string[], match: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const look = () => {
        const found = lines.find((l) => match.test(l));
        if (found === undefined) return;
        waiting.delete(look);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        waiting.delete(look);
        reject(new Error(`no line ${match} in ${JSON.stringify([...out, ...err])}`));
      }, 20_000);
      waiting.add(look);
      look();
    });
  return {
    err,
    stop,
    errLine: (match: RegExp) => line(err, match),
    port: async () => Number((await line(out, /^127\.0\.0\.1:\d+$/)).split(':')[1]),
  };
}

async function index(dir: string): Promise<IndexEntry[]> {
  const parsed = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
  expect(parsed.format).toBe(INDEX_FORMAT);
  return parsed.files;
}

const tags = (intent: string, reason: string) => [
  {
    ResourceType: 'traffic-mirror-session' as const,
    Tags: [
      { Key: 'mirrorops:managed', Value: 'true' },
      { Key: 'mirrorops:reason', Value: reason },
      { Key: 'mirrorops:intent', Value: intent },
    ],
  },
];

describe('mirrorops capture --resolve', () => {
  test('names each VNI file after instance, ENI and session, indexes intent and reason, looks each VNI up once, and falls back to the VNI for one it cannot find', async () => {
    const { ec2, account } = freshClient(env.url);
    const m = await mirrorSetup(ec2);
    const session = await createSession(ec2, {
      NetworkInterfaceId: m.source.eniId,
      TrafficMirrorTargetId: m.targetId,
      TrafficMirrorFilterId: m.filterId,
      SessionNumber: 1,
      VirtualNetworkId: 4242,
      TagSpecifications: tags('guardduty:finding-7f3a', 'guardduty'),
    });
    const sessionId = must(session.TrafficMirrorSessionId, 'TrafficMirrorSessionId');
    const dir = await mkdtemp(join(tmpdir(), 'mirrorops-capture-'));
    const frame = ethernetFrame({ payload: Buffer.alloc(200) });
    const record = 16 + frame.length;
    // The access key id picks the emulator's account.
    process.env.AWS_ACCESS_KEY_ID = account;
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    stops.push(async () => {
      delete process.env.AWS_ACCESS_KEY_ID;
      delete process.env.AWS_SECRET_ACCESS_KEY;
    });
    const cli = runCli([
      ...['--listen', '127.0.0.1:0', '--out', dir, '--resolve', '--status-seconds', '1'],
      ...['--endpoint-url', env.url, '--region', 'us-east-1', '--rotate-mb', String((24 + 2 * record) / 1e6)],
    ]);
    const port = await cli.port();
    await sendUdp(port, [vxlan(4242, frame), vxlan(999, frame), vxlan(4242, frame), vxlan(4242, frame)]);
    await cli.errLine(/4 packets/);
    await sendUdp(port, [vxlan(999, frame), vxlan(4242, frame)]);
    await cli.errLine(/6 packets/);
    expect(await cli.stop()).toBe(0);

    const prefix = `${m.source.instanceId}_${m.source.eniId}_${sessionId}`;
    expect((await readdir(dir)).filter((f) => f.endsWith('.pcap')).sort()).toEqual(
      [`${prefix}_4242_1.pcap`, `${prefix}_4242_2.pcap`, '999_1.pcap'].sort(),
    );
    expect((await readWithWireshark(join(dir, `${prefix}_4242_1.pcap`))).frames).toHaveLength(2);
    expect((await readWithWireshark(join(dir, `${prefix}_4242_2.pcap`))).frames).toHaveLength(2);
    expect((await readWithWireshark(join(dir, '999_1.pcap'))).frames).toHaveLength(2);

    // Said once per VNI: the second file of 4242 and the second packet of 999 asked nothing again.
    expect(cli.err.filter((l) => l.includes('VNI 4242'))).toEqual([
      `mirrorops capture: VNI 4242 is ${sessionId} on ${m.source.eniId}, of ${m.source.instanceId}, intent guardduty:finding-7f3a`,
    ]);
    expect(cli.err.filter((l) => l.includes('VNI 999'))).toEqual([
      'mirrorops capture: VNI 999 not resolved (no mirror session in this account and Region has this VNI); its files are named 999_<n>.pcap',
    ]);

    const identity = {
      vni: 4242,
      sessionId,
      networkInterfaceId: m.source.eniId,
      instanceId: m.source.instanceId,
      sessionNumber: 1,
      intent: 'guardduty:finding-7f3a',
      reason: 'guardduty',
      ownerId: account,
      complete: true,
    };
    const entries = await index(dir);
    expect(entries).toHaveLength(3);
    expect(entries.find((e) => e.file === `${prefix}_4242_1.pcap`)).toMatchObject({
      ...identity,
      sequence: 1,
      packets: 2,
    });
    expect(entries.find((e) => e.file === `${prefix}_4242_2.pcap`)).toMatchObject({
      ...identity,
      sequence: 2,
      packets: 2,
    });
    expect(entries.find((e) => e.file === '999_1.pcap')).toEqual({
      file: '999_1.pcap',
      vni: 999,
      sequence: 1,
      unresolved: 'no mirror session in this account and Region has this VNI',
      packets: 2,
      bytes: 24 + 2 * record,
      firstPacket: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/),
      lastPacket: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/),
      complete: true,
    });
  });

  test('without credentials it does not start: one line, exit 5', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mirrorops-capture-'));
    const err: string[] = [];
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_PROFILE: 'no-such-profile', AWS_CONFIG_FILE: join(dir, 'none') });
    try {
      const code = await main(
        ['capture', '--listen', '127.0.0.1:0', '--out', dir, '--resolve', '--region', 'us-east-1'],
        {
          out: () => undefined,
          err: (l) => err.push(l),
        },
      );
      expect(code).toBe(5);
      expect(err).toHaveLength(1);
      expect(err[0]).toMatch(
        /^mirrorops capture: the credentials of profile 'no-such-profile' are missing or not accepted/,
      );
    } finally {
      process.env = saved;
    }
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('end to end: emulator data plane -> VXLAN -> capture -> pcap', () => {
  test("the attacker's packets land in the incident session's file, cut at its PacketLength; other traffic in the tag session's file", async () => {
    const { ec2, account } = freshClient(env.url);
    const m = await mirrorSetup(ec2);
    const incidentFilter = m.filterId;
    // The incident's filter: TCP from the attacker's /24; the tag session's: everything inbound.
    await createRule(ec2, incidentFilter, { Protocol: 6, SourceCidrBlock: '198.51.100.0/24' });
    const allFilter = await createFilter(ec2, 'all');
    await createRule(ec2, allFilter);
    const incident = await createSession(ec2, {
      NetworkInterfaceId: m.source.eniId,
      TrafficMirrorTargetId: m.targetId,
      TrafficMirrorFilterId: incidentFilter,
      SessionNumber: 1,
      PacketLength: 100,
      TagSpecifications: tags('guardduty:finding-e2e', 'guardduty'),
    });
    const tagged = await createSession(ec2, {
      NetworkInterfaceId: m.source.eniId,
      TrafficMirrorTargetId: m.targetId,
      TrafficMirrorFilterId: allFilter,
      SessionNumber: 20,
      TagSpecifications: tags('tag:opt-in', 'tag'),
    });

    const dir = await mkdtemp(join(tmpdir(), 'mirrorops-capture-'));
    process.env.AWS_ACCESS_KEY_ID = account;
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    stops.push(async () => {
      delete process.env.AWS_ACCESS_KEY_ID;
      delete process.env.AWS_SECRET_ACCESS_KEY;
      env.emulator.delivery.set('*', undefined);
    });
    const cli = runCli([
      ...['--listen', '127.0.0.1:0', '--out', dir, '--resolve', '--status-seconds', '1'],
      ...['--endpoint-url', env.url, '--region', 'us-east-1'],
    ]);
    env.emulator.delivery.set('*', `127.0.0.1:${await cli.port()}`);

    const attacker = {
      direction: 'ingress',
      protocol: 6,
      source: '198.51.100.7',
      destination: m.source.privateIpAddress,
      sourcePort: 51515,
      destinationPort: 22,
      length: 1200,
      payloadHex: Buffer.from('SSH-2.0-evil\r\n').toString('hex'),
    };
    const elsewhere = {
      ...attacker,
      source: '203.0.113.9',
      sourcePort: 40000,
      destinationPort: 443,
      length: 300,
    };
    const res = await fetch(`${env.url}/_emulator/traffic`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        networkInterfaceId: m.source.eniId,
        account,
        region: 'us-east-1',
        packets: [attacker, elsewhere, attacker],
      }),
    });
    const answer = (await res.json()) as {
      packets: { session: { id: string; vni: number } | null; delivery: { truncated: boolean } | null }[];
    };
    expect(res.status).toBe(200);
    expect(answer.packets.map((p) => [p.session?.id, p.delivery?.truncated])).toEqual([
      [incident.TrafficMirrorSessionId, true],
      [tagged.TrafficMirrorSessionId, false],
      [incident.TrafficMirrorSessionId, true],
    ]);
    await cli.errLine(/3 packets/);
    expect(await cli.stop()).toBe(0);

    const incidentVni = must(answer.packets[0]?.session?.vni, 'the incident VNI');
    const tagVni = must(answer.packets[1]?.session?.vni, 'the tag session VNI');
    const prefix = `${m.source.instanceId}_${m.source.eniId}`;
    const incidentFile = `${prefix}_${incident.TrafficMirrorSessionId}_${incidentVni}_1.pcap`;
    const tagFile = `${prefix}_${tagged.TrafficMirrorSessionId}_${tagVni}_1.pcap`;
    expect((await readdir(dir)).filter((f) => f.endsWith('.pcap')).sort()).toEqual(
      [incidentFile, tagFile].sort(),
    );

    const seen = await readWithWireshark(join(dir, incidentFile));
    expect(seen.fileType).toBe('Wireshark/tcpdump/... - nanosecond pcap');
    expect(seen.frames).toHaveLength(2);
    for (const frame of seen.frames) {
      expect(frame.capturedLength).toBe(100);
      expect(frame.length).toBe(14 + 1200);
      expect(frame.fields.get('ip.src')).toBe('198.51.100.7');
      expect(frame.fields.get('ip.dst')).toBe(m.source.privateIpAddress);
      expect(frame.fields.get('tcp.dstport')).toBe('22');
    }
    const other = await readWithWireshark(join(dir, tagFile));
    expect(
      other.frames.map((f) => [
        f.fields.get('ip.src'),
        f.fields.get('tcp.dstport'),
        f.length,
        f.capturedLength,
      ]),
    ).toEqual([['203.0.113.9', '443', 14 + 300, 14 + 300]]);
    expect(other.frames[0]?.fields.get('tcp.checksum.status')).not.toBe('Bad');
    expect((await index(dir)).map((e) => [e.file, e.intent, e.reason])).toEqual(
      expect.arrayContaining([
        [incidentFile, 'guardduty:finding-e2e', 'guardduty'],
        [tagFile, 'tag:opt-in', 'tag'],
      ]),
    );
  });
});
