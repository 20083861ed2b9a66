import { type ParseArgsConfig, parseArgs } from 'node:util';

/** Where a command writes: lines to stdout and stderr. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
}

export const processIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** A subcommand: its one-line summary for `mirrorops --help`, and what it does; returns the exit code. */
export interface Command {
  summary: string;
  run(args: readonly string[], io: Io, shutdown?: AbortSignal): Promise<number>;
}

/** The command line was wrong (unknown flag, bad value): exit code 2, not 1. */
export class UsageError extends Error {
  override name = 'UsageError';
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
    throw new UsageError(error instanceof Error ? error.message.split('\n')[0] : String(error), {
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
