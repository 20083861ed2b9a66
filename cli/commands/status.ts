import type { InstanceView } from '../../shared/aws/ec2.ts';
import { SESSIONS_PER_ENI } from '../../shared/domain/slots.ts';
import { expiresIn, inventory, type MirrorRow } from '../../shared/inventory.ts';
import { ALL_ACCOUNTS_HELP, allAccountsFlags, checkAllAccounts, inAccounts } from '../accounts.ts';
import { AWS_FLAGS_HELP, type AwsAccount, awsFlags, connect, type OutputFormat, outputOf } from '../aws.ts';
import {
  type Command,
  EXIT,
  type Io,
  NotFoundError,
  parseFlags,
  UsageError,
  untilShutdown,
} from '../command.ts';
import { checkId } from '../ids.ts';
import { table } from '../table.ts';

const HELP = `Usage: mirrorops status [--instance ID | --eni ID] [--all] [--watch [--interval S]]
                        [--all-accounts [--accounts IDS] [--role NAME] [--external-id ID]] [AWS options]

Lists the mirror sessions mirrorops manages in this account and Region: instance, ENI, session
number, reason, what the filter mirrors and when the session expires; then, per ENI, how many of
its ${SESSIONS_PER_ENI} session slots are free and which sessions on it mirrorops did not create (they hold
slots too, and mirrorops never touches them).

Options:
  --instance ID   only this instance: all its ENIs, with every session on them
  --eni ID        only this ENI, with every session on it
  --all           every session of the account, also those mirrorops did not create
  --watch         refresh until Ctrl-C, like watch(1)
  --interval S    seconds between refreshes with --watch (default 2; decimals allowed)
  --json          the same as --output json
  -h, --help      show this help

${ALL_ACCOUNTS_HELP}

${AWS_FLAGS_HELP}

Examples:
  mirrorops status
  mirrorops status --all-accounts --role OrganizationAccountAccessRole
  mirrorops status --instance i-0abc1234def567890 --watch
  mirrorops status --all --output json --profile security --region eu-west-1`;

const flags = {
  instance: { type: 'string' },
  eni: { type: 'string' },
  all: { type: 'boolean', default: false },
  watch: { type: 'boolean', default: false },
  interval: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  ...allAccountsFlags,
  ...awsFlags,
} as const;

/** An ENI as status shows it: how many of its slots are taken, and by sessions of whom. */
export interface InterfaceSlots {
  networkInterfaceId: string;
  instanceId?: string;
  used: number;
  free: number;
  /** Sessions on it that mirrorops did not create: never modified, but they hold slots. */
  notMirrorops: { sessionId: string; sessionNumber: number }[];
}

/** One account and Region's answer (`--all-accounts` will give one per account). */
export interface AccountStatus {
  account: string;
  region: string;
  sessions: MirrorRow[];
  interfaces: InterfaceSlots[];
}

interface Selection {
  instanceId?: string | undefined;
  eniId?: string | undefined;
  all: boolean;
}

/** What one account has mirrored, as selected. */
export async function statusOf(aws: AwsAccount, selection: Selection): Promise<AccountStatus> {
  const { gateway } = aws;
  let instance: InstanceView | undefined;
  let attachedTo: string | undefined;
  const [rows] = await Promise.all([
    inventory(gateway, { includeUnmanaged: true, owner: aws.account }),
    (async () => {
      if (selection.instanceId !== undefined) {
        instance = await gateway.instance(selection.instanceId);
        if (!instance)
          throw new NotFoundError(`no instance ${selection.instanceId} in ${aws.account} ${aws.region}`);
      }
      if (selection.eniId !== undefined) {
        const eni = await gateway.networkInterface(selection.eniId);
        if (!eni)
          throw new NotFoundError(`no network interface ${selection.eniId} in ${aws.account} ${aws.region}`);
        attachedTo = eni.instanceId;
      }
    })(),
  ]);
  // The ENIs to show: those named, else every ENI with a session mirrorops manages (or any, with --all).
  const named = instance
    ? instance.enis.map((e) => e.id)
    : selection.eniId !== undefined
      ? [selection.eniId]
      : undefined;
  const enis = named ?? [
    ...new Set(rows.filter((r) => selection.all || r.managed).map((r) => r.networkInterfaceId)),
  ];
  const onShown = rows.filter((r) => enis.includes(r.networkInterfaceId));
  const owner = instance?.id ?? attachedTo;
  const sessions = (named || selection.all ? onShown : onShown.filter((r) => r.managed)).map((r) =>
    owner && r.instanceId === undefined ? { ...r, instanceId: owner } : r,
  );
  const interfaces = enis.map((eniId): InterfaceSlots => {
    const on = onShown.filter((r) => r.networkInterfaceId === eniId);
    const instanceId = instance?.id ?? attachedTo ?? on.find((r) => r.instanceId)?.instanceId;
    return {
      networkInterfaceId: eniId,
      ...(instanceId ? { instanceId } : {}),
      used: on.length,
      free: Math.max(0, SESSIONS_PER_ENI - on.length),
      notMirrorops: on
        .filter((r) => !r.managed)
        .map((r) => ({ sessionId: r.sessionId, sessionNumber: r.sessionNumber })),
    };
  });
  return { account: aws.account, region: aws.region, sessions, interfaces };
}

/** The answer in the chosen format, as lines. */
export function renderStatus(format: OutputFormat, statuses: readonly AccountStatus[], now: Date): string[] {
  if (format === 'json') return [JSON.stringify({ accounts: statuses }, null, 2)];
  if (format === 'text') {
    return statuses.flatMap((s) => [
      ...s.sessions.map((r) =>
        [
          'SESSION',
          s.account,
          s.region,
          r.instanceId ?? '-',
          r.networkInterfaceId,
          r.sessionId,
          r.sessionNumber,
          r.managed ? (r.reason ?? '-') : 'not-mirrorops',
          r.scope,
          r.expiresAt ?? '-',
        ].join('\t'),
      ),
      ...s.interfaces.map((i) =>
        [
          'INTERFACE',
          s.account,
          s.region,
          i.networkInterfaceId,
          i.instanceId ?? '-',
          i.used,
          i.free,
          i.notMirrorops.map((n) => n.sessionId).join(',') || '-',
        ].join('\t'),
      ),
    ]);
  }
  const many = statuses.length > 1;
  return statuses.flatMap((s, index) => {
    const lines: string[] = [];
    if (index > 0) lines.push('');
    if (many) lines.push(`Account ${s.account}, ${s.region}:`);
    if (s.sessions.length === 0) lines.push('No mirror sessions managed by mirrorops.');
    else
      lines.push(
        table(
          ['INSTANCE', 'ENI', 'SESSION', 'NO', 'REASON', 'MIRRORS', 'EXPIRES IN'],
          s.sessions.map((r) => [
            r.instanceId ?? '-',
            r.networkInterfaceId,
            r.sessionId,
            String(r.sessionNumber),
            r.managed ? (r.reason ?? '-') : '(not mirrorops)',
            r.scope,
            expiresIn(r.expiresAt, now),
          ]),
        ),
      );
    if (s.interfaces.length > 0) {
      lines.push(
        '',
        table(
          ['ENI', 'INSTANCE', 'SLOTS FREE', 'NOT MIRROROPS'],
          s.interfaces.map((i) => [
            i.networkInterfaceId,
            i.instanceId ?? '-',
            `${i.free} of ${SESSIONS_PER_ENI}`,
            i.notMirrorops.map((n) => `${n.sessionId} (no ${n.sessionNumber})`).join(', ') || '-',
          ]),
        ),
      );
    }
    return lines;
  });
}

function intervalOf(text: string | undefined): number {
  if (text === undefined) return 2000;
  const seconds = Number(text);
  if (text.trim() === '' || !Number.isFinite(seconds) || seconds < 0.05 || seconds > 3600)
    throw new UsageError(`--interval must be seconds between 0.05 and 3600, not '${text}'`);
  return Math.round(seconds * 1000);
}

export const statusCommand: Command = {
  async run(args, io, shutdown) {
    const { values } = parseFlags(args, flags);
    if (values.help) {
      io.out(HELP);
      return EXIT.ok;
    }
    const format = outputOf(values);
    if (values.instance !== undefined && values.eni !== undefined)
      throw new UsageError('give --instance or --eni, not both');
    if (values.instance !== undefined) checkId('--instance', values.instance, 'i');
    if (values.eni !== undefined) checkId('--eni', values.eni, 'eni');
    if (values.interval !== undefined && !values.watch) throw new UsageError('--interval goes with --watch');
    checkAllAccounts(values);
    if (values['all-accounts'] && (values.instance !== undefined || values.eni !== undefined))
      throw new UsageError('--all-accounts lists whole accounts: not with --instance or --eni');
    const interval = intervalOf(values.interval);
    const selection: Selection = { instanceId: values.instance, eniId: values.eni, all: values.all };
    // This account, or with --all-accounts each account of the fleet (one that fails is named on stderr).
    const hub = await connect(values, io);
    let failed = 0;
    const once = async () => {
      const answer = await inAccounts(hub, values, io, (aws) => statusOf(aws, selection));
      failed = answer.failed;
      return renderStatus(format, answer.results, new Date());
    };
    if (!values.watch) {
      for (const line of await once()) io.out(line);
      return failed > 0 ? EXIT.failed : EXIT.ok;
    }
    return watch(io, interval, shutdown, once, `mirrorops status ${args.join(' ')}`.trim());
  },
};

/**
 * Refreshes like watch(1) until SIGINT, SIGTERM or `shutdown`: a header with the time, then the
 * answer; on a terminal the screen is cleared first. A refresh that fails says why on stderr and
 * the next one tries again. Exit 0 when stopped.
 */
async function watch(
  io: Io,
  intervalMs: number,
  shutdown: AbortSignal | undefined,
  once: () => Promise<string[]>,
  title: string,
): Promise<number> {
  let stopped = false;
  const stop = untilShutdown(shutdown).then(() => {
    stopped = true;
  });
  while (!stopped) {
    let lines: string[];
    try {
      lines = await once();
    } catch (error) {
      lines = [];
      io.err(`mirrorops status: ${((error as Error).message ?? String(error)).split('\n')[0]}`);
    }
    if (stopped) break;
    if (io.tty) io.out('\x1b[H\x1b[2J');
    io.out(`Every ${intervalMs / 1000}s: ${title}    ${new Date().toISOString()}`);
    io.out('');
    for (const line of lines) io.out(line);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([stop, new Promise<void>((resolve) => (timer = setTimeout(resolve, intervalMs)))]);
    clearTimeout(timer);
  }
  return EXIT.ok;
}
