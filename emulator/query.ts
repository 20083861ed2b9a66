import { ApiError, invalid, missing } from './errors.ts';

/**
 * A parsed AWS Query request (`Action=X&Tag.1.Key=a`): dotted keys become a tree, numbered
 * segments become 1-based list entries. Readers check types and presence and throw the errors
 * EC2 gives for bad input.
 */
type Node = { value?: string; children: Map<string, Node> };

export function parseForm(body: string): Params {
  const root: Node = { children: new Map() };
  for (const [key, value] of new URLSearchParams(body)) {
    let node = root;
    for (const part of key.split('.')) {
      let next = node.children.get(part);
      if (!next) {
        next = { children: new Map() };
        node.children.set(part, next);
      }
      node = next;
    }
    node.value = value;
  }
  return new Params(root, '');
}

const INT = /^-?\d+$/;

export class Params {
  constructor(
    private readonly node: Node,
    private readonly path: string,
  ) {}

  private child(name: string): Node | undefined {
    return this.node.children.get(name);
  }

  private full(name: string): string {
    return this.path ? `${this.path}.${name}` : name;
  }

  has(name: string): boolean {
    return this.node.children.has(name);
  }

  str(name: string): string | undefined {
    return this.child(name)?.value;
  }

  required(name: string): string {
    const value = this.str(name);
    if (value === undefined || value === '') throw missing(this.full(name));
    return value;
  }

  int(name: string, range?: [number, number]): number | undefined {
    const raw = this.str(name);
    if (raw === undefined) return undefined;
    if (!INT.test(raw))
      throw invalid(`Value (${raw}) for parameter ${this.full(name)} is invalid. Expected an integer.`);
    const value = Number(raw);
    if (range && (value < range[0] || value > range[1])) {
      throw invalid(
        `Value (${raw}) for parameter ${this.full(name)} is invalid. It must be between ${range[0]} and ${range[1]}.`,
      );
    }
    return value;
  }

  requiredInt(name: string, range?: [number, number]): number {
    const value = this.int(name, range);
    if (value === undefined) throw missing(this.full(name));
    return value;
  }

  bool(name: string): boolean | undefined {
    const raw = this.str(name);
    if (raw === undefined) return undefined;
    if (raw !== 'true' && raw !== 'false') {
      throw invalid(`Value (${raw}) for parameter ${this.full(name)} is invalid. Expected a boolean.`);
    }
    return raw === 'true';
  }

  /** A list of strings: `Name.1=a&Name.2=b`. */
  strings(name: string): string[] {
    return this.entries(name).map((entry) => {
      if (entry.value === undefined) throw invalid(`Parameter ${this.full(name)} must be a list of strings`);
      return entry.value;
    });
  }

  /** A list of structures: `Name.1.Key=a&Name.1.Value=b`. */
  list(name: string): Params[] {
    return this.entries(name).map((entry, i) => new Params(entry, this.full(`${name}.${i + 1}`)));
  }

  /** A nested structure: `Name.Key=a`. */
  struct(name: string): Params | undefined {
    const node = this.child(name);
    return node ? new Params(node, this.full(name)) : undefined;
  }

  private entries(name: string): Node[] {
    const node = this.child(name);
    if (!node) return [];
    const indexed: [number, Node][] = [];
    for (const [key, child] of node.children) {
      if (!/^[1-9]\d*$/.test(key)) {
        throw new ApiError(
          'InvalidParameter',
          `Parameter ${this.full(`${name}.${key}`)} is not a list position`,
        );
      }
      indexed.push([Number(key), child]);
    }
    return indexed.sort((a, b) => a[0] - b[0]).map(([, child]) => child);
  }

  /**
   * A stable rendering of every parameter but the named ones, for idempotency comparisons. Keys and
   * values are escaped, so a value holding `&` or `=` cannot pass for other parameters.
   */
  canonical(except: readonly string[]): string {
    const lines: string[] = [];
    const walk = (node: Node, prefix: string) => {
      if (node.value !== undefined)
        lines.push(`${encodeURIComponent(prefix)}=${encodeURIComponent(node.value)}`);
      for (const [key, child] of [...node.children].sort(([a], [b]) => (a < b ? -1 : 1))) {
        const path = prefix ? `${prefix}.${key}` : key;
        if (!except.includes(path)) walk(child, path);
      }
    };
    walk(this.node, '');
    return lines.join('&');
  }
}
