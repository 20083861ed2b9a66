import { type ParseArgsConfig, parseArgs } from 'node:util';

/** Where a command writes: lines to stdout and stderr. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
  /** stdout is a terminal: `status --watch` clears the screen before each refresh. */
  tty?: boolean;
}

export const processIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  get tty() {
    return process.stdout.isTTY === true;
  },
};

/**
 * What a subcommand does; returns the exit code. Its one-line summary lives in main.ts's list, so
 * that `mirrorops --help` imports no command module (and no SDK). `summary` here is not read.
 */
export interface Command {
  summary?: string;
  run(args: readonly string[], io: Io, shutdown?: AbortSignal): Promise<number>;
}

/**
 * The exit codes of `mirrorops`, one meaning each (README "For incident responders", `mirrorops --help`).
 * A command returns one of these or throws a CliError carrying one.
 */
export const EXIT = {
  /** Done (or, with --dry-run, it would be done and you are allowed to). */
  ok: 0,
  /** AWS refused or failed the request, or mirrorops turned it down (no free slot, target full...). */
  failed: 1,
  /** The command line is wrong: unknown option, bad value, missing choice. Nothing was called. */
  usage: 2,
  /** What the command names does not exist or is not visible: instance, ENI, session, target. */
  notFound: 3,
  /** Nothing to do: nothing mirrorops manages matched, or the session already runs that long. */
  nothing: 4,
  /** No usable credentials or Region: the profile is missing or expired, no Region configured. */
  credentials: 5,
} as const;

export const EXIT_CODES_HELP = `Exit codes:
  0  done (with --dry-run: it would be done, and you are allowed to)
  1  AWS refused or failed the request, or mirrorops turned it down (no free slot, target full)
  2  the command line is wrong (unknown option, bad value); nothing was called
  3  not found: the instance, ENI, session or target named does not exist or is not visible
  4  nothing to do: nothing mirrorops manages matched, or it already runs that long
  5  no usable credentials or Region: profile missing or expired, no Region configured`;

/** An expected failure of a command: a one-line message and its exit code. */
export class CliError extends Error {
  override name = 'CliError';
  readonly exitCode: number;
  constructor(message: string, exitCode: number, options?: ErrorOptions) {
    super(message, options);
    this.exitCode = exitCode;
  }
}

/** The command line was wrong (unknown flag, bad value): exit code 2, not 1. */
export class UsageError extends CliError {
  override name = 'UsageError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, EXIT.usage, options);
  }
}

/** AWS or mirrorops refuses what was asked (an unmanaged session, a terminated instance): exit 1. */
export const refused = (message: string) => new CliError(message, EXIT.failed);

/** What the command names does not exist (or this account cannot see it): exit 3. */
export class NotFoundError extends CliError {
  override name = 'NotFoundError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, EXIT.notFound, options);
  }
}

/** No credentials or Region to call AWS with: exit 5. */
export class CredentialsError extends CliError {
  override name = 'CredentialsError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, EXIT.credentials, options);
  }
}

/** Errors that say the credentials are missing, unknown, expired or not accepted. */
const REFUSED_CREDENTIALS = new Set([
  'CredentialsProviderError',
  'TokenProviderError',
  'ExpiredToken',
  'ExpiredTokenException',
  'RequestExpired',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AuthFailure',
]);

/** A credentials failure as one line naming the profile, or undefined for any other error. */
export function credentialsFailure(
  error: unknown,
  profile: string | undefined,
): CredentialsError | undefined {
  const name = error instanceof Error ? error.name : '';
  if (!REFUSED_CREDENTIALS.has(name)) return undefined;
  const said = ((error as Error).message.split('\n')[0] ?? '').trim();
  const expired = /expired/i.test(said) || name.startsWith('Expired') || name === 'RequestExpired';
  const who = profile ? `profile '${profile}'` : 'the default credentials';
  const what = expired ? 'have expired' : 'are missing or not accepted';
  const fix = profile
    ? ` (refresh them, e.g. aws sso login --profile ${profile}, or check ~/.aws/config)`
    : ' (pass --profile or set AWS_PROFILE)';
  return new CredentialsError(`the credentials of ${who} ${what}: ${said}${fix}`, { cause: error });
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs, strict, with its errors turned into UsageError. */
export function parseFlags<const O extends Options, const P extends boolean = false>(
  args: readonly string[],
  options: O,
  allowPositionals?: P,
) {
  try {
    return parseArgs({
      args: [...args],
      options,
      strict: true,
      allowPositionals: (allowPositionals ?? false) as P,
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error), {
      cause: error,
    });
  }
}

/** Resolves when the process is asked to stop (SIGINT, SIGTERM) or the signal aborts. */
export function untilShutdown(signal?: AbortSignal): Promise<string> {
  return new Promise((resolve) => {
    const stop = (reason: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      signal?.removeEventListener('abort', onAbort);
      resolve(reason);
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    const onAbort = () => stop('shutdown');
    if (signal?.aborted) return stop('shutdown');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
