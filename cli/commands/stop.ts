import { inventory } from '../../shared/inventory.ts';
import { cliGateway } from '../aws.ts';
import { type Command, parseFlags, UsageError } from '../command.ts';

const HELP = `Usage: mirrorops stop (--instance ID | --session ID | --all) [--dry-run]

Stops mirror sessions mirrorops manages, at once, whatever their expiry. Sessions mirrorops did
not create are never touched. With --all, the filters mirrorops created are removed too once
nothing uses them.

Options:
  --instance ID  every mirrorops session of this instance
  --session ID   one session (it must be one mirrorops manages)
  --all          every mirrorops session in this account and Region
  --dry-run      list what would be stopped, change nothing
  -h, --help     show this help`;

const flags = {
  instance: { type: 'string' },
  session: { type: 'string' },
  all: { type: 'boolean', default: false },
  'dry-run': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export const stopCommand: Command = {
  summary: 'stop mirrorops sessions now (one, an instance, or all)',
  async run(args, io) {
    const { values } = parseFlags(args, flags);
    if (values.help) {
      io.out(HELP);
      return 0;
    }
    const chosen = [values.instance !== undefined, values.session !== undefined, values.all].filter(
      Boolean,
    ).length;
    if (chosen !== 1) throw new UsageError('say what to stop: one of --instance ID, --session ID or --all');
    const ec2 = cliGateway();
    const everything = await inventory(ec2, { includeUnmanaged: true });
    if (values.session !== undefined) {
      const session = everything.find((r) => r.sessionId === values.session);
      if (!session) throw new Error(`no session ${values.session} in this account and Region`);
      if (!session.managed)
        throw new Error(`session ${values.session} was not created by mirrorops; it is left alone`);
    }
    const doomed = everything.filter(
      (r) =>
        r.managed &&
        (values.all ||
          r.sessionId === values.session ||
          (values.instance !== undefined && r.instanceId === values.instance)),
    );
    for (const r of doomed) {
      if (!values['dry-run']) {
        await ec2.deleteSession(r.sessionId).catch((error: Error) => {
          if (error.name !== 'InvalidTrafficMirrorSessionId.NotFound') throw error;
        });
      }
      io.out(
        `${values['dry-run'] ? 'would stop' : 'stopped'} ${r.sessionId} (${r.instanceId ?? '-'} ${r.networkInterfaceId}, ${r.reason ?? '-'})`,
      );
    }
    if (values.all) {
      const inUse = new Set(everything.filter((r) => !doomed.includes(r)).map((r) => r.filterId));
      for await (const page of ec2.managedFilterPages()) {
        for (const f of page) {
          if (inUse.has(f.id)) continue;
          if (!values['dry-run']) {
            await ec2.deleteFilter(f.id).catch((error: Error) => {
              if (
                error.name !== 'InvalidTrafficMirrorFilterId.NotFound' &&
                error.name !== 'TrafficMirrorFilterInUse'
              )
                throw error;
            });
          }
          io.out(`${values['dry-run'] ? 'would remove' : 'removed'} filter ${f.id}`);
        }
      }
    }
    if (doomed.length === 0) io.out('Nothing to stop.');
    return 0;
  },
};
