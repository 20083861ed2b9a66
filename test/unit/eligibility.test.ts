import { describe, expect, it } from 'vitest';
import { sourceSupport } from '../../shared/domain/eligibility.ts';
import { familiesOf, NON_NITRO_ALLOWED, UNSUPPORTED_ON_PAGE } from '../support/aws-pages.ts';

const refusal = (type: string) => {
  const support = sourceSupport(type);
  return support.ok ? undefined : support.reason;
};

describe('source eligibility against the limitations page', () => {
  it('has the page list as written (50 Nitro families, 12 non-Nitro exceptions)', () => {
    expect(UNSUPPORTED_ON_PAGE).toHaveLength(50);
    expect(familiesOf(NON_NITRO_ALLOWED)).toHaveLength(12);
  });

  it.each(UNSUPPORTED_ON_PAGE)('%s: refuses %s, in every size, naming the type', (_cls, family) => {
    for (const size of ['medium', 'large', 'xlarge', '16xlarge', '48xlarge']) {
      const type = `${family}.${size}`;
      expect(refusal(type)).toContain(type);
    }
  });

  it.each(familiesOf(NON_NITRO_ALLOWED))('accepts the non-Nitro exception %s', (family) => {
    expect(sourceSupport(`${family}.xlarge`)).toEqual({ ok: true });
  });
});

describe('one case per family class', () => {
  it.each([
    ['general purpose', 'm7i-flex.large', 'm5.large'],
    ['compute optimized', 'c6gn.xlarge', 'c5n.xlarge'],
    ['memory optimized', 'r7g.large', 'r5.2xlarge'],
    ['storage optimized', 'is4gen.medium', 'i3en.large'],
    ['accelerated computing', 'inf2.xlarge', 'g5.xlarge'],
    ['high-performance computing', 'hpc7g.4xlarge', 'hpc8a.96xlarge'],
  ])('%s: refuses %s, accepts %s', (cls, refused, accepted) => {
    expect(refusal(refused)).toBe(
      `${refused} is in the ${cls} family ${refused.split('.')[0]?.toUpperCase()}, which Traffic Mirroring does not support as a source`,
    );
    expect(sourceSupport(accepted)).toEqual({ ok: true });
  });

  it('bare metal: refuses every .metal size, of supported families too', () => {
    for (const type of ['m5.metal', 'c5.metal', 'i3.metal', 'c7i.metal-24xl', 'r7iz.metal-16xl']) {
      expect(refusal(type)).toBe(
        `${type} is a bare metal instance; Traffic Mirroring does not support bare metal sources`,
      );
    }
  });

  it('non-Nitro: refuses the Xen families the page does not name', () => {
    for (const type of ['m3.medium', 'c3.large', 'r3.large', 'i2.xlarge', 'm1.small', 'g2.2xlarge']) {
      expect(refusal(type)).toMatch(new RegExp(`^${type.replace('.', '\\.')} is a non-Nitro type`));
    }
  });

  it('T2: refused although it is the most common Xen type (the page says so by name)', () => {
    expect(refusal('t2.micro')).toMatch(/^t2\.micro is a non-Nitro type/);
    expect(sourceSupport('t3.micro')).toEqual({ ok: true });
  });

  it('matches whole families: a longer name the page does not list is allowed', () => {
    for (const type of ['p5e.48xlarge', 'p5en.48xlarge', 'x2gd.xlarge', 'c7i-flex.large', 'm6g.large']) {
      expect(sourceSupport(type)).toEqual({ ok: true });
    }
  });

  it('reads upper-case types as EC2 would print them lower-case', () => {
    expect(refusal('R7G.LARGE')).toContain('R7G.LARGE');
  });
});
