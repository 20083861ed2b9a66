/**
 * Which instances can be Traffic Mirroring sources, as traffic-mirroring-network-limitations.html
 * ("Instance types") lists them (the version of 2026-12-04 in ../shared/AWS-FACTS.md): Nitro
 * instances except the families below, no bare metal, and of the older Xen types only C4, D2, G3,
 * G3s, H1, I3, M4, P2, P3, R4, X1 and X1e (not T2). The page names whole families, so a family
 * matches by its exact name (`m6id` is listed on its own; `p5e` is not listed, so it is allowed).
 * The emulator keeps its own copy of this list, written from the same page.
 *
 * To re-check: copies of the user guide dated 2026 no longer have this list on the limitations
 * page; what-is-traffic-mirroring.html there lists the *supported* families instead (R7g, M7a,
 * C6gd, Inf2, P5 among them; some Nitro v2 bare metal too). If AWS's live page reads that way,
 * this table should become that allow-list. Until then a refusal EC2 answers anyway is reported
 * with the type (shared/mirror.ts).
 */

export type FamilyClass =
  | 'general purpose'
  | 'compute optimized'
  | 'memory optimized'
  | 'storage optimized'
  | 'accelerated computing'
  | 'high-performance computing';

/** The virtualized Nitro families the page says Traffic Mirroring is not available on, by its classes. */
export const UNSUPPORTED_NITRO_FAMILIES: Readonly<Record<FamilyClass, readonly string[]>> = {
  'general purpose': ['m8g', 'm6a', 'm6i', 'm6id', 'm6idn', 'm6in', 'm7a', 'm7g', 'm7gd', 'm7i', 'm7i-flex'],
  'compute optimized': [
    'c8g',
    'c6a',
    'c6gd',
    'c6gn',
    'c6i',
    'c6id',
    'c6in',
    'c7a',
    'c7g',
    'c7gd',
    'c7gn',
    'c7i',
  ],
  'memory optimized': [
    'r8g',
    'r6a',
    'r6i',
    'r6id',
    'r6idn',
    'r6in',
    'r7a',
    'r7g',
    'r7gd',
    'r7i',
    'r7iz',
    'x8g',
    'x2idn',
    'x2iedn',
    'x2iezn',
  ],
  'storage optimized': ['i4g', 'i4i', 'im4gn', 'is4gen'],
  'accelerated computing': ['inf2', 'p5', 'trn1', 'trn1n'],
  'high-performance computing': ['hpc6a', 'hpc6id', 'hpc7a', 'hpc7g'],
};

/** The non-Nitro (Xen) families the page says Traffic Mirroring is available on. */
export const SUPPORTED_XEN_FAMILIES: readonly string[] = [
  'c4',
  'd2',
  'g3',
  'g3s',
  'h1',
  'i3',
  'm4',
  'p2',
  'p3',
  'r4',
  'x1',
  'x1e',
];

/**
 * The Xen families that are not on the page's list, so cannot be sources (T2 named by the page).
 * The Xen set is the EC2 User Guide's: every family not built on the Nitro System.
 */
const UNSUPPORTED_XEN_FAMILIES: readonly string[] = [
  't1',
  't2',
  'm1',
  'm2',
  'm3',
  'c1',
  'c3',
  'cc1',
  'cc2',
  'cg1',
  'cr1',
  'f1',
  'g2',
  'hi1',
  'hs1',
  'i2',
  'r3',
];

const NITRO_CLASS = new Map<string, FamilyClass>(
  Object.entries(UNSUPPORTED_NITRO_FAMILIES).flatMap(([cls, families]) =>
    families.map((family): [string, FamilyClass] => [family, cls as FamilyClass]),
  ),
);
const XEN_UNSUPPORTED = new Set(UNSUPPORTED_XEN_FAMILIES);

export type Support = { ok: true } | { ok: false; reason: string };

/** `m7i-flex.large` -> family `m7i-flex`, size `large`; families and sizes compare lower-cased. */
export function familyOf(instanceType: string): { family: string; size: string } {
  const type = instanceType.toLowerCase();
  const dot = type.indexOf('.');
  return dot < 0 ? { family: type, size: '' } : { family: type.slice(0, dot), size: type.slice(dot + 1) };
}

/**
 * Whether an instance of this type can be a mirror source, and if not, why (naming the type).
 * A family the page does not list is allowed: EC2 has the last word, and a refusal it answers for a
 * family added to the page after this list is reported by the use case with the type it refused.
 */
export function sourceSupport(instanceType: string): Support {
  const { family, size } = familyOf(instanceType);
  if (size === 'metal' || size.startsWith('metal-')) {
    return {
      ok: false,
      reason: `${instanceType} is a bare metal instance; Traffic Mirroring does not support bare metal sources`,
    };
  }
  if (XEN_UNSUPPORTED.has(family)) {
    return {
      ok: false,
      reason: `${instanceType} is a non-Nitro type other than C4, D2, G3, G3s, H1, I3, M4, P2, P3, R4, X1, X1e; Traffic Mirroring does not support it as a source`,
    };
  }
  const cls = NITRO_CLASS.get(family);
  if (cls) {
    return {
      ok: false,
      reason: `${instanceType} is in the ${cls} family ${family.toUpperCase()}, which Traffic Mirroring does not support as a source`,
    };
  }
  return { ok: true };
}
