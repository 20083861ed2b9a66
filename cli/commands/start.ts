import type { InstanceView } from '../../shared/aws/ec2.ts';
import { expiryFrom } from '../../shared/domain/expiry.ts';
import type { MirrorIntent } from '../../shared/domain/intent.ts';
import { desiredOf } from '../../shared/domain/plan.ts';
import { apply } from '../../shared/mirror.ts';
import { targetFor } from '../../shared/runtime/config.ts';
import { AWS_FLAGS_HELP, awsFlags, connect, outputOf, visibleTarget } from '../aws.ts';
import { type Command, EXIT, NotFoundError, parseFlags, refused, UsageError } from '../command.ts';
import { checkId, durationOf } from '../ids.ts';
import {
  checkLifetime,
  checkNote,
  checkTargetGiven,
  commandConfig,
  commandDeps,
  describe,
  dryRunIntent,
  manualKey,
  printDryRun,
  printResult,
  scopeOf,
} from '../mirroring.ts';

const HELP = `Usage: mirrorops start (--instance ID | --eni ID) --for DURATION [--scope ADDRESSES | --scope all]
                       [--note TEXT] [--target tmt-...] [--dry-run] [AWS options]

Mirrors an instance's network interfaces (or one ENI) to the mirror target now, until the time
given, with the reason 'manual' (session numbers 10-19: after GuardDuty's, before tags' and
launches'). The same use case as the functions: the sessions carry mirrorops' tags and a claim,
the sweeper removes them at their expiry, and an audit event says who started them (your ARN, from
STS) and your note. Starting again extends: the sessions last until the latest start's end, and a
wider scope widens the filter; nothing is ever narrowed or shortened by a start.

Options:
  --instance ID     every ENI of this instance
  --eni ID          only this ENI (an instance's, attached)
  --for DURATION    how long: 30m, 2h, 1d... (at most MIRROROPS_MAX_EXPIRY, 7d unless set)
  --scope LIST      the remote addresses and CIDR blocks to mirror traffic with, comma-separated;
                    'all' (the default) mirrors all traffic
  --note TEXT       why, in one line (a case number): in the audit event and the sessions' tags
  --target ID       the mirror target (else MIRROROPS_TARGET_ID and its per-VPC map)
  --dry-run         print the plan and EC2's DryRun answer for each call; change nothing
  -h, --help        show this help

${AWS_FLAGS_HELP}

Examples:
  mirrorops start --instance i-0abc1234def567890 --for 2h --note "case 4711"
  mirrorops start --eni eni-0abc1234def567890 --for 30m --scope 198.51.100.7,203.0.113.0/24
  mirrorops start --instance i-0abc1234def567890 --for 4h --target tmt-0123456789abcdef0 --dry-run`;

const flags = {
  instance: { type: 'string' },
  eni: { type: 'string' },
  for: { type: 'string' },
  scope: { type: 'string' },
  note: { type: 'string' },
  target: { type: 'string' },
  'dry-run': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  ...awsFlags,
} as const;

export const startCommand: Command = {
  async run(args, io) {
    const { values } = parseFlags(args, flags);
    if (values.help) {
      io.out(HELP);
      return EXIT.ok;
    }
    // Everything the command line says is checked before any call.
    const format = outputOf(values);
    if ((values.instance === undefined) === (values.eni === undefined))
      throw new UsageError('say what to mirror: --instance ID or --eni ID (one of them)');
    if (values.instance !== undefined) checkId('--instance', values.instance, 'i');
    if (values.eni !== undefined) checkId('--eni', values.eni, 'eni');
    if (values.for === undefined) throw new UsageError('say for how long: --for 2h (30m, 1d...)');
    const lifetimeMs = durationOf('--for', values.for);
    const scope = scopeOf(values.scope);
    const note = checkNote(values.note);
    if (values.target !== undefined) checkId('--target', values.target, 'tmt');
    checkLifetime('--for', lifetimeMs);
    checkTargetGiven(values.target);

    const aws = await connect(values, io);
    const config = commandConfig(aws.region, values.target);
    const { gateway } = aws;

    // The source: the instance, or the ENI and the instance it is attached to.
    let instance: InstanceView | undefined;
    let eni: { id: string; vpcId?: string | undefined } | undefined;
    if (values.eni !== undefined) {
      const found = await gateway.networkInterface(values.eni);
      if (!found)
        throw new NotFoundError(`no network interface ${values.eni} in ${aws.account} ${aws.region}`);
      if (!found.instanceId)
        throw refused(
          `network interface ${values.eni} is not attached to an instance; mirrorops mirrors instances' ENIs`,
        );
      instance = await gateway.instance(found.instanceId);
      eni = { id: found.id, vpcId: found.vpcId };
    } else {
      instance = await gateway.instance(values.instance ?? '');
    }
    if (!instance)
      throw new NotFoundError(`no instance ${values.instance ?? values.eni} in ${aws.account} ${aws.region}`);
    if (instance.state === 'terminated' || instance.state === 'shutting-down')
      throw refused(`instance ${instance.id} is ${instance.state}`);
    const enis = eni ? [eni] : instance.enis.map((e) => ({ id: e.id, vpcId: e.vpcId ?? instance.vpcId }));

    // The targets the sessions would go to must be visible here: a typo or a target of another
    // account not shared with this one is found before anything is created.
    const targets = [...new Set(enis.map((e) => targetFor(config, e.vpcId)))];
    for (const id of targets) {
      if (!(await visibleTarget(aws.ec2, id)))
        throw new NotFoundError(
          `no mirror target ${id} in ${aws.account} ${aws.region}, nor shared with it (RAM)${values.target ? '' : ' (from MIRROROPS_TARGET_ID)'}`,
        );
    }

    const startAt = new Date();
    const intent: MirrorIntent = {
      account: aws.account,
      region: aws.region,
      reason: 'manual',
      key: manualKey('start', aws.callerArn, note),
      instanceId: instance.id,
      networkInterfaceIds: enis.map((e) => e.id),
      instanceType: instance.type,
      ...(eni?.vpcId || instance.vpcId ? { vpcId: eni?.vpcId ?? instance.vpcId } : {}),
      scope,
      startAt,
      lifetimeMs,
    };
    const expiresAt = expiryFrom(config.expiry, startAt, lifetimeMs).toISOString();
    const who = { requestedBy: aws.callerArn, ...(note ? { note } : {}), scope: describe(scope) };

    if (values['dry-run']) {
      const desired = desiredOf(intent, scope, expiresAt, instance.type);
      const outcome = await dryRunIntent(aws, config, desired, enis, (vpcId) => targetFor(config, vpcId));
      return printDryRun(io, format, intent, expiresAt, outcome);
    }
    const result = await apply(intent, commandDeps(aws, config, io));
    return printResult(io, format, aws, result, who);
  },
};
