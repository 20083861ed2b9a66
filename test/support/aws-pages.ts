/**
 * AWS's lists as the Traffic Mirroring user guide prints them, copied here once for the tests of
 * both mirrorops (shared/domain/eligibility.ts) and the emulator (emulator/ec2/instance-types.ts),
 * each of which keeps its own copy: a test that iterates these lists finds a family or type either
 * copy lost or misspelt.
 */

/**
 * traffic-mirroring-network-limitations.html, "Instance types" (the version ../shared/AWS-FACTS.md
 * records as of 2026-12-04): "Traffic Mirroring is not available on the following virtualized
 * Nitro instance types", by the page's classes.
 */
export const LIMITATIONS_PAGE = {
  'General purpose': 'M8g, M6a, M6i, M6id, M6idn, M6in, M7a, M7g, M7gd, M7i, M7i-flex',
  'Compute optimized': 'C8g, C6a, C6gd, C6gn, C6i, C6id, C6in, C7a, C7g, C7gd, C7gn, C7i',
  'Memory optimized':
    'R8g, R6a, R6i, R6id, R6idn, R6in, R7a, R7g, R7gd, R7i, R7iz, X8g, X2idn, X2iedn, X2iezn',
  'Storage optimized': 'I4g, I4i, Im4gn, Is4gen',
  'Accelerated computing': 'Inf2, P5, Trn1, Trn1n',
  'High-performance computing': 'Hpc6a, Hpc6id, Hpc7a, Hpc7g',
};

/** The same page: "available only on the following non-Nitro instances types". */
export const NON_NITRO_ALLOWED = 'C4, D2, G3, G3s, H1, I3, M4, P2, P3, R4, X1, and X1e';

/** `M6a, M6i, and X1e` -> ['m6a', 'm6i', 'x1e']. */
export const familiesOf = (list: string): string[] =>
  list.split(/,\s*(?:and\s+)?/).map((family) => family.toLowerCase());

/** Every family the limitations page lists, with its class: [class, family]. */
export const UNSUPPORTED_ON_PAGE: [string, string][] = Object.entries(LIMITATIONS_PAGE).flatMap(
  ([cls, list]) => familiesOf(list).map((family): [string, string] => [cls, family]),
);

/**
 * traffic-mirroring-quotas.html, footnote 1 of "Maximum number of sources per target": "The
 * following instance types support up to 100 sources per target. All other instance types support
 * up to 10 sources per target." (The user guide's PDF of 2026, Sources, pages 53-54.)
 */
export const HUNDRED_SOURCE_TARGETS_PAGE = `
General Purpose: m5.24xlarge | m5d.24xlarge | m5dn.24xlarge | m5n.24xlarge | m5zn.12xlarge
| m6a.48xlarge | m6g.16xlarge | m6gd.16xlarge | m6i.32xlarge | m6id.32xlarge | m6idn.32xlarge
| m6in.32xlarge | m7a.48xlarge | m7i.48xlarge | m8a.48xlarge | m8azn.24xlarge | m8g.48xlarge
| m8gb.24xlarge | m8gb.48xlarge | m8gd.48xlarge | m8gn.24xlarge | m8gn.48xlarge |
m8i.96xlarge | m8id.96xlarge
Compute Optimized: c5.18xlarge | c5.24xlarge | c5d.18xlarge | c5d.24xlarge | c5n.18xlarge
| c6a.48xlarge | c6g.16xlarge | c6gd.16xlarge | c6gn.16xlarge | c6i.32xlarge | c6id.32xlarge
| c6in.32xlarge | c7a.48xlarge | c7gn.16xlarge | c7i.48xlarge | c8a.48xlarge | c8g.48xlarge |
c8gb.24xlarge | c8gb.48xlarge | c8gd.48xlarge | c8gn.24xlarge | c8gn.48xlarge | c8i.96xlarge |
c8id.96xlarge
Memory Optimized: r5.24xlarge | r5b.24xlarge | r5d.24xlarge | r5dn.24xlarge | r5n.24xlarge
| r6a.48xlarge | r6g.16xlarge | r6gd.16xlarge | r6i.32xlarge | r6id.32xlarge | r6idn.32xlarge
| r6in.32xlarge | r7a.48xlarge | r7i.48xlarge | r7iz.32xlarge | r8a.48xlarge | r8g.48xlarge |
r8gb.24xlarge | r8gb.48xlarge | r8gd.48xlarge | r8gn.24xlarge | r8gn.48xlarge | r8i.96xlarge
| r8id.96xlarge | u-6tb1.56xlarge | u-6tb1.112xlarge | u-9tb1.112xlarge | u-12tb1.112xlarge
| u-18tb1.112xlarge | u-24tb1.112xlarge | u7i-6tb.112xlarge | u7i-8tb.112xlarge |
u7i-12tb.224xlarge | u7in-16tb.224xlarge | u7in-24tb.224xlarge | u7in-32tb.224xlarge |
u7inh-32tb.480xlarge | x2gd.16xlarge | x2idn.32xlarge | x2iedn.32xlarge | x2iezn.12xlarge |
x8g.48xlarge | x8aedz.24xlarge | x8i.96xlarge | z1d.12xlarge
Storage Optimized: i3en.24xlarge | i4g.16xlarge | i4i.32xlarge | i7i.48xlarge | i7ie.48xlarge |
i8g.48xlarge | i8ge.48xlarge | im4gn.16xlarge
Accelerated Computing: dl1.24xlarge | dl2q.24xlarge | f2.48xlarge | g5.48xlarge | g5g.16xlarge
| g6.48xlarge | g6e.12xlarge | g6e.24xlarge | g6e.48xlarge | g7e.12xlarge | g7e.24xlarge |
g7e.48xlarge | inf1.24xlarge | inf2.48xlarge | p3dn.24xlarge | p4d.24xlarge | p4de.24xlarge |
p5.4xlarge | p5.48xlarge | p5e.48xlarge | p5en.48xlarge | p6-b200.48xlarge | p6-b300.48xlarge
| p6e-gb200.36xlarge | trn1.32xlarge | trn1n.32xlarge | trn2.3xlarge | trn2.48xlarge |
trn2u.48xlarge | vt1.24xlarge
High Performance Computing: hpc6a.48xlarge | hpc6id.32xlarge | hpc7a.12xlarge |
hpc7a.24xlarge | hpc7a.48xlarge | hpc7a.96xlarge | hpc7g.4xlarge | hpc7g.8xlarge |
hpc7g.16xlarge | hpc8a.96xlarge
`;

/** The instance types of HUNDRED_SOURCE_TARGETS_PAGE. */
export const HUNDRED_SOURCE_TARGETS: string[] = HUNDRED_SOURCE_TARGETS_PAGE.replace(/^[A-Za-z ]+:/gm, '')
  .split(/[|\s]+/)
  .filter((type) => type.includes('.'));
