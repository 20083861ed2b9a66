import { type AccountFailure, accountFailure, enrolledAccounts } from './aws/accounts.ts';
import { ramClient } from './aws/clients.ts';
import { errorName } from './aws/errors.ts';
import type { Config } from './runtime/config.ts';
import { accountsFor, mirrorDeps } from './runtime/deps.ts';
import type { Logger } from './runtime/log.ts';
import { type SweepOptions, type SweepResult, sweep } from './sweep.ts';

/**
 * Work across the accounts of an organisation: each account has its own EC2 token buckets (EC2
 * throttles per account and Region: ec2/latest/devguide/ec2-api-throttling.html), so accounts are
 * worked on side by side, a bounded number at once, and one account's failure (its role missing,
 * throttled, refused) is that account's result, not the others'.
 */

/** One account's part of a fleet-wide task. */
export type AccountOutcome<T> =
  | { account: string; value: T }
  | { account: string; error: string; why: AccountFailure }
  | { account: string; skipped: string };

export interface EachAccountOptions {
  /** Accounts worked on at once, at most. */
  concurrency: number;
  /** Asked before an account is started; false leaves it (and those after it) for later. */
  canStart?: () => boolean;
  /** Why an account not started was left, in its outcome. */
  skipReason?: string;
  log: Logger;
  /** What is done, for the log lines (`sweep`, `status`, `stop`). */
  task: string;
}

/**
 * Runs `work` for each account, `concurrency` at once, in the order given. An account whose work
 * throws is reported with the error's name and message and why (see accountFailure), logged with
 * the account, and the others go on. Once `canStart` says no, the accounts not yet started are
 * reported as skipped, so a caller can start with them next time.
 */
export async function eachAccount<T>(
  accounts: readonly string[],
  work: (account: string) => Promise<T>,
  options: EachAccountOptions,
): Promise<AccountOutcome<T>[]> {
  const outcomes: AccountOutcome<T>[] = new Array(accounts.length);
  let next = 0;
  let stopped = false;
  const worker = async () => {
    while (next < accounts.length) {
      const i = next++;
      const account = accounts[i] as string;
      if (stopped || (options.canStart && !options.canStart())) {
        stopped = true;
        outcomes[i] = { account, skipped: options.skipReason ?? 'not started' };
        continue;
      }
      try {
        outcomes[i] = { account, value: await work(account) };
      } catch (error) {
        const why = accountFailure(error);
        const message = `${errorName(error) || 'Error'}: ${(error as Error).message}`;
        options.log.error(`${options.task} failed in an account`, { account, why, error: message });
        outcomes[i] = { account, error: message, why };
      }
    }
  };
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(options.concurrency, accounts.length)) }, worker),
  );
  const skipped = outcomes.filter((o) => 'skipped' in o).map((o) => o.account);
  if (skipped.length > 0) {
    options.log.warn(`${options.task}: accounts left for the next run`, {
      accounts: skipped,
      count: skipped.length,
    });
  }
  return outcomes;
}

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

/**
 * The accounts mirrorops works in: the hub, the accounts and organizational units' accounts the
 * hub's targets are shared with (RAM), and any account with sessions on the hub's targets.
 */
export async function fleetAccounts(config: Config, log: Logger): Promise<string[]> {
  const hub = await accountsFor(config).hubAccount();
  const [shared, mirroring] = await Promise.all([
    enrolledAccounts(await ramClient(config.region), hub).catch((error: Error) => {
      log.warn('could not list the accounts the target is shared with', { error: error.message });
      return [hub];
    }),
    accountsMirroringHere(config, hub, log),
  ]);
  return [...new Set([...shared, ...mirroring])];
}

export interface FleetSweep {
  accounts: (
    | { account: string; result: SweepResult }
    | { account: string; error: string; why?: AccountFailure }
    | { account: string; skipped: string }
  )[];
}

export interface FleetSweepOptions extends SweepOptions {
  now?: () => Date;
  /** Accounts swept at once (default FLEET_CONCURRENCY). */
  concurrency?: number;
  /** Only these accounts (a share of the fleet, from the sweep workflow); else every enrolled one. */
  accounts?: readonly string[];
}

/**
 * Accounts swept at once. What bounds it is the function's memory and sockets, not EC2: each
 * account spends its own buckets, at the sweeper's rate. 100 lets a fleet of 100 accounts take
 * about as long as one account (bench/fleet.ts).
 */
export const FLEET_CONCURRENCY = 100;

/** An account is started only with this much of the run left: its listing and a first batch. */
const START_MARGIN_MS = 15_000;

/**
 * When this container last started each account, so that a run cut short starts the next one
 * with the accounts it did not reach (a container lives across runs: reserved concurrency 1).
 * A new container starts in the order the accounts were listed.
 */
const lastStarted = new Map<string, number>();
let starts = 0;

/** Accounts never started first, then the ones started longest ago; stable otherwise. */
export function sweepOrder(accounts: readonly string[], last: ReadonlyMap<string, number>): string[] {
  return accounts
    .map((account, i) => ({ account, i, at: last.get(account) ?? -1 }))
    .sort((a, b) => a.at - b.at || a.i - b.i)
    .map((a) => a.account);
}

/**
 * Sweeps every enrolled account (the hub and the members its target is shared with), up to
 * `concurrency` at once: each account's sweep paces itself to that account's rate. A failing
 * account (its spoke role gone, a throttled listing) is reported with why and does not stop the
 * others; the next run tries it again. An account is started only while the run has time for it;
 * those not started are reported skipped and come first in this container's next run. Within an
 * account, sweep() stops starting deletions before the deadline: a session is deleted (and its
 * filter with it once unused and past the grace period, now or by the next run) or left as it is.
 */
export async function sweepFleet(
  config: Config,
  log: Logger,
  options: FleetSweepOptions,
): Promise<FleetSweep> {
  const listed = options.accounts ?? (await fleetAccounts(config, log));
  const margin = options.marginMs ?? 5_000;
  const order = sweepOrder(listed, lastStarted);
  const outcomes = await eachAccount(
    order,
    async (account) => {
      lastStarted.set(account, ++starts);
      const deps = await mirrorDeps(config, account, config.region, log);
      return sweep(options.now ? { ...deps, now: options.now } : deps, options);
    },
    {
      concurrency: options.concurrency ?? FLEET_CONCURRENCY,
      canStart: () => options.remainingMs() > margin + START_MARGIN_MS,
      skipReason: "the run's time ran out before this account; the next run starts with it",
      log,
      task: 'sweep',
    },
  );
  return {
    accounts: outcomes.map((o) => ('value' in o ? { account: o.account, result: o.value } : o)),
  };
}

/**
 * A fleet sweep in counts, with the accounts that failed (why) or were not reached: what the
 * sweep-fleet workflow gathers from each batch. Counts, not ids, so that a run over thousands of
 * accounts stays within Step Functions' 256 KiB of state (the log has every session deleted).
 */
export function fleetSummary(result: FleetSweep) {
  const summary = {
    accounts: result.accounts.length,
    deleted: 0,
    deferred: 0,
    kept: 0,
    filtersDeleted: 0,
    /** Sessions or filters an account could not delete (each account's result has them). */
    failures: 0,
    failed: [] as { account: string; error: string; why?: AccountFailure }[],
    skipped: [] as string[],
  };
  for (const a of result.accounts) {
    if ('result' in a) {
      summary.deleted += a.result.deleted.length;
      summary.deferred += a.result.deferred;
      summary.kept += a.result.kept;
      summary.filtersDeleted += a.result.filtersDeleted.length;
      summary.failures += a.result.failures.length;
    } else if ('error' in a) summary.failed.push(a);
    else summary.skipped.push(a.account);
  }
  return summary;
}
