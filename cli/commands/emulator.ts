import {
  checkDeliveryKey,
  checkFaults,
  DEFAULT_ACCOUNT,
  DEFAULT_REGION,
  type Faults,
  type Organization,
  parseDeliveryAddress,
  startEmulator,
} from '../../emulator/index.ts';
import { type Command, parseFlags, UsageError, untilShutdown } from '../command.ts';

const HELP = `Usage: mirrorops emulator [options]

Serves a local AWS endpoint (EC2 with Traffic Mirroring, STS, IAM roles, RAM, EventBridge, SQS)
that the AWS SDK and CLI reach through AWS_ENDPOINT_URL. Prints its URL on stdout once it
accepts requests; stops on Ctrl-C (SIGINT) or SIGTERM.

Options:
  --port N              port to listen on (default 4566; 0 picks a free one)
  --host H              address to listen on (default 127.0.0.1)
  --throttle            answer 503 RequestLimitExceeded past EC2's token-bucket rates
  --latency MS|MIN-MAX  each request's round trip: MS, or a random MIN..MAX, milliseconds
  --failure-rate R      answer this share (0..1) of requests with 500 InternalError
  --seed N              seed for the random latency and failures, to repeat a run
  --org-members IDS     comma-separated account ids in one AWS Organization with RAM sharing
                        enabled: sharing among them needs no invitation
  --org-management ID   that organisation's management account (default: the first of
                        --org-members)
  --deliver T=HOST:PORT where target T's mirrored traffic (VXLAN over UDP) goes, T a target id
                        (tmt-...) or '*' for every target without its own; repeatable
                        (default 127.0.0.1:4789). Packets come from POST /_emulator/traffic
  -h, --help            show this help`;

const flags = {
  port: { type: 'string', default: '4566' },
  host: { type: 'string', default: '127.0.0.1' },
  throttle: { type: 'boolean', default: false },
  latency: { type: 'string' },
  'failure-rate': { type: 'string' },
  seed: { type: 'string' },
  'org-members': { type: 'string' },
  'org-management': { type: 'string' },
  deliver: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function integer(flag: string, raw: string, min: number, max: number): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new UsageError(`--${flag} must be an integer from ${min} to ${max}, got '${raw}'`);
  }
  return value;
}

/** The faults the flags ask for; none unless a flag is given. */
export function faultsFromFlags(values: {
  throttle: boolean;
  latency?: string | undefined;
  'failure-rate'?: string | undefined;
  seed?: string | undefined;
}): Faults {
  const faults: Faults = {};
  if (values.throttle) faults.throttle = true;
  if (values.latency !== undefined) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(values.latency);
    const [min, max] = [Number(match?.[1]), Number(match?.[2] ?? match?.[1])];
    if (!match || max < min) {
      throw new UsageError(`--latency must be MS or MIN-MAX milliseconds, got '${values.latency}'`);
    }
    faults.latencyMs = min === max ? min : [min, max];
  }
  const rate = values['failure-rate'];
  if (rate !== undefined) {
    const value = Number(rate);
    if (rate.trim() === '' || !(value >= 0 && value <= 1)) {
      throw new UsageError(`--failure-rate must be a number from 0 to 1, got '${rate}'`);
    }
    faults.failureRate = value;
  }
  if (values.seed !== undefined) faults.seed = integer('seed', values.seed, 0, 2 ** 32 - 1);
  checkFaults(faults);
  return faults;
}

/** The organisation the flags describe, or undefined when neither flag is given. */
export function organizationFromFlags(values: {
  'org-members'?: string | undefined;
  'org-management'?: string | undefined;
}): Organization | undefined {
  const listed = values['org-members'];
  const management = values['org-management'];
  if (listed === undefined && management === undefined) return undefined;
  const members = listed === undefined ? [] : listed.split(',').map((id) => id.trim());
  for (const id of [...members, ...(management === undefined ? [] : [management])]) {
    if (!/^\d{12}$/.test(id)) {
      throw new UsageError(`--org-members and --org-management take twelve-digit account ids, got '${id}'`);
    }
  }
  const managementAccount = management ?? members[0];
  if (managementAccount === undefined) throw new UsageError('--org-members needs at least one account id');
  return { managementAccount, members: members.filter((id) => id !== managementAccount) };
}

/** The delivery table `--deliver T=HOST:PORT` (repeatable) describes; a later entry for T wins. */
export function deliveryFromFlags(values: { deliver?: string[] | undefined }): Record<string, string> {
  const table: Record<string, string> = {};
  for (const entry of values.deliver ?? []) {
    const eq = entry.indexOf('=');
    const key = eq < 0 ? '' : entry.slice(0, eq);
    const address = entry.slice(eq + 1);
    if (eq < 0)
      throw new UsageError(`--deliver takes TARGET=HOST:PORT (TARGET tmt-... or '*'), got '${entry}'`);
    try {
      checkDeliveryKey(key);
      parseDeliveryAddress(address);
    } catch (error) {
      throw new UsageError(`--deliver: ${(error as Error).message}`);
    }
    table[key] = address;
  }
  return table;
}

function describeFaults(faults: Faults): string | undefined {
  const parts = [
    faults.throttle && "throttling at EC2's rates",
    faults.latencyMs !== undefined && `latency ${[faults.latencyMs].flat().join('-')} ms`,
    faults.failureRate && `failure rate ${faults.failureRate}`,
    faults.seed !== undefined && `seed ${faults.seed}`,
  ].filter((part): part is string => typeof part === 'string');
  return parts.length > 0 ? parts.join(', ') : undefined;
}

function describeDelivery(delivery: Record<string, string>): string {
  const all = delivery['*'] ?? '127.0.0.1:4789';
  const own = Object.entries(delivery).filter(([key]) => key !== '*');
  return [
    ...own.map(([key, address]) => `${address} for ${key}`),
    `${all}${own.length > 0 ? ' for the others' : ''}`,
  ].join(', ');
}

export const emulatorCommand: Command = {
  summary: 'serve the local AWS endpoint (EC2 with Traffic Mirroring, STS, IAM, RAM) until stopped',
  async run(args, io, shutdown) {
    const { values } = parseFlags(args, flags);
    if (values.help) {
      io.out(HELP);
      return 0;
    }
    const port = integer('port', values.port, 0, 65535);
    const faults = faultsFromFlags(values);
    const organization = organizationFromFlags(values);
    const delivery = deliveryFromFlags(values);
    const emulator = await startEmulator({
      port,
      host: values.host,
      faults,
      delivery,
      ...(organization === undefined ? {} : { organization }),
    }).catch((error: unknown) => {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw new Error(`port ${port} on ${values.host} is already in use`);
      if (code === 'EACCES') throw new Error(`not allowed to listen on port ${port} on ${values.host}`);
      if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
        throw new Error(`cannot listen on ${values.host}: no such local address`);
      }
      throw error;
    });
    io.out(emulator.url);
    io.err(
      [
        'Use it from the AWS CLI or an SDK in another shell:',
        `  export AWS_ENDPOINT_URL=${emulator.url} AWS_REGION=${DEFAULT_REGION} AWS_DEFAULT_REGION=${DEFAULT_REGION} AWS_ACCESS_KEY_ID=${DEFAULT_ACCOUNT} AWS_SECRET_ACCESS_KEY=test`,
        `The access key id picks the account (twelve digits; anything else is ${DEFAULT_ACCOUNT}).`,
        ...[describeFaults(faults)].filter((line) => line !== undefined).map((line) => `Faults: ${line}.`),
        ...(organization === undefined
          ? []
          : [
              `Organization: management account ${organization.managementAccount}${organization.members.length > 0 ? `, members ${organization.members.join(', ')}` : ''} (RAM shares among them need no invitation).`,
            ]),
        `Mirrored traffic (POST ${emulator.url}/_emulator/traffic) goes as VXLAN to ${describeDelivery(delivery)}.`,
        'Ctrl-C stops it.',
      ].join('\n'),
    );
    const reason = await untilShutdown(shutdown);
    await emulator.stop();
    io.err(`mirrorops emulator: stopped (${reason})`);
    return 0;
  },
};
