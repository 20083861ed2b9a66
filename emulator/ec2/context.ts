import { ApiError, invalid } from '../errors.ts';
import type { Params } from '../query.ts';
import type { RegionState, Resource, World } from '../state.ts';
import type { XmlValue } from '../xml.ts';

/** What an EC2 action handler gets: the caller's account and Region state, and the request. */
export interface Ctx {
  readonly action: string;
  readonly account: string;
  readonly region: string;
  readonly state: RegionState;
  readonly world: World;
  readonly p: Params;
}

/** An action: validates everything, calls `dryRun(ctx)` before its first change, returns wire-named members. */
export type Handler = (ctx: Ctx) => Record<string, XmlValue>;

/** DryRun: the request was valid and allowed; nothing is changed. AWS answers 412. */
export function dryRun(ctx: Ctx): void {
  if (ctx.p.bool('DryRun')) {
    throw new ApiError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412);
  }
}

/**
 * ClientToken idempotency as EC2 documents it (ec2/latest/devguide/ec2-api-idempotency.html): a
 * repeat with the same token and the same parameters returns the first answer and changes nothing;
 * the same token with other parameters is IdempotentParameterMismatch.
 */
export function idempotent(ctx: Ctx, create: () => Record<string, XmlValue>): Record<string, XmlValue> {
  const token = ctx.p.str('ClientToken');
  if (token === undefined) return create();
  if (token.length > 64) throw invalid('ClientToken must be at most 64 characters');
  const key = `${ctx.action}/${token}`;
  const request = ctx.p.canonical(['Action', 'Version', 'ClientToken', 'DryRun']);
  const seen = ctx.state.tokens.get(key);
  if (seen) {
    if (seen.request !== request) {
      throw new ApiError(
        'IdempotentParameterMismatch',
        `The client token '${token}' was already used with different parameters.`,
      );
    }
    return seen.response as Record<string, XmlValue>;
  }
  const response = { ...create(), clientToken: token };
  ctx.state.tokens.set(key, { request, response });
  return response;
}

export const tagSet = (tags: Map<string, string>): XmlValue[] =>
  [...tags].map(([key, value]) => ({ key, value }));

/** Tags from `TagSpecification.N` for one resource type; other types there are an error, as in EC2. */
export function tagsFor(ctx: Ctx, resourceType: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const spec of ctx.p.list('TagSpecification')) {
    const type = spec.required('ResourceType');
    if (type !== resourceType) {
      throw invalid(`'${type}' is not a valid taggable resource type for this operation.`);
    }
    for (const tag of spec.list('Tag')) tags.set(checkTagKey(tag.required('Key')), tag.str('Value') ?? '');
  }
  if (tags.size > 50)
    throw new ApiError('TagLimitExceeded', 'The maximum number of tags per resource is 50.');
  return tags;
}

export function checkTagKey(key: string): string {
  if (key.length > 127)
    throw invalid(`Tag key exceeds the maximum length of 127 characters: ${key.slice(0, 20)}...`);
  if (key.toLowerCase().startsWith('aws:'))
    throw invalid(`Tag keys starting with 'aws:' are reserved for internal use`);
  return key;
}

/** A filter's way of reading a field of a resource: one value, several, or none. */
export type FieldReader<R> = (
  resource: R,
) => string | number | boolean | undefined | readonly (string | number)[];

export interface DescribeSpec<R extends { id: string; seq: number }> {
  /** The query name of the id list, e.g. `TrafficMirrorSessionId` or `InstanceId`. */
  idsParam: string;
  notFoundCode: string;
  what: string;
  /** Filter names AWS documents for the fields this emulator keeps. */
  filters: Record<string, FieldReader<R>>;
  /** Unknown ids are an error (EC2 does this for most Describe calls with ids). */
  strictIds?: boolean;
  maxResults?: [number, number];
}

/** Glob matching as EC2 filter values allow: `*` any run, `?` one character. */
function matches(pattern: string, value: string): boolean {
  if (!pattern.includes('*') && !pattern.includes('?')) return pattern === value;
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    's',
  );
  return re.test(value);
}

interface PageToken {
  a: string;
  q: string;
  s: number;
}

/**
 * A Describe call: ids, filters (names, `tag:KEY`, `tag-key`, wildcards; values of one filter are
 * OR-ed, filters AND-ed) and paging. The NextToken remembers the order number of the last item
 * given, so resources created or deleted between pages neither repeat nor hide the others.
 */
export function describe<R extends Resource>(
  ctx: Ctx,
  items: Iterable<R>,
  spec: DescribeSpec<R>,
): { page: R[]; nextToken: string | undefined } {
  const { p } = ctx;
  const ids = p.strings(spec.idsParam);
  const maxResults = p.int('MaxResults', spec.maxResults ?? [5, 1000]);
  const filters = p.list('Filter').map((f) => {
    const name = f.required('Name');
    const values = f.strings('Value');
    if (name.startsWith('tag:')) {
      const key = name.slice(4);
      return (r: R) => {
        const v = r.tags.get(key);
        return v !== undefined && values.some((pattern) => matches(pattern, v));
      };
    }
    if (name === 'tag-key')
      return (r: R) => [...r.tags.keys()].some((k) => values.some((pattern) => matches(pattern, k)));
    if (name === 'tag-value') {
      return (r: R) => [...r.tags.values()].some((v) => values.some((pattern) => matches(pattern, v)));
    }
    const read = spec.filters[name];
    if (!read) throw invalid(`The filter '${name}' is invalid`);
    return (r: R) => {
      const field = read(r);
      if (field === undefined) return false;
      const list = Array.isArray(field) ? field : [field];
      return list.some((v) => values.some((pattern) => matches(pattern, String(v))));
    };
  });
  const query = p.canonical(['Action', 'Version', 'NextToken', 'MaxResults', 'DryRun']);
  let after = 0;
  const nextToken = p.str('NextToken');
  if (nextToken !== undefined) {
    const token = decodeToken(nextToken);
    if (!token || token.a !== ctx.action || token.q !== query) {
      throw new ApiError('InvalidNextToken', `The token '${nextToken}' is invalid for this request.`);
    }
    after = token.s;
  }
  const idSet = new Set(ids);
  const all = [...items];
  if (spec.strictIds !== false && ids.length > 0) {
    const known = new Set(all.map((r) => r.id));
    const unknown = ids.filter((id) => !known.has(id));
    if (unknown.length > 0) {
      throw new ApiError(spec.notFoundCode, `The ${spec.what} ID '${unknown.join("', '")}' does not exist`);
    }
  }
  const selected = all
    .filter((r) => r.seq > after && (idSet.size === 0 || idSet.has(r.id)) && filters.every((f) => f(r)))
    .sort((a, b) => a.seq - b.seq);
  if (maxResults === undefined || selected.length <= maxResults)
    return { page: selected, nextToken: undefined };
  const page = selected.slice(0, maxResults);
  const last = page[page.length - 1] as R;
  return { page, nextToken: encodeToken({ a: ctx.action, q: query, s: last.seq }) };
}

const encodeToken = (token: PageToken) => Buffer.from(JSON.stringify(token)).toString('base64url');

function decodeToken(raw: string): PageToken | undefined {
  try {
    const token = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Partial<PageToken>;
    if (typeof token.a === 'string' && typeof token.q === 'string' && typeof token.s === 'number') {
      return token as PageToken;
    }
  } catch {
    // not a token we wrote
  }
  return undefined;
}
