import * as sdk from '@aws-sdk/client-ec2';

/**
 * The floor under a critical path: the very requests mirrorops sent, in the same waves, sent again
 * by a bare SDK client in another account with nothing between the waves. What it takes is the
 * SDK's own work (serialising, signing, parsing), the loopback's and the emulator's: what no
 * change to mirrorops can take away on this machine. The path's time over it is mirrorops' own.
 */

/** One request as the client sent it and as EC2 answered it. */
export interface Sent {
  action: string;
  input: Record<string, unknown>;
  output?: Record<string, unknown>;
  start: number;
}

/** Every request the EC2 client sends from now on, with its input and answer, appended as it ends. */
export function recordSent(client: sdk.EC2Client, sent: Sent[]): Sent[] {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const start = performance.now();
      const out = await next(args);
      sent.push({
        action: (context.commandName ?? '?').replace(/Command$/, ''),
        input: args.input as Record<string, unknown>,
        output: out.output as unknown as Record<string, unknown>,
        start,
      });
      return out;
    },
    { step: 'initialize', name: 'recordSent' },
  );
  return sent;
}

/** Requests that started within half a latency of the wave's first, wave by wave. */
export function wavesOf(sent: readonly Sent[], latencyMs: number): Sent[][] {
  const waves: Sent[][] = [];
  for (const one of [...sent].sort((a, b) => a.start - b.start)) {
    const last = waves[waves.length - 1];
    if (last && one.start - (last[0]?.start ?? 0) < latencyMs / 2) last.push(one);
    else waves.push([one]);
  }
  return waves;
}

const ID = /^(?:eni|i|tmf|tmfr|tms|tmt|vpc|subnet)-[0-9a-f]+$/;

/** Maps each id in `old` to the id at the same place in `now` (two answers of the same request). */
function learnIds(old: unknown, now: unknown, ids: Map<string, string>): void {
  if (typeof old === 'string' && typeof now === 'string') {
    if (ID.test(old) && ID.test(now) && old !== now) ids.set(old, now);
    return;
  }
  if (old === null || now === null || typeof old !== 'object' || typeof now !== 'object') return;
  for (const key of Object.keys(old)) {
    learnIds((old as Record<string, unknown>)[key], (now as Record<string, unknown>)[key], ids);
  }
}

/**
 * The input with every id `ids` knows replaced (strings inside tags and descriptions included),
 * and its ClientToken marked, so that a replay is never answered from an earlier one's token.
 */
function withIds(
  input: Record<string, unknown>,
  ids: ReadonlyMap<string, string>,
  mark: string,
): Record<string, unknown> {
  const text = JSON.stringify(input).replace(
    /\b(?:eni|i|tmf|tmfr|tms|tmt|vpc|subnet)-[0-9a-f]+\b/g,
    (id) => ids.get(id) ?? id,
  );
  const out = JSON.parse(text) as Record<string, unknown>;
  if (typeof out.ClientToken === 'string') out.ClientToken = `${out.ClientToken}-${mark}`;
  return out;
}

type Command = new (input: Record<string, unknown>) => Parameters<sdk.EC2Client['send']>[0];

/**
 * Sends `waves` again through `ec2` (a warm client of another account), each wave's requests at
 * once, the next when the last answer is in; `ids` maps the first account's ids (its ENIs, its
 * target, its instance) to the other's, and learns the ids the replayed creates return; `mark`
 * goes on each ClientToken. Returns the wall time in milliseconds.
 */
export async function replayBare(
  ec2: sdk.EC2Client,
  waves: readonly Sent[][],
  ids: Map<string, string>,
  mark: string,
): Promise<number> {
  const start = performance.now();
  for (const wave of waves) {
    await Promise.all(
      wave.map(async (one) => {
        const Make = (sdk as unknown as Record<string, Command>)[`${one.action}Command`];
        if (!Make) throw new Error(`no command ${one.action} in @aws-sdk/client-ec2`);
        const output = await ec2.send(new Make(withIds(one.input, ids, mark)));
        learnIds(one.output, output, ids);
      }),
    );
  }
  return performance.now() - start;
}
