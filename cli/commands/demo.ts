import { readFileSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AttachNetworkInterfaceCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateNetworkInterfaceCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateTrafficMirrorTargetCommand,
  CreateVpcCommand,
  DeleteTagsCommand,
  EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { Context } from 'aws-lambda';
import { startEmulator } from '../../emulator/index.ts';
import type { StoredEvent } from '../../emulator/services/events.ts';
import { ec2Gateway } from '../../shared/aws/ec2.ts';
import { expiresIn, inventory } from '../../shared/inventory.ts';
import { loadConfig } from '../../shared/runtime/config.ts';
import { mirrorDeps } from '../../shared/runtime/deps.ts';
import { silentLogger } from '../../shared/runtime/log.ts';
import { sweep } from '../../shared/sweep.ts';
import { type Capture, startCapture } from '../capture/capture.ts';
import { INDEX_FILE, type IndexEntry } from '../capture/files.ts';
import { ec2VniLookup, resolvingIdentify } from '../capture/resolve.ts';
import { type Command, parseFlags } from '../command.ts';
import { lambdaContext } from '../lambda.ts';
import { route, routesOf } from '../routes.ts';
import { loadStack } from '../stack.ts';
import { table } from '../table.ts';
import { explainCommand } from './explain.ts';

const HELP = `Usage: mirrorops demo [--out DIR] [--quiet]

Runs the whole story on a local emulator, with no AWS account and no network: a small topology,
then events replayed through the rules serverless.yml declares, to the real handlers. After each
step it prints the mirror sessions and the audit events, and sends traffic to web-1 (from the
attacker and from a client) through the emulator's data plane; a capture on a free local port
writes what the sessions deliver to one pcap file per session, read back at the end. Takes a few
seconds.

Options:
  --out DIR   where the capture files go (default: a new directory under the system's temp dir)
  --quiet     print only the final summary line
  -h, --help  show this help`;

const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const HOUR = 3_600_000;

type Handler = (event: unknown, context: Context) => Promise<unknown>;

const ATTACKER = '198.51.100.7';
/** "Elsewhere": a customer of web-1's HTTPS, whom no finding concerns. */
const CLIENT = '203.0.113.25';

/** A packet for `POST /_emulator/traffic` (emulator/README.md, "Data plane"). */
interface Injected {
  direction: 'ingress' | 'egress';
  protocol: 'tcp' | 'udp';
  source: string;
  destination: string;
  sourcePort: number;
  destinationPort: number;
  tcpFlags?: string;
  length?: number;
  payloadHex?: string;
}

const hex = (text: string) => Buffer.from(text, 'latin1').toString('hex');

/**
 * What web-1 sees in one phase of the story: the attacker's SSH attempt (SYN, SYN-ACK, the
 * client's banner), a client's HTTPS exchange and a DNS query to the VPC's resolver. The phase is
 * in the ports (attacker 5100N, client 4000N, DNS 5300N), so the files tell when a packet was sent.
 */
function trafficOf(phase: number, web: string, resolver: string): Injected[] {
  const ssh = 51_000 + phase;
  const https = 40_000 + phase;
  const tcp = (
    direction: Injected['direction'],
    [source, sourcePort]: [string, number],
    [destination, destinationPort]: [string, number],
    tcpFlags: string,
    body: { length: number } | { payloadHex: string },
  ): Injected => ({
    direction,
    protocol: 'tcp',
    source,
    destination,
    sourcePort,
    destinationPort,
    tcpFlags,
    ...body,
  });
  return [
    tcp('ingress', [ATTACKER, ssh], [web, 22], 'S', { length: 60 }),
    tcp('egress', [web, 22], [ATTACKER, ssh], 'SA', { length: 60 }),
    tcp('ingress', [ATTACKER, ssh], [web, 22], 'PA', { payloadHex: hex('SSH-2.0-libssh_0.9.6\r\n') }),
    tcp('ingress', [CLIENT, https], [web, 443], 'PA', { length: 580 }),
    tcp('egress', [web, 443], [CLIENT, https], 'PA', { length: 1400 }),
    {
      direction: 'egress',
      protocol: 'udp',
      source: web,
      destination: resolver,
      sourcePort: 53_000 + phase,
      destinationPort: 53,
      length: 70,
    },
  ];
}

/** The records of a classic pcap file (what mirrorops capture writes): original length and frame. */
function pcapRecords(file: Buffer): { seconds: number; nanos: number; length: number; frame: Buffer }[] {
  const le = file.readUInt32LE(0) === 0xa1b23c4d || file.readUInt32LE(0) === 0xa1b2c3d4;
  const u32 = (at: number) => (le ? file.readUInt32LE(at) : file.readUInt32BE(at));
  const out = [];
  for (let at = 24; at + 16 <= file.length; ) {
    const captured = u32(at + 8);
    out.push({
      seconds: u32(at),
      nanos: u32(at + 4),
      length: u32(at + 12),
      frame: file.subarray(at + 16, at + 16 + captured),
    });
    at += 16 + captured;
  }
  return out;
}

/** An Ethernet frame's IPv4 TCP or UDP packet in one line: `tcp 198.51.100.7:51002 > 10.0.0.4:22 [S]`. */
function describeFrame(frame: Buffer): string {
  if (frame.length < 34 || frame.readUInt16BE(12) !== 0x0800) return `(${frame.length} bytes, not IPv4)`;
  const ip = frame.subarray(14);
  const header = ((ip[0] ?? 0x45) % 16) * 4;
  const address = (at: number) => [...ip.subarray(at, at + 4)].join('.');
  const l4 = ip.subarray(header);
  const proto = ip[9] === 6 ? 'tcp' : ip[9] === 17 ? 'udp' : `proto ${ip[9]}`;
  const ports =
    l4.length >= 4 && (ip[9] === 6 || ip[9] === 17) ? [l4.readUInt16BE(0), l4.readUInt16BE(2)] : [];
  const flags =
    ip[9] === 6 && l4.length >= 14 ? [...'FSRPAUEC'].filter((_, i) => ((l4[13] ?? 0) >> i) & 1).join('') : '';
  const end = (a: string, port?: number) => (port === undefined ? a : `${a}:${port}`);
  return `${proto} ${end(address(12), ports[0])} > ${end(address(16), ports[1])}${flags ? ` [${flags}]` : ''}`;
}

const must = <T>(value: T | undefined, what: string): T => {
  if (value === undefined) throw new Error(`the emulator returned no ${what}`);
  return value;
};

const sample = (path: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(`../../events/${path}`, import.meta.url), 'utf8')) as Record<
    string,
    unknown
  >;

/** The fields of the sample events the story changes. */
interface DemoEvent {
  time: string;
  detail: {
    id: string;
    updatedAt: string;
    tags: Record<string, string>;
    service: { count?: number };
    resource: { instanceDetails: { instanceId: string; instanceType?: string; networkInterfaces: object[] } };
  };
}

/** A sample event with the placeholder ids replaced by the demo's real ones. */
function eventFrom(path: string, replace: Record<string, string>, change?: (e: DemoEvent) => void) {
  let text = JSON.stringify(sample(path));
  for (const [from, to] of Object.entries(replace)) text = text.replaceAll(from, to);
  const event = JSON.parse(text) as DemoEvent & Record<string, unknown>;
  event.time = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  change?.(event);
  return event;
}

export const demoCommand: Command = {
  summary: 'run the whole story on a local emulator: tag, new interface, finding, expiry',
  async run(args, io) {
    const { values } = parseFlags(args, {
      out: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    });
    if (values.help) {
      io.out(HELP);
      return 0;
    }
    const say = (line = '') => {
      if (!values.quiet) io.out(line);
    };
    const started = performance.now();
    const out = values.out ?? (await mkdtemp(join(tmpdir(), 'mirrorops-demo-')));
    const emulator = await startEmulator({ port: 0 });
    const lookups = new AbortController();
    let capture: Capture | undefined;
    try {
      const ec2 = new EC2Client({
        endpoint: emulator.url,
        region: REGION,
        credentials: { accessKeyId: ACCOUNT, secretAccessKey: 'demo' },
      });

      // The topology: two VPCs, instances of supported and unsupported types, a capture appliance.
      say('== Setting up: two VPCs, three instances and a capture appliance (UDP 4789 open)');
      const vpc = async (cidr: string, name: string) => {
        const v = await ec2.send(
          new CreateVpcCommand({
            CidrBlock: cidr,
            TagSpecifications: [{ ResourceType: 'vpc', Tags: [{ Key: 'Name', Value: name }] }],
          }),
        );
        const vpcId = must(v.Vpc?.VpcId, 'VPC id');
        const s = await ec2.send(
          new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: cidr.replace('/16', '/24') }),
        );
        return { vpcId, subnetId: must(s.Subnet?.SubnetId, 'subnet id') };
      };
      const prod = await vpc('10.0.0.0/16', 'prod');
      const staging = await vpc('10.1.0.0/16', 'staging');
      const launch = async (subnetId: string, type: string, name: string) => {
        const r = await ec2.send(
          new RunInstancesCommand({
            MinCount: 1,
            MaxCount: 1,
            ImageId: 'ami-0123456789abcdef0',
            InstanceType: type as RunInstancesCommand['input']['InstanceType'],
            SubnetId: subnetId,
            TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: name }] }],
          }),
        );
        const i = must(r.Instances?.[0], 'instance');
        return {
          id: must(i.InstanceId, 'instance id'),
          eni: must(i.NetworkInterfaces?.[0]?.NetworkInterfaceId, 'ENI id'),
          ip: must(i.PrivateIpAddress, 'private address'),
        };
      };
      const web = await launch(prod.subnetId, 'm5.large', 'web-1');
      const db = await launch(prod.subnetId, 'c6i.large', 'db-1');
      const app = await launch(staging.subnetId, 't3.medium', 'app-1');
      const sg = await ec2.send(
        new CreateSecurityGroupCommand({
          VpcId: prod.vpcId,
          GroupName: 'capture',
          Description: 'VXLAN from mirror sources',
        }),
      );
      await ec2.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: sg.GroupId,
          IpPermissions: [
            { IpProtocol: 'udp', FromPort: 4789, ToPort: 4789, IpRanges: [{ CidrIp: '10.0.0.0/8' }] },
          ],
        }),
      );
      const appliance = await ec2.send(
        new CreateNetworkInterfaceCommand({
          SubnetId: prod.subnetId,
          Groups: [must(sg.GroupId, 'group id')],
          Description: 'capture appliance',
        }),
      );
      const target = await ec2.send(
        new CreateTrafficMirrorTargetCommand({
          NetworkInterfaceId: appliance.NetworkInterface?.NetworkInterfaceId,
          Description: 'security team capture appliance',
        }),
      );
      const targetId = must(target.TrafficMirrorTarget?.TrafficMirrorTargetId, 'target id');
      say(
        `   web-1 ${web.id} (m5.large)  db-1 ${db.id} (c6i.large, not a supported source)  app-1 ${app.id} (t3.medium)`,
      );
      say(`   target ${targetId}`);

      // The security team's capture, on a free port; the emulator delivers the target's VXLAN to it.
      capture = await startCapture({
        host: '127.0.0.1',
        port: 0,
        dir: out,
        identify: resolvingIdentify(ec2VniLookup(ec2), { signal: lookups.signal, note: () => undefined }),
      });
      emulator.delivery.set(targetId, `127.0.0.1:${capture.address.port}`);
      say(
        `   mirrorops capture on UDP 127.0.0.1:${capture.address.port} (the target's delivery), writing to ${out}`,
      );
      let mirroredInAll = 0;
      /** Sends a phase's packets on web-1's ENI through the data plane and says where they went. */
      const traffic = async (phase: number) => {
        const packets = trafficOf(phase, web.ip, '10.0.0.2');
        const res = await fetch(`${emulator.url}/_emulator/traffic`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ networkInterfaceId: web.eni, account: ACCOUNT, region: REGION, packets }),
        });
        const answer = (await res.json()) as {
          message?: string;
          packets?: { session: { number: number } | null }[];
        };
        if (!res.ok || !answer.packets)
          throw new Error(`the emulator's data plane refused the traffic: ${answer.message}`);
        const bySession = new Map<number, number>();
        for (const p of answer.packets)
          if (p.session) bySession.set(p.session.number, (bySession.get(p.session.number) ?? 0) + 1);
        const mirrored = [...bySession.values()].reduce((a, b) => a + b, 0);
        mirroredInAll += mirrored;
        const where = [...bySession].sort(([a], [b]) => a - b).map(([n, k]) => `${k} to session ${n}`);
        say(
          `   traffic on web-1: ${packets.length} packets (3 with the attacker, 2 with a client, 1 DNS query) -> ${mirrored === 0 ? 'none mirrored' : `mirrored ${where.join(', ')}`}`,
        );
      };

      // The functions, configured as serverless.yml says, pointed at the emulator.
      Object.assign(process.env, {
        AWS_ENDPOINT_URL: emulator.url,
        AWS_ACCESS_KEY_ID: ACCOUNT,
        AWS_SECRET_ACCESS_KEY: 'demo',
        AWS_REGION: REGION,
        MIRROROPS_TARGET_ID: targetId,
        MIRROROPS_AUDIT_BUS: 'mirrorops-audit-demo',
        MIRROROPS_LOG_LEVEL: 'silent',
        // The story is told on stdout: no metrics lines (EMF) among it.
        POWERTOOLS_METRICS_DISABLED: 'true',
        MIRROROPS_HUB_ACCOUNT_ID: ACCOUNT,
      });
      const stack = loadStack('serverless.yml', { params: { targetId } });
      const routes = routesOf(stack);
      const handlers = new Map<string, Handler>();
      const handlerOf = async (name: string): Promise<Handler> => {
        let h = handlers.get(name);
        if (!h) {
          const fn = must(stack.functions[name], `function ${name}`);
          const module = (await import(new URL(`../../${fn.module}`, import.meta.url).href)) as Record<
            string,
            Handler
          >;
          h = must(module[fn.exportName], `export ${fn.exportName}`);
          handlers.set(name, h);
        }
        return h;
      };

      let seen = 0;
      const show = async (clock = new Date()) => {
        const rows = await inventory(ec2Gateway(ec2));
        const names: Record<string, string> = { [web.id]: 'web-1', [db.id]: 'db-1', [app.id]: 'app-1' };
        say(
          rows.length === 0
            ? '   (no mirror sessions)'
            : table(
                ['INSTANCE', 'ENI', 'NO', 'REASON', 'MIRRORS', 'EXPIRES IN'],
                rows.map((r) => [
                  `${names[r.instanceId ?? ''] ?? r.instanceId ?? '-'}`,
                  r.networkInterfaceId,
                  String(r.sessionNumber),
                  r.reason ?? '-',
                  r.scope,
                  expiresIn(r.expiresAt, clock),
                ]),
              )
                .split('\n')
                .map((l) => `   ${l}`)
                .join('\n'),
        );
        const fresh: StoredEvent[] = emulator.world.events.slice(seen);
        seen = emulator.world.events.length;
        for (const e of fresh) {
          const d = e.detail as Record<string, string | number | undefined>;
          const who = names[String(d.instanceId)] ?? d.instanceId ?? '';
          const what = [d.networkInterfaceId, d.sessionId, d.message].filter(Boolean).join(' ');
          say(`   audit: ${e['detail-type']}  ${who} ${what}`.trimEnd());
        }
      };

      const deliver = async (title: string, event: Record<string, unknown>) => {
        say();
        say(`== ${title}`);
        const targets = route(routes, event);
        say(
          `   event ${event['detail-type']} -> ${targets.length > 0 ? targets.join(', ') : 'no rule matches: not delivered'}`,
        );
        for (const name of targets)
          await (await handlerOf(name))(event, lambdaContext(`mirrorops-demo-${name}`, 60));
        await show();
      };
      const setTag = async (id: string, value: string | undefined) => {
        if (value === undefined) {
          await ec2.send(new DeleteTagsCommand({ Resources: [id], Tags: [{ Key: 'mirrorops:mirror' }] }));
        } else {
          await ec2.send(
            new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'mirrorops:mirror', Value: value }] }),
          );
        }
      };
      const ids = { 'i-0123456789abcdef0': web.id, '123456789012': ACCOUNT };

      await setTag(web.id, '8h');
      await deliver(
        'A security engineer tags web-1 mirrorops:mirror=8h',
        eventFrom('tag/mirror-true.json', ids, (e) => {
          e.detail.tags['mirrorops:mirror'] = '8h';
        }),
      );
      await traffic(1);

      const eni2 = await ec2.send(
        new CreateNetworkInterfaceCommand({ SubnetId: prod.subnetId, Description: 'web-1 second interface' }),
      );
      const eni2Id = must(eni2.NetworkInterface?.NetworkInterfaceId, 'ENI id');
      await ec2.send(
        new AttachNetworkInterfaceCommand({ NetworkInterfaceId: eni2Id, InstanceId: web.id, DeviceIndex: 1 }),
      );
      await deliver(
        'A second interface is attached to web-1 (CloudTrail AttachNetworkInterface)',
        eventFrom('ec2/attach-network-interface.json', { ...ids, 'eni-0123456789abcdef1': eni2Id }),
      );

      const finding = (change: (e: DemoEvent) => void) =>
        eventFrom('guardduty/network-connection.json', ids, (e) => {
          e.detail.updatedAt = new Date().toISOString();
          e.detail.resource.instanceDetails.networkInterfaces = [
            {
              networkInterfaceId: web.eni,
              vpcId: prod.vpcId,
              subnetId: prod.subnetId,
              privateIpAddress: '10.0.0.4',
            },
            {
              networkInterfaceId: eni2Id,
              vpcId: prod.vpcId,
              subnetId: prod.subnetId,
              privateIpAddress: '10.0.0.6',
            },
          ];
          change(e);
        });
      await deliver(
        'GuardDuty: SSH brute force against web-1 from 198.51.100.7 (severity 5)',
        finding(() => undefined),
      );
      const indented = {
        out: (line: string) => say(line.replace(/^/gm, '   ')),
        err: (line: string) => say(line.replace(/^/gm, '   ')),
      };
      say(`   $ mirrorops explain --eni ${web.eni} --packet "tcp ${ATTACKER}:51002 > ${web.ip}:22"`);
      await explainCommand.run(
        ['--eni', web.eni, '--packet', `tcp ${ATTACKER}:51002 > ${web.ip}:22`],
        indented,
      );
      await traffic(2);
      await deliver(
        'GuardDuty: the same finding again an hour later (count 12): the session is extended, no new slot',
        finding((e) => {
          e.detail.service.count = 12;
          e.detail.updatedAt = new Date(Date.now() + HOUR).toISOString();
        }),
      );
      await deliver(
        'GuardDuty: a low-severity finding (2): filtered out by the rule',
        eventFrom('guardduty/low-severity.json', ids),
      );
      await deliver(
        'GuardDuty: a finding on db-1, a c6i.large (not a supported source)',
        eventFrom(
          'guardduty/network-connection.json',
          { ...ids, [web.id]: db.id, 'i-0123456789abcdef0': db.id },
          (e) => {
            e.detail.id = 'db1f00d5c43e07c9e3e5e2e544e95df0';
            e.detail.resource.instanceDetails.instanceId = db.id;
            e.detail.resource.instanceDetails.instanceType = 'c6i.large';
            e.detail.resource.instanceDetails.networkInterfaces = [
              { networkInterfaceId: db.eni, vpcId: prod.vpcId },
            ];
            e.detail.updatedAt = new Date().toISOString();
          },
        ),
      );

      await setTag(web.id, undefined);
      await deliver(
        'The engineer removes the tag: the tag sessions stop, the incident session stays',
        eventFrom('tag/mirror-removed.json', ids),
      );
      await traffic(3);

      say();
      say('== Time moves on 25 hours; the sweeper runs (every minute in AWS)');
      const later = new Date(Date.now() + 25 * HOUR);
      const deps = await mirrorDeps(loadConfig(), ACCOUNT, REGION, silentLogger);
      const result = await sweep({ ...deps, now: () => later }, { remainingMs: () => 60_000 });
      say(`   removed ${result.deleted.length} sessions and ${result.filtersDeleted.length} filters`);
      await show(later);
      await traffic(4);

      // Every mirrored datagram in the capture's hands, then its files written and closed.
      const live = capture;
      const deadline = Date.now() + 10_000;
      while ((await live.stats()).packets < mirroredInAll) {
        if (Date.now() > deadline) throw new Error('the capture did not receive every mirrored packet');
        await new Promise((resolve) => setImmediate(resolve));
      }
      lookups.abort();
      await live.stop();
      capture = undefined;
      const index = JSON.parse(await readFile(join(out, INDEX_FILE), 'utf8')) as { files: IndexEntry[] };
      const files = [...index.files].sort((a, b) => (a.sessionNumber ?? 0) - (b.sessionNumber ?? 0));
      say();
      say(`== The capture files, read back (open them in Wireshark): ${out}`);
      const captured: { reason: string; line: string }[] = [];
      for (const f of files) {
        const records = pcapRecords(await readFile(join(out, f.file)));
        say(`   ${f.file}  ${f.reason ?? '?'} session ${f.sessionNumber ?? '?'}, ${records.length} packets`);
        for (const r of records) {
          const line = describeFrame(r.frame);
          captured.push({ reason: f.reason ?? '?', line });
          say(`      ${line}  ${r.length} bytes`);
        }
      }
      const count = (who: string, reason?: string) =>
        captured.filter((p) => p.line.includes(`${who}:`) && (reason === undefined || p.reason === reason))
          .length;
      const after = captured.filter((p) => /:(51004|40004|53004)\b/.test(p.line)).length;
      say(
        `   the attacker: ${count(ATTACKER, 'guardduty')} packets in the incident session's file, ${count(ATTACKER, 'tag')} in the tag session's (sent before the finding)`,
      );
      say(
        `   the client: ${count(CLIENT)} packets, ${count(CLIENT, 'tag')} of them in the tag session's file (it mirrors all traffic)`,
      );
      say(
        `   DNS to the VPC's resolver: ${count('10.0.0.2')} (Amazon DNS needs the amazon-dns network service)`,
      );
      say(`   sent after the sessions were stopped: ${after}`);

      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      io.out(
        `Demo finished in ${seconds} s: ${emulator.world.events.length} audit events, ${captured.length} packets captured in ${files.length} files, nothing left mirrored.`,
      );
      return 0;
    } finally {
      lookups.abort();
      await capture?.stop();
      await emulator.stop();
    }
  },
};
