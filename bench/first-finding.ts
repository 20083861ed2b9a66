/**
 * One GuardDuty finding handled by a process that has handled none: the path a new Lambda
 * container takes after its cold start (bench/guardduty.ts spawns this file with `node --import
 * tsx`). It builds its dependencies as the functions do (shared/runtime/deps.ts, configuration
 * from the environment), with the hub's account known only from the function's ARN, as the Lambda
 * context gives it; the time from the finding to its answer includes every client's first use.
 * Prints one line of JSON: { ms, withAuditMs, calls, statuses }.
 */
import { ec2Client, eventBridgeClient } from '../shared/aws/clients.ts';
import { findingToIntent } from '../shared/events/guardduty.ts';
import { apply } from '../shared/mirror.ts';
import { loadConfig } from '../shared/runtime/config.ts';
import { mirrorDeps } from '../shared/runtime/deps.ts';
import { noteFunctionArn } from '../shared/runtime/function-account.ts';
import { silentLogger } from '../shared/runtime/log.ts';
import { type Call, recordRequests } from '../test/support/requests.ts';

const config = loadConfig();
const calls: Call[] = [];
recordRequests(ec2Client(config.region), calls);
recordRequests(eventBridgeClient(config.region), calls);
noteFunctionArn(process.env.BENCH_FUNCTION_ARN);
const finding = JSON.parse(process.env.BENCH_FINDING ?? 'null') as unknown;

const start = performance.now();
const outcome = findingToIntent(finding, config);
if (outcome.kind !== 'mirror') throw new Error(`the finding was ignored: ${outcome.reason}`);
const deferred: Promise<unknown>[] = [];
const result = await apply(outcome.intent, {
  ...(await mirrorDeps(config, outcome.intent.account, outcome.intent.region, silentLogger)),
  defer: (work) => deferred.push(work),
});
const ms = performance.now() - start;
await Promise.all(deferred);
const withAuditMs = performance.now() - start;
process.stdout.write(
  `${JSON.stringify({
    ms,
    withAuditMs,
    calls: calls.map((c) => ({ ...c, start: c.start - start, end: c.end - start })),
    statuses: result.outcomes.map((o) => o.status),
  })}\n`,
);
