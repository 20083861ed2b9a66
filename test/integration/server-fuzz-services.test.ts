import { DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { CreateRoleCommand, GetRoleCommand } from '@aws-sdk/client-iam';
import {
  CreateResourceShareCommand,
  GetResourceShareInvitationsCommand,
  GetResourceSharesCommand,
} from '@aws-sdk/client-ram';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { AssumeRoleCommand, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import fc from 'fast-check';
import { describe, expect, test, vi } from 'vitest';
import { ec2Actions } from '../../emulator/ec2/index.ts';
import { MAX_BODY_BYTES } from '../../emulator/index.ts';
import type { World } from '../../emulator/state.ts';
import { iamFor, keysFrom, ouArnOf, ramFor, stsFor, targetArnOf, trustPolicy } from '../support/accounts.ts';
import { ec2For, useEmulator } from '../support/emulator.ts';
import { expectEc2Error, parseQueryError, type RawResponse, send } from '../support/http.ts';
import { nlbTarget } from '../support/mirroring.ts';
import { must } from '../support/topology.ts';
import { isWellFormedXml } from '../support/xml.ts';

/**
 * The fuzzing of server-fuzz.test.ts, for the other protocols the emulator speaks: the JSON
 * protocols (EventBridge PutEvents on JSON 1.1, SQS on JSON 1.0, chosen by X-Amz-Target), RAM's
 * rest-json routes, the STS and IAM Query services, and SQS's Query protocol. Every answer must be a success or an error
 * of exactly that protocol's shape, 4xx, with the request id of its header; a refused request must
 * change nothing; and each service must still serve the real SDK afterwards.
 */

const RAM_MANAGEMENT = '650000000000';
const RAM_MEMBER = '650000000001';
const RAM_OUTSIDER = '660000000000';
const OU = 'ou-fuzz-11111111';
const env = useEmulator({
  organization: { managementAccount: RAM_MANAGEMENT, members: [RAM_MEMBER], units: { [OU]: [RAM_MEMBER] } },
});

/** Fixed seeds: a failure is the same failure on every machine. */
const SEED = 20_260_101;
const JSON_RUNS = 1000;
const RAM_RUNS = 1000;
const QUERY_ROUNDS = 2;
const QUERY_RUNS_PER_ROUND = 500;
const SQS_QUERY_RUNS = 600;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A SigV4 Authorization header whose credential scope selects the account and Region. */
const authorization = (account: string, region = 'us-east-1', service = 'events') =>
  `AWS4-HMAC-SHA256 Credential=${account}/20260101/${region}/${service}/aws4_request, SignedHeaders=host, Signature=0`;

const sdkConfig = (account: string) => ({
  endpoint: env.url,
  region: 'us-east-1',
  maxAttempts: 1,
  credentials: { accessKeyId: account, secretAccessKey: 'test' },
});

// ---- building JSON bodies ---------------------------------------------------------------------

/** JSON text put into a body as it is: nesting too deep for JSON.stringify to write. */
class Raw {
  constructor(readonly text: string) {}
}

/** A value as JSON text, with each Raw written as its text. Undefined (a dropped root) is an empty body. */
function render(value: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(value, (_key, v: unknown) =>
    v instanceof Raw ? `\u0000raw${raws.push(v.text) - 1}\u0000` : v,
  );
  if (text === undefined) return '';
  return text.replace(/"\\u0000raw(\d+)\\u0000"/g, (_, i: string) => raws[Number(i)] ?? '');
}

/** `depth` levels of arrays or objects, as text. */
const nested = (depth: number, kind: 'array' | 'object') =>
  kind === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : `${'{"a":'.repeat(depth)}0${'}'.repeat(depth)}`;

/** Depths around AWS's documented 1000 levels, and far past where a recursive writer overflows. */
const DEPTHS = [2, 40, 997, 998, 999, 1000, 1001, 5000, 60_000];

/** Values of the wrong type, shape or size for any member: the fuzzer's junk. */
const junk: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom<unknown>(
      null,
      true,
      false,
      0,
      -1,
      1,
      1.5,
      2 ** 53,
      -(2 ** 63),
      1e308,
      '',
      ' ',
    ),
  },
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 16 }) },
  { weight: 2, arbitrary: fc.constantFrom<unknown>([], {}, [[]], [{}], [null], { a: [] }) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(...DEPTHS), fc.constantFrom('array' as const, 'object' as const))
      .map(([depth, kind]) => new Raw(nested(depth, kind))),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown>(
      'x'.repeat(300_000),
      Array.from({ length: 3000 }, (_, i) => `item-${i}`),
      Array.from({ length: 200 }, () => ({ a: 1 })),
    ),
  },
);

type Path = (string | number)[];
const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Raw);

/** Every path in a value: the root, then each member and entry, depth first. */
/** Every member name the templates use, and these others, for bodies to be made of. */
function memberNames(templates: Record<string, unknown>, others: readonly string[]): string[] {
  const names = pathsOf(Object.values(templates)).flatMap((p) => p.filter((s) => typeof s === 'string'));
  return [...new Set(names), ...others];
}

function pathsOf(value: unknown, prefix: Path = []): Path[] {
  const out: Path[] = [prefix];
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) out.push(...pathsOf(v, [...prefix, i]));
  } else if (isRecord(value)) {
    for (const [k, v] of Object.entries(value)) out.push(...pathsOf(v, [...prefix, k]));
  }
  return out;
}

function at(root: unknown, path: Path): unknown {
  let node = root;
  for (const step of path) node = (node as Record<string | number, unknown>)[step];
  return node;
}

/** A fresh copy of a value to insert, so that no run changes the generators' shared constants. */
function copy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(copy);
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value))
    Object.defineProperty(out, k, { value: copy(v), enumerable: true, writable: true, configurable: true });
  return out;
}

interface Mutation {
  at: number;
  kind: 'set' | 'drop' | 'add' | 'repeat';
  key: string;
  value: unknown;
  times: number;
}

/** One change to a request: a member or entry replaced, removed or added, or a list made long or empty. */
function mutate(root: unknown, m: Mutation): unknown {
  const paths = pathsOf(root);
  const path = paths[m.at % paths.length] ?? [];
  const last = path[path.length - 1];
  const parent =
    path.length > 0 ? (at(root, path.slice(0, -1)) as Record<string | number, unknown>) : undefined;
  const node = at(root, path);
  const value = copy(m.value);
  switch (m.kind) {
    case 'set':
      if (!parent || last === undefined) return value;
      parent[last] = value;
      return root;
    case 'drop':
      if (!parent || last === undefined) return undefined;
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
      return root;
    case 'add':
      if (Array.isArray(node)) node.push(value);
      else if (isRecord(node)) {
        Object.defineProperty(node, m.key, { value, enumerable: true, writable: true, configurable: true });
      }
      return root;
    case 'repeat': {
      if (!Array.isArray(node)) return root;
      const item = node[0] ?? value;
      // Long lists of small entries, not bodies of hundreds of megabytes.
      const times = render(item).length * m.times > 4 * MAX_BODY_BYTES ? 2 : m.times;
      const list = Array.from({ length: times }, () => item);
      if (!parent || last === undefined) return list;
      parent[last] = list;
      return root;
    }
  }
}

/** A template bent by a few mutations, whose values come from `value`. */
function bend(template: unknown, value: fc.Arbitrary<unknown>, keys: readonly string[]) {
  const mutation: fc.Arbitrary<Mutation> = fc.record({
    at: fc.nat(),
    kind: fc.constantFrom('set', 'set', 'set', 'drop', 'add', 'repeat'),
    key: fc.constantFrom(...keys),
    value,
    times: fc.constantFrom(0, 2, 10, 11, 101, 3000),
  });
  const mutations = fc.oneof(
    { weight: 1, arbitrary: fc.constant([]) },
    { weight: 3, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }) },
  );
  return mutations.map((mutations) =>
    mutations.reduce<unknown>((root, m) => mutate(root, m), structuredClone(template)),
  );
}

/** Bodies that are not JSON, or not a JSON object, or JSON cut short. */
function nonsense(valid: fc.Arbitrary<string>): fc.Arbitrary<string | Uint8Array> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
    fc.tuple(valid, fc.nat()).map(([text, cut]) => text.slice(0, cut % Math.max(1, text.length))),
    fc.constantFrom('', ' ', 'null', '[]', '{}', '{"__proto__":{"Entries":1}}', '\uFEFF{}', '{"a":1}{"b":2}'),
    fc
      .tuple(fc.constantFrom(...DEPTHS), fc.constantFrom('array' as const, 'object' as const))
      .map(([depth, kind]) => nested(depth, kind)),
  );
}

/** The error of a JSON protocol: 4xx, `{"__type", "message"}` and the same code in `x-amzn-errortype`. */
function expectJsonError(response: RawResponse, contentType: RegExp): string {
  expect(response.status, response.body).toBeGreaterThanOrEqual(400);
  expect(response.status, response.body).toBeLessThan(500);
  expect(response.contentType).toMatch(contentType);
  const error = JSON.parse(response.body) as Record<string, unknown>;
  expect(Object.keys(error).sort(), response.body).toEqual(['__type', 'message']);
  expect(typeof error.__type).toBe('string');
  expect(typeof error.message).toBe('string');
  const type = error.__type as string;
  const code = type.includes('#') ? type.slice(type.indexOf('#') + 1) : type;
  expect(code).toMatch(/^[A-Za-z]+$/);
  expect(response.headers['x-amzn-errortype']).toBe(code);
  return code;
}

/** The error of RAM's rest-json: 4xx, `{"message"}`, the code in `x-amzn-errortype`. */
function expectRamError(response: RawResponse): string {
  expect(response.status, response.body).toBeGreaterThanOrEqual(400);
  expect(response.status, response.body).toBeLessThan(500);
  expect(response.contentType).toBe('application/json');
  const error = JSON.parse(response.body) as Record<string, unknown>;
  expect(Object.keys(error), response.body).toEqual(['message']);
  expect(typeof error.message).toBe('string');
  const code = response.headers['x-amzn-errortype'];
  expect(code, response.body).toMatch(/^[A-Za-z]+$/);
  return code as string;
}

const count = (seen: Map<string, number>, code: string) => seen.set(code, (seen.get(code) ?? 0) + 1);

// ---- JSON protocols: EventBridge and SQS ------------------------------------------------------

const JSON_A = '640000000001';
const JSON_B = '640000000002';

const TARGETS = [
  'AWSEvents.PutEvents',
  'AmazonSQS.CreateQueue',
  'AmazonSQS.GetQueueUrl',
  'AmazonSQS.SendMessage',
  'AmazonSQS.ReceiveMessage',
  'AmazonSQS.DeleteMessage',
] as const;

const ODD_TARGETS = [
  'AWSEvents.putevents',
  'AWSEvents.',
  '.PutEvents',
  'AWSEvents',
  'AWSEvents.constructor',
  'AWSEvents.__proto__',
  'AmazonSQS.hasOwnProperty',
  'AWSEvents.PutEvents.Extra',
  'AmazonSQS.PutEvents',
  'AWSEvents.SendMessage',
  'AmazonSQS.ListQueueTags',
  'DynamoDB_20120810.PutItem',
  '',
];

/** An SQS queue's state, cheaply: its messages and their receipt handles (bodies never change). */
const queuesOf = (world: World) =>
  [...world.queues.values()]
    .map((q) => `${q.url}:${q.messages.map((m) => `${m.messageId}/${m.receiptHandle ?? ''}`).join(',')}`)
    .join('\n');

test(`${JSON_RUNS} random JSON-protocol requests each get a success or a JSON error, and refused ones store nothing`, async () => {
  const sqs = new SQSClient(sdkConfig(JSON_A));
  const queue = await sqs.send(new CreateQueueCommand({ QueueName: 'fuzz-queue' }));
  const queueUrl = must(queue.QueueUrl, 'QueueUrl');
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'first' }));
  const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl }));
  const receiptHandle = must(received.Messages?.[0]?.ReceiptHandle, 'ReceiptHandle');

  const templates: Record<string, Record<string, unknown>> = {
    'AWSEvents.PutEvents': {
      Entries: [
        {
          Source: 'mirrorops.fuzz',
          DetailType: 'Fuzz',
          Detail: '{"n":1}',
          EventBusName: 'fuzz-bus',
          Resources: [`arn:aws:ec2:us-east-1:${JSON_A}:instance/i-1`],
        },
        { Source: 'mirrorops.fuzz', DetailType: 'Fuzz', Detail: '{"n":2,"list":[1,2]}' },
      ],
    },
    'AmazonSQS.CreateQueue': { QueueName: 'fuzz-created', Attributes: { VisibilityTimeout: '30' } },
    'AmazonSQS.GetQueueUrl': { QueueName: 'fuzz-queue' },
    'AmazonSQS.SendMessage': {
      QueueUrl: queueUrl,
      MessageBody: 'hello',
      MessageAttributes: { kind: { DataType: 'String', StringValue: 'fuzz' } },
    },
    'AmazonSQS.ReceiveMessage': { QueueUrl: queueUrl, MaxNumberOfMessages: 2 },
    'AmazonSQS.DeleteMessage': { QueueUrl: queueUrl, ReceiptHandle: receiptHandle },
  };
  const keys = memberNames(templates, [
    'Time',
    'TraceHeader',
    'EndpointId',
    'WaitTimeSeconds',
    '__proto__',
    'constructor',
  ]);
  const known = fc.constantFrom<unknown>(
    'mirrorops.fuzz',
    'Fuzz',
    '{"n":1}',
    '{}',
    '[]',
    '"text"',
    '{"a":',
    nested(1000, 'object'),
    `{"a":${nested(999, 'array')}}`,
    nested(1001, 'object'),
    'fuzz-bus',
    'default',
    `arn:aws:events:us-east-1:${JSON_A}:event-bus/fuzz-bus`,
    queueUrl,
    `${queueUrl}-missing`,
    'http://127.0.0.1:1/x/y',
    'fuzz-queue',
    'bad name!',
    'x.fifo',
    receiptHandle,
    1,
    10,
    11,
    0,
    '5',
    { DataType: 'Number', StringValue: '1' },
  );
  const value = fc.oneof({ weight: 3, arbitrary: known }, { weight: 2, arbitrary: junk });

  const target = fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom(...TARGETS) },
    { weight: 2, arbitrary: fc.constantFrom(...ODD_TARGETS) },
    { weight: 1, arbitrary: fc.stringMatching(/^[\x21-\x7e]{0,30}$/) },
  );
  const request = fc
    .record({
      target,
      template: fc.oneof(
        { weight: 5, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.constantFrom(...TARGETS) },
      ),
      contentType: fc.oneof(
        { weight: 6, arbitrary: fc.constant('application/x-amz-json-1.1') },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            'application/x-amz-json-1.0',
            'application/json',
            'text/plain',
            'application/x-www-form-urlencoded; charset=utf-8',
            '',
          ),
        },
      ),
      account: fc.constantFrom(JSON_A, JSON_A, JSON_B, 'not-an-account'),
      choice: fc.nat(9),
    })
    .chain(({ target, template, contentType, account, choice }) => {
      // Mostly the operation's own template (so the body reaches deep into it), sometimes another's.
      const key = template ?? target;
      const base = Object.hasOwn(templates, key) ? templates[key] : templates['AWSEvents.PutEvents'];
      const bent = bend(base, value, keys).map(render);
      const body = choice < 8 ? bent : nonsense(fc.constant(render(base)));
      return body.map((body) => ({ target, contentType, account, body }));
    });

  /** Every event the emulator's view lists (`GET /_emulator/events`). */
  const view = async () => {
    const response = await send(env.url, undefined, { method: 'GET', path: '/_emulator/events' });
    expect(response.status).toBe(200);
    return JSON.parse(response.body) as { id: string; account: string }[];
  };
  let listed = (await view()).length;

  const seen = { ok: 0, events: 0, errors: new Map<string, number>() };
  const eventIds = new Set<string>();
  const world = env.emulator.world;
  await fc.assert(
    fc.asyncProperty(request, async ({ target, contentType, account, body }) => {
      const events = world.events.length;
      const queues = queuesOf(world);
      const response = await send(env.url, body, {
        headers: {
          'x-amz-target': target,
          'content-type': contentType,
          authorization: authorization(account),
        },
      });
      expect(response.requestId).toMatch(UUID);
      if (response.status === 200) {
        seen.ok++;
        const out = JSON.parse(response.body) as Record<string, unknown>;
        expect(typeof out === 'object' && out !== null && !Array.isArray(out)).toBe(true);
        const stored = world.events.slice(events);
        if (target === 'AWSEvents.PutEvents') {
          expect(response.contentType).toBe('application/x-amz-json-1.1');
          const entries = out.Entries as { EventId?: string; ErrorCode?: string }[];
          const ids = entries.flatMap((e) => (e.EventId === undefined ? [] : [e.EventId]));
          expect(out.FailedEntryCount).toBe(entries.length - ids.length);
          // Exactly the entries that got an id were stored, in order, and nothing else.
          expect(stored.map((e) => e.id)).toEqual(ids);
          for (const id of ids) eventIds.add(id);
          seen.events += ids.length;
          listed += ids.length;
          expect((await view()).length).toBe(listed);
        } else {
          expect(response.contentType).toBe('application/x-amz-json-1.0');
          expect(stored).toEqual([]);
        }
        return;
      }
      const code = expectJsonError(response, /^application\/x-amz-json-1\.[01]$/);
      count(seen.errors, code);
      expect(world.events.length, `${code}: ${response.body}`).toBe(events);
      expect(queuesOf(world), `${code}: ${response.body}`).toBe(queues);
      // A refused PutEvents stored nothing, as the emulator's own view shows too.
      if (target === 'AWSEvents.PutEvents')
        expect((await view()).length, `${code}: ${response.body}`).toBe(listed);
    }),
    { numRuns: JSON_RUNS, seed: SEED },
  );

  // The generator reached into the operations: successes, and refusals from deep inside them.
  expect(seen.ok).toBeGreaterThan(JSON_RUNS / 10);
  expect(seen.events).toBeGreaterThan(0);
  for (const code of [
    'SerializationException',
    'ValidationException',
    'UnknownOperationException',
    'QueueDoesNotExist',
    'InvalidParameterValue',
  ]) {
    expect(seen.errors.get(code), code).toBeGreaterThan(0);
  }

  // What the emulator shows of its events is exactly what the successful calls said they stored.
  const fuzzed = (await view()).filter((e) => [JSON_A, JSON_B, '123456789012'].includes(e.account));
  expect(fuzzed.map((e) => e.id).sort()).toEqual([...eventIds].sort());

  // And the SDKs still work.
  const events = new EventBridgeClient(sdkConfig(JSON_A));
  const put = await events.send(
    new PutEventsCommand({
      Entries: [{ Source: 'mirrorops.after', DetailType: 'After', Detail: '{"ok":true}' }],
    }),
  );
  expect(put.FailedEntryCount).toBe(0);
  const sent = await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'after' }));
  expect(sent.MessageId).toBeDefined();
  const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }));
  expect(got.Messages?.length).toBeGreaterThan(0);
  const handle = must(got.Messages?.[0]?.ReceiptHandle, 'ReceiptHandle');
  await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: handle }));
}, 120_000);

// ---- RAM, rest-json ---------------------------------------------------------------------------

const RAM_ROUTES = {
  CreateResourceShare: '/createresourceshare',
  AssociateResourceShare: '/associateresourceshare',
  DisassociateResourceShare: '/disassociateresourceshare',
  GetResourceShares: '/getresourceshares',
  GetResourceShareAssociations: '/getresourceshareassociations',
  GetResourceShareInvitations: '/getresourceshareinvitations',
  AcceptResourceShareInvitation: '/acceptresourceshareinvitation',
  ListResources: '/listresources',
} as const;
type RamOperation = keyof typeof RAM_ROUTES;

/**
 * What RAM holds, as a string, for "a refused request changed nothing". An association's status
 * counts only as live or ended: reads complete associations even when the request is then refused
 * (emulator/README.md: reads stand for time passing).
 */
function ramState(world: World): string {
  const ram = world.ram;
  return JSON.stringify({
    shares: [...ram.shares.values()].map((s) => [
      s.arn,
      s.name,
      s.owner,
      s.region,
      s.allowExternalPrincipals,
      [...s.tags],
      s.status,
      ram
        .associationsOf(s)
        .map((a) => [
          a.type,
          a.entity,
          a.status === 'DISASSOCIATED' ? 'ended' : 'live',
          a.external,
          a.statusMessage ?? '',
          a.invitation?.arn ?? '',
        ]),
    ]),
    invitations: [...ram.invitations.values()].map((i) => [i.arn, i.receiver, i.status]),
    tokens: [...ram.tokens.keys()],
  });
}

test(`${RAM_RUNS} random RAM requests each get a success or RAM's error, and refused ones create nothing`, async () => {
  const owner = ramFor(env.url, RAM_MANAGEMENT);
  const outsider = ramFor(env.url, RAM_OUTSIDER);
  const t1 = targetArnOf(RAM_MANAGEMENT, await nlbTarget(ec2For(env.url, RAM_MANAGEMENT), RAM_MANAGEMENT));
  const t2 = targetArnOf(RAM_MANAGEMENT, await nlbTarget(ec2For(env.url, RAM_MANAGEMENT), RAM_MANAGEMENT));
  const t3 = targetArnOf(RAM_OUTSIDER, await nlbTarget(ec2For(env.url, RAM_OUTSIDER), RAM_OUTSIDER));
  const ou = ouArnOf(RAM_MANAGEMENT, OU);
  const shareOf = async (
    out: Promise<{ resourceShare?: { resourceShareArn?: string | undefined } | undefined }>,
  ) => must((await out).resourceShare?.resourceShareArn, 'resourceShareArn');
  const s1 = await shareOf(
    owner.send(
      new CreateResourceShareCommand({
        name: 'fuzz-share',
        resourceArns: [t1],
        principals: [RAM_MEMBER, RAM_OUTSIDER],
        tags: [{ key: 'k', value: 'v' }],
      }),
    ),
  );
  const s2 = await shareOf(
    outsider.send(
      new CreateResourceShareCommand({ name: 'outsider', resourceArns: [t3], principals: [RAM_MANAGEMENT] }),
    ),
  );
  const s3 = await shareOf(
    owner.send(new CreateResourceShareCommand({ name: 'closed', allowExternalPrincipals: false })),
  );
  const invitationOf = async (ram: typeof owner, share: string) =>
    must(
      (await ram.send(new GetResourceShareInvitationsCommand({ resourceShareArns: [share] })))
        .resourceShareInvitations?.[0]?.resourceShareInvitationArn,
      'resourceShareInvitationArn',
    );
  const i1 = await invitationOf(outsider, s1);
  const i2 = await invitationOf(owner, s2);
  // More pending invitations for the outsider, so that accepting one can succeed more than once.
  const invitations = [i1];
  for (const name of ['pending-1', 'pending-2', 'pending-3']) {
    const share = await shareOf(
      owner.send(new CreateResourceShareCommand({ name, principals: [RAM_OUTSIDER] })),
    );
    invitations.push(await invitationOf(outsider, share));
  }
  // A real page token, for one query; the fuzzer's other tokens are forged.
  const paged = await owner.send(new GetResourceSharesCommand({ resourceOwner: 'SELF', maxResults: 1 }));
  const realToken = must(paged.nextToken, 'nextToken');

  const templates: Record<RamOperation, Record<string, unknown>> = {
    CreateResourceShare: {
      name: 'fuzz',
      resourceArns: [t2],
      principals: [RAM_MEMBER],
      allowExternalPrincipals: true,
      tags: [{ key: 'k', value: 'v' }],
      clientToken: 'ct-1',
    },
    AssociateResourceShare: {
      resourceShareArn: s1,
      resourceArns: [t2],
      principals: [ou],
      clientToken: 'ct-2',
    },
    DisassociateResourceShare: { resourceShareArn: s1, principals: [RAM_MEMBER], resourceArns: [t1] },
    GetResourceShares: {
      resourceOwner: 'SELF',
      resourceShareArns: [s1],
      resourceShareStatus: 'ACTIVE',
      name: 'fuzz-share',
      tagFilters: [{ tagKey: 'k', tagValues: ['v'] }],
      principal: RAM_MEMBER,
      maxResults: 1,
    },
    GetResourceShareAssociations: {
      associationType: 'PRINCIPAL',
      resourceShareArns: [s1],
      principal: RAM_MEMBER,
      associationStatus: 'ASSOCIATED',
      maxResults: 2,
    },
    GetResourceShareInvitations: {
      resourceShareInvitationArns: [i1],
      resourceShareArns: [s1],
      maxResults: 5,
    },
    AcceptResourceShareInvitation: { resourceShareInvitationArn: i1 },
    ListResources: {
      resourceOwner: 'OTHER-ACCOUNTS',
      resourceType: 'ec2:TrafficMirrorTarget',
      resourceArns: [t1],
      resourceShareArns: [s1],
      resourceRegionScope: 'REGIONAL',
      maxResults: 3,
    },
  };
  const keys = memberNames(templates, [
    'nextToken',
    'permissionArns',
    'sources',
    'resourceShareConfiguration',
    '__proto__',
  ]);
  const token = (text: string) => Buffer.from(text).toString('base64url');
  const pageTokens = [
    realToken,
    token('null'),
    token('1'),
    token('"q"'),
    token('[]'),
    token('{}'),
    token('{"q":"x","s":1}'),
    token('{"q":null,"s":"1"}'),
    'not base64!',
  ];
  const known = fc.constantFrom<unknown>(
    s1,
    s2,
    s3,
    i1,
    i2,
    t1,
    t2,
    t3,
    ou,
    ouArnOf(RAM_MANAGEMENT, 'ou-fuzz-99999999'),
    ouArnOf(RAM_OUTSIDER, OU, 'o-otherorgid01'),
    `arn:aws:organizations::${RAM_MANAGEMENT}:organization/o-exampleorgid`,
    `arn:aws:iam::${RAM_MEMBER}:role/x`,
    `arn:aws:ec2:us-east-1:${RAM_MANAGEMENT}:subnet/subnet-1`,
    `arn:aws:ec2:us-east-1:${RAM_MANAGEMENT}:traffic-mirror-target/tmt-0123456789abcdef0`,
    'arn:aws:ram:us-east-1:1:resource-share/x',
    s1.replace(/.$/, '0'),
    i1.replace(/.$/, '0'),
    RAM_MANAGEMENT,
    RAM_MEMBER,
    RAM_OUTSIDER,
    '777777777777',
    '123',
    'SELF',
    'OTHER-ACCOUNTS',
    'PRINCIPAL',
    'RESOURCE',
    'SOURCE',
    'ACTIVE',
    'DELETED',
    'ASSOCIATED',
    'ASSOCIATING',
    'DISASSOCIATED',
    'ALL',
    'GLOBAL',
    'ec2:Subnet',
    ...pageTokens,
    ...invitations,
    'ct-1',
    'ct-2',
    'ct-4',
    'x'.repeat(65),
    1,
    2,
    500,
    501,
    0,
    -1,
    1.5,
    { key: 'aws:x', value: 'v' },
    { key: 'k2', value: 'v2' },
    { tagKey: 'k' },
  );
  const value = fc.oneof({ weight: 3, arbitrary: known }, { weight: 2, arbitrary: junk });
  const operations = Object.keys(RAM_ROUTES) as RamOperation[];
  /** Who each operation's template is meant for: invitations are the outsider's, shares the owner's. */
  const natural = (operation: RamOperation) =>
    operation === 'AcceptResourceShareInvitation' || operation === 'GetResourceShareInvitations'
      ? RAM_OUTSIDER
      : RAM_MANAGEMENT;
  const request = fc
    .record({
      operation: fc.constantFrom(...operations),
      template: fc.oneof(
        { weight: 5, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.constantFrom(...operations) },
      ),
      caller: fc.oneof(
        { weight: 3, arbitrary: fc.constant(undefined) },
        { weight: 2, arbitrary: fc.constantFrom(RAM_MANAGEMENT, RAM_MEMBER, RAM_OUTSIDER) },
      ),
      invitation: fc.constantFrom(...invitations),
      nextToken: fc.oneof(
        { weight: 3, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.constantFrom(...pageTokens) },
      ),
      region: fc.constantFrom('us-east-1', 'us-east-1', 'us-east-1', 'eu-west-1'),
      query: fc.constantFrom('', '', '', '?x=1'),
      // A few tokens, used again and again: the same request returns its first answer, another is refused.
      clientToken: fc.oneof(
        { weight: 2, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.constantFrom('ct-1', 'ct-2', 'ct-3') },
      ),
      choice: fc.nat(9),
    })
    .chain(({ operation, template, caller, invitation, nextToken, region, query, clientToken, choice }) => {
      const account = caller ?? natural(operation);
      const base: Record<string, unknown> = { ...templates[template ?? operation] };
      if (clientToken !== undefined) base.clientToken = clientToken;
      if (nextToken !== undefined) base.nextToken = nextToken;
      if (base.resourceShareInvitationArn !== undefined) base.resourceShareInvitationArn = invitation;
      const body = choice < 8 ? bend(base, value, keys).map(render) : nonsense(fc.constant(render(base)));
      return body.map((body) => ({ operation, account, region, path: RAM_ROUTES[operation] + query, body }));
    });

  const seen = { ok: new Map<string, number>(), errors: new Map<string, number>() };
  const world = env.emulator.world;
  await fc.assert(
    fc.asyncProperty(request, async ({ operation, account, region, path, body }) => {
      const before = ramState(world);
      const response = await send(env.url, body, {
        path,
        headers: { 'content-type': 'application/json', authorization: authorization(account, region, 'ram') },
      });
      expect(response.requestId).toMatch(UUID);
      if (response.status === 200) {
        count(seen.ok, operation);
        expect(response.contentType).toBe('application/json');
        const out = JSON.parse(response.body) as unknown;
        expect(isRecord(out)).toBe(true);
        return;
      }
      const code = expectRamError(response);
      count(seen.errors, code);
      expect(ramState(world), `${code}: ${response.body}`).toBe(before);
    }),
    { numRuns: RAM_RUNS, seed: SEED },
  );

  // Every operation succeeded sometimes, and refusals came from deep inside them.
  for (const operation of operations) expect(seen.ok.get(operation), operation).toBeGreaterThan(0);
  for (const code of [
    'SerializationException',
    'MissingRequiredParameterException',
    'InvalidParameterException',
    'MalformedArnException',
    'UnknownResourceException',
    'InvalidNextTokenException',
    'IdempotentParameterMismatchException',
  ]) {
    expect(seen.errors.get(code), code).toBeGreaterThan(0);
  }

  // The SDK reads back exactly the shares the emulator holds, whatever the fuzzer named them.
  const shares = await owner.send(new GetResourceSharesCommand({ resourceOwner: 'SELF' }));
  const held = [...world.ram.shares.values()]
    .filter((s) => s.owner === RAM_MANAGEMENT && s.region === 'us-east-1')
    .map((s) => s.arn);
  expect((shares.resourceShares ?? []).map((s) => s.resourceShareArn)).toEqual(held);
  const created = await owner.send(new CreateResourceShareCommand({ name: 'after', resourceArns: [t2] }));
  expect(created.resourceShare?.status).toBe('ACTIVE');
}, 120_000);

// ---- STS and IAM, Query -----------------------------------------------------------------------

const STS = { version: '2011-06-15', namespace: 'https://sts.amazonaws.com/doc/2011-06-15/' };
const IAM = { version: '2010-05-08', namespace: 'https://iam.amazonaws.com/doc/2010-05-08/' };
const SERVICE_OF: Record<string, typeof STS> = {
  AssumeRole: STS,
  GetCallerIdentity: STS,
  CreateRole: IAM,
  GetRole: IAM,
  DeleteRole: IAM,
};

/** Roles and sessions, as a string, for "a refused request changed nothing" (an empty account is none). */
const identityOf = (world: World) =>
  JSON.stringify({
    roles: [...world.roles]
      .map(([account, roles]): [string, unknown[]] => [
        account,
        [...roles.values()].map((r) => [
          r.name,
          r.id,
          r.path,
          r.document,
          r.description ?? '',
          r.maxSessionDuration,
          r.tags,
        ]),
      ])
      .filter(([, roles]) => roles.length > 0),
    sessions: world.roleSessions.size,
  });

const QUERY_NAMES = [
  'RoleArn',
  'RoleSessionName',
  'ExternalId',
  'DurationSeconds',
  'Policy',
  'PolicyArns.member.1.arn',
  'SerialNumber',
  'TokenCode',
  'SourceIdentity',
  'Tags.member.1.Key',
  'Tags.member.1.Value',
  'Tags.member.2.Key',
  'Tags.member.51.Key',
  'TransitiveTagKeys.member.1',
  'RoleName',
  'Path',
  'AssumeRolePolicyDocument',
  'Description',
  'MaxSessionDuration',
  'PermissionsBoundary',
];

test(`${QUERY_ROUNDS * QUERY_RUNS_PER_ROUND} random STS and IAM requests each get a success or an <ErrorResponse>, and refused ones change nothing`, async () => {
  const seen = { ok: new Map<string, number>(), errors: new Map<string, number>() };
  const world = env.emulator.world;
  for (let round = 0; round < QUERY_ROUNDS; round++) {
    const account = String(670_000_000_000 + round);
    const other = String(670_000_000_100 + round);
    const iam = iamFor(env.url, account);
    const r1 = must(
      (
        await iam.send(
          new CreateRoleCommand({ RoleName: 'fuzz-r1', AssumeRolePolicyDocument: trustPolicy(account) }),
        )
      ).Role?.Arn,
      'Role.Arn',
    );
    const r2 = must(
      (
        await iam.send(
          new CreateRoleCommand({
            RoleName: 'fuzz-r2',
            Path: '/fuzz/',
            AssumeRolePolicyDocument: trustPolicy(other, 'ext-1234'),
          }),
        )
      ).Role?.Arn,
      'Role.Arn',
    );
    const assumed = await stsFor(env.url, account).send(
      new AssumeRoleCommand({ RoleArn: r1, RoleSessionName: 'fuzz' }),
    );
    const session = must(keysFrom(assumed.Credentials).sessionToken, 'sessionToken');

    const statement = (extra: Record<string, unknown>) =>
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { AWS: account }, Action: 'sts:AssumeRole', ...extra }],
      });
    const templates: Record<string, Record<string, string>> = {
      AssumeRole: { RoleArn: r1, RoleSessionName: 'fuzz', DurationSeconds: '900', ExternalId: 'ext-1234' },
      GetCallerIdentity: {},
      CreateRole: {
        RoleName: 'fuzz-new',
        Path: '/fuzz/',
        AssumeRolePolicyDocument: trustPolicy(account),
        Description: 'fuzz',
        MaxSessionDuration: '3600',
        'Tags.member.1.Key': 'k',
        'Tags.member.1.Value': 'v',
      },
      GetRole: { RoleName: 'fuzz-r1' },
      DeleteRole: { RoleName: 'fuzz-new' },
    };
    const value = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.constantFrom(
          '',
          '0',
          '899',
          '900',
          '3600',
          '3601',
          '43200',
          '43201',
          '-1',
          '1e3',
          'true',
          r1,
          r2,
          r2.replace('/fuzz/', '/'),
          `arn:aws:iam::${account}:role/missing`,
          `arn:aws:iam::${account}:user/someone`,
          'arn:aws:iam::1:role/x',
          'fuzz-r1',
          'FUZZ-R1',
          'fuzz-r2',
          'fuzz-new',
          'a'.repeat(65),
          'bad name',
          '/',
          '/fuzz/',
          'fuzz',
          '//',
          '/a b/',
          'ext-1234',
          'x',
          trustPolicy(account),
          trustPolicy(other, 'ext-1234'),
          trustPolicy(r1),
          trustPolicy(`arn:aws:iam::${account}:role/missing`),
          trustPolicy('*'),
          statement({ Effect: 'Deny' }),
          statement({ Resource: '*' }),
          statement({ NotPrincipal: { AWS: account } }),
          statement({ Action: 's3:GetObject' }),
          statement({ Principal: { Service: 'ec2.amazonaws.com' } }),
          statement({ Condition: { NumericLessThan: { 'aws:MultiFactorAuthAge': '3600' } } }),
          statement({ Condition: { StringLike: { 'sts:RoleSessionName': 'fu*' } } }),
          JSON.stringify({ Version: '2099-01-01', Statement: [] }),
          '{}',
          'null',
          '[]',
          '{"Statement":[]}',
          '{"Statement":',
          `{"Statement":${nested(5000, 'array')}}`,
          nested(60_000, 'object'),
        ),
      },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
      { weight: 1, arbitrary: fc.integer().map(String) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
    );
    const name = fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...QUERY_NAMES) },
      {
        weight: 1,
        arbitrary: fc
          .tuple(fc.constantFrom(...QUERY_NAMES), fc.constantFrom('.0', '.x', '.', '..', '.member.0.Key'))
          .map(([n, suffix]) => n + suffix),
      },
      { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
    );
    const actions = [...Object.keys(templates), 'AssumeRoleWithSAML', 'ListRoles', 'constructor', ''];
    const bent = fc
      .record({
        action: fc.constantFrom(...Object.keys(templates)),
        keep: fc.array(fc.nat(9), { minLength: 8, maxLength: 8 }),
        swaps: fc.array(fc.tuple(fc.nat(7), value), { maxLength: 2 }),
        extra: fc.array(fc.tuple(name, value), { maxLength: 2 }),
      })
      .map(({ action, keep, swaps, extra }) => {
        const params = Object.entries(templates[action] ?? {}).filter((_, i) => keep[i] !== 0);
        for (const [i, v] of swaps) {
          const entry = params[i % Math.max(1, params.length)];
          if (entry) entry[1] = v;
        }
        const service = SERVICE_OF[action] ?? STS;
        return { action, version: service.version, params: [...params, ...extra] };
      });
    const nearlyRight = fc.record({
      action: fc.constantFrom(...actions),
      version: fc.constantFrom(STS.version, IAM.version),
      params: fc.array(fc.tuple(name, value), { maxLength: 6 }),
    });
    const request = fc.record({
      call: fc.oneof({ weight: 4, arbitrary: bent }, { weight: 1, arbitrary: nearlyRight }),
      get: fc.boolean(),
      token: fc.constantFrom(undefined, undefined, session, 'not-a-session-token'),
      region: fc.constantFrom('us-east-1', 'eu-west-1'),
    });

    await fc.assert(
      fc.asyncProperty(request, async ({ call, get, token, region }) => {
        const { action, version, params } = call;
        const pairs: [string, string][] = [['Version', version], ...params];
        if (action) pairs.unshift(['Action', action]);
        const form = new URLSearchParams(pairs);
        const body = form.toString();
        const namespace = version === STS.version ? STS.namespace : IAM.namespace;
        const before = identityOf(world);
        // GET carries the parameters in the URL, which Node caps with the headers (16 KiB).
        const byGet = get && body.length < 4000;
        const response = await send(env.url, byGet ? undefined : body, {
          method: byGet ? 'GET' : 'POST',
          path: byGet ? `/?${body}` : '/',
          headers: {
            authorization: authorization(account, region, version === STS.version ? 'sts' : 'iam'),
            ...(token === undefined ? {} : { 'x-amz-security-token': token }),
          },
        });
        expect(response.requestId).toMatch(UUID);
        expect(isWellFormedXml(response.body), response.body).toBe(true);
        expect(response.contentType).toMatch(/^text\/xml/);
        if (response.status === 200) {
          count(seen.ok, action);
          expect(response.body).toMatch(
            new RegExp(
              `^<\\?xml version="1\\.0" encoding="UTF-8"\\?>\\n<${action}Response xmlns="${namespace}">`,
            ),
          );
          expect(response.body).toContain(
            `<ResponseMetadata><RequestId>${response.requestId}</RequestId></ResponseMetadata></${action}Response>`,
          );
          return;
        }
        const error = parseQueryError(response.body);
        expect(error, response.body).toBeDefined();
        expect(error?.namespace).toBe(namespace);
        expect(error?.type).toBe('Sender');
        expect(error?.requestId).toBe(response.requestId);
        expect([400, 403, 404, 409, 413], `${error?.code}: ${error?.message}`).toContain(response.status);
        count(seen.errors, error?.code ?? '');
        expect(identityOf(world), `${error?.code}: ${error?.message}`).toBe(before);
      }),
      { numRuns: QUERY_RUNS_PER_ROUND, seed: SEED + round },
    );
  }

  for (const action of Object.keys(SERVICE_OF)) expect(seen.ok.get(action), action).toBeGreaterThan(0);
  for (const code of [
    'MissingAction',
    'InvalidAction',
    'ValidationError',
    'AccessDenied',
    'MalformedPolicyDocument',
    'NoSuchEntity',
    'EntityAlreadyExists',
  ]) {
    expect(seen.errors.get(code), code).toBeGreaterThan(0);
  }

  // The SDKs still work.
  const account = '670000000999';
  const iam = iamFor(env.url, account);
  const created = await iam.send(
    new CreateRoleCommand({ RoleName: 'after', AssumeRolePolicyDocument: trustPolicy(account) }),
  );
  const got = await iam.send(new GetRoleCommand({ RoleName: 'after' }));
  expect(got.Role?.Arn).toBe(created.Role?.Arn);
  const sts = stsFor(env.url, account);
  const assumed = await sts.send(
    new AssumeRoleCommand({ RoleArn: must(created.Role?.Arn, 'Arn'), RoleSessionName: 'after' }),
  );
  const who = await stsFor(env.url, keysFrom(assumed.Credentials)).send(new GetCallerIdentityCommand({}));
  expect(who.Arn).toBe(`arn:aws:sts::${account}:assumed-role/after/after`);
}, 120_000);

// ---- SQS, Query ------------------------------------------------------------------------------

const SQS_QUERY = { version: '2012-11-05', namespace: 'http://queue.amazonaws.com/doc/2012-11-05/' };

const SQS_QUERY_NAMES = [
  'QueueName',
  'QueueUrl',
  'MessageBody',
  'ReceiptHandle',
  'MaxNumberOfMessages',
  'DelaySeconds',
  'Attribute.1.Name',
  'Attribute.1.Value',
  'Tag.1.Key',
  'Tag.1.Value',
  'AttributeName.1',
  'AttributeName.2',
  'MessageSystemAttributeName.1',
  'MessageAttributeName.1',
  'MessageAttribute.1.Name',
  'MessageAttribute.1.Value.DataType',
  'MessageAttribute.1.Value.StringValue',
  'MessageAttribute.1.Value.BinaryValue',
  'MessageAttribute.11.Name',
];

test(`${SQS_QUERY_RUNS} random SQS Query requests each get a success or SQS's <ErrorResponse>, and refused ones change nothing`, async () => {
  const account = '690000000001';
  const auth = { authorization: authorization(account, 'us-east-1', 'sqs') };
  const call = (params: Record<string, string>) =>
    send(env.url, new URLSearchParams({ Version: SQS_QUERY.version, ...params }).toString(), {
      headers: auth,
    });
  const element = (xml: string, name: string) =>
    new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1] ?? '';
  const queueUrl = element((await call({ Action: 'CreateQueue', QueueName: 'fuzz-query' })).body, 'QueueUrl');
  expect(queueUrl).toBe(`${env.url}/${account}/fuzz-query`);
  await call({ Action: 'SendMessage', QueueUrl: queueUrl, MessageBody: 'first' });
  const receiptHandle = element(
    (await call({ Action: 'ReceiveMessage', QueueUrl: queueUrl })).body,
    'ReceiptHandle',
  );
  expect(receiptHandle).toMatch(UUID);

  const templates: Record<string, Record<string, string>> = {
    CreateQueue: {
      QueueName: 'fuzz-query-2',
      'Attribute.1.Name': 'VisibilityTimeout',
      'Attribute.1.Value': '30',
      'Tag.1.Key': 'k',
      'Tag.1.Value': 'v',
    },
    GetQueueUrl: { QueueName: 'fuzz-query' },
    SendMessage: {
      QueueUrl: queueUrl,
      MessageBody: 'hello',
      'MessageAttribute.1.Name': 'kind',
      'MessageAttribute.1.Value.DataType': 'String',
      'MessageAttribute.1.Value.StringValue': 'fuzz',
    },
    ReceiveMessage: {
      QueueUrl: queueUrl,
      MaxNumberOfMessages: '2',
      'AttributeName.1': 'All',
      'MessageAttributeName.1': 'All',
    },
    DeleteMessage: { QueueUrl: queueUrl, ReceiptHandle: receiptHandle },
  };
  const value = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.constantFrom(
        '',
        '0',
        '1',
        '10',
        '11',
        '-1',
        '1.5',
        ' 5',
        'All',
        '.*',
        'kind',
        'k.*',
        'SentTimestamp',
        'String',
        'Number.int',
        'Binary',
        'Text',
        'AAEC',
        'AWS.reserved',
        'a..b',
        queueUrl,
        `${queueUrl}-missing`,
        'http://127.0.0.1:1/x/y',
        'fuzz-query',
        'bad name!',
        'x.fifo',
        'a'.repeat(81),
        receiptHandle,
        'x'.repeat(300_000),
        '<&>',
      ),
    },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  );
  const name = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...SQS_QUERY_NAMES) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom(...SQS_QUERY_NAMES), fc.constantFrom('.0', '.x', '.', '..', '.1.Name'))
        .map(([n, suffix]) => n + suffix),
    },
    { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
  );
  const actions = [...Object.keys(templates), 'ListQueues', 'PurgeQueue', 'constructor', ''];
  const bent = fc
    .record({
      action: fc.constantFrom(...Object.keys(templates)),
      keep: fc.array(fc.nat(9), { minLength: 5, maxLength: 5 }),
      swaps: fc.array(fc.tuple(fc.nat(4), value), { maxLength: 2 }),
      extra: fc.array(fc.tuple(name, value), { maxLength: 2 }),
    })
    .map(({ action, keep, swaps, extra }) => {
      const params = Object.entries(templates[action] ?? {}).filter((_, i) => keep[i] !== 0);
      for (const [i, v] of swaps) {
        const entry = params[i % Math.max(1, params.length)];
        if (entry) entry[1] = v;
      }
      return { action, params: [...params, ...extra] };
    });
  const nearlyRight = fc.record({
    action: fc.constantFrom(...actions),
    params: fc.array(fc.tuple(name, value), { maxLength: 6 }),
  });
  const request = fc.record({
    call: fc.oneof({ weight: 4, arbitrary: bent }, { weight: 1, arbitrary: nearlyRight }),
    get: fc.boolean(),
    // The queue's URL as the path names the queue when QueueUrl is left out.
    path: fc.constantFrom('/', '/', new URL(queueUrl).pathname, `/${account}/missing`, '/x/y/z'),
  });

  const seen = { ok: new Map<string, number>(), errors: new Map<string, number>() };
  const world = env.emulator.world;
  await fc.assert(
    fc.asyncProperty(request, async ({ call: { action, params }, get, path }) => {
      const pairs: [string, string][] = [['Version', SQS_QUERY.version], ...params];
      if (action) pairs.unshift(['Action', action]);
      const body = new URLSearchParams(pairs).toString();
      const before = queuesOf(world);
      // GET carries the parameters in the URL, which Node caps with the headers (16 KiB).
      const byGet = get && body.length < 4000;
      const response = await send(env.url, byGet ? undefined : body, {
        method: byGet ? 'GET' : 'POST',
        path: byGet ? `${path}?${body}` : path,
        headers: auth,
      });
      expect(response.requestId).toMatch(UUID);
      expect(isWellFormedXml(response.body), response.body).toBe(true);
      expect(response.contentType).toMatch(/^text\/xml/);
      if (response.status === 200) {
        count(seen.ok, action);
        expect(response.body).toMatch(
          new RegExp(
            `^<\\?xml version="1\\.0" encoding="UTF-8"\\?>\\n<${action}Response xmlns="${SQS_QUERY.namespace}">`,
          ),
        );
        expect(response.body).toContain(
          `<ResponseMetadata><RequestId>${response.requestId}</RequestId></ResponseMetadata></${action}Response>`,
        );
        return;
      }
      const error = parseQueryError(response.body);
      expect(error, response.body).toBeDefined();
      expect(error?.namespace).toBe(SQS_QUERY.namespace);
      expect(error?.type).toBe('Sender');
      expect(error?.requestId).toBe(response.requestId);
      // 400, but for the codes SQS's model gives another status.
      const statuses: Record<string, number> = {
        ReceiptHandleIsInvalid: 404,
        'AWS.SimpleQueueService.PurgeQueueInProgress': 403,
      };
      expect(response.status, `${error?.code}: ${error?.message}`).toBe(statuses[error?.code ?? ''] ?? 400);
      count(seen.errors, error?.code ?? '');
      expect(queuesOf(world), `${error?.code}: ${error?.message}`).toBe(before);
    }),
    { numRuns: SQS_QUERY_RUNS, seed: SEED },
  );

  for (const action of Object.keys(templates)) expect(seen.ok.get(action), action).toBeGreaterThan(0);
  for (const code of [
    'MissingAction',
    'InvalidAction',
    'MissingParameter',
    'InvalidParameterValue',
    'AWS.SimpleQueueService.NonExistentQueue',
    'ReceiptHandleIsInvalid',
  ]) {
    expect(seen.errors.get(code), code).toBeGreaterThan(0);
  }

  // The service still answers, on both protocols, for the queues the fuzzing used.
  const sqs = new SQSClient(sdkConfig(account));
  expect((await sqs.send(new GetQueueUrlCommand({ QueueName: 'fuzz-query' }))).QueueUrl).toBe(queueUrl);
  const afterUrl = element(
    (await call({ Action: 'CreateQueue', QueueName: 'fuzz-query-after' })).body,
    'QueueUrl',
  );
  await call({ Action: 'SendMessage', QueueUrl: afterUrl, MessageBody: 'after' });
  const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: afterUrl, MaxNumberOfMessages: 10 }));
  expect(got.Messages?.map((m) => m.Body)).toEqual(['after']);
}, 120_000);

describe('regressions the fuzzing found', () => {
  const jsonHeaders = (target: string, account = '680000000000') => ({
    'x-amz-target': target,
    'content-type': 'application/x-amz-json-1.1',
    authorization: authorization(account),
  });
  /** The events the emulator's view lists for a source (read through `GET /_emulator/events`). */
  const eventsFrom = async (source: string) => {
    const view = await send(env.url, undefined, {
      method: 'GET',
      path: `/_emulator/events?source=${source}`,
    });
    expect(view.status).toBe(200);
    return JSON.parse(view.body) as { id: string; detail: unknown }[];
  };

  test('a PutEvents refused for a member of the wrong type in a later entry stores none of its entries', async () => {
    const valid = { Source: 'regression.partial', DetailType: 'T', Detail: '{"n":1}' };
    for (const bad of [
      { ...valid, Source: 5 },
      { ...valid, Resources: 'arn:aws:ec2:us-east-1:680000000000:instance/i-1' },
      { ...valid, EventBusName: ['default'] },
      { Source: [[]], DetailType: 'T', Detail: '{}' },
    ]) {
      const response = await send(env.url, JSON.stringify({ Entries: [valid, valid, bad] }), {
        headers: jsonHeaders('AWSEvents.PutEvents'),
      });
      expect(expectJsonError(response, /^application\/x-amz-json-1\.1$/)).toBe('ValidationException');
    }
    expect(await eventsFrom('regression.partial')).toEqual([]);
  });

  test('JSON nested more than 1000 levels deep is SerializationException (JSON protocols and RAM), never a 500', async () => {
    const entry = (extra: string) =>
      `{"Entries":[{"Source":"regression.deep","DetailType":"T","Detail":"{}","Extra":${extra}}]}`;
    // The body's own three levels (object, Entries, entry) and the member's: 1000 in all is read.
    const ok = await send(env.url, entry(nested(997, 'array')), {
      headers: jsonHeaders('AWSEvents.PutEvents'),
    });
    expect(ok.status, ok.body).toBe(200);
    for (const depth of [998, 5000, 200_000]) {
      const deep = await send(env.url, entry(nested(depth, 'array')), {
        headers: jsonHeaders('AWSEvents.PutEvents'),
      });
      expect(expectJsonError(deep, /^application\/x-amz-json-1\.1$/)).toBe('SerializationException');
    }
    expect(await eventsFrom('regression.deep')).toHaveLength(1);

    const queueUrl = must(
      (
        await new SQSClient(sdkConfig('680000000000')).send(
          new CreateQueueCommand({ QueueName: 'regression-deep' }),
        )
      ).QueueUrl,
      'QueueUrl',
    );
    const message = await send(
      env.url,
      `{"QueueUrl":"${queueUrl}","MessageBody":"b","MessageAttributes":{"a":${nested(5000, 'object')}}}`,
      { headers: { ...jsonHeaders('AmazonSQS.SendMessage'), 'content-type': 'application/x-amz-json-1.0' } },
    );
    expect(expectJsonError(message, /^application\/x-amz-json-1\.0$/)).toBe('SerializationException');
    expect(JSON.parse(message.body).__type).toBe('com.amazonaws.sqs#SerializationException');

    for (const path of Object.values(RAM_ROUTES)) {
      const ram = await send(env.url, `{"resourceOwner":"SELF","x":${nested(5000, 'array')}}`, { path });
      expect(expectRamError(ram), path).toBe('SerializationException');
    }
    // Nothing deep was kept: the server answers these reads as before.
    const shares = await ramFor(env.url, '680000000000').send(
      new GetResourceSharesCommand({ resourceOwner: 'SELF' }),
    );
    expect(shares.resourceShares).toEqual([]);
  });

  test('a Detail nested more than 1000 levels deep fails its entry alone, and the events view still answers', async () => {
    const detail = (depth: number) => `{"a":${nested(depth - 1, 'array')}}`;
    const entry = (depth: number) => ({
      Source: 'regression.detail',
      DetailType: 'T',
      Detail: detail(depth),
    });
    const response = await send(
      env.url,
      JSON.stringify({ Entries: [entry(1000), entry(1001), entry(60_000)] }),
      {
        headers: jsonHeaders('AWSEvents.PutEvents'),
      },
    );
    expect(response.status, response.body).toBe(200);
    const out = JSON.parse(response.body) as { FailedEntryCount: number; Entries: Record<string, string>[] };
    expect(out.FailedEntryCount).toBe(2);
    expect(out.Entries[1]).toEqual({ ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' });
    expect(out.Entries[2]).toEqual({ ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' });
    // The view writes the stored detail back (1000 levels inside the list and the event): it answers.
    const stored = await eventsFrom('regression.detail');
    expect(stored.map((e) => e.id)).toEqual([out.Entries[0]?.EventId]);
    let depth = 0;
    for (let node: unknown = stored[0]?.detail; typeof node === 'object' && node !== null; depth++) {
      node = Array.isArray(node) ? node[0] : (node as Record<string, unknown>).a;
    }
    expect(depth).toBe(1000);
  });

  test('a RAM page token that decodes to JSON null, or to anything but an object RAM wrote, is InvalidNextTokenException', async () => {
    const ram = ramFor(env.url, RAM_MANAGEMENT);
    for (const text of ['null', '1', '"q"', '[]', 'true', '{}']) {
      const nextToken = Buffer.from(text).toString('base64url');
      for (const path of ['/getresourceshares', '/listresources']) {
        const response = await send(env.url, JSON.stringify({ resourceOwner: 'SELF', nextToken }), { path });
        expect(expectRamError(response), `${path} ${text}`).toBe('InvalidNextTokenException');
      }
      await expect(
        ram.send(new GetResourceSharesCommand({ resourceOwner: 'SELF', nextToken })),
      ).rejects.toMatchObject({ name: 'InvalidNextTokenException', $metadata: { httpStatusCode: 400 } });
    }
  });

  test('a body too large is refused in the shape of the protocol its headers or path name', async () => {
    const big = 'x'.repeat(MAX_BODY_BYTES + 1);
    const json = await send(env.url, big, { headers: jsonHeaders('AWSEvents.PutEvents') });
    expect(json.status).toBe(413);
    expect(expectJsonError(json, /^application\/x-amz-json-1\.1$/)).toBe('RequestEntityTooLarge');
    const sqs = await send(env.url, big, { headers: jsonHeaders('AmazonSQS.SendMessage') });
    expect(expectJsonError(sqs, /^application\/x-amz-json-1\.0$/)).toBe('RequestEntityTooLarge');
    expect(JSON.parse(sqs.body).__type).toBe('com.amazonaws.sqs#RequestEntityTooLarge');
    const ram = await send(env.url, big, { path: '/createresourceshare' });
    expect(ram.status).toBe(413);
    expect(expectRamError(ram)).toBe('RequestEntityTooLarge');
    expect(JSON.parse(ram.body)).toEqual({ message: `The request body exceeds ${MAX_BODY_BYTES} bytes` });
    for (const [version, namespace] of [
      [STS.version, STS.namespace],
      [IAM.version, IAM.namespace],
    ]) {
      const query = await send(env.url, `Action=CreateRole&Version=${version}&Policy=${big}`);
      expect(query.status).toBe(413);
      const error = parseQueryError(query.body);
      expect(error, query.body).toMatchObject({ namespace, type: 'Sender', code: 'RequestEntityTooLarge' });
      expect(error?.requestId).toBe(query.requestId);
    }

    // And so the SDKs read them as errors with a name, not as answers they cannot parse.
    const events = new EventBridgeClient(sdkConfig('680000000000'));
    await expect(
      events.send(
        new PutEventsCommand({
          Entries: [{ Source: 'regression.big', DetailType: 'T', Detail: JSON.stringify({ pad: big }) }],
        }),
      ),
    ).rejects.toMatchObject({ name: 'RequestEntityTooLarge', $metadata: { httpStatusCode: 413 } });
    await expect(
      ramFor(env.url, RAM_MANAGEMENT).send(new CreateResourceShareCommand({ name: big })),
    ).rejects.toMatchObject({ name: 'RequestEntityTooLarge', $metadata: { httpStatusCode: 413 } });
    await expect(
      stsFor(env.url, '680000000000').send(
        new AssumeRoleCommand({
          RoleArn: 'arn:aws:iam::680000000000:role/r',
          RoleSessionName: 's',
          Policy: big,
        }),
      ),
    ).rejects.toMatchObject({ name: 'RequestEntityTooLarge', $metadata: { httpStatusCode: 413 } });
    await expect(
      iamFor(env.url, '680000000000').send(
        new CreateRoleCommand({ RoleName: 'big', AssumeRolePolicyDocument: big }),
      ),
    ).rejects.toMatchObject({ name: 'RequestEntityTooLarge', $metadata: { httpStatusCode: 413 } });
    expect(await eventsFrom('regression.big')).toEqual([]);
  });

  test('an exception the emulator did not plan for is answered 500 InternalError, not left without an answer', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const broken = vi.spyOn(ec2Actions, 'DescribeVpcs').mockImplementation(() => {
      throw new TypeError('a bug in a handler');
    });
    try {
      // Before, a request whose body had been read looked like a client gone away: no answer ever came.
      const response = await send(env.url, 'Action=DescribeVpcs&Version=2016-11-15');
      expect(expectEc2Error(response, 500, 'InternalError')).toBe('The emulator failed: a bug in a handler');
      expect(logged).toHaveBeenCalledTimes(1);
      await expect(ec2For(env.url).send(new DescribeVpcsCommand({}))).rejects.toMatchObject({
        name: 'InternalError',
        $metadata: { httpStatusCode: 500 },
      });
    } finally {
      broken.mockRestore();
      logged.mockRestore();
    }
    const out = await ec2For(env.url).send(new DescribeVpcsCommand({}));
    expect(out.$metadata.httpStatusCode).toBe(200);
  });
});
