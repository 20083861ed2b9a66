/** What a VNI was found to be: the session that delivers it, its source ENI and instance, its intent. */
export interface SessionIdentity {
  sessionId: string;
  networkInterfaceId: string;
  /** Absent when the ENI is another account's or attached to nothing. */
  instanceId?: string;
  sessionNumber?: number;
  /** `mirrorops:intent`, `mirrorops:reason`: absent on sessions mirrorops did not create. */
  intent?: string;
  reason?: string;
  ownerId?: string;
}

const SAFE_ID = /^(i|eni|tms)-[0-9a-f]{1,32}$/;

/**
 * The file name of a VNI's n-th capture file: `<vni>_<n>.pcap`, prefixed with the instance, ENI
 * and session (`i-..._eni-..._tms-..._<vni>_<n>.pcap`) when they are known. Only ids of AWS's
 * shape go into a name, so nothing read from AWS can make a path.
 */
export function captureFileName(vni: number, n: number, identity?: SessionIdentity): string {
  const ids = identity ? [identity.instanceId, identity.networkInterfaceId, identity.sessionId] : [];
  const prefix = ids.filter((id): id is string => id !== undefined && SAFE_ID.test(id));
  return [...prefix, String(vni), String(n)].join('_').concat('.pcap');
}

/** The VNI and sequence number a capture file name carries, or undefined for any other name. */
export function parseCaptureFileName(name: string): { vni: number; n: number } | undefined {
  const match = /(?:^|_)(\d{1,8})_(\d{1,9})\.pcap$/.exec(name);
  if (!match) return undefined;
  const vni = Number(match[1]);
  return vni <= 0xffffff ? { vni, n: Number(match[2]) } : undefined;
}
