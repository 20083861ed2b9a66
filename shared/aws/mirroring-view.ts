import {
  DescribeNetworkInterfacesCommand,
  DescribeVpcsCommand,
  type EC2Client,
  paginateDescribeTrafficMirrorFilters,
  paginateDescribeTrafficMirrorSessions,
  type TrafficMirrorFilter,
  type TrafficMirrorSession,
} from '@aws-sdk/client-ec2';
import type { MirrorFilter, MirrorSession } from '../domain/explain.ts';
import { mirrorRule } from './ec2.ts';

/**
 * What `mirrorops explain` reads of an ENI: its addresses, its VPC's primary block (for the Amazon
 * DNS server's address), its sessions and their filters in full. The command line's read, kept
 * apart from the functions' gateway (ec2.ts): no function needs a VPC, so their bundles, and the
 * roles granted from what the bundles call, hold no DescribeVpcs.
 */
export interface MirroringView {
  eniId: string;
  addresses: string[];
  vpcCidr?: string;
  sessions: MirrorSession[];
  filters: MirrorFilter[];
}

/** The ENI's mirroring as explain needs it (every rule field, VNIs); undefined when no such ENI. */
export async function mirroringOf(ec2: EC2Client, eniId: string): Promise<MirroringView | undefined> {
  const byEni = { Filters: [{ Name: 'network-interface-id', Values: [eniId] }] };
  const sessions: TrafficMirrorSession[] = [];
  const [enis] = await Promise.all([
    ec2.send(new DescribeNetworkInterfacesCommand(byEni)),
    (async () => {
      const pages = paginateDescribeTrafficMirrorSessions({ client: ec2, pageSize: 1000 }, byEni);
      for await (const page of pages) sessions.push(...(page.TrafficMirrorSessions ?? []));
    })(),
  ]);
  const eni = enis.NetworkInterfaces?.[0];
  if (!eni?.NetworkInterfaceId) return undefined;
  const filterIds = [...new Set(sessions.flatMap((s) => s.TrafficMirrorFilterId ?? []))];
  const filters: TrafficMirrorFilter[] = [];
  const [vpcs] = await Promise.all([
    eni.VpcId ? ec2.send(new DescribeVpcsCommand({ VpcIds: [eni.VpcId] })) : undefined,
    (async () => {
      if (filterIds.length === 0) return;
      const pages = paginateDescribeTrafficMirrorFilters(
        { client: ec2, pageSize: 1000 },
        { TrafficMirrorFilterIds: filterIds },
      );
      for await (const page of pages) filters.push(...(page.TrafficMirrorFilters ?? []));
    })(),
  ]);
  const vpcCidr = vpcs?.Vpcs?.[0]?.CidrBlock;
  return {
    eniId: eni.NetworkInterfaceId,
    addresses: [
      ...(eni.PrivateIpAddresses ?? []).flatMap((a) => a.PrivateIpAddress ?? []),
      ...(eni.Ipv6Addresses ?? []).flatMap((a) => a.Ipv6Address ?? []),
    ],
    ...(vpcCidr ? { vpcCidr } : {}),
    sessions: sessions.map((s) => ({
      id: s.TrafficMirrorSessionId ?? '',
      number: s.SessionNumber ?? 0,
      filterId: s.TrafficMirrorFilterId ?? '',
      targetId: s.TrafficMirrorTargetId ?? '',
      ...(s.VirtualNetworkId === undefined ? {} : { virtualNetworkId: s.VirtualNetworkId }),
      ...(s.PacketLength === undefined ? {} : { packetLength: s.PacketLength }),
    })),
    filters: filters.map((f) => ({
      id: f.TrafficMirrorFilterId ?? '',
      rules: [...(f.IngressFilterRules ?? []), ...(f.EgressFilterRules ?? [])].map(mirrorRule),
      networkServices: f.NetworkServices ?? [],
    })),
  };
}
