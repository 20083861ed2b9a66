import { EC2_RATES } from '../emulator/index.ts';
import type { FleetSweep } from '../shared/fleet.ts';
import { buildFleet, memberState, pool } from '../test/support/fleet.ts';
import { cpuSeconds as processCpuSeconds, spawnEmulator } from './emulator.ts';
import { fixed, table, verdict } from './table.ts';

/**
 * The sweeper across an organisation against one account: one emulator (in its own process, so
 * that the sweeper and the emulator each have a core), a hub and `accounts` + 1
 * members, each with `sessions` expired managed sessions on the hub's shared target. First one
 * member is swept alone (sweepFleet over that account), then the whole fleet (sweepFleet as the
 * Lambda runs it: the enrolled accounts listed from RAM and the hub's sessions, every member
 * entered through its spoke role as the deployed SweeperRole). Both at the same emulator latency,
 * with EC2's token buckets on (per account) and the sweeper's default rate (5 deletions a second
 * an account). Issue 15 asks for the fleet in at most 1.5 times the one account, nothing failed.
 */
export interface FleetBenchOptions {
  accounts: number;
  sessions: number;
  latencyMs: number;
}

export const DEFAULT_FLEET: FleetBenchOptions = { accounts: 100, sessions: 40, latencyMs: 20 };

const HUB = '160000000000';
const EXTERNAL_ID = 'mirrorops-bench';
const BUS = 'mirrorops-audit-bench';

/** User and system CPU, in seconds. */
const cpuSeconds = (used: NodeJS.CpuUsage) => (used.user + used.system) / 1e6;

const member = (i: number) => `1600${String(i + 1).padStart(8, '0')}`;

/** Sessions deleted, deferred and failed, and accounts that failed or were not reached. */
function tally(swept: FleetSweep) {
  let deleted = 0;
  let deferred = 0;
  let failed = 0;
  let accountsFailed = 0;
  let accountsSkipped = 0;
  for (const a of swept.accounts) {
    if ('result' in a) {
      deleted += a.result.deleted.length;
      deferred += a.result.deferred;
      failed += a.result.failures.length;
    } else if ('error' in a) accountsFailed++;
    else accountsSkipped++;
  }
  return { deleted, deferred, failed, accountsFailed, accountsSkipped };
}

export async function benchFleet(options: FleetBenchOptions = DEFAULT_FLEET): Promise<string> {
  const alone = member(0);
  const fleetMembers = Array.from({ length: options.accounts }, (_, i) => member(i + 1));
  const all = [alone, ...fleetMembers];
  // EC2's buckets and the latency from the start: the build retries what they refuse.
  const emulator = await spawnEmulator([
    '--org-management',
    HUB,
    '--org-members',
    [HUB, ...all].join(','),
    '--throttle',
    '--latency',
    String(options.latencyMs),
  ]);
  const saved = { ...process.env };
  try {
    process.stderr.write(`  fleet: building ${all.length} members x ${options.sessions} sessions\n`);
    const fleet = await buildFleet(emulator.url, {
      hub: HUB,
      members: all,
      expired: options.sessions,
      live: 0,
      externalId: EXTERNAL_ID,
      auditBus: BUS,
      maxAttempts: 10,
    });
    // The ttl-sweeper container: its role's credentials in the environment, as Lambda gives them.
    const keys = await fleet.stack.credentials('ttl-sweeper');
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: emulator.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: keys.accessKeyId,
      AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
      AWS_SESSION_TOKEN: keys.sessionToken,
    });
    const [{ sweepFleet, fleetAccounts }, { loadConfig }, { silentLogger }] = await Promise.all([
      import('../shared/fleet.ts'),
      import('../shared/runtime/config.ts'),
      import('../shared/runtime/log.ts'),
    ]);
    const config = loadConfig({
      MIRROROPS_TARGET_ID: fleet.targetId,
      MIRROROPS_HUB_ACCOUNT_ID: HUB,
      MIRROROPS_EXTERNAL_ID: EXTERNAL_ID,
      MIRROROPS_AUDIT_BUS: BUS,
      AWS_REGION: 'us-east-1',
    });
    const plenty = { remainingMs: () => 900_000 };
    // Building spent the members' mutating buckets (50, refilled 5 a second): 10 s refills them all,
    // so that both sweeps start from full buckets, as the sweeper meets them minute after minute.
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const emulatorCpu = processCpuSeconds(emulator.child.pid);

    // The listing alone, as the fleet sweep makes it first (RAM's shares, the hub's sessions).
    let start = performance.now();
    const listed = await fleetAccounts(config, silentLogger);
    const listingSeconds = (performance.now() - start) / 1000;
    start = performance.now();
    let cpu = process.cpuUsage();
    const one = await sweepFleet(config, silentLogger, { ...plenty, accounts: [alone] });
    const oneSeconds = (performance.now() - start) / 1000;
    const oneCpu = cpuSeconds(process.cpuUsage(cpu));
    start = performance.now();
    cpu = process.cpuUsage();
    const many = await sweepFleet(config, silentLogger, plenty);
    const manySeconds = (performance.now() - start) / 1000;
    const manyCpu = cpuSeconds(process.cpuUsage(cpu));
    const emulatorUsed = processCpuSeconds(emulator.child.pid) - emulatorCpu;
    const failures = new Map<string, number>();
    for (const a of [...one.accounts, ...many.accounts]) {
      const errors = 'result' in a ? a.result.failures.map((f) => f.error) : 'error' in a ? [a.error] : [];
      for (const e of errors) {
        const name = e.split(':')[0] ?? e;
        failures.set(name, (failures.get(name) ?? 0) + 1);
      }
    }

    let left = 0;
    await pool(all, 16, async (account) => {
      left += (await memberState(emulator.url, account)).sessions.length;
    });
    const a = tally(one);
    const b = tally(many);
    const ratio = manySeconds / oneSeconds;
    const met =
      ratio <= 1.5 &&
      a.failed + b.failed + a.accountsFailed + b.accountsFailed + b.accountsSkipped === 0 &&
      left === 0;
    const row = (
      name: string,
      accounts: number,
      seconds: number,
      cpuUsed: number,
      t: ReturnType<typeof tally>,
    ) => [
      name,
      String(accounts),
      String(t.deleted),
      fixed(seconds, 2),
      fixed(cpuUsed, 2),
      String(t.failed),
      String(t.deferred),
      String(t.accountsFailed),
      String(t.accountsSkipped),
    ];
    return [
      `(the fleet's accounts: the hub and every member, the one swept alone among them, now empty)`,
      `Fleet sweep: ${options.accounts} member accounts x ${options.sessions} expired sessions against one account's ${options.sessions}, one emulator, latency ${options.latencyMs} ms, EC2 token buckets on per account (mutating ${EC2_RATES.mutating.burst} burst, ${EC2_RATES.mutating.perSecond}/s), sweeper rate ${config.sweepRatePerSecond}/s an account, as the SweeperRole through each member's spoke role`,
      table(
        [
          'sweep',
          'accounts',
          'deleted',
          'seconds',
          'sweeper CPU s',
          'failed',
          'deferred',
          'accounts failed',
          'accounts not reached',
        ],
        [
          row('one account', 1, oneSeconds, oneCpu, a),
          row('fleet (listed from RAM)', many.accounts.length, manySeconds, manyCpu, b),
        ],
      ),
      `listing the fleet's ${listed.length} accounts (part of the fleet's time): ${fixed(listingSeconds, 2)} s`,
      `emulator process CPU over both sweeps: ${fixed(emulatorUsed, 1)} s; failures: ${[...failures].map(([n, c]) => `${c} ${n}`).join(', ') || 'none'}`,
      `ratio fleet / one account: ${fixed(ratio, 2)} (target <= 1.5, 0 failed, nothing left: ${left} sessions left) ${verdict(met)}`,
    ].join('\n');
  } finally {
    process.env = saved;
    emulator.child.kill();
  }
}
