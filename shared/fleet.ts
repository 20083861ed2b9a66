import { enrolledAccounts } from './aws/accounts.ts';
import { ramClient } from './aws/clients.ts';
import type { Config } from './runtime/config.ts';
import { accountsFor, mirrorDeps } from './runtime/deps.ts';
import type { Logger } from './runtime/log.ts';
import { type SweepOptions, type SweepResult, sweep } from './sweep.ts';

export interface FleetSweep {
  accounts: ({ account: string; result: SweepResult } | { account: string; error: string })[];
}

/**
 * Sweeps every enrolled account (the hub and the members its target is shared with) in parallel:
 * each account has its own EC2 rate limits. A failing account (its spoke role gone, a throttled
 * listing) is reported and does not stop the others; the next run tries it again.
 */
/**
 * Accounts with sessions on the hub's targets: the target owner sees them in its own listing. This
 * finds members enrolled through an organizational unit too, whose accounts a share does not list.
 */
async function accountsMirroringHere(config: Config, hub: string, log: Logger): Promise<string[]> {
  try {
    const owners = new Set<string>();
    const ec2 = (await mirrorDeps(config, hub, config.region, log)).ec2;
    for await (const page of ec2.sessionPages()) {
      for (const s of page) if (s.ownerId && s.ownerId !== hub) owners.add(s.ownerId);
    }
    return [...owners];
  } catch (error) {
    log.warn('could not list the sessions on the hub targets', { error: (error as Error).message });
    return [];
  }
}

export async function sweepFleet(
  config: Config,
  log: Logger,
  options: SweepOptions & { now?: () => Date },
): Promise<FleetSweep> {
  const hub = await accountsFor(config).hubAccount();
  const [shared, mirroring] = await Promise.all([
    enrolledAccounts(ramClient(config.region), hub).catch((error: Error) => {
      log.warn('could not list the accounts the target is shared with', { error: error.message });
      return [hub];
    }),
    accountsMirroringHere(config, hub, log),
  ]);
  const accounts = [...new Set([...shared, ...mirroring])];
  const results = await Promise.all(
    accounts.map(async (account) => {
      try {
        const deps = await mirrorDeps(config, account, config.region, log);
        return { account, result: await sweep(options.now ? { ...deps, now: options.now } : deps, options) };
      } catch (error) {
        const message = `${(error as Error).name}: ${(error as Error).message}`;
        log.error('sweep failed in an account', { account, error: message });
        return { account, error: message };
      }
    }),
  );
  return { accounts: results };
}
