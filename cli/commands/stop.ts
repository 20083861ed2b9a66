import { DeleteTrafficMirrorFilterCommand, DeleteTrafficMirrorSessionCommand } from '@aws-sdk/client-ec2';
import { sessionStopped } from '../../shared/aws/audit.ts';
import { errorName } from '../../shared/aws/errors.ts';
import { TAG } from '../../shared/domain/tags.ts';
import { ALL_ACCOUNTS_HELP, allAccountsFlags, checkAllAccounts, inAccounts } from '../accounts.ts';
import {
  AWS_FLAGS_HELP,
  type AwsAccount,
  awsFlags,
  connect,
  type DryRunAnswer,
  dryRun,
  outputOf,
} from '../aws.ts';
import { type Command, EXIT, parseFlags, UsageError } from '../command.ts';
import { checkId, reasonOf } from '../ids.ts';
import { type Selector, selectManaged, selectorText } from '../sessions.ts';
import { table } from '../table.ts';

const HELP = `Usage: mirrorops stop (--instance ID | --eni ID | --session ID | --reason R | --all)
                      [--reason R] [--dry-run]
                      [--all-accounts [--accounts IDS] [--role NAME] [--external-id ID]] [AWS options]

Stops mirror sessions mirrorops manages, at once, whatever their expiry; an audit event says who
stopped each. Sessions mirrorops did not create are never touched. With --all, the filters
mirrorops created are removed too once nothing uses them.

Options:
  --instance ID   every mirrorops session of this instance
  --eni ID        the mirrorops sessions on this ENI
  --session ID    one session (it must be one mirrorops manages)
  --reason R      only sessions started for this reason: manual, tag, guardduty or launch; alone,
                  every session of that reason in the account and Region
  --all           every mirrorops session in this account and Region
  --dry-run       list what would be stopped, with EC2's DryRun answer for each; change nothing
  -h, --help      show this help

${ALL_ACCOUNTS_HELP}
  With --all-accounts, stop takes --all or --reason R (what is named by id lives in one account).

${AWS_FLAGS_HELP}

Examples:
  mirrorops stop --instance i-0abc1234def567890
  mirrorops stop --instance i-0abc1234def567890 --reason manual
  mirrorops stop --reason tag --dry-run
  mirrorops stop --all --profile security --region eu-west-1
  mirrorops stop --all --all-accounts --role OrganizationAccountAccessRole`;

const flags = {
  instance: { type: 'string' },
  eni: { type: 'string' },
  session: { type: 'string' },
  reason: { type: 'string' },
  all: { type: 'boolean', default: false },
  'dry-run': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  ...allAccountsFlags,
  ...awsFlags,
} as const;

/** What stop did, or would do, in one account. */
export interface StopResult {
  account: string;
  region: string;
  stopped: {
    sessionId: string;
    instanceId?: string;
    networkInterfaceId: string;
    reason?: string;
    dryRun?: DryRunAnswer;
  }[];
  filtersRemoved: { filterId: string; dryRun?: DryRunAnswer }[];
}

export const stopCommand: Command = {
  async run(args, io) {
    const { values } = parseFlags(args, flags);
    if (values.help) {
      io.out(HELP);
      return EXIT.ok;
    }
    const format = outputOf(values);
    const named = [values.instance, values.eni, values.session].filter((v) => v !== undefined).length;
    if (named + (values.all ? 1 : 0) > 1 || (named === 0 && !values.all && values.reason === undefined))
      throw new UsageError(
        'say what to stop: one of --instance ID, --eni ID, --session ID or --all (or --reason R)',
      );
    if (values.instance !== undefined) checkId('--instance', values.instance, 'i');
    if (values.eni !== undefined) checkId('--eni', values.eni, 'eni');
    if (values.session !== undefined) checkId('--session', values.session, 'tms');
    checkAllAccounts(values);
    if (values['all-accounts'] && named > 0)
      throw new UsageError(
        '--all-accounts stops by --all or --reason: an instance, ENI or session lives in one account',
      );
    const selector: Selector = {
      instanceId: values.instance,
      eniId: values.eni,
      sessionId: values.session,
      reason: values.reason === undefined ? undefined : reasonOf(values.reason),
      all: values.all,
    };
    const dry = values['dry-run'];

    // This account, or with --all-accounts each account of the fleet (one that fails is named on stderr).
    const { results, failed } = await inAccounts(await connect(values, io), values, io, (aws) =>
      stopIn(aws, selector, dry, io),
    );

    if (format === 'json') io.out(JSON.stringify({ dryRun: dry, accounts: results }, null, 2));
    else {
      const verb = dry ? 'would stop' : 'stopped';
      const answer = (a: DryRunAnswer | undefined) =>
        a === undefined ? '' : a.allowed ? 'allowed (DryRunOperation)' : `REFUSED ${a.code}: ${a.message}`;
      const rows = results.flatMap((r) => [
        ...r.stopped.map((s) => [
          verb,
          s.sessionId,
          s.instanceId ?? '-',
          s.networkInterfaceId,
          s.reason ?? '-',
          answer(s.dryRun),
        ]),
        ...r.filtersRemoved.map((f) => [
          dry ? 'would remove' : 'removed',
          f.filterId,
          '-',
          '-',
          'filter',
          answer(f.dryRun),
        ]),
      ]);
      if (format === 'text') for (const row of rows) io.out(row.map((c) => c || '-').join('\t'));
      else if (rows.length > 0)
        io.out(
          table(
            ['DONE', 'ID', 'INSTANCE', 'ENI', 'REASON', ...(dry ? ['EC2 SAYS'] : [])],
            rows.map((r) => (dry ? r : r.slice(0, 5))),
          ),
        );
    }
    const all = results.flatMap((r) => [
      ...r.stopped.map((s) => s.dryRun),
      ...r.filtersRemoved.map((f) => f.dryRun),
    ]);
    if (all.some((a) => a !== undefined && !a.allowed)) {
      io.err('not allowed: EC2 refused a DryRun request (see above)');
      return EXIT.failed;
    }
    if (failed > 0) return EXIT.failed;
    if (results.every((r) => r.stopped.length === 0 && r.filtersRemoved.length === 0)) {
      io.err(`nothing to stop: no mirrorops session for ${selectorText(selector)}`);
      return EXIT.nothing;
    }
    return EXIT.ok;
  },
};

/** Stops (or, dry, asks EC2 about stopping) the selected sessions of one account. */
async function stopIn(
  aws: AwsAccount,
  selector: Selector,
  dry: boolean,
  io: Parameters<Command['run']>[1],
): Promise<StopResult> {
  const { chosen, everything } = await selectManaged(aws, selector);
  const stopped = await Promise.all(
    chosen.map(async (s) => {
      const row = {
        sessionId: s.id,
        ...(s.tags[TAG.instance] ? { instanceId: s.tags[TAG.instance] } : {}),
        networkInterfaceId: s.eniId,
        ...(s.tags[TAG.reason] ? { reason: s.tags[TAG.reason] } : {}),
      };
      if (dry)
        return {
          ...row,
          dryRun: await dryRun(
            aws.ec2,
            new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: s.id }),
          ),
        };
      await aws.gateway.deleteSession(s.id).catch((error: unknown) => {
        if (errorName(error) !== 'InvalidTrafficMirrorSessionId.NotFound') throw error;
      });
      return row;
    }),
  );
  if (!dry && chosen.length > 0) {
    const failed = await aws.audit.publish(
      chosen.map((s) => sessionStopped(aws, s, `stopped by ${aws.callerArn} (mirrorops stop)`)),
    );
    if (failed > 0) io.err(`warning: ${failed} audit event(s) not delivered to ${aws.auditBus}`);
  }
  const filtersRemoved: StopResult['filtersRemoved'] = [];
  if (selector.all && selector.reason === undefined) {
    const inUse = new Set(everything.filter((s) => !chosen.includes(s)).map((s) => s.filterId));
    for await (const page of aws.gateway.managedFilterPages()) {
      for (const f of page) {
        if (inUse.has(f.id)) continue;
        if (dry) {
          filtersRemoved.push({
            filterId: f.id,
            dryRun: await dryRun(
              aws.ec2,
              new DeleteTrafficMirrorFilterCommand({ TrafficMirrorFilterId: f.id }),
            ),
          });
          continue;
        }
        try {
          await aws.gateway.deleteFilter(f.id);
          filtersRemoved.push({ filterId: f.id });
        } catch (error) {
          const name = errorName(error);
          if (name !== 'InvalidTrafficMirrorFilterId.NotFound' && name !== 'TrafficMirrorFilterInUse')
            throw error;
        }
      }
    }
  }
  return { account: aws.account, region: aws.region, stopped, filtersRemoved };
}
