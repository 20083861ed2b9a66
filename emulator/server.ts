import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ec2Actions } from './ec2/index.ts';
import { ApiError } from './errors.ts';
import { bucketOf, FaultInjector, type Faults, internalError } from './faults.ts';
import { parseForm } from './query.ts';
import { World } from './state.ts';
import { ec2Error, ec2Response } from './xml.ts';

export const DEFAULT_ACCOUNT = '123456789012';
export const DEFAULT_REGION = 'us-east-1';
const MAX_BODY = 1024 * 1024;

export interface EmulatorOptions {
  port?: number;
  host?: string;
  faults?: Faults;
}

export interface Emulator {
  url: string;
  /** Everything the emulator holds; for the demo and for reading, tests act through the SDK. */
  world: World;
  faults: FaultInjector;
  stop(): Promise<void>;
}

/**
 * The caller's account and Region, from the SigV4 Authorization header (the signature is not
 * checked): an access key id of twelve digits selects that account, any other the default.
 */
export function caller(req: IncomingMessage): { account: string; region: string } {
  const auth = req.headers.authorization ?? '';
  const match = /Credential=([^/,\s]+)\/\d{8}\/([^/]+)\//.exec(auth);
  const key = match?.[1] ?? '';
  return { account: /^\d{12}$/.test(key) ? key : DEFAULT_ACCOUNT, region: match?.[2] ?? DEFAULT_REGION };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new ApiError('RequestEntityTooLarge', `The request body exceeds ${MAX_BODY} bytes`, 413));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const world = new World();
  const faults = new FaultInjector(options.faults);

  async function handleEc2(req: IncomingMessage, body: string, requestId: string): Promise<string> {
    const p = parseForm(body);
    const action = p.str('Action');
    if (!action) throw new ApiError('MissingAction', 'The request must contain the parameter Action', 400);
    const handler = Object.hasOwn(ec2Actions, action) ? ec2Actions[action] : undefined;
    if (!handler)
      throw new ApiError('InvalidAction', `The action ${action} is not valid for this web service.`, 400);
    const version = p.str('Version');
    if (version !== '2016-11-15') {
      throw new ApiError(
        'InvalidParameterValue',
        `Version '${version ?? ''}' is not supported; use 2016-11-15`,
      );
    }
    const { account, region } = caller(req);
    const unfiltered =
      !p.has('Filter') && !p.has('MaxResults') && !p.has('InstanceId') && !p.has('NetworkInterfaceId');
    faults.throttle(`${account}/${region}`, bucketOf(action, unfiltered));
    const failure = faults.failure();
    if (failure === 'before') throw internalError();
    const state = world.state(account, region);
    const result = handler({ action, account, region, state, world, p });
    if (failure === 'after') throw internalError();
    return ec2Response(action, requestId, result);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    res.setHeader('x-amzn-requestid', requestId);
    try {
      const body = await readBody(req);
      await faults.delay();
      if (req.method !== 'POST')
        throw new ApiError('InvalidAction', `Method ${req.method ?? ''} is not supported`, 400);
      const xml = await handleEc2(req, body, requestId);
      res.writeHead(200, { 'content-type': 'text/xml;charset=UTF-8' });
      res.end(xml);
    } catch (error) {
      const api =
        error instanceof ApiError
          ? error
          : new ApiError('InternalError', `The emulator failed: ${(error as Error).message}`, 500);
      if (!(error instanceof ApiError)) console.error('emulator: unexpected error', error);
      if (!res.headersSent) {
        res.writeHead(api.status, { 'content-type': 'text/xml;charset=UTF-8' });
        res.end(ec2Error(api.code, api.message, requestId));
      }
    }
  }

  const server = createServer((req, res) => {
    void handle(req, res);
  });
  server.keepAliveTimeout = 5_000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    world,
    faults,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
