/**
 * Which instances can be Traffic Mirroring sources (traffic-mirroring-network-limitations.html):
 * Nitro instances except the families listed there, no bare metal, and of the older Xen types only
 * C4, D2, G3, G3s, H1, I3, M4, P2, P3, R4, X1 and X1e. The emulator enforces the same list.
 */
const UNSUPPORTED_NITRO = [
  /^m6i/,
  /^m6a/,
  /^m7i/,
  /^m7g/,
  /^m8g/,
  /^c6i/,
  /^c6a/,
  /^c7i/,
  /^c7g/,
  /^c8g/,
  /^r6i/,
  /^r7i/,
  /^r8g/,
  /^i4i/,
  /^p5/,
  /^trn1/,
  /^hpc/,
  /^x2/,
];
const XEN_SUPPORTED = new Set(['c4', 'd2', 'g3', 'g3s', 'h1', 'i3', 'm4', 'p2', 'p3', 'r4', 'x1', 'x1e']);
const XEN_FAMILIES = new Set([
  't1',
  't2',
  'm1',
  'm2',
  'm3',
  'c1',
  'c3',
  'cc2',
  'cr1',
  'cg1',
  'g2',
  'hi1',
  'hs1',
  'i2',
  'r3',
  ...XEN_SUPPORTED,
]);

export type Support = { ok: true } | { ok: false; reason: string };

export function sourceSupport(instanceType: string): Support {
  const [family = '', size = ''] = instanceType.toLowerCase().split('.');
  if (size === 'metal' || size.startsWith('metal-')) {
    return {
      ok: false,
      reason: `${instanceType} is a bare metal instance; Traffic Mirroring does not support it as a source`,
    };
  }
  if (XEN_FAMILIES.has(family) && !XEN_SUPPORTED.has(family)) {
    return {
      ok: false,
      reason: `${instanceType} is not a Nitro instance type supported as a Traffic Mirroring source`,
    };
  }
  if (UNSUPPORTED_NITRO.some((re) => re.test(family))) {
    return {
      ok: false,
      reason: `${instanceType} is in a family Traffic Mirroring does not support as a source`,
    };
  }
  return { ok: true };
}
