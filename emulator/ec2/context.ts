import { ApiError, invalid } from '../errors.ts';
import type { FaultInjector } from '../faults.ts';
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
  /** The faults in force, for the few a handler applies itself (faults.ts `refuseSourceTypes`). */
  readonly faults?: Pick<FaultInjector, 'refusesSource'>;
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
    dryRun(ctx);
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
    for (const tag of spec.list('Tag'))
      tags.set(checkTagKey(tag.required('Key')), checkTagValue(tag.str('Value')));
  }
  if (tags.size > 50)
    throw new ApiError('TagLimitExceeded', 'The maximum number of tags per resource is 50.');
  return tags;
}

/** A tag value: up to 255 characters; absent is the empty string. */
export function checkTagValue(value: string | undefined): string {
  if (value !== undefined && value.length > 255)
    throw invalid(`Tag value exceeds the maximum length of 255 characters: ${value.slice(0, 20)}...`);
  return value ?? '';
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
  /**
   * False where EC2 documents that MaxResults and the id list cannot be combined
   * (DescribeInstances, DescribeNetworkInterfaces): InvalidParameterCombination.
   */
  maxResultsWithIds?: boolean;
}

/**
 * A filter value as EC2 reads it: `*` any run, `?` one character or none, and a backslash makes
 * the next character literal (`\*`, `\?`, `\\`). Compiled once per request.
 */
function matcher(pattern: string): (value: string) => boolean {
  if (!/[*?\\]/.test(pattern)) return (value) => value === pattern;
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '\\' && i + 1 < pattern.length) source += escapeRegExp(pattern[++i] as string);
    else if (c === '*') source += '.*';
    else if (c === '?') source += '.?';
    else source += escapeRegExp(c);
  }
  const re = new RegExp(`^${source}$`, 's');
  return (value) => re.test(value);
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Where a page ended: the action, the query it answered, and the last item's order (and id, for ties). */
interface PageToken {
  a: string;
  q: string;
  s: number;
  i: string;
}

/**
 * A Describe call: ids, filters (names, `tag:KEY`, `tag-key`, `tag-value`, wildcards; values of
 * one filter are OR-ed, filters AND-ed), DryRun and paging. Items come in order of creation (ties,
 * which only derived rows such as DescribeTags' have, by id); the NextToken remembers where the
 * page ended, so resources created or deleted between pages neither repeat nor hide the others.
 */
export function describe<R extends Resource>(
  ctx: Ctx,
  items: Iterable<R>,
  spec: DescribeSpec<R>,
): { page: R[]; nextToken: string | undefined } {
  const { p } = ctx;
  const ids = p.strings(spec.idsParam);
  const maxResults = p.int('MaxResults', spec.maxResults ?? [5, 1000]);
  if (spec.maxResultsWithIds === false && maxResults !== undefined && ids.length > 0) {
    throw new ApiError(
      'InvalidParameterCombination',
      `The parameter ${spec.idsParam} cannot be used with the parameter MaxResults`,
    );
  }
  const filters = p.list('Filter').map((f): ((r: R) => boolean) => {
    const name = f.required('Name');
    const patterns = f.strings('Value').map(matcher);
    const any = (values: Iterable<string>) => {
      for (const value of values) if (patterns.some((match) => match(value))) return true;
      return false;
    };
    if (name.startsWith('tag:')) {
      const key = name.slice(4);
      return (r) => {
        const value = r.tags.get(key);
        return value !== undefined && any([value]);
      };
    }
    if (name === 'tag-key') return (r) => any(r.tags.keys());
    if (name === 'tag-value') return (r) => any(r.tags.values());
    const read = Object.hasOwn(spec.filters, name) ? spec.filters[name] : undefined;
    if (!read) throw invalid(`The filter '${name}' is invalid`);
    return (r) => {
      const field = read(r);
      if (field === undefined) return false;
      return any((Array.isArray(field) ? field : [field]).map(String));
    };
  });
  const query = p.canonical(['Action', 'Version', 'NextToken', 'MaxResults', 'DryRun']);
  let after: { s: number; i: string } | undefined;
  const nextToken = p.str('NextToken');
  if (nextToken !== undefined) {
    const token = decodeToken(nextToken);
    if (!token || token.a !== ctx.action || token.q !== query) {
      throw new ApiError('InvalidNextToken', `The token '${nextToken}' is invalid for this request.`);
    }
    after = token;
  }
  const idSet = new Set(ids);
  const all = [...items];
  if (spec.strictIds !== false && ids.length > 0) {
    const known = new Set(all.map((r) => r.id));
    const unknown = [...idSet].filter((id) => !known.has(id));
    if (unknown.length > 0) {
      throw new ApiError(spec.notFoundCode, `The ${spec.what} ID '${unknown.join("', '")}' does not exist`);
    }
  }
  dryRun(ctx);
  const isAfter = (r: R) => !after || r.seq > after.s || (r.seq === after.s && r.id > after.i);
  const selected = all
    .filter((r) => isAfter(r) && (idSet.size === 0 || idSet.has(r.id)) && filters.every((f) => f(r)))
    .sort((a, b) => a.seq - b.seq || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (maxResults === undefined || selected.length <= maxResults)
    return { page: selected, nextToken: undefined };
  const page = selected.slice(0, maxResults);
  const last = page[page.length - 1] as R;
  return { page, nextToken: encodeToken({ a: ctx.action, q: query, s: last.seq, i: last.id }) };
}

const encodeToken = (token: PageToken) => Buffer.from(JSON.stringify(token)).toString('base64url');

function decodeToken(raw: string): PageToken | undefined {
  try {
    const token = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Partial<PageToken>;
    if (
      typeof token.a === 'string' &&
      typeof token.q === 'string' &&
      typeof token.s === 'number' &&
      typeof token.i === 'string'
    ) {
      return token as PageToken;
    }
  } catch {
    // not a token we wrote
  }
  return undefined;
}
