import {
  CreateTagsCommand,
  CreateTrafficMirrorFilterCommand,
  CreateTrafficMirrorFilterRuleCommand,
  CreateTrafficMirrorSessionCommand,
  DeleteTagsCommand,
  DeleteTrafficMirrorFilterCommand,
  DeleteTrafficMirrorSessionCommand,
  DescribeNetworkInterfacesCommand,
  type EC2Client,
  type Instance,
  ModifyTrafficMirrorFilterNetworkServicesCommand,
  ModifyTrafficMirrorSessionCommand,
  paginateDescribeInstances,
  paginateDescribeTrafficMirrorFilters,
  paginateDescribeTrafficMirrorSessions,
  type Tag,
  type TrafficMirrorFilter,
  type TrafficMirrorFilterRule,
  type TrafficMirrorPortRange,
  type TrafficMirrorSession,
} from '@aws-sdk/client-ec2';
import type { MirrorRule } from '../domain/explain.ts';
import type { RuleSpec } from '../domain/scope.ts';
import { isManaged, type Tags } from '../domain/tags.ts';

/**
 * The functions' only module that talks to EC2 (the command line's explain reads through
 * mirroring-view.ts). It reads state into plain views and performs single,
 * idempotent actions; it decides nothing. One gateway per EC2 client (account and Region).
 */
export interface SessionView {
  id: string;
  eniId: string;
  number: number;
  filterId: string;
  targetId: string;
  /** The account that created it: another account's, for a session on a target shared from here. */
  ownerId?: string;
  tags: Tags;
}

export interface FilterView {
  id: string;
  tags: Tags;
  rules: Pick<RuleSpec, 'direction' | 'ruleNumber' | 'action' | 'sourceCidrBlock' | 'destinationCidrBlock'>[];
  networkServices: string[];
}

export interface InstanceView {
  id: string;
  type: string;
  state: string;
  vpcId?: string;
  availabilityZone?: string;
  enis: { id: string; vpcId?: string; subnetId?: string }[];
  tags: Tags;
}

export interface EniView {
  id: string;
  vpcId?: string;
  subnetId?: string;
  instanceId?: string;
  tags: Tags;
}

export interface NewSession {
  eniId: string;
  targetId: string;
  filterId: string;
  number: number;
  packetLength?: number;
  description: string;
  tags: Tags;
  token: string;
}

export interface Ec2Gateway {
  instance(id: string): Promise<InstanceView | undefined>;
  /** The instances of these ids that exist (terminated ones included, with their state). */
  instances(ids: readonly string[]): Promise<InstanceView[]>;
  networkInterface(id: string): Promise<EniView | undefined>;
  sessionsOn(eniIds: readonly string[]): Promise<SessionView[]>;
  sessionsById(ids: readonly string[]): Promise<SessionView[]>;
  filtersByHash(hash: string): Promise<FilterView[]>;
  filtersById(ids: readonly string[]): Promise<FilterView[]>;
  createFilter(hash: string, tags: Tags, token: string): Promise<string>;
  addRule(filterId: string, rule: FilterView['rules'][number], token: string): Promise<void>;
  enableDns(filterId: string): Promise<void>;
  createSession(session: NewSession): Promise<string>;
  modifySession(id: string, change: { filterId?: string; number?: number }): Promise<void>;
  tag(ids: readonly string[], tags: Tags): Promise<void>;
  /** Removes tags; one given with a value is removed only while it still has that value. */
  untag(ids: readonly string[], keys: readonly (string | { key: string; value: string })[]): Promise<void>;
  deleteSession(id: string): Promise<void>;
  deleteFilter(id: string): Promise<void>;
  /**
   * Sessions of the account and Region, page by page: those `ownerId` owns when given. Without it
   * also the sessions other accounts created on this account's targets, which the target owner
   * sees but cannot change or delete (cross-account-traffic-mirroring-targets.html).
   */
  sessionPages(ownerId?: string): AsyncIterable<SessionView[]>;
  /** Every filter carrying mirrorops:managed=true, page by page. */
  managedFilterPages(): AsyncIterable<FilterView[]>;
}

/**
 * CreateTags calls made in the same turn of the event loop with the same tags become one call
 * on all their resources (CreateTags takes up to 1000): extending the sessions of a 4-ENI
 * instance is then one request, not four. Each caller learns the batch's outcome.
 */
function tagBatcher(send: (ids: readonly string[], tags: Tags) => Promise<unknown>) {
  const batches = new Map<string, { ids: string[]; done: Promise<void> }>();
  return (ids: readonly string[], tags: Tags): Promise<void> => {
    const key = JSON.stringify(Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : 1)));
    const open = batches.get(key);
    if (open && open.ids.length + ids.length <= 1000) {
      open.ids.push(...ids);
      return open.done;
    }
    const batch = { ids: [...ids], done: Promise.resolve() };
    batch.done = new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
      if (batches.get(key) === batch) batches.delete(key);
      await send(batch.ids, tags);
    });
    batches.set(key, batch);
    return batch.done;
  };
}

/** The filter description carries the content hash: DescribeTrafficMirrorFilters can filter on it. */
export const filterDescription = (hash: string) => `mirrorops ${hash}`;

const toTags = (tags: Tags): Tag[] => Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
const fromTags = (tags: Tag[] | undefined): Tags =>
  Object.fromEntries((tags ?? []).flatMap((t) => (t.Key ? [[t.Key, t.Value ?? '']] : [])));

function sessionView(s: TrafficMirrorSession): SessionView {
  return {
    id: s.TrafficMirrorSessionId ?? '',
    eniId: s.NetworkInterfaceId ?? '',
    number: s.SessionNumber ?? 0,
    filterId: s.TrafficMirrorFilterId ?? '',
    targetId: s.TrafficMirrorTargetId ?? '',
    ...(s.OwnerId ? { ownerId: s.OwnerId } : {}),
    tags: fromTags(s.Tags),
  };
}

function instanceView(i: Instance): InstanceView {
  return {
    id: i.InstanceId ?? '',
    type: i.InstanceType ?? '',
    state: i.State?.Name ?? '',
    ...(i.VpcId ? { vpcId: i.VpcId } : {}),
    ...(i.Placement?.AvailabilityZone ? { availabilityZone: i.Placement.AvailabilityZone } : {}),
    enis: [...(i.NetworkInterfaces ?? [])]
      .sort((a, b) => (a.Attachment?.DeviceIndex ?? 0) - (b.Attachment?.DeviceIndex ?? 0))
      .flatMap((n) =>
        n.NetworkInterfaceId
          ? [
              {
                id: n.NetworkInterfaceId,
                ...(n.VpcId ? { vpcId: n.VpcId } : {}),
                ...(n.SubnetId ? { subnetId: n.SubnetId } : {}),
              },
            ]
          : [],
      ),
    tags: fromTags(i.Tags),
  };
}

function filterView(f: TrafficMirrorFilter): FilterView {
  const rules = [...(f.IngressFilterRules ?? []), ...(f.EgressFilterRules ?? [])].map((r) => ({
    direction: r.TrafficDirection === 'egress' ? ('egress' as const) : ('ingress' as const),
    ruleNumber: r.RuleNumber ?? 0,
    action: r.RuleAction === 'reject' ? ('reject' as const) : ('accept' as const),
    sourceCidrBlock: r.SourceCidrBlock ?? '',
    destinationCidrBlock: r.DestinationCidrBlock ?? '',
  }));
  return {
    id: f.TrafficMirrorFilterId ?? '',
    tags: fromTags(f.Tags),
    rules,
    networkServices: f.NetworkServices ?? [],
  };
}

const portRange = (r: TrafficMirrorPortRange | undefined) => {
  const from = r?.FromPort ?? r?.ToPort;
  const to = r?.ToPort ?? r?.FromPort;
  return from === undefined || to === undefined ? undefined : { from, to };
};

export function mirrorRule(r: TrafficMirrorFilterRule): MirrorRule {
  const source = portRange(r.SourcePortRange);
  const destination = portRange(r.DestinationPortRange);
  return {
    direction: r.TrafficDirection === 'egress' ? 'egress' : 'ingress',
    ruleNumber: r.RuleNumber ?? 0,
    action: r.RuleAction === 'reject' ? 'reject' : 'accept',
    ...(r.Protocol === undefined ? {} : { protocol: r.Protocol }),
    sourceCidrBlock: r.SourceCidrBlock ?? '',
    destinationCidrBlock: r.DestinationCidrBlock ?? '',
    ...(source ? { sourcePortRange: source } : {}),
    ...(destination ? { destinationPortRange: destination } : {}),
  };
}

export function ec2Gateway(ec2: EC2Client): Ec2Gateway {
  async function filters(input: { ids?: readonly string[]; description?: string }): Promise<FilterView[]> {
    const out: FilterView[] = [];
    const pages = paginateDescribeTrafficMirrorFilters(
      { client: ec2, pageSize: 1000 },
      {
        ...(input.ids ? { TrafficMirrorFilterIds: [...input.ids] } : {}),
        ...(input.description ? { Filters: [{ Name: 'description', Values: [input.description] }] } : {}),
      },
    );
    for await (const page of pages) out.push(...(page.TrafficMirrorFilters ?? []).map(filterView));
    return out;
  }

  async function instances(ids: readonly string[]): Promise<InstanceView[]> {
    if (ids.length === 0) return [];
    const out: InstanceView[] = [];
    // A filter, not InstanceIds: an id that no longer exists is then simply absent, not an error.
    const pages = paginateDescribeInstances(
      { client: ec2, pageSize: 1000 },
      { Filters: [{ Name: 'instance-id', Values: [...ids] }] },
    );
    for await (const page of pages) {
      for (const r of page.Reservations ?? [])
        for (const i of r.Instances ?? []) if (i.InstanceId) out.push(instanceView(i));
    }
    return out;
  }

  return {
    async instance(id) {
      const [found] = await instances([id]);
      return found;
    },

    instances,

    async networkInterface(id) {
      const out = await ec2.send(
        new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'network-interface-id', Values: [id] }] }),
      );
      const n = out.NetworkInterfaces?.[0];
      if (!n?.NetworkInterfaceId) return undefined;
      return {
        id: n.NetworkInterfaceId,
        ...(n.VpcId ? { vpcId: n.VpcId } : {}),
        ...(n.SubnetId ? { subnetId: n.SubnetId } : {}),
        ...(n.Attachment?.InstanceId ? { instanceId: n.Attachment.InstanceId } : {}),
        tags: fromTags(n.TagSet),
      };
    },

    async sessionsOn(eniIds) {
      if (eniIds.length === 0) return [];
      const out: SessionView[] = [];
      const pages = paginateDescribeTrafficMirrorSessions(
        { client: ec2, pageSize: 1000 },
        { Filters: [{ Name: 'network-interface-id', Values: [...eniIds] }] },
      );
      for await (const page of pages) out.push(...(page.TrafficMirrorSessions ?? []).map(sessionView));
      return out;
    },

    async sessionsById(ids) {
      if (ids.length === 0) return [];
      const out: SessionView[] = [];
      const pages = paginateDescribeTrafficMirrorSessions(
        { client: ec2, pageSize: 1000 },
        { Filters: [{ Name: 'traffic-mirror-session-id', Values: [...ids] }] },
      );
      for await (const page of pages) out.push(...(page.TrafficMirrorSessions ?? []).map(sessionView));
      return out;
    },

    filtersByHash: (hash) => filters({ description: filterDescription(hash) }),
    filtersById: (ids) => (ids.length === 0 ? Promise.resolve([]) : filters({ ids })),

    async createFilter(hash, tags, token) {
      const out = await ec2.send(
        new CreateTrafficMirrorFilterCommand({
          Description: filterDescription(hash),
          TagSpecifications: [{ ResourceType: 'traffic-mirror-filter', Tags: toTags(tags) }],
          ClientToken: token,
        }),
      );
      const id = out.TrafficMirrorFilter?.TrafficMirrorFilterId;
      if (!id) throw new Error('CreateTrafficMirrorFilter returned no filter id');
      return id;
    },

    async addRule(filterId, rule, token) {
      await ec2.send(
        new CreateTrafficMirrorFilterRuleCommand({
          TrafficMirrorFilterId: filterId,
          TrafficDirection: rule.direction,
          RuleNumber: rule.ruleNumber,
          RuleAction: rule.action,
          SourceCidrBlock: rule.sourceCidrBlock,
          DestinationCidrBlock: rule.destinationCidrBlock,
          ClientToken: token,
        }),
      );
    },

    async enableDns(filterId) {
      await ec2.send(
        new ModifyTrafficMirrorFilterNetworkServicesCommand({
          TrafficMirrorFilterId: filterId,
          AddNetworkServices: ['amazon-dns'],
        }),
      );
    },

    async createSession(s) {
      const out = await ec2.send(
        new CreateTrafficMirrorSessionCommand({
          NetworkInterfaceId: s.eniId,
          TrafficMirrorTargetId: s.targetId,
          TrafficMirrorFilterId: s.filterId,
          SessionNumber: s.number,
          ...(s.packetLength ? { PacketLength: s.packetLength } : {}),
          Description: s.description,
          TagSpecifications: [{ ResourceType: 'traffic-mirror-session', Tags: toTags(s.tags) }],
          ClientToken: s.token,
        }),
      );
      const id = out.TrafficMirrorSession?.TrafficMirrorSessionId;
      if (!id) throw new Error('CreateTrafficMirrorSession returned no session id');
      return id;
    },

    async modifySession(id, change) {
      await ec2.send(
        new ModifyTrafficMirrorSessionCommand({
          TrafficMirrorSessionId: id,
          ...(change.filterId ? { TrafficMirrorFilterId: change.filterId } : {}),
          ...(change.number ? { SessionNumber: change.number } : {}),
        }),
      );
    },

    tag: tagBatcher((ids, tags) =>
      ec2.send(new CreateTagsCommand({ Resources: [...ids], Tags: toTags(tags) })),
    ),

    async untag(ids, keys) {
      await ec2.send(
        new DeleteTagsCommand({
          Resources: [...ids],
          Tags: keys.map((k) => (typeof k === 'string' ? { Key: k } : { Key: k.key, Value: k.value })),
        }),
      );
    },

    async deleteSession(id) {
      await ec2.send(new DeleteTrafficMirrorSessionCommand({ TrafficMirrorSessionId: id }));
    },

    async deleteFilter(id) {
      await ec2.send(new DeleteTrafficMirrorFilterCommand({ TrafficMirrorFilterId: id }));
    },

    async *sessionPages(ownerId) {
      const pages = paginateDescribeTrafficMirrorSessions(
        { client: ec2, pageSize: 1000 },
        ownerId ? { Filters: [{ Name: 'owner-id', Values: [ownerId] }] } : {},
      );
      for await (const page of pages) yield (page.TrafficMirrorSessions ?? []).map(sessionView);
    },

    async *managedFilterPages() {
      for await (const page of paginateDescribeTrafficMirrorFilters({ client: ec2, pageSize: 1000 }, {})) {
        yield (page.TrafficMirrorFilters ?? []).map(filterView).filter((f) => isManaged(f.tags));
      }
    },
  };
}
