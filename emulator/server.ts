import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  Delivery,
  injectTraffic,
  parseTrafficRequest,
  TrafficInputError,
  UnknownInterfaceError,
} from './dataplane/index.ts';
import { ec2Actions } from './ec2/index.ts';
import { ELBV2_VERSION, elbv2Service, setTargetHealth } from './elbv2/service.ts';
import { ApiError } from './errors.ts';
import { bucketOf, type Clock, FaultInjector, type Faults, internalError } from './faults.ts';
import { JsonAccessDenied } from './identity/authorize.ts';
import { enforceEc2, enforceJson, enforceQuery, enforceRam } from './identity/enforce.ts';
import { callerOf, QUERY_SERVICES, type QueryService } from './identity/index.ts';
import { serviceCredentials } from './identity/sts.ts';
import { type Params, parseForm } from './query.ts';
import { RAM_ROUTES, ramOperations } from './ram/service.ts';
import type { Organization } from './ram/state.ts';
import { eventsService } from './services/events.ts';
import { type JsonService, jsonError, parseJsonBody } from './services/json.ts';
import { sqsClockMoved, sqsService, stopSqs, useSqsClock } from './services/sqs.ts';
import { answerSqsQuery, SQS_VERSION } from './services/sqs-query.ts';
import { type AccountLimits, AWS_ACCOUNT_LIMITS, World } from './state.ts';
import { ec2Error, ec2Response, queryError, queryResponse } from './xml.ts';

export const DEFAULT_ACCOUNT = '123456789012';
export const DEFAULT_REGION = 'us-east-1';
export const EC2_VERSION = '2016-11-15';
/** Largest request body read; EC2 documents none, and the largest real ones (user data) are far below. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** Past this much, an oversized body is no longer drained but the connection is cut. */
const MAX_DRAIN_BYTES = 64 * MAX_BODY_BYTES;

export interface EmulatorOptions {
  port?: number;
  host?: string;
  faults?: Faults;
  /**
   * The emulator's clock in milliseconds: EC2's token buckets refill by it, and SQS's visibility
   * timeouts, delays, retention and long polls follow it. Tests hold it still to count a burst
   * exactly, or move it (then call `clockMoved`) instead of sleeping.
   */
  clock?: Clock;
  /**
   * An AWS Organization with RAM sharing enabled: sharing between its accounts (the management
   * account and the members) needs no invitation. Without it every account stands alone. Its
   * optional `units` are OUs a share may name as a principal (`id` is the organisation's id in their ARNs).
   */
  organization?: Organization;
  /**
   * Where mirrored traffic goes (the data plane, `POST /_emulator/traffic`): target id (`tmt-...`)
   * or `*` -> `HOST:PORT`. Without an entry a target delivers to 127.0.0.1:4789.
   */
  delivery?: Record<string, string>;
  /**
   * Traffic Mirroring's quotas per account and Region, lower than AWS's 10,000 (the default) so
   * that a test reaches one in a few requests. Whole numbers from 1 to 10,000.
   */
  limits?: Partial<AccountLimits>;
}

const TWELVE_DIGITS = /^\d{12}$/;

/** Checks the organisation option, so that a typo fails at start instead of sharing wrongly. */
export function checkOrganization(organization: Organization): void {
  const { managementAccount, members } = organization;
  if (typeof managementAccount !== 'string' || !TWELVE_DIGITS.test(managementAccount)) {
    throw new RangeError(
      `organization.managementAccount must be a twelve-digit account id, got '${String(managementAccount)}'`,
    );
  }
  if (!Array.isArray(members)) throw new RangeError('organization.members must be a list of account ids');
  for (const member of members) {
    if (typeof member !== 'string' || !TWELVE_DIGITS.test(member)) {
      throw new RangeError(`organization.members must be twelve-digit account ids, got '${String(member)}'`);
    }
  }
  const { id, units } = organization;
  if (id !== undefined && (typeof id !== 'string' || !/^o-[a-z0-9]{10,32}$/.test(id))) {
    throw new RangeError(
      `organization.id must be o- and 10 to 32 lower-case letters or digits, got '${String(id)}'`,
    );
  }
  for (const [unit, accounts] of Object.entries(units ?? {})) {
    if (!/^ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}$/.test(unit)) {
      throw new RangeError(`organization.units keys must be OU ids (ou-abcd-11111111), got '${unit}'`);
    }
    if (!Array.isArray(accounts))
      throw new RangeError(`organization.units['${unit}'] must be a list of account ids`);
    for (const account of accounts) {
      if (account !== managementAccount && !members.includes(account)) {
        throw new RangeError(
          `organization.units['${unit}'] must list accounts of the organisation, got '${String(account)}'`,
        );
      }
    }
  }
}

/** Checks the limits option: a whole number from 1 to AWS's value for each quota given, no other key. */
export function checkLimits(limits: Partial<AccountLimits>): void {
  for (const [key, value] of Object.entries(limits)) {
    if (!Object.hasOwn(AWS_ACCOUNT_LIMITS, key)) {
      throw new RangeError(`limits.${key} is not a quota (${Object.keys(AWS_ACCOUNT_LIMITS).join(', ')})`);
    }
    const most = AWS_ACCOUNT_LIMITS[key as keyof AccountLimits];
    if (!Number.isInteger(value) || value < 1 || value > most) {
      throw new RangeError(`limits.${key} must be a whole number from 1 to ${most}, got ${String(value)}`);
    }
  }
}

export interface Emulator {
  url: string;
  /** Everything the emulator holds; for the demo and for reading, tests act through the SDK. */
  world: World;
  faults: FaultInjector;
  /** Where each target's VXLAN goes: `delivery.set('*' | 'tmt-...', 'HOST:PORT' | undefined)`. */
  delivery: Delivery;
  /** Says the clock option moved: SQS ReceiveMessage calls waiting in a long poll look again at once. */
  clockMoved(): void;
  stop(): Promise<void>;
}

/**
 * The caller's account and Region, from the SigV4 credential (the signature is not checked):
 * the Authorization header, or `X-Amz-Credential` of a presigned GET. An access key id of twelve
 * digits selects that account, any other the default.
 */
export function caller(req: IncomingMessage, p: Params): { account: string; region: string } {
  const auth = req.headers.authorization ?? '';
  const scope = /Credential=([^,\s]+)/.exec(auth)?.[1] ?? p.str('X-Amz-Credential') ?? '';
  const [key = '', , region] = scope.split('/');
  return {
    account: /^\d{12}$/.test(key) ? key : DEFAULT_ACCOUNT,
    region: region && /^[a-z0-9-]{1,32}$/.test(region) ? region : DEFAULT_REGION,
  };
}

/** The session token of temporary credentials: a header, or `X-Amz-Security-Token` of a presigned GET. */
function sessionTokenOf(req: IncomingMessage, p: Params): string | undefined {
  const header = req.headers['x-amz-security-token'];
  return typeof header === 'string' ? header : p.str('X-Amz-Security-Token');
}

class BodyTooLarge extends ApiError {
  /** `head`: the body's first MAX_BODY_BYTES, read before it was found too large. */
  constructor(
    readonly drained: boolean,
    readonly head = '',
  ) {
    super('RequestEntityTooLarge', `The request body exceeds ${MAX_BODY_BYTES} bytes`, 413);
  }
}

/**
 * The whole body. An oversized one is read to its end and dropped, so that the client, still
 * sending, is not cut off before it can read the 413; past MAX_DRAIN_BYTES the connection is cut.
 */
async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    else if (size > MAX_DRAIN_BYTES) throw new BodyTooLarge(false);
  }
  if (size > MAX_BODY_BYTES) throw new BodyTooLarge(true, Buffer.concat(chunks).toString('utf8'));
  return Buffer.concat(chunks).toString('utf8');
}

/** The Query parameters: the URL's for GET; for POST the URL's then the form body's, as EC2 reads both. */
function queryOf(req: IncomingMessage, body: string): string {
  const url = req.url ?? '/';
  const mark = url.indexOf('?');
  const search = mark >= 0 ? url.slice(mark + 1) : '';
  if (req.method === 'GET') return search;
  if (!search) return body;
  return body ? `${search}&${body}` : search;
}

const XML = 'text/xml;charset=UTF-8';

/**
 * Writes a whole answer with its Content-Length. Without it Node sends the body chunked, which
 * costs a round of writes per answer: about a third of a small request's time on localhost.
 */
function reply(res: ServerResponse, status: number, contentType: string, body: string): void {
  const bytes = Buffer.from(body, 'utf8');
  res.writeHead(status, { 'content-type': contentType, 'content-length': bytes.length });
  res.end(bytes);
}

/**
 * Holds a response's end until `due` (the end of its round trip, faults.ts `latency()`): whatever
 * path answers the request, it ends through `res.end`.
 */
function answerAfter(res: ServerResponse, due: number): void {
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  res.end = ((...args: unknown[]) => {
    const wait = due - performance.now();
    if (wait > 0) setTimeout(() => end(...args), wait);
    else end(...args);
    return res;
  }) as ServerResponse['end'];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const JSON_SERVICES: JsonService[] = [eventsService, sqsService];

/** The Query service other than EC2 (STS, IAM) that a request's `Version` names, if any. */
const queryServiceOf = (version: string | undefined): QueryService | undefined =>
  version === ELBV2_VERSION
    ? elbv2Service
    : version !== undefined && Object.hasOwn(QUERY_SERVICES, version)
      ? QUERY_SERVICES[version]
      : undefined;

/** The IAM service prefix of a Query service other than EC2. */
const iamPrefixOf = (version: string) =>
  version === '2010-05-08' ? 'iam' : version === ELBV2_VERSION ? 'elasticloadbalancing' : 'sts';

/** The service and operation an `X-Amz-Target: Prefix.Operation` names (no service if none has that prefix). */
function jsonTarget(target: string): { service: JsonService | undefined; name: string } {
  const dot = target.lastIndexOf('.');
  const service = dot < 0 ? undefined : JSON_SERVICES.find((s) => s.prefix === target.slice(0, dot));
  return { service, name: target.slice(dot + 1) };
}

/** An error of the JSON protocols: `{"__type", "message"}`, with the code in `x-amzn-errortype` too. */
function replyJsonError(res: ServerResponse, service: JsonService | undefined, api: ApiError): void {
  res.setHeader('x-amzn-errortype', api.code);
  reply(res, api.status, service?.contentType ?? 'application/x-amz-json-1.1', jsonError(service, api));
}

/** An error of RAM's rest-json: the code in `x-amzn-errortype`, `{"message"}` in the body. */
function replyRamError(res: ServerResponse, api: ApiError): void {
  res.setHeader('x-amzn-errortype', api.code);
  reply(res, api.status, 'application/json', JSON.stringify({ message: api.message }));
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  if (options.organization !== undefined) checkOrganization(options.organization);
  if (options.limits !== undefined) checkLimits(options.limits);
  const world = new World(
    options.organization && {
      managementAccount: options.organization.managementAccount,
      members: [...options.organization.members],
      ...(options.organization.id === undefined ? {} : { id: options.organization.id }),
      ...(options.organization.units === undefined
        ? {}
        : {
            units: Object.fromEntries(
              Object.entries(options.organization.units).map(([unit, accounts]) => [unit, [...accounts]]),
            ),
          }),
    },
  );
  world.limits = { ...AWS_ACCOUNT_LIMITS, ...options.limits };
  const faults = new FaultInjector(options.faults, options.clock);
  const delivery = new Delivery(options.delivery);
  let ipId = 0;
  if (options.clock) useSqsClock(world, options.clock);

  /** One EC2 Query request, checked in the order EC2 appears to check it. */
  async function handleEc2(req: IncomingMessage, p: Params, requestId: string): Promise<string> {
    const action = p.str('Action');
    if (!action) throw new ApiError('MissingAction', 'The request must contain the parameter Action', 400);
    const version = p.str('Version');
    if (!version) throw new ApiError('MissingParameter', 'The request must contain the parameter Version');
    if (version !== EC2_VERSION) {
      throw new ApiError(
        'NoSuchVersion',
        `The requested version (${version}) of service AmazonEC2 does not exist`,
      );
    }
    const handler = Object.hasOwn(ec2Actions, action) ? ec2Actions[action] : undefined;
    if (!handler)
      throw new ApiError('InvalidAction', `The action ${action} is not valid for this web service.`, 400);
    const { account, region } = caller(req, p);
    const unfiltered =
      !p.has('Filter') && !p.has('MaxResults') && !p.has('InstanceId') && !p.has('NetworkInterfaceId');
    faults.throttle(`${account}/${region}`, bucketOf(action, unfiltered));
    const failure = faults.failure(action);
    if (failure === 'before') throw internalError();
    // IAM: a role session's request is authorized before the action looks at it.
    await enforceEc2(world, account, region, sessionTokenOf(req, p), action, p);
    const state = world.state(account, region);
    const result = handler({ action, account, region, state, world, p, faults });
    if (failure === 'after') throw internalError();
    return ec2Response(action, requestId, result);
  }

  /**
   * One request of a Query service other than EC2 (STS, IAM), chosen by its Version; answered and
   * refused in that service's XML. Not throttled: EC2's buckets are EC2's.
   */
  async function handleQueryService(
    req: IncomingMessage,
    service: QueryService,
    p: Params,
    requestId: string,
    res: ServerResponse,
  ): Promise<void> {
    try {
      const action = p.str('Action');
      if (!action) throw new ApiError('MissingAction', 'The request must contain the parameter Action', 400);
      const handler = Object.hasOwn(service.actions, action) ? service.actions[action] : undefined;
      if (!handler) {
        throw new ApiError(
          'InvalidAction',
          `Could not find operation ${action} for version ${service.version}`,
        );
      }
      const { account, region } = caller(req, p);
      const failure = faults.failure(action);
      if (failure === 'before') throw internalError();
      const { caller: who, session } = callerOf(world, account, sessionTokenOf(req, p));
      await enforceQuery(world, iamPrefixOf(service.version), account, region, session, action, p);
      const result = await handler({ action, account, region, world, p, caller: who, session });
      if (failure === 'after') throw internalError();
      reply(res, 200, XML, queryResponse(service.namespace, action, requestId, result));
    } catch (error) {
      if (!(error instanceof ApiError)) console.error('emulator: unexpected error', error);
      const api =
        error instanceof ApiError
          ? error
          : new ApiError('InternalFailure', `The emulator failed: ${(error as Error).message}`, 500);
      reply(
        res,
        api.status,
        XML,
        queryError(service.namespace, api.status, api.code, api.message, requestId),
      );
    }
  }

  /** One RAM request (rest-json: `POST /operationname`, JSON in and out, the code in `x-amzn-errortype`). */
  async function handleRam(
    req: IncomingMessage,
    operation: string,
    body: string,
    res: ServerResponse,
  ): Promise<void> {
    try {
      const input = parseJsonBody(body);
      const { account, region } = caller(req, parseForm(''));
      const failure = faults.failure(operation);
      if (failure === 'before') throw internalError();
      const run = ramOperations[operation];
      if (!run) throw new ApiError('UnknownOperationException', `Unknown operation ${operation}`, 404);
      await enforceRam(world, account, region, sessionTokenOf(req, parseForm('')), operation, input);
      const output = run({ operation, account, region, world, input });
      if (failure === 'after') throw internalError();
      reply(res, 200, 'application/json', JSON.stringify(output));
    } catch (error) {
      if (!(error instanceof ApiError)) console.error('emulator: unexpected error', error);
      const api =
        error instanceof ApiError && error.status < 500
          ? error
          : new ApiError('ServerInternalException', (error as Error).message, 500);
      replyRamError(res, api);
    } finally {
      // Reads made before a refusal may have completed associations: EC2 sees them at once.
      world.ram.settle();
    }
  }

  /** One request of a JSON-protocol service (`X-Amz-Target: Prefix.Operation`). */
  async function handleJson(
    req: IncomingMessage,
    target: string,
    body: string,
    res: ServerResponse,
  ): Promise<void> {
    const { service, name } = jsonTarget(target);
    try {
      const operation =
        service && Object.hasOwn(service.operations, name) ? service.operations[name] : undefined;
      if (!service || !operation) {
        throw new ApiError('UnknownOperationException', `Unknown operation ${target}`);
      }
      const input = parseJsonBody(body);
      const { account, region } = caller(req, parseForm(''));
      const failure = faults.failure(name);
      if (failure === 'before') throw internalError();
      await enforceJson(
        world,
        account,
        region,
        sessionTokenOf(req, parseForm('')),
        service.prefix,
        name,
        input,
      );
      const baseUrl = `http://${req.headers.host ?? '127.0.0.1'}`;
      const output = await operation({ account, region, world, input, baseUrl });
      if (failure === 'after') throw internalError();
      reply(res, 200, service.contentType, JSON.stringify(output));
    } catch (error) {
      if (error instanceof JsonAccessDenied) {
        for (const [header, value] of Object.entries(error.headers)) res.setHeader(header, value);
        res.setHeader('x-amzn-errortype', error.type);
        const text = JSON.stringify({ __type: error.type, message: error.message });
        return reply(res, error.status, service?.contentType ?? 'application/x-amz-json-1.0', text);
      }
      if (!(error instanceof ApiError)) console.error('emulator: unexpected error', error);
      const api =
        error instanceof ApiError ? error : new ApiError('InternalFailure', (error as Error).message, 500);
      replyJsonError(res, service, api);
    }
  }

  /**
   * `POST /_emulator/service-credentials` `{"roleArn", "service", "sourceAccount"?, "sourceArn"?}`:
   * credentials of the role as a service (Lambda, Step Functions) gets them to run as it, if the
   * role's trust policy lets that service assume it. 200 with the keys, or 403/400 `{"message"}`.
   */
  async function handleServiceCredentials(req: IncomingMessage, body: string, res: ServerResponse) {
    let input: Record<string, unknown>;
    try {
      input = parseJsonBody(body);
    } catch (error) {
      return reply(res, 400, 'application/json', JSON.stringify({ message: (error as Error).message }));
    }
    const region = typeof input.region === 'string' ? input.region : caller(req, parseForm('')).region;
    const out = await serviceCredentials(world, input, region);
    if (!out.ok) return reply(res, out.status, 'application/json', JSON.stringify({ message: out.message }));
    const { ok: _, ...credentials } = out;
    reply(res, 200, 'application/json', JSON.stringify(credentials));
  }

  /**
   * `POST /_emulator/traffic`: packets seen on a source ENI, mirrored as AWS would and sent as
   * VXLAN to their target's delivery address (emulator/dataplane/, README "Data plane").
   */
  async function handleTraffic(req: IncomingMessage, body: string, res: ServerResponse) {
    try {
      const request = parseTrafficRequest(parseJsonBody(body), caller(req, parseForm('')));
      const answer = await injectTraffic(world, delivery, request, () => ++ipId);
      reply(res, 200, 'application/json', JSON.stringify(answer));
    } catch (error) {
      const status =
        error instanceof TrafficInputError || error instanceof ApiError
          ? 400
          : error instanceof UnknownInterfaceError
            ? 404
            : 500;
      if (status === 500) console.error('emulator: unexpected error', error);
      reply(res, status, 'application/json', JSON.stringify({ message: (error as Error).message }));
    }
  }

  /** `POST /_emulator/target-health`: what ELBv2 answers for a target's health (elbv2/service.ts). */
  function handleTargetHealth(req: IncomingMessage, body: string, res: ServerResponse): void {
    let input: Record<string, unknown>;
    try {
      input = parseJsonBody(body);
    } catch (error) {
      reply(res, 400, 'application/json', JSON.stringify({ message: (error as Error).message }));
      return;
    }
    const out = setTargetHealth(world, input, caller(req, parseForm('')));
    reply(res, out.status, 'application/json', JSON.stringify(out.message ? { message: out.message } : {}));
  }

  /** The emulator's own read-only views, for the demo and the CLI: `GET /_emulator/events`. */
  function handleInspect(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://emulator');
    if (url.pathname !== '/_emulator/events') {
      reply(res, 404, 'application/json', JSON.stringify({ message: `no such view ${url.pathname}` }));
      return;
    }
    const bus = url.searchParams.get('bus');
    const source = url.searchParams.get('source');
    const events = world.events.filter((e) => (!bus || e.bus === bus) && (!source || e.source === source));
    reply(res, 200, 'application/json', JSON.stringify(events));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    res.setHeader('x-amzn-requestid', requestId);
    // The protocol is known from the headers and the URL before the body is read, so that every
    // refusal (a body too large included) is written in the shape the caller's SDK reads.
    const target = req.headers['x-amz-target'];
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const ramOperation =
      req.method === 'POST' && Object.hasOwn(RAM_ROUTES, path) ? RAM_ROUTES[path] : undefined;
    try {
      const body = await readBody(req);
      const latency = faults.latency();
      if (latency > 0) {
        answerAfter(res, performance.now() + latency);
        await sleep(latency / 2);
      }
      if (typeof target === 'string') return await handleJson(req, target, body, res);
      if (req.method === 'POST' && path === '/_emulator/service-credentials') {
        return await handleServiceCredentials(req, body, res);
      }
      if (req.method === 'POST' && path === '/_emulator/traffic') return await handleTraffic(req, body, res);
      if (req.method === 'POST' && path === '/_emulator/target-health') {
        return handleTargetHealth(req, body, res);
      }
      if (req.method === 'GET' && req.url?.startsWith('/_emulator/')) return handleInspect(req, res);
      if (ramOperation !== undefined) return await handleRam(req, ramOperation, body, res);
      if (req.method !== 'POST' && req.method !== 'GET') {
        throw new ApiError(
          'InvalidHttpRequest',
          `The HTTP request is invalid. Reason: method ${req.method ?? ''} is not supported; use POST or GET`,
        );
      }
      const p = parseForm(queryOf(req, body));
      if (p.str('Version') === SQS_VERSION) {
        // SQS's older Query protocol: the same operations as its JSON protocol, answered in XML.
        const { account, region } = caller(req, p);
        const baseUrl = `http://${req.headers.host ?? '127.0.0.1'}`;
        const token = sessionTokenOf(req, p);
        const authorize = (name: string, input: Record<string, unknown>) =>
          enforceJson(world, account, region, token, sqsService.prefix, name, input);
        const answer = await answerSqsQuery({
          p,
          account,
          region,
          world,
          faults,
          baseUrl,
          path,
          requestId,
          authorize,
        });
        return reply(res, answer.status, XML, answer.body);
      }
      const service = queryServiceOf(p.str('Version'));
      if (service) return await handleQueryService(req, service, p, requestId, res);
      const xml = await handleEc2(req, p, requestId);
      reply(res, 200, XML, xml);
    } catch (error) {
      if (error instanceof BodyTooLarge && !error.drained) {
        req.destroy();
        return;
      }
      if (!(error instanceof ApiError)) {
        // The client went away mid-request. (Not `req.destroyed`: a request whose body has been
        // read to its end is destroyed too, and the caller must still get its 500.)
        if (res.destroyed || req.socket.destroyed) return;
        console.error('emulator: unexpected error', error);
      }
      const api =
        error instanceof ApiError
          ? error
          : new ApiError('InternalError', `The emulator failed: ${(error as Error).message}`, 500);
      if (res.headersSent || res.destroyed) return;
      if (typeof target === 'string') return replyJsonError(res, jsonTarget(target).service, api);
      if (ramOperation !== undefined) return replyRamError(res, api);
      // A Query request's Version picks STS or IAM. A body too large was read in part, and the
      // SDKs send the Version right after the Action, so it is in that head.
      const head = error instanceof BodyTooLarge ? error.head : '';
      const service = queryServiceOf(parseForm(queryOf(req, head)).str('Version'));
      const xml = service
        ? queryError(service.namespace, api.status, api.code, api.message, requestId)
        : ec2Error(api.code, api.message, requestId);
      reply(res, api.status, XML, xml);
    }
  }

  const server = createServer((req, res) => {
    void handle(req, res);
  });
  server.keepAliveTimeout = 5_000;
  // A client that stops sending mid-request is cut off instead of holding a socket forever.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    world,
    faults,
    delivery,
    clockMoved: () => sqsClockMoved(world),
    stop: async () => {
      await new Promise<void>((resolve, reject) => {
        stopSqs(world);
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
      await delivery.close();
    },
  };
}
