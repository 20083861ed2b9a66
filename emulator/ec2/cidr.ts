/**
 * The emulator's own CIDR arithmetic, for VPC and subnet blocks and filter rules. It is written
 * apart from the product's (the emulator is the oracle the product is checked against; shared code
 * would hide a shared bug): addresses are validated by Node's own parser (`node:net`), IPv6 text is
 * expanded as RFC 4291 section 2.2 writes it, and printed as RFC 5952 recommends.
 */
import { isIPv4, isIPv6 } from 'node:net';

export type Family = 4 | 6;

export interface Cidr {
  family: Family;
  /** The network address, host bits cleared. */
  base: bigint;
  prefix: number;
}

const width = (family: Family) => (family === 4 ? 32 : 128);

function v4Value(text: string): bigint {
  return text.split('.').reduce((acc, octet) => acc * 256n + BigInt(Number(octet)), 0n);
}

/** RFC 4291 2.2: `::` stands for one or more groups of zeros; the last 32 bits may be dotted IPv4. */
function v6Value(text: string): bigint {
  let groups = text;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1]) {
    const v4 = v4Value(dotted[1]);
    groups = `${text.slice(0, dotted.index)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [left = '', right] = groups.split('::');
  const head = left === '' ? [] : left.split(':');
  const tail = right === undefined || right === '' ? [] : right.split(':');
  const zeros = new Array<string>(8 - head.length - tail.length).fill('0');
  return [...head, ...(right === undefined ? [] : zeros), ...tail].reduce(
    (acc, group) => (acc << 16n) | BigInt(Number.parseInt(group, 16)),
    0n,
  );
}

/** An IPv4 or IPv6 address, or undefined when Node does not read the text as one. */
export function parseAddress(text: string): { family: Family; value: bigint } | undefined {
  // node:net takes IPv4 octets with leading zeros as decimal; EC2 refuses them (ambiguous octal).
  if (isIPv4(text) && !/(^|\.)0\d/.test(text)) return { family: 4, value: v4Value(text) };
  if (isIPv6(text) && !text.includes('%')) return { family: 6, value: v6Value(text) };
  return undefined;
}

/**
 * `address/prefix`. With `strict`, host bits must be zero, as EC2 demands of VPC and subnet
 * blocks; otherwise they are cleared, as filter rules take `10.0.0.5/24`.
 */
export function parseCidr(text: string, strict = false): Cidr | undefined {
  const match = /^([^/]+)\/(0|[1-9]\d{0,2})$/.exec(text);
  const address = match?.[1] === undefined ? undefined : parseAddress(match[1]);
  if (!match || !address) return undefined;
  const prefix = Number(match[2]);
  if (prefix > width(address.family)) return undefined;
  const hostBits = BigInt(width(address.family) - prefix);
  const base = (address.value >> hostBits) << hostBits;
  if (strict && base !== address.value) return undefined;
  return { family: address.family, base, prefix };
}

/** How many addresses the block holds. */
export const size = (cidr: Cidr): bigint => 1n << BigInt(width(cidr.family) - cidr.prefix);

/** Whether `inner` lies wholly within `outer` (same family). */
export function contains(outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || outer.prefix > inner.prefix) return false;
  const hostBits = BigInt(width(outer.family) - outer.prefix);
  return inner.base >> hostBits === outer.base >> hostBits;
}

/** Two blocks overlap exactly when one contains the other. */
export const overlaps = (a: Cidr, b: Cidr): boolean => contains(a, b) || contains(b, a);

/** Dotted decimal, or RFC 5952: lower case, no leading zeros, the longest run of 2+ zero groups as `::`. */
export function formatAddress(family: Family, value: bigint): string {
  if (family === 4) return [3, 2, 1, 0].map((i) => String((value >> BigInt(i * 8)) & 255n)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => (value >> BigInt((7 - i) * 16)) & 0xffffn);
  let run = { start: -1, length: 1 };
  for (let start = 0; start < 8; start++) {
    let end = start;
    while (end < 8 && groups[end] === 0n) end++;
    if (end - start > run.length) run = { start, length: end - start };
  }
  const hex = groups.map((g) => g.toString(16));
  if (run.start < 0) return hex.join(':');
  return `${hex.slice(0, run.start).join(':')}::${hex.slice(run.start + run.length).join(':')}`;
}
