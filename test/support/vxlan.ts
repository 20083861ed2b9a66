import { createSocket } from 'node:dgram';

/**
 * Frames and VXLAN datagrams built by the tests, byte by byte from the RFCs (RFC 7348 VXLAN, RFC 791
 * IPv4, RFC 8200 IPv6, RFC 9293 TCP), to send to the capture as a mirror session would.
 */
export interface FrameSpec {
  version?: 4 | 6;
  protocol?: 6 | 17;
  source?: string;
  destination?: string;
  sourcePort?: number;
  destinationPort?: number;
  payload?: Buffer;
}

const MAC_SOURCE = Buffer.from('0a1b2c3d4e5f', 'hex');
const MAC_DESTINATION = Buffer.from('0a1b2c3d4e60', 'hex');

function checksum(...parts: Buffer[]): number {
  const all = Buffer.concat(parts);
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += (all[i] ?? 0) * 256 + (all[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipv4Bytes(address: string): Buffer {
  return Buffer.from(address.split('.').map(Number));
}

function ipv6Bytes(address: string): Buffer {
  const [head = '', tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::')
    ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
    : left;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => {
    out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  });
  return out;
}

/** An Ethernet frame carrying TCP or UDP over IPv4 or IPv6, lengths and checksums right. */
export function ethernetFrame(spec: FrameSpec = {}): Buffer {
  const version = spec.version ?? 4;
  const protocol = spec.protocol ?? 6;
  const payload = spec.payload ?? Buffer.from('mirrored payload');
  const src =
    version === 4 ? ipv4Bytes(spec.source ?? '198.51.100.7') : ipv6Bytes(spec.source ?? '2001:db8::7');
  const dst =
    version === 4 ? ipv4Bytes(spec.destination ?? '10.0.1.5') : ipv6Bytes(spec.destination ?? '2001:db8::5');
  let l4: Buffer;
  if (protocol === 6) {
    l4 = Buffer.alloc(20);
    l4.writeUInt16BE(spec.sourcePort ?? 51515, 0);
    l4.writeUInt16BE(spec.destinationPort ?? 22, 2);
    l4.writeUInt32BE(1, 4);
    l4[12] = 5 << 4;
    l4[13] = 0x18; // PSH, ACK
    l4.writeUInt16BE(64240, 14);
  } else {
    l4 = Buffer.alloc(8);
    l4.writeUInt16BE(spec.sourcePort ?? 51515, 0);
    l4.writeUInt16BE(spec.destinationPort ?? 53, 2);
    l4.writeUInt16BE(8 + payload.length, 4);
  }
  const segment = Buffer.concat([l4, payload]);
  const pseudo =
    version === 4
      ? Buffer.concat([src, dst, Buffer.from([0, protocol, segment.length >> 8, segment.length & 0xff])])
      : Buffer.concat([
          src,
          dst,
          Buffer.from([0, 0, segment.length >> 8, segment.length & 0xff, 0, 0, 0, protocol]),
        ]);
  segment.writeUInt16BE(checksum(pseudo, segment), protocol === 6 ? 16 : 6);
  let ip: Buffer;
  if (version === 4) {
    ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + segment.length, 2);
    ip[8] = 64;
    ip[9] = protocol;
    src.copy(ip, 12);
    dst.copy(ip, 16);
    ip.writeUInt16BE(checksum(ip), 10);
  } else {
    ip = Buffer.alloc(40);
    ip[0] = 0x60;
    ip.writeUInt16BE(segment.length, 4);
    ip[6] = protocol;
    ip[7] = 64;
    src.copy(ip, 8);
    dst.copy(ip, 24);
  }
  const ethertype = Buffer.from(version === 4 ? [0x08, 0x00] : [0x86, 0xdd]);
  return Buffer.concat([MAC_DESTINATION, MAC_SOURCE, ethertype, ip, segment]);
}

/** A VXLAN datagram: flags (0x08, the I flag, unless told), the VNI, then the frame. */
export function vxlan(vni: number, frame: Buffer, flags = 0x08): Buffer {
  const header = Buffer.alloc(8);
  header[0] = flags;
  header.writeUIntBE(vni, 4, 3);
  return Buffer.concat([header, frame]);
}

/** Sends datagrams to 127.0.0.1:port in order, one at a time. */
export async function sendUdp(port: number, datagrams: Buffer[]): Promise<void> {
  const socket = createSocket('udp4');
  try {
    for (const datagram of datagrams) {
      await new Promise<void>((resolve, reject) =>
        socket.send(datagram, port, '127.0.0.1', (error) => (error ? reject(error) : resolve())),
      );
    }
  } finally {
    socket.close();
  }
}
