import type { SessionView } from '../../shared/aws/ec2.ts';
import { claimsOf, mergeClaims, sessionExpiry } from '../../shared/domain/claims.ts';
import { expiryFrom, readExpiry } from '../../shared/domain/expiry.ts';
import type { MirrorIntent } from '../../shared/domain/intent.ts';
import { desiredOf } from '../../shared/domain/plan.ts';
import type { Reason } from '../../shared/domain/slots.ts';
import { TAG } from '../../shared/domain/tags.ts';
import { type ApplyResult, apply } from '../../shared/mirror.ts';
import { AWS_FLAGS_HELP, awsFlags, connect, outputOf } from '../aws.ts';
import { type Command, EXIT, parseFlags, UsageError } from '../command.ts';
import { checkId, durationOf, instantOf } from '../ids.ts';
import {
  checkLifetime,
  checkNote,
  commandConfig,
  commandDeps,
  dryRunIntent,
  manualKey,
  printDryRun,
  printResult,
} from '../mirroring.ts';
import { selectManaged, selectorText } from '../sessions.ts';

const HELP = `Usage: mirrorops extend (--instance ID | --eni ID | --session ID) (--for DURATION | --until TIME)
                        [--note TEXT] [--dry-run] [AWS options]

Makes the mirror sessions mirrorops manages on an instance, an ENI, or one session last longer,
whatever started them (a finding, a tag, a launch, a start): each gets a claim until the time
given, beside the claims it has, and lasts until the latest (see README, "For incident
responders"). Never shortens: a session that already runs that long is left as it is. The scope
stays as it is (mirrorops start --scope widens it). An audit event says who extended it.

Options:
  --instance ID     every mirrorops session of this instance
  --eni ID          the mirrorops sessions on this ENI
  --session ID      one session (it must be one mirrorops manages)
  --for DURATION    until this long from now: 30m, 4h, 1d... (at most MIRROROPS_MAX_EXPIRY)
  --until TIME      until this instant, with its zone: 2026-12-05T18:00Z
  --note TEXT       why, in one line: in the audit event
  --dry-run         print the plan and EC2's DryRun answer for each call; change nothing
  -h, --help        show this help

${AWS_FLAGS_HELP}

Examples:
  mirrorops extend --instance i-0abc1234def567890 --for 4h --note "case 4711 still open"
  mirrorops extend --session tms-0abc1234def567890 --until 2026-12-05T18:00Z
  mirrorops extend --eni eni-0abc1234def567890 --for 1d --dry-run --output json`;

const flags = {
  instance: { type: 'string' },
  eni: { type: 'string' },
  session: { type: 'string' },
  for: { type: 'string' },
  until: { type: 'string' },
  note: { type: 'string' },
  'dry-run': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  ...awsFlags,
} as const;

export const extendCommand: Command = {
  async run(args, io) {
    const { values } = parseFlags(args, flags);
    if (values.help) {
      io.out(HELP);
      return EXIT.ok;
    }
    const format = outputOf(values);
    const named = [values.instance, values.eni, values.session].filter((v) => v !== undefined);
    if (named.length !== 1)
      throw new UsageError('say what to extend: one of --instance ID, --eni ID or --session ID');
    if (values.instance !== undefined) checkId('--instance', values.instance, 'i');
    if (values.eni !== undefined) checkId('--eni', values.eni, 'eni');
    if (values.session !== undefined) checkId('--session', values.session, 'tms');
    if ((values.for === undefined) === (values.until === undefined))
      throw new UsageError('say until when: --for DURATION or --until TIME (one of them)');
    const forMs = values.for === undefined ? undefined : durationOf('--for', values.for);
    const until = values.until === undefined ? undefined : instantOf('--until', values.until, new Date());
    const lifetimeAt = (start: Date) => forMs ?? (until?.getTime() ?? 0) - start.getTime();
    const option = values.for !== undefined ? '--for' : '--until';
    checkLifetime(option, lifetimeAt(new Date()));
    const note = checkNote(values.note);

    const aws = await connect(values, io);
    const selector = { instanceId: values.instance, eniId: values.eni, sessionId: values.session };
    const { chosen } = await selectManaged(aws, selector);
    if (chosen.length === 0) {
      io.err(`nothing to extend: no mirrorops session for ${selectorText(selector)}`);
      return EXIT.nothing;
    }

    // --until is an instant: the lifetime counts from the requests' own start, so it ends there exactly.
    const startAt = new Date();
    const lifetimeMs = lifetimeAt(startAt);
    const wanted = startAt.getTime() + lifetimeMs;
    const longer = chosen.filter((s) => (readExpiry(sessionExpiry(s.tags)) ?? 0) < wanted);
    for (const s of chosen.filter((s) => !longer.includes(s)))
      io.err(`${s.id} already runs until ${sessionExpiry(s.tags)}; left as it is`);
    if (longer.length === 0) return EXIT.nothing;

    // One request per session: its own reason, instance and ENI, and the scope its claims already
    // have, so the use case extends it (a new claim) and changes nothing else.
    const intents = longer.map((s): { session: SessionView; intent: MirrorIntent } => {
      const merged = mergeClaims(claimsOf(s.tags));
      return {
        session: s,
        intent: {
          account: aws.account,
          region: aws.region,
          reason: s.tags[TAG.reason] as Reason,
          key: manualKey('extend', aws.callerArn, note),
          instanceId: s.tags[TAG.instance] ?? '',
          networkInterfaceIds: [s.eniId],
          scope: merged?.scope ?? { remotes: [], dns: false },
          startAt,
          lifetimeMs,
        },
      };
    });

    if (values['dry-run']) {
      let code: number = EXIT.ok;
      for (const { session, intent } of intents) {
        const config = commandConfig(aws.region, session.targetId);
        const expiresAt = expiryFrom(config.expiry, startAt, lifetimeMs).toISOString();
        const desired = desiredOf(intent, intent.scope, expiresAt, undefined);
        const outcome = await dryRunIntent(
          aws,
          config,
          desired,
          [{ id: session.eniId }],
          () => session.targetId,
        );
        code = Math.max(code, printDryRun(io, format, intent, expiresAt, outcome));
      }
      return code;
    }

    const results = await Promise.all(
      intents.map(({ session, intent }) =>
        apply(intent, commandDeps(aws, commandConfig(aws.region, session.targetId), io)),
      ),
    );
    return printResults(io, format, aws, results, { requestedBy: aws.callerArn, ...(note ? { note } : {}) });
  },
};

function printResults(
  io: Parameters<Command['run']>[1],
  format: ReturnType<typeof outputOf>,
  aws: Parameters<typeof printResult>[2],
  results: ApplyResult[],
  extra: Record<string, unknown>,
): number {
  if (format === 'json') {
    // One document: the results of every session's request.
    const quiet = { out: () => undefined, err: io.err };
    const code = Math.max(...results.map((r) => printResult(quiet, 'text', aws, r, extra)));
    io.out(JSON.stringify({ account: aws.account, region: aws.region, ...extra, results }, null, 2));
    return code;
  }
  // The table of each request, under one header.
  const merged: ApplyResult = {
    instanceId: [...new Set(results.map((r) => r.instanceId))].join(','),
    intent: results[0]?.intent ?? '',
    expiresAt: results[0]?.expiresAt ?? '',
    outcomes: results.flatMap((r) => r.outcomes),
    ...(results.some((r) => r.rejected)
      ? { rejected: results.flatMap((r) => r.rejected ?? []).join('; ') }
      : {}),
  };
  return printResult(io, format, aws, merged, extra);
}
