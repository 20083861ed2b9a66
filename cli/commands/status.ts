import { expiresIn, inventory } from '../../shared/inventory.ts';
import { cliGateway } from '../aws.ts';
import { type Command, parseFlags } from '../command.ts';
import { table } from '../table.ts';

const HELP = `Usage: mirrorops status [--all] [--json]

Lists the mirror sessions mirrorops manages in this account and Region: instance, ENI, session
number, reason, what the filter mirrors and when the session expires. Uses AWS_ENDPOINT_URL when
set (the emulator), otherwise AWS with your usual credentials and AWS_REGION.

Options:
  --all       also list sessions mirrorops did not create (they hold slots too)
  --json      print JSON instead of a table
  -h, --help  show this help`;

const flags = {
  all: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export const statusCommand: Command = {
  summary: 'list the mirror sessions mirrorops manages, with reason, scope and expiry',
  async run(args, io) {
    const { values } = parseFlags(args, flags);
    if (values.help) {
      io.out(HELP);
      return 0;
    }
    const rows = await inventory(cliGateway(), { includeUnmanaged: values.all });
    if (values.json) {
      io.out(JSON.stringify(rows, null, 2));
      return 0;
    }
    if (rows.length === 0) {
      io.out(values.all ? 'No mirror sessions.' : 'No mirror sessions managed by mirrorops.');
      return 0;
    }
    const now = new Date();
    io.out(
      table(
        ['INSTANCE', 'ENI', 'SESSION', 'NO', 'REASON', 'MIRRORS', 'EXPIRES IN'],
        rows.map((r) => [
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
    return 0;
  },
};
