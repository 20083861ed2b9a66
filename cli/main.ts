import { type Command, type Io, processIo, UsageError } from './command.ts';
import { demoCommand } from './commands/demo.ts';
import { emulatorCommand } from './commands/emulator.ts';
import { invokeCommand } from './commands/invoke.ts';
import { statusCommand } from './commands/status.ts';
import { stopCommand } from './commands/stop.ts';

/** Every subcommand, by name. A new one is a module in commands/ and a line here. */
export const commands: Record<string, Command> = {
  demo: demoCommand,
  emulator: emulatorCommand,
  invoke: invokeCommand,
  status: statusCommand,
  stop: stopCommand,
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  const list = Object.entries(commands)
    .map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`)
    .join('\n');
  return `Usage: mirrorops <command> [options]

Commands:
${list}

Run 'mirrorops <command> --help' for a command's options.`;
}

/**
 * Runs the `mirrorops` command line and returns the exit code: 0 done, 1 failed, 2 misused.
 * Errors are one line on stderr; `shutdown` stops long-running commands (tests; the bin uses signals).
 */
export async function main(
  argv: readonly string[],
  io: Io = processIo,
  shutdown?: AbortSignal,
): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.err(usage());
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    io.out(usage());
    return 0;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    io.err(`mirrorops: unknown command '${name}' (commands: ${Object.keys(commands).join(', ')})`);
    return 2;
  }
  try {
    return await command.run(rest, io, shutdown);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`mirrorops ${name}: ${error.message} (see 'mirrorops ${name} --help')`);
      return 2;
    }
    const message = error instanceof Error ? error.message : String(error);
    io.err(`mirrorops ${name}: ${message.split('\n')[0]}`);
    return 1;
  }
}
