/**
 * What EC2 decides from an instance type for Traffic Mirroring, written from AWS's pages (not from
 * mirrorops' code, which keeps its own copy):
 * - sources: traffic-mirroring-network-limitations.html, "Instance types" (as of 2026-12-04, see
 *   ../shared/AWS-FACTS.md): not the virtualized Nitro families listed there, not bare metal, and
 *   of the non-Nitro (Xen) types only C4, D2, G3, G3s, H1, I3, M4, P2, P3, R4, X1 and X1e (not T2).
 *   The page lists whole family names (M6id and M6idn are listed next to M6i), so a family matches
 *   exactly.
 * - targets: traffic-mirroring-quotas.html, "Maximum number of sources per target": 100 for the
 *   instance types listed there by name, 10 for every other type.
 */

/** The page's Nitro families, as it groups them. */
const NOT_A_SOURCE_NITRO = {
  generalPurpose: 'm8g m6a m6i m6id m6idn m6in m7a m7g m7gd m7i m7i-flex',
  computeOptimized: 'c8g c6a c6gd c6gn c6i c6id c6in c7a c7g c7gd c7gn c7i',
  memoryOptimized: 'r8g r6a r6i r6id r6idn r6in r7a r7g r7gd r7i r7iz x8g x2idn x2iedn x2iezn',
  storageOptimized: 'i4g i4i im4gn is4gen',
  acceleratedComputing: 'inf2 p5 trn1 trn1n',
  highPerformanceComputing: 'hpc6a hpc6id hpc7a hpc7g',
};

/**
 * The Xen families (the EC2 User Guide's instances not built on the Nitro System) other than the
 * twelve the limitations page allows.
 */
const NOT_A_SOURCE_XEN = 't1 t2 m1 m2 m3 c1 c3 cc1 cc2 cg1 cr1 f1 g2 hi1 hs1 i2 r3';

const NOT_A_SOURCE = new Set(
  [...Object.values(NOT_A_SOURCE_NITRO), NOT_A_SOURCE_XEN].flatMap((list) => list.split(' ')),
);

/** The instance types traffic-mirroring-quotas.html lists as taking 100 sources per target. */
const HUNDRED_SOURCES = new Set(
  [
    // General Purpose
    'm5.24xlarge m5d.24xlarge m5dn.24xlarge m5n.24xlarge m5zn.12xlarge m6a.48xlarge m6g.16xlarge',
    'm6gd.16xlarge m6i.32xlarge m6id.32xlarge m6idn.32xlarge m6in.32xlarge m7a.48xlarge m7i.48xlarge',
    'm8a.48xlarge m8azn.24xlarge m8g.48xlarge m8gb.24xlarge m8gb.48xlarge m8gd.48xlarge m8gn.24xlarge',
    'm8gn.48xlarge m8i.96xlarge m8id.96xlarge',
    // Compute Optimized
    'c5.18xlarge c5.24xlarge c5d.18xlarge c5d.24xlarge c5n.18xlarge c6a.48xlarge c6g.16xlarge',
    'c6gd.16xlarge c6gn.16xlarge c6i.32xlarge c6id.32xlarge c6in.32xlarge c7a.48xlarge c7gn.16xlarge',
    'c7i.48xlarge c8a.48xlarge c8g.48xlarge c8gb.24xlarge c8gb.48xlarge c8gd.48xlarge c8gn.24xlarge',
    'c8gn.48xlarge c8i.96xlarge c8id.96xlarge',
    // Memory Optimized
    'r5.24xlarge r5b.24xlarge r5d.24xlarge r5dn.24xlarge r5n.24xlarge r6a.48xlarge r6g.16xlarge',
    'r6gd.16xlarge r6i.32xlarge r6id.32xlarge r6idn.32xlarge r6in.32xlarge r7a.48xlarge r7i.48xlarge',
    'r7iz.32xlarge r8a.48xlarge r8g.48xlarge r8gb.24xlarge r8gb.48xlarge r8gd.48xlarge r8gn.24xlarge',
    'r8gn.48xlarge r8i.96xlarge r8id.96xlarge u-6tb1.56xlarge u-6tb1.112xlarge u-9tb1.112xlarge',
    'u-12tb1.112xlarge u-18tb1.112xlarge u-24tb1.112xlarge u7i-6tb.112xlarge u7i-8tb.112xlarge',
    'u7i-12tb.224xlarge u7in-16tb.224xlarge u7in-24tb.224xlarge u7in-32tb.224xlarge',
    'u7inh-32tb.480xlarge x2gd.16xlarge x2idn.32xlarge x2iedn.32xlarge x2iezn.12xlarge x8g.48xlarge',
    'x8aedz.24xlarge x8i.96xlarge z1d.12xlarge',
    // Storage Optimized
    'i3en.24xlarge i4g.16xlarge i4i.32xlarge i7i.48xlarge i7ie.48xlarge i8g.48xlarge i8ge.48xlarge',
    'im4gn.16xlarge',
    // Accelerated Computing
    'dl1.24xlarge dl2q.24xlarge f2.48xlarge g5.48xlarge g5g.16xlarge g6.48xlarge g6e.12xlarge',
    'g6e.24xlarge g6e.48xlarge g7e.12xlarge g7e.24xlarge g7e.48xlarge inf1.24xlarge inf2.48xlarge',
    'p3dn.24xlarge p4d.24xlarge p4de.24xlarge p5.4xlarge p5.48xlarge p5e.48xlarge p5en.48xlarge',
    'p6-b200.48xlarge p6-b300.48xlarge p6e-gb200.36xlarge trn1.32xlarge trn1n.32xlarge trn2.3xlarge',
    'trn2.48xlarge trn2u.48xlarge vt1.24xlarge',
    // High Performance Computing
    'hpc6a.48xlarge hpc6id.32xlarge hpc7a.12xlarge hpc7a.24xlarge hpc7a.48xlarge hpc7a.96xlarge',
    'hpc7g.4xlarge hpc7g.8xlarge hpc7g.16xlarge hpc8a.96xlarge',
  ].flatMap((line) => line.split(' ')),
);

const SOURCES_PER_TARGET = 10;
const SOURCES_PER_LISTED_TARGET = 100;

const split = (instanceType: string) => {
  const type = instanceType.toLowerCase();
  const dot = type.indexOf('.');
  return { type, family: type.slice(0, dot), size: type.slice(dot + 1) };
};

/** Whether an instance of this type can be a mirror source: no bare metal, none of the families above. */
export function supportsMirroring(instanceType: string): boolean {
  const { family, size } = split(instanceType);
  return !size.startsWith('metal') && !NOT_A_SOURCE.has(family);
}

/** How many source ENIs an ENI target on an instance of this type takes. */
export function sourcesPerEniTarget(instanceType: string | undefined): number {
  return instanceType !== undefined && HUNDRED_SOURCES.has(split(instanceType).type)
    ? SOURCES_PER_LISTED_TARGET
    : SOURCES_PER_TARGET;
}
