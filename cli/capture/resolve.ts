import {
  DescribeNetworkInterfacesCommand,
  DescribeTrafficMirrorSessionsCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import type { SessionIdentity } from '../../shared/capture/naming.ts';
import { TAG } from '../../shared/domain/tags.ts';
import type { Identify } from './files.ts';

/** Finds the session a VNI belongs to; rejects with a one-line reason when there is none or AWS failed. */
export type LookupVni = (vni: number, signal: AbortSignal) => Promise<SessionIdentity>;

/**
 * The session of a VNI through EC2: DescribeTrafficMirrorSessions filtered on
 * `virtual-network-id` (the target's account also sees sessions other accounts made on its shared
 * targets), then the source ENI's attachment for the instance. A VNI is unique among an account's
 * sessions only when EC2 chose it, so more than one match is reported, not guessed.
 */
export function ec2VniLookup(ec2: EC2Client): LookupVni {
  return async (vni, signal) => {
    const out = await ec2.send(
      new DescribeTrafficMirrorSessionsCommand({
        Filters: [{ Name: 'virtual-network-id', Values: [String(vni)] }],
      }),
      { abortSignal: signal },
    );
    const sessions = out.TrafficMirrorSessions ?? [];
    if (sessions.length === 0) throw new Error('no mirror session in this account and Region has this VNI');
    if (sessions.length > 1) {
      throw new Error(
        `${sessions.length} sessions have this VNI (${sessions.map((s) => s.TrafficMirrorSessionId).join(', ')})`,
      );
    }
    const [session] = sessions;
    const sessionId = session?.TrafficMirrorSessionId;
    const eni = session?.NetworkInterfaceId;
    if (!sessionId || !eni) throw new Error('EC2 answered a session without its id or network interface');
    const tags = Object.fromEntries((session.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
    const interfaces = await ec2.send(
      new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'network-interface-id', Values: [eni] }] }),
      { abortSignal: signal },
    );
    const instanceId = interfaces.NetworkInterfaces?.[0]?.Attachment?.InstanceId;
    const intent = tags[TAG.intent];
    const reason = tags[TAG.reason];
    return {
      sessionId,
      networkInterfaceId: eni,
      ...(instanceId ? { instanceId } : {}),
      ...(session.SessionNumber === undefined ? {} : { sessionNumber: session.SessionNumber }),
      ...(intent ? { intent } : {}),
      ...(reason ? { reason } : {}),
      ...(session.OwnerId ? { ownerId: session.OwnerId } : {}),
    };
  };
}

/**
 * Names files after their sessions: each VNI is looked up once and the answer kept; a lookup that
 * failed is tried again for the VNI's next file after `retryMs`, and the files meanwhile carry the
 * VNI alone. What a VNI was found to be, or why it was not, is said once per VNI.
 */
export function resolvingIdentify(
  lookup: LookupVni,
  options: { signal: AbortSignal; note: (line: string) => void; retryMs?: number; now?: () => number },
): Identify {
  const retryMs = options.retryMs ?? 60_000;
  const now = options.now ?? Date.now;
  const found = new Map<number, SessionIdentity>();
  const failed = new Map<number, { at: number; reason: string }>();
  const pending = new Map<number, Promise<{ identity?: SessionIdentity; unresolved?: string }>>();
  const told = new Set<number>();
  return (vni) => {
    const known = found.get(vni);
    if (known) return { identity: known };
    const failure = failed.get(vni);
    if (failure && (now() - failure.at < retryMs || options.signal.aborted))
      return { unresolved: failure.reason };
    const waiting = pending.get(vni);
    if (waiting) return waiting;
    const asked = lookup(vni, options.signal).then(
      (identity) => {
        found.set(vni, identity);
        failed.delete(vni);
        options.note(`VNI ${vni} is ${describe(identity)}`);
        told.add(vni);
        return { identity };
      },
      (error: unknown) => {
        const reason = options.signal.aborted
          ? 'stopped before its session was found'
          : (error instanceof Error ? error.message : String(error)).split('\n')[0] || 'lookup failed';
        failed.set(vni, { at: now(), reason });
        if (!told.has(vni))
          options.note(`VNI ${vni} not resolved (${reason}); its files are named ${vni}_<n>.pcap`);
        told.add(vni);
        return { unresolved: reason };
      },
    );
    pending.set(vni, asked);
    void asked.finally(() => pending.delete(vni));
    return asked;
  };
}

function describe(identity: SessionIdentity): string {
  const parts = [
    `${identity.sessionId} on ${identity.networkInterfaceId}`,
    identity.instanceId && `of ${identity.instanceId}`,
    identity.intent && `intent ${identity.intent}`,
  ].filter(Boolean);
  return parts.join(', ');
}
