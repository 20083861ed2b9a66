import { createSocket, type Socket } from 'node:dgram';
import { send } from './http.ts';

/**
 * The receiver's check of RFC 1071, written apart from the emulator's sender side: the 16-bit
 * big-endian words of everything covered, checksum field included, are added in 32 bits and
 * folded; a right checksum makes the result 0xffff.
 */
export function checksumVerifies(...parts: Uint8Array[]): boolean {
  const bytes = Buffer.concat(parts);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let sum = 0;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += view.getUint16(i);
  if (bytes.length % 2 === 1) sum += (bytes[bytes.length - 1] ?? 0) * 256;
  while (sum >>> 16) sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}

/** The pseudo-header of TCP, UDP and ICMPv6 checksums (RFC 9293 3.1, RFC 8200 8.1), from raw address bytes. */
export function pseudoHeader(
  family: 4 | 6,
  source: Uint8Array,
  destination: Uint8Array,
  protocol: number,
  length: number,
): Buffer {
  const tail =
    family === 4
      ? [0, protocol, length >> 8, length & 0xff]
      : [length >>> 24, (length >> 16) & 0xff, length >> 8, length & 0xff, 0, 0, 0, protocol];
  return Buffer.concat([source, destination, Buffer.from(tail)]);
}

/** A UDP socket on 127.0.0.1 that a test points a target's delivery at; datagrams are read in order. */
export class VxlanReceiver {
  private readonly queue: Buffer[] = [];
  private waiting: ((datagram: Buffer) => void) | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('message', (datagram) => {
      const wake = this.waiting;
      this.waiting = undefined;
      if (wake) wake(datagram);
      else this.queue.push(datagram);
    });
  }

  static async open(): Promise<VxlanReceiver> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => resolve());
    });
    return new VxlanReceiver(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /**
   * The next datagram: one already received, or the next to arrive. Fails after `ms` without one
   * (a datagram lost or never sent), rather than waiting for the test's own timeout.
   */
  next(ms = 10_000): Promise<Buffer> {
    const first = this.queue.shift();
    if (first) return Promise.resolve(first);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(new Error(`no datagram on ${this.address} within ${ms} ms`));
      }, ms);
      this.waiting = (datagram) => {
        clearTimeout(timer);
        resolve(datagram);
      };
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

export interface TrafficAnswer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: the answer's JSON, as the emulator README documents it
  json: any;
}

/**
 * `POST /_emulator/traffic` as `account` (the access key id of the SigV4 credential scope, which
 * the emulator reads and does not check); `undefined` sends no Authorization header.
 */
export async function postTraffic(
  url: string,
  account: string | undefined,
  body: unknown,
  region = 'us-east-1',
): Promise<TrafficAnswer> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await send(url, text, {
    path: '/_emulator/traffic',
    headers: {
      'content-type': 'application/json',
      ...(account === undefined
        ? {}
        : {
            authorization: `AWS4-HMAC-SHA256 Credential=${account}/20261204/${region}/ec2/aws4_request, SignedHeaders=host, Signature=0`,
          }),
    },
  });
  return { status: res.status, json: JSON.parse(res.body) };
}

/** What a VXLAN datagram carries: RFC 7348's header fields and the inner Ethernet frame. */
export function vxlanParts(datagram: Buffer) {
  return {
    flags: datagram[0],
    reserved: [datagram.readUIntBE(1, 3), datagram[7]],
    vni: datagram.readUIntBE(4, 3),
    frame: datagram.subarray(8),
  };
}

const mac = (bytes: Buffer) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');

/** The inner frame's Ethernet and IP header fields, read by offsets from RFC 791 and RFC 8200. */
export function innerHeaders(frame: Buffer) {
  const etherType = frame.readUInt16BE(12);
  const ip = frame.subarray(14);
  const v4 = etherType === 0x0800;
  const headerLength = v4 ? ((ip[0] ?? 0) & 0x0f) * 4 : 40;
  return {
    destinationMac: mac(frame.subarray(0, 6)),
    sourceMac: mac(frame.subarray(6, 12)),
    etherType,
    ip,
    headerLength,
    /** The original IP packet length the header states (IPv4 Total Length, IPv6 40 + Payload Length). */
    length: v4 ? ip.readUInt16BE(2) : 40 + ip.readUInt16BE(4),
    protocol: v4 ? ip[9] : ip[6],
    source: v4 ? ip.subarray(12, 16) : ip.subarray(8, 24),
    destination: v4 ? ip.subarray(16, 20) : ip.subarray(24, 40),
    upper: ip.subarray(headerLength),
  };
}
