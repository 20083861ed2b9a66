import { describe, expect, test } from 'vitest';
import { type LookupVni, resolvingIdentify } from '../../cli/capture/resolve.ts';
import type { SessionIdentity } from '../../shared/capture/naming.ts';

const SESSION: SessionIdentity = {
  sessionId: 'tms-0123456789abcdef0',
  networkInterfaceId: 'eni-0123456789abcdef0',
  instanceId: 'i-0123456789abcdef0',
  intent: 'guardduty:abc',
};

/** A lookup that answers from a table, counting the questions; what EC2 would answer, without EC2. */
function table(answers: Map<number, SessionIdentity | Error>) {
  const asked: number[] = [];
  const lookup: LookupVni = async (vni, signal) => {
    asked.push(vni);
    if (signal.aborted) throw new Error('aborted');
    const answer = answers.get(vni);
    if (answer === undefined) throw new Error('no mirror session in this account and Region has this VNI');
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return { asked, lookup };
}

describe('naming files after sessions', () => {
  test('a VNI is looked up once, even by files asking at the same time, and said once', async () => {
    const { asked, lookup } = table(new Map([[7, SESSION]]));
    const notes: string[] = [];
    const identify = resolvingIdentify(lookup, {
      signal: new AbortController().signal,
      note: (l) => notes.push(l),
    });
    const [a, b] = await Promise.all([identify(7), identify(7)]);
    expect(a).toEqual({ identity: SESSION });
    expect(b).toEqual({ identity: SESSION });
    expect(identify(7)).toEqual({ identity: SESSION }); // known now: answered at once, not a promise
    expect(asked).toEqual([7]);
    expect(notes).toEqual([
      'VNI 7 is tms-0123456789abcdef0 on eni-0123456789abcdef0, of i-0123456789abcdef0, intent guardduty:abc',
    ]);
  });

  test('a failed lookup leaves the VNI alone in the name, is said once, and is tried again after a while', async () => {
    const answers = new Map<number, SessionIdentity | Error>([
      [9, new Error('RequestLimitExceeded: slow down')],
    ]);
    const { asked, lookup } = table(answers);
    const notes: string[] = [];
    let now = 0;
    const identify = resolvingIdentify(lookup, {
      signal: new AbortController().signal,
      note: (l) => notes.push(l),
      retryMs: 60_000,
      now: () => now,
    });
    expect(await identify(9)).toEqual({ unresolved: 'RequestLimitExceeded: slow down' });
    now = 59_999;
    expect(await identify(9)).toEqual({ unresolved: 'RequestLimitExceeded: slow down' });
    expect(asked).toEqual([9]);
    now = 60_000;
    expect(await identify(9)).toEqual({ unresolved: 'RequestLimitExceeded: slow down' });
    expect(asked).toEqual([9, 9]);
    answers.set(9, SESSION);
    now = 120_000;
    expect(await identify(9)).toEqual({ identity: SESSION });
    expect(notes).toEqual([
      'VNI 9 not resolved (RequestLimitExceeded: slow down); its files are named 9_<n>.pcap',
      'VNI 9 is tms-0123456789abcdef0 on eni-0123456789abcdef0, of i-0123456789abcdef0, intent guardduty:abc',
    ]);
  });

  test('once stopped, lookups end at once and nothing is asked again', async () => {
    const { asked, lookup } = table(new Map([[3, SESSION]]));
    const stop = new AbortController();
    const identify = resolvingIdentify(lookup, { signal: stop.signal, note: () => undefined, retryMs: 0 });
    stop.abort();
    expect(await identify(3)).toEqual({ unresolved: 'stopped before its session was found' });
    expect(await identify(3)).toEqual({ unresolved: 'stopped before its session was found' });
    expect(asked).toEqual([3]);
  });
});
