import { type Cidr, type Family, mask, overlaps, size } from './cidr.ts';

/**
 * Covers a set of CIDR blocks with at most `budget` blocks, adding as few extra addresses as it
 * can. A Traffic Mirroring filter holds 10 rules (traffic-mirroring-limits.html), so a port probe
 * from 40 addresses must become a handful of covering blocks, never a dropped address.
 *
 * First the input is made canonical (contained blocks dropped, sibling halves joined); then, while
 * too many remain, the pair of neighbours whose common supernet adds the fewest addresses is
 * joined. Neighbours in address order are the only candidates worth joining: the supernet of two
 * blocks contains every block between them. Families are kept apart; each needs its own blocks.
 */
export function aggregate(blocks: readonly Cidr[], budget: number): Cidr[] {
  if (budget < 1) throw new RangeError('budget must be at least 1');
  const families = ([4, 6] as const).map((family) => canonical(blocks.filter((b) => b.family === family)));
  if (families.every((f) => f.length === 0)) return [];
  // Each family present needs one block at least; share the rest by need.
  const present = families.filter((f) => f.length > 0).length;
  if (budget < present) throw new RangeError(`budget ${budget} cannot hold blocks of ${present} address families`);
  let total = families.reduce((n, f) => n + f.length, 0);
  while (total > budget) {
    let best: { family: number; index: number; cost: bigint } | undefined;
    families.forEach((list, family) => {
      for (let i = 0; i + 1 < list.length; i++) {
        const a = list[i] as Cidr;
        const b = list[i + 1] as Cidr;
        const joined = supernet(a, b);
        const cost = size(joined) - covered(list, joined);
        if (!best || cost < best.cost) best = { family, index: i, cost };
      }
    });
    if (!best) break;
    const list = families[best.family] as Cidr[];
    const joined = supernet(list[best.index] as Cidr, list[best.index + 1] as Cidr);
    families[best.family] = canonical([...list.slice(0, best.index), joined, ...list.slice(best.index + 2)]);
    total = families.reduce((n, f) => n + f.length, 0);
  }
  return families.flat();
}

/** The smallest block holding both. */
export function supernet(a: Cidr, b: Cidr): Cidr {
  const family: Family = a.family;
  let prefix = Math.min(a.prefix, b.prefix);
  while (prefix > 0 && (a.base & mask(family, prefix)) !== (b.base & mask(family, prefix))) prefix--;
  return { family, base: a.base & mask(family, prefix), prefix };
}

/** Addresses of `outer` already covered by the blocks of `list` inside it (they do not overlap). */
function covered(list: readonly Cidr[], outer: Cidr): bigint {
  let n = 0n;
  for (const block of list) if (overlaps(outer, block)) n += size(block);
  return n;
}

/** Sorted, without blocks contained in others, with sibling halves joined. */
export function canonical(blocks: readonly Cidr[]): Cidr[] {
  const sorted = [...blocks].sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : a.prefix - b.prefix));
  const out: Cidr[] = [];
  for (const block of sorted) {
    const last = out[out.length - 1];
    if (last && overlaps(last, block)) continue; // sorted by base then prefix: last contains block
    out.push(block);
    // join siblings upward while possible
    for (;;) {
      const b = out[out.length - 1] as Cidr;
      const a = out[out.length - 2];
      if (!a || a.prefix !== b.prefix || a.prefix === 0) break;
      const parent = supernet(a, b);
      if (parent.prefix !== a.prefix - 1) break;
      out.splice(out.length - 2, 2, parent);
    }
  }
  return out;
}
