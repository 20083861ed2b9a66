import {
  CliError,
  type Command,
  credentialsFailure,
  EXIT,
  EXIT_CODES_HELP,
  type Io,
  processIo,
} from './command.ts';

/**
 * Every subcommand, by name: its summary, and its module, imported only when the command runs so
 * that `mirrorops --help` (and each command) loads no more than it uses. A new command is a module
 * in commands/ and a line here.
 */
export const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  start: {
    summary: 'mirror an instance or one ENI now, for a while, optionally scoped (reason manual)',
    load: async () => (await import('./commands/start.ts')).startCommand,
  },
  extend: {
    summary: 'make mirrorops sessions of an instance, ENI or session last longer',
    load: async () => (await import('./commands/extend.ts')).extendCommand,
  },
  stop: {
    summary: 'stop mirrorops sessions now (a session, an instance, a reason, or all)',
    load: async () => (await import('./commands/stop.ts')).stopCommand,
  },
  status: {
    summary: 'list what is mirrored: sessions, reason, scope, expiry, free slots per ENI',
    load: async () => (await import('./commands/status.ts')).statusCommand,
  },
  doctor: {
    summary: 'check that mirrored traffic would reach the target (groups, ACLs, NLB, capacity, routes)',
    load: async () => (await import('./commands/doctor.ts')).doctorCommand,
  },
  explain: {
    summary: 'say whether a packet on an ENI is mirrored, by which session and rule, or why not',
    load: async () => (await import('./commands/explain.ts')).explainCommand,
  },
  capture: {
    summary: 'receive mirrored traffic (VXLAN) and write one pcap file per session',
    load: async () => (await import('./commands/capture.ts')).captureCommand,
  },
  invoke: {
    summary: "run a function's handler locally on an event and print its result",
    load: async () => (await import('./commands/invoke.ts')).invokeCommand,
  },
  emulator: {
    summary: 'serve the local AWS endpoint (EC2 with Traffic Mirroring, STS, IAM, RAM) until stopped',
    load: async () => (await import('./commands/emulator.ts')).emulatorCommand,
  },
  demo: {
    summary: 'run the whole story on a local emulator: tag, new interface, finding, expiry',
    load: async () => (await import('./commands/demo.ts')).demoCommand,
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  const list = Object.entries(commands)
    .map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`)
    .join('\n');
  return `Usage: mirrorops <command> [options]

Commands:
${list}

AWS options of start, extend, stop, status, doctor, explain and capture --resolve,
as the AWS CLI reads them:
  --region R         the Region (else AWS_REGION, AWS_DEFAULT_REGION, the profile's region)
  --profile P        a profile of ~/.aws/config (else AWS_PROFILE, else the default chain)
  --endpoint-url U   another endpoint (else AWS_ENDPOINT_URL; the emulator's URL, say)
  --output F         table (default), json or text

${EXIT_CODES_HELP}

Run 'mirrorops <command> --help' for a command's options and examples.`;
}

/**
 * Runs the `mirrorops` command line and returns the exit code (EXIT in command.ts). Errors are one
 * line on stderr; `shutdown` stops long-running commands (tests; the bin uses signals).
 */
export async function main(
  argv: readonly string[],
  io: Io = processIo,
  shutdown?: AbortSignal,
): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.err(usage());
    return EXIT.usage;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    io.out(usage());
    return EXIT.ok;
  }
  const entry = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!entry) {
    io.err(`mirrorops: unknown command '${name}' (commands: ${Object.keys(commands).join(', ')})`);
    return EXIT.usage;
  }
  try {
    const command = await entry.load();
    return await command.run(rest, io, shutdown);
  } catch (error) {
    const flag = rest.indexOf('--profile');
    const { message, code } = explain(error, flag >= 0 ? rest[flag + 1] : process.env.AWS_PROFILE);
    const hint = code === EXIT.usage ? ` (see 'mirrorops ${name} --help')` : '';
    io.err(`mirrorops ${name}: ${message.split('\n')[0]}${hint}`);
    return code;
  }
}

/** A failure as one line and its exit code; an AWS error by its code. */
function explain(error: unknown, profile: string | undefined): { message: string; code: number } {
  if (error instanceof CliError) return { message: error.message, code: error.exitCode };
  if (!(error instanceof Error)) return { message: String(error), code: EXIT.failed };
  // Credentials that expire during a run (connect checked them at its start).
  const credentials = credentialsFailure(error, profile);
  if (credentials) return { message: credentials.message, code: credentials.exitCode };
  const name = error.name;
  // EC2's `*.NotFound` codes (InvalidInstanceID.NotFound, InvalidTrafficMirrorSessionId.NotFound...).
  if (/\.NotFound$/.test(name)) return { message: `${name}: ${error.message}`, code: EXIT.notFound };
  const aws = name && name !== 'Error' && !error.message.startsWith(name) ? `${name}: ` : '';
  return { message: `${aws}${error.message}`, code: EXIT.failed };
}
