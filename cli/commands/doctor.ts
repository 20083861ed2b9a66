import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { targetFor } from '../../shared/runtime/config.ts';
import { AWS_FLAGS_HELP, awsFlags, connect, type OutputFormat, outputOf } from '../aws.ts';
import { type Command, EXIT, parseFlags, UsageError } from '../command.ts';
import { type CheckResult, runDoctor } from '../doctor/checks.ts';
import { DoctorReader } from '../doctor/reader.ts';
import { checkId } from '../ids.ts';
import { commandConfig } from '../mirroring.ts';
import { table } from '../table.ts';

const HELP = `Usage: mirrorops doctor [--target ID] [--instance ID | --eni ID] [AWS options]

Checks, before an incident, that mirrored packets would reach the capture target: one line a
check (ok, warn or fail), the resource it looked at, and for a warning or a failure what to do.
Reads only; changes nothing.

  target                 the target exists, what it is (ENI, NLB, GWLB endpoint), who owns it
                         (a target of another account is visible only when shared through RAM)
  target-capacity        sources in use against its limit (ENI: 10, or 100 on the largest sizes;
                         NLB and GWLB endpoint: none)
  target-security-group  an ENI target's groups allow UDP 4789 in from every source address
  target-nacl-inbound    the target subnet's network ACL lets UDP 4789 in from the sources
  source-nacl-outbound   each source subnet's network ACL lets UDP 4789 out to the target
  nlb / nlb-listener     the NLB is active and has a UDP (or TCP_UDP) listener on 4789
  nlb-targets            its target groups have healthy targets
  source-type            the source's instance type can be mirrored
  source-slots           free session slots on each source ENI (3 each) and who holds them
  path                   one VPC, or an active intra-Region peering or a transit gateway with
                         routes both ways
  session-quota          sessions in the account against 10,000
  filter-quota           filters in the account against 10,000

Options:
  --target ID     the traffic mirror target (tmt-...); else the one mirrorops start would use
                  (MIRROROPS_TARGET_ID, MIRROROPS_TARGETS_BY_VPC, MIRROROPS_TARGETS_BY_REGION)
  --instance ID   the source instance: every ENI attached to it
  --eni ID        one source ENI
  --json          the same as --output json
  -h, --help      show this help

${AWS_FLAGS_HELP}

Exit codes: 0 nothing failed (warnings allowed), 1 a check failed, 2 the command line is wrong,
5 no usable credentials or Region.

Examples:
  mirrorops doctor --target tmt-0abc1234def567890 --instance i-0abc1234def567890
  mirrorops doctor --target tmt-0abc1234def567890 --eni eni-0abc1234def567890 --output json
  mirrorops doctor --profile member --region eu-west-1 --target tmt-0abc1234def567890`;

const flags = {
  target: { type: 'string' },
  instance: { type: 'string' },
  eni: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  ...awsFlags,
} as const;

/** The checks as the chosen format writes them. */
export function render(checks: readonly CheckResult[], format: OutputFormat): string[] {
  const failed = checks.filter((c) => c.status === 'fail').length;
  const warned = checks.filter((c) => c.status === 'warn').length;
  if (format === 'json') return [JSON.stringify({ ok: failed === 0, checks }, null, 2)];
  if (format === 'text') {
    return checks.map((c) => [c.status.toUpperCase(), c.check, c.resource, c.detail, c.fix ?? ''].join('\t'));
  }
  const rows = checks.map((c) => [
    c.status,
    c.check,
    c.resource,
    c.fix ? `${c.detail}. Fix: ${c.fix}` : c.detail,
  ]);
  const ok = checks.length - failed - warned;
  return [
    table(['STATUS', 'CHECK', 'RESOURCE', 'RESULT'], rows),
    '',
    `${failed} failed, ${warned} warning${warned === 1 ? '' : 's'}, ${ok} ok`,
  ];
}

export const doctorCommand: Command = {
  summary: 'check that mirrored traffic would reach the target: groups, ACLs, NLB, capacity, routes',
  async run(args, io) {
    const { values } = parseFlags(args, flags);
    if (values.help) {
      io.out(HELP);
      return EXIT.ok;
    }
    const format = outputOf(values);
    if (values.instance !== undefined && values.eni !== undefined) {
      throw new UsageError('give --instance or --eni, not both');
    }
    const targetId = values.target === undefined ? undefined : checkId('--target', values.target, 'tmt');
    const instanceId =
      values.instance === undefined ? undefined : checkId('--instance', values.instance, 'i');
    const eniId = values.eni === undefined ? undefined : checkId('--eni', values.eni, 'eni');
    const aws = await connect(values, io);
    const endpoint = values['endpoint-url'];
    const elb = new ElasticLoadBalancingV2Client({
      region: aws.region,
      credentials: aws.ec2.config.credentials,
      ...(endpoint === undefined ? {} : { endpoint }),
    });
    // Without --target, the target `mirrorops start` would use (MIRROROPS_TARGET_ID and its maps).
    const config =
      targetId === undefined && (process.env.MIRROROPS_TARGET_ID || process.env.MIRROROPS_TARGETS_BY_REGION)
        ? commandConfig(aws.region, undefined)
        : undefined;
    const checks = await runDoctor(new DoctorReader(aws.ec2, elb), {
      account: aws.account,
      region: aws.region,
      targetId,
      configured: config && {
        targetFor: (vpcId) => targetFor(config, vpcId),
        from: 'configured: MIRROROPS_TARGET_ID or its per-VPC map',
      },
      instanceId,
      eniId,
    });
    for (const line of render(checks, format)) io.out(line);
    return checks.some((c) => c.status === 'fail') ? EXIT.failed : EXIT.ok;
  },
};
