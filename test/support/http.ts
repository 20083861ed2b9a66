import { Agent, type IncomingHttpHeaders, request } from 'node:http';
import { connect } from 'node:net';
import { expect } from 'vitest';
import type { World } from '../../emulator/state.ts';

/** An HTTP answer as the wire gave it. */
export interface RawResponse {
  status: number;
  requestId: string | null;
  contentType: string | null;
  body: string;
  /** Every header of the answer (names in lower case). */
  headers: IncomingHttpHeaders;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/**
 * A raw request to the emulator, for what the SDK cannot send. Default: POST a form body.
 * (node:http rather than fetch: fetch's POST waits on delayed ACKs, 4 ms a request here.)
 */
export function send(
  url: string,
  body?: string | Uint8Array,
  init: { method?: string; path?: string; headers?: Record<string, string> } = {},
): Promise<RawResponse> {
  const payload = body === undefined ? undefined : Buffer.from(body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${init.path ?? '/'}`,
      {
        method: init.method ?? 'POST',
        agent,
        headers: {
          ...(payload === undefined
            ? {}
            : {
                'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
                'content-length': payload.length,
              }),
          ...init.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const header = (name: string) => {
            const v = res.headers[name];
            return typeof v === 'string' ? v : null;
          };
          resolve({
            status: res.statusCode ?? 0,
            requestId: header('x-amzn-requestid'),
            contentType: header('content-type'),
            body: Buffer.concat(chunks).toString('utf8'),
            headers: res.headers,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** `Action=..&Version=2016-11-15&...` from a record, encoded as the SDK encodes it. */
export const form = (params: Record<string, string>) => new URLSearchParams(params).toString();

const ERROR =
  /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<Response><Errors><Error><Code>([^<]+)<\/Code><Message>([^<]*)<\/Message><\/Error><\/Errors><RequestID>([0-9a-f-]{36})<\/RequestID><\/Response>$/;

/** The error in an EC2 error body of exactly EC2's shape, or undefined when the body is not one. */
export function parseError(body: string): { code: string; message: string; requestId: string } | undefined {
  const match = ERROR.exec(body);
  if (!match) return undefined;
  const [, code = '', message = '', requestId = ''] = match;
  return { code, message, requestId };
}

const QUERY_ERROR =
  /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<ErrorResponse xmlns="([^"]+)"><Error><Type>(Sender|Receiver)<\/Type><Code>([^<]+)<\/Code><Message>([^<]*)<\/Message><\/Error><RequestId>([0-9a-f-]{36})<\/RequestId><\/ErrorResponse>$/;

/**
 * The error in an STS or IAM error body of exactly their shape (`<ErrorResponse xmlns>` with Type,
 * Code, Message and RequestId), or undefined when the body is not one.
 */
export function parseQueryError(
  body: string,
): { namespace: string; type: string; code: string; message: string; requestId: string } | undefined {
  const match = QUERY_ERROR.exec(body);
  if (!match) return undefined;
  const [, namespace = '', type = '', code = '', message = '', requestId = ''] = match;
  return { namespace, type, code, message, requestId };
}

/** Asserts an EC2 error answer: status, code, the body's exact shape, and the header's request id. */
export function expectEc2Error(response: RawResponse, status: number, code: string): string {
  expect(response.status, response.body).toBe(status);
  expect(response.contentType).toMatch(/^text\/xml/);
  const error = parseError(response.body);
  expect(error, response.body).toBeDefined();
  expect(error?.code).toBe(code);
  expect(response.requestId).toBe(error?.requestId);
  return error?.message ?? '';
}

/** Sends bytes over a bare socket and returns all that came back until the server closed it. */
export function rawSocket(url: string, data: string | Buffer): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(Number(port), hostname, () => {
      socket.write(data);
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', reject);
  });
}

/**
 * Everything one account and Region holds, as a string, to check that a refused request changed
 * nothing (read-only: the emulator's state is never written by tests).
 */
export function fingerprint(world: World, account: string, region = 'us-east-1'): string {
  const state = world.state(account, region);
  const { vpcs, subnets, securityGroups, instances, networkInterfaces, targets, filters, sessions, tokens } =
    state;
  return JSON.stringify(
    {
      vpcs,
      subnets,
      securityGroups,
      instances,
      networkInterfaces,
      targets,
      filters,
      sessions,
      tokens,
      usedVnis: state.usedVnis,
      shared: world.sharedTargets,
    },
    (_key, value: unknown) => {
      if (value instanceof Map) return [...value];
      if (value instanceof Set) return [...value];
      return value;
    },
  );
}
