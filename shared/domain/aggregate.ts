import { type Cidr, type Family, mask, overlaps, size } from './cidr.ts';

/**
 * Covers a set of CIDR blocks with at most `budget` blocks, adding as few extra addresses as
 * possible. A Traffic Mirroring filter holds 10 rules (traffic-mirroring-limits.html) and each
 * remote block takes two of them (in and out), so a port probe from 40 addresses must become a
 * handful of covering blocks: the filter may then see more than asked, never less.
 *
 * The result is canonical (see `canonical`): when the canonical input already fits the budget it
 * is returned as it is. Otherwise the answer is exact, not a heuristic: in a cover that is
 * optimal, each block can be taken to be the smallest block around the inputs it holds (anything
 * larger only adds addresses), and those are exactly the nodes of the binary trie of the input
 * blocks. So an optimal cover is a set of trie nodes that together hold every input, and for each
 * node and block count the cheapest cover is either the node itself or the best split of the
 * count between its two children: a dynamic programme in O(n * budget) steps. Ties go to fewer
 * blocks. (A greedy that joined the cheapest neighbour pair first was up to a third above the
 * optimum on small cases and cubic in the number of inputs; see test/unit/aggregate.test.ts.)
 *
 * Families are kept apart, since a rule's CIDRs are all IPv4 or all IPv6
 * (traffic-mirroring-filters.html): each family present takes one block at least, and the spare
 * blocks go wherever they save the most addresses in total. Throws RangeError when the budget
 * cannot hold one block per family present.
 */
export function aggregate(blocks: readonly Cidr[], budget: number): Cidr[] {
  if (!(budget >= 1)) throw new RangeError(`budget must be at least 1, not ${budget}`);
  const limit = Math.floor(budget);
  const lists = ([4, 6] as const).map((family) => canonical(blocks.filter((b) => b.family === family)));
  const present = lists.filter((list) => list.length > 0);
  if (present.length === 0) return [];
  if (limit < present.length)
    throw new RangeError(`budget ${limit} cannot hold blocks of ${present.length} address families`);
  if (present.reduce((n, list) => n + list.length, 0) <= limit) return present.flat();
  const tries = present.map((list) => trie(list, 0, list.length, limit - present.length + 1));
  const [first, second] = tries as [Node, Node | undefined];
  if (!second) return cover(first, limit);
  let best: { plan: Plan; firstCount: number } | undefined;
  for (let n = 1; n < limit; n++) {
    const a = planOf(first, n);
    const b = planOf(second, limit - n);
    const plan = { size: a.size + b.size, count: a.count + b.count, split: n };
    if (!best || better(plan, best.plan)) best = { plan, firstCount: n };
  }
  const n = best?.firstCount ?? 1;
  return [...cover(first, n), ...cover(second, limit - n)];
}

/** The cheapest cover of a trie node with at most some number of blocks. */
interface Plan {
  /** Addresses covered. */
  size: bigint;
  /** Blocks used. */
  count: number;
  /** 0: the node's own block; otherwise the number of blocks given to the lower child. */
  split: number;
}

/** A node of the input's binary trie: the smallest block around a run of input blocks. */
interface Node {
  block: Cidr;
  children?: [Node, Node];
  /** plans[k - 1]: the best cover with at most k blocks, for k up to min(budget, inputs below). */
  plans: Plan[];
}

const better = (a: Plan, b: Plan) => a.size < b.size || (a.size === b.size && a.count < b.count);
const planOf = (node: Node, k: number) => node.plans[Math.min(k, node.plans.length) - 1] as Plan;

/** The trie over list[from, to) (canonical, so disjoint and sorted), with plans up to `limit` blocks. */
function trie(list: readonly Cidr[], from: number, to: number, limit: number): Node {
  const low = list[from] as Cidr;
  if (to - from === 1) return { block: low, plans: [{ size: size(low), count: 1, split: 0 }] };
  const block = supernet(low, list[to - 1] as Cidr);
  // The first input in the upper half of `block`; both halves hold inputs, as `block` is the smallest.
  const upperHalf = block.base | (size(block) >> 1n);
  let middle = from + 1;
  while ((list[middle] as Cidr).base < upperHalf) middle++;
  const lower = trie(list, from, middle, limit);
  const upper = trie(list, middle, to, limit);
  const plans: Plan[] = [];
  for (let k = 1; k <= Math.min(limit, to - from); k++) {
    let best: Plan = { size: size(block), count: 1, split: 0 };
    // Giving the lower child more blocks than it can use, or the upper one, changes nothing.
    for (let n = Math.max(1, k - upper.plans.length); n <= Math.min(k - 1, lower.plans.length); n++) {
      const a = planOf(lower, n);
      const b = planOf(upper, k - n);
      const plan = { size: a.size + b.size, count: a.count + b.count, split: n };
      if (better(plan, best)) best = plan;
    }
    plans.push(best);
  }
  return { block, children: [lower, upper], plans };
}

/** The blocks of the best cover of `node` with at most `k` blocks, in address order. */
function cover(node: Node, k: number): Cidr[] {
  const plan = planOf(node, k);
  if (plan.split === 0 || !node.children) return [node.block];
  const [lower, upper] = node.children;
  return [...cover(lower, plan.split), ...cover(upper, Math.min(k, node.plans.length) - plan.split)];
}

/** The smallest block holding both. */
export function supernet(a: Cidr, b: Cidr): Cidr {
  const family: Family = a.family;
  let prefix = Math.min(a.prefix, b.prefix);
  while (prefix > 0 && (a.base & mask(family, prefix)) !== (b.base & mask(family, prefix))) prefix--;
  return { family, base: a.base & mask(family, prefix), prefix };
}

/**
 * The same addresses in the fewest blocks: sorted (IPv4 first, then by address), blocks inside
 * others dropped, sibling halves joined into their parent, repeatedly. Two lists of blocks cover
 * the same addresses exactly when their canonical forms are equal.
 */
export function canonical(blocks: readonly Cidr[]): Cidr[] {
  const sorted = [...blocks].sort(
    (a, b) => a.family - b.family || (a.base < b.base ? -1 : a.base > b.base ? 1 : a.prefix - b.prefix),
  );
  const out: Cidr[] = [];
  for (const block of sorted) {
    const last = out[out.length - 1];
    // Sorted by family, base, then prefix: a block overlapping the last one kept is inside it.
    if (last && overlaps(last, block)) continue;
    out.push(block);
    for (;;) {
      const b = out[out.length - 1] as Cidr;
      const a = out[out.length - 2];
      if (!a || a.family !== b.family || a.prefix !== b.prefix || a.prefix === 0) break;
      const parent = supernet(a, b);
      if (parent.prefix !== a.prefix - 1) break;
      out.splice(out.length - 2, 2, parent);
    }
  }
  return out;
}
