import { createHash } from 'node:crypto';
import { aggregate, canonical } from './aggregate.ts';
import { type Cidr, contains, formatCidr, parseCidr } from './cidr.ts';

/**
 * What a mirror session should see: all traffic to and from a set of remote blocks, and
 * optionally every DNS query through the `amazon-dns` network service. "All traffic" is the
 * remote blocks 0.0.0.0/0 and ::/0.
 */
export interface Scope {
  remotes: string[];
  dns: boolean;
}

export const FULL_SCOPE: Scope = { remotes: ['0.0.0.0/0', '::/0'], dns: false };

/** Rules per filter, both directions together (traffic-mirroring-limits.html). */
export const RULE_BUDGET = 10;

export interface RuleSpec {
  direction: 'ingress' | 'egress';
  ruleNumber: number;
  action: 'accept' | 'reject';
  sourceCidrBlock: string;
  destinationCidrBlock: string;
}

export interface FilterSpec {
  rules: RuleSpec[];
  networkServices: 'amazon-dns'[];
}

const ANY: Record<4 | 6, string> = { 4: '0.0.0.0/0', 6: '::/0' };

function cidrs(remotes: readonly string[]): Cidr[] {
  return remotes.map((text) => {
    const cidr = parseCidr(text.includes('/') ? text : `${text}/${text.includes(':') ? 128 : 32}`);
    if (!cidr) throw new RangeError(`not an address or CIDR block: ${text}`);
    return cidr;
  });
}

/**
 * The filter that mirrors a scope. Each remote block takes two rules (in from it, out to it),
 * so blocks beyond half the rule budget are aggregated into covering blocks: the filter may see
 * more than asked, never less (first match wins and unmatched traffic is not mirrored,
 * traffic-mirroring-filters.html).
 */
export function compileFilter(scope: Scope): FilterSpec {
  const blocks = aggregate(cidrs(scope.remotes), RULE_BUDGET / 2);
  const rules: RuleSpec[] = [];
  blocks.forEach((block, i) => {
    const remote = formatCidr(block);
    const any = ANY[block.family];
    const ruleNumber = (i + 1) * 10;
    rules.push({
      direction: 'ingress',
      ruleNumber,
      action: 'accept',
      sourceCidrBlock: remote,
      destinationCidrBlock: any,
    });
    rules.push({
      direction: 'egress',
      ruleNumber,
      action: 'accept',
      sourceCidrBlock: any,
      destinationCidrBlock: remote,
    });
  });
  return { rules, networkServices: scope.dns ? ['amazon-dns'] : [] };
}

/** A rule as read back from EC2 (DescribeTrafficMirrorFilters) or as compiled. */
export type RuleView = Pick<RuleSpec, 'direction' | 'action' | 'sourceCidrBlock' | 'destinationCidrBlock'>;

/**
 * The scope a filter mirrors, read back from its rules: the inverse of compileFilter.
 *
 * A remote block counts only when the filter accepts it in both directions (ingress from it to
 * the family's any-block, egress from any-block to it), as compileFilter writes it. Rules are
 * created one call each after the filter (CreateTrafficMirrorFilterRule), so a filter read while
 * its rules are being written, or after a crash between them, may have one direction only; it
 * must not pass for one that mirrors the conversation. Reject rules are not read: mirrorops writes
 * none, and an accept narrowed to one local address is not counted either, so a foreign or
 * hand-edited filter reads as mirroring less than it may, never more.
 */
export function scopeOfFilter(filter: {
  rules: readonly RuleView[];
  networkServices: readonly string[];
}): Scope {
  const accepted = (direction: RuleSpec['direction']) => {
    const remotes = new Map<string, string>();
    for (const rule of filter.rules) {
      if (rule.direction !== direction || rule.action !== 'accept') continue;
      const [remoteText, localText] =
        direction === 'ingress'
          ? [rule.sourceCidrBlock, rule.destinationCidrBlock]
          : [rule.destinationCidrBlock, rule.sourceCidrBlock];
      const remote = parseCidr(remoteText);
      const local = parseCidr(localText);
      if (!remote || !local || local.family !== remote.family || local.prefix !== 0) continue;
      const text = formatCidr(remote);
      remotes.set(text, text);
    }
    return remotes;
  };
  const egress = accepted('egress');
  const remotes = [...accepted('ingress').keys()].filter((text) => egress.has(text));
  return { remotes, dns: filter.networkServices.includes('amazon-dns') };
}

/** Both scopes' traffic. */
export const unionScope = (a: Scope, b: Scope): Scope => ({
  remotes: [...a.remotes, ...b.remotes],
  dns: a.dns || b.dns,
});

/**
 * Whether everything `inner` mirrors is already mirrored by `outer`'s filter: each wanted block
 * lies inside the blocks the filter accepts both ways (taken together, so two halves cover the
 * whole), and DNS is mirrored if wanted.
 */
export function covers(outer: Parameters<typeof scopeOfFilter>[0], inner: Scope): boolean {
  const have = scopeOfFilter(outer);
  if (inner.dns && !have.dns) return false;
  const blocks = canonical(cidrs(have.remotes));
  return cidrs(inner.remotes).every((want) => blocks.some((block) => contains(block, want)));
}

/**
 * The content address of a filter: equal rule sets get equal hashes, whatever the order they
 * were written in, so an identical filter is found and reused instead of created again.
 */
export function filterHash(spec: FilterSpec): string {
  const rules = spec.rules
    .map((r) => `${r.direction}|${r.ruleNumber}|${r.action}|${r.sourceCidrBlock}|${r.destinationCidrBlock}`)
    .sort();
  const text = JSON.stringify({ rules, services: [...spec.networkServices].sort() });
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}
