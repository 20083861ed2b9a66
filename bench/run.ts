import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { benchBurst, DEFAULT_BURST } from './burst.ts';
import { benchCapture } from './capture.ts';
import { benchCliStart, DEFAULT_CLI_START } from './cli-start.ts';
import { benchColdStart, DEFAULT_COLD_START } from './cold-start.ts';
import { benchEmulator, formatReport } from './emulator.ts';
import { benchFleet, DEFAULT_FLEET } from './fleet.ts';
import { benchCriticalPath, DEFAULT_CRITICAL_PATH } from './guardduty.ts';
import { benchSweep, DEFAULT_SWEEP } from './sweep.ts';

/**
 * `npm run bench`: every benchmark, each printing its table; `npm run bench -- NAME...` runs only
 * those (`npm run bench -- sweep --sessions 500`). Not part of `npm test`: nothing here asserts.
 */
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    sessions: { type: 'string' },
    accounts: { type: 'string' },
    runs: { type: 'string' },
    findings: { type: 'string' },
    virtual: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});

const count = (text: string | undefined, fallback: number, flag: string): number => {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} must be a whole number >= 1, got '${text}'`);
  return n;
};

const BENCHES: Record<string, { about: string; run: () => Promise<string> }> = {
  emulator: {
    about: 'emulator requests per second through the SDK, against EC2 rate limits',
    run: async () =>
      [
        'Emulator: requests per second through @aws-sdk/client-ec2 over HTTP, emulator in its own process',
        formatReport(await benchEmulator()),
      ].join('\n'),
  },
  guardduty: {
    about: 'critical path of a finding at 50 ms latency, in round trips (--runs N)',
    run: () =>
      benchCriticalPath({
        ...DEFAULT_CRITICAL_PATH,
        runs: count(values.runs, DEFAULT_CRITICAL_PATH.runs, 'runs'),
      }),
  },
  'cold-start': {
    about: 'bundle size and cold import time per function, against an SDK-clients-only bundle (--runs N)',
    run: () => benchColdStart({ runs: count(values.runs, DEFAULT_COLD_START.runs, 'runs') }),
  },
  burst: {
    about: `a burst of findings through the intake under EC2's buckets, against the floor (--findings N, default ${DEFAULT_BURST.findings}; --virtual: on a moved clock; minutes)`,
    run: () =>
      benchBurst({
        ...DEFAULT_BURST,
        findings: count(values.findings, DEFAULT_BURST.findings, 'findings'),
        virtual: values.virtual ?? false,
      }),
  },
  capture: {
    about: 'mirrorops capture on loopback: highest lossless VXLAN rate against tcpdump -w, and its memory',
    run: () => benchCapture(),
  },
  'cli-start': {
    about: `mirrorops --help and status (${DEFAULT_CLI_START.sessions} sessions) in fresh processes, against node -e 0 (--runs N)`,
    run: () =>
      benchCliStart({ ...DEFAULT_CLI_START, runs: count(values.runs, DEFAULT_CLI_START.runs, 'runs') }),
  },
  sweep: {
    about: `expired sessions swept under EC2's token buckets (--sessions N, default ${DEFAULT_SWEEP.sessions}; minutes)`,
    run: () => benchSweep({ sessions: count(values.sessions, DEFAULT_SWEEP.sessions, 'sessions') }),
  },
  fleet: {
    about: `a sweep of ${DEFAULT_FLEET.accounts} accounts x ${DEFAULT_FLEET.sessions} expired sessions against one account's (--accounts N, --sessions N)`,
    run: () =>
      benchFleet({
        ...DEFAULT_FLEET,
        accounts: count(values.accounts, DEFAULT_FLEET.accounts, 'accounts'),
        sessions: count(values.sessions, DEFAULT_FLEET.sessions, 'sessions'),
      }),
  },
};

if (values.help) {
  console.log(
    'npm run bench [-- NAME... [--runs N] [--sessions N] [--accounts N] [--findings N] [--virtual]]\n',
  );
  for (const [name, b] of Object.entries(BENCHES)) console.log(`  ${name.padEnd(11)} ${b.about}`);
  process.exit(0);
}
const unknown = positionals.filter((name) => !Object.hasOwn(BENCHES, name));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(', ')}; there are: ${Object.keys(BENCHES).join(', ')}`);
  process.exit(2);
}

console.log(`mirrorops benchmarks: node ${process.version}, ${availableParallelism()} CPUs\n`);
for (const name of positionals.length > 0 ? positionals : Object.keys(BENCHES)) {
  console.log((await BENCHES[name]?.run()) ?? '');
  console.log('');
}
