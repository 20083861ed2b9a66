/**
 * The packets of the data plane: what `POST /_emulator/traffic` reads (checked field by field, so
 * a bad packet is refused with the field's path), and the bytes a mirrored packet becomes: an IPv4
 * (RFC 791) or IPv6 (RFC 8200) packet with its TCP (RFC 9293), UDP (RFC 768), ICMP (RFC 792) or
 * ICMPv6 (RFC 4443) header and checksums (RFC 1071), in an Ethernet II frame, behind a VXLAN header
 * (RFC 7348). Pure: no I/O.
 */
import { type Family, parseAddress } from '../ec2/cidr.ts';

export type Direction = 'ingress' | 'egress';

export const TCP = 6;
export const UDP = 17;
export const ICMP = 1;
export const ICMPV6 = 58;

/** An IP packet seen on the source ENI. */
export interface IpPacket {
  kind: 'ip';
  direction: Direction;
  /** IANA protocol number: the IPv4 Protocol or the IPv6 Next Header. */
  protocol: number;
  family: Family;
  source: bigint;
  destination: bigint;
  /** TCP and UDP only. */
  sourcePort?: number;
  destinationPort?: number;
  /** The whole IP packet's length in bytes, headers included; the payload is padded with zeros to it. */
  length: number;
  payload: Buffer;
  /** TCP flag bits (FIN 0x01 ... CWR 0x80). */
  tcpFlags: number;
  icmpType: number;
  icmpCode: number;
  /** IPv4 TTL or IPv6 Hop Limit. */
  ttl: number;
}

/** An ARP packet (RFC 826): not IP, never mirrored, but a caller may inject one to see that. */
export interface ArpPacket {
  kind: 'arp';
  direction: Direction;
  family: 4;
  source: bigint;
  destination: bigint;
}

export type Packet = IpPacket | ArpPacket;

/** A request AWS would refuse as malformed: the message names the field. Answered 400. */
export class TrafficInputError extends Error {
  override readonly name = 'TrafficInputError';
}

/** AWS's largest MTU (jumbo frames): no packet on an ENI is longer. */
export const MAX_PACKET_LENGTH = 9001;
export const MAX_PACKETS = 1000;

const PROTOCOL_NAMES: Record<string, number | 'arp'> = {
  tcp: TCP,
  udp: UDP,
  icmp: ICMP,
  icmpv6: ICMPV6,
  arp: 'arp',
};
const TCP_FLAG_LETTERS = 'FSRPAUEC';
const PACKET_FIELDS = new Set([
  'direction',
  'protocol',
  'source',
  'destination',
  'sourcePort',
  'destinationPort',
  'length',
  'payloadHex',
  'tcpFlags',
  'icmpType',
  'icmpCode',
  'ttl',
]);

const ipHeaderLength = (family: Family) => (family === 4 ? 20 : 40);

/** The length of the header that follows the IP header, as this data plane writes it. */
export function l4HeaderLength(protocol: number): number {
  if (protocol === TCP) return 20;
  if (protocol === UDP || protocol === ICMP || protocol === ICMPV6) return 8;
  return 0;
}

const describe = (value: unknown) => (typeof value === 'string' ? `'${value}'` : JSON.stringify(value));

function integer(path: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TrafficInputError(`${path}: must be an integer from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

function address(path: string, value: unknown): { family: Family; value: bigint } {
  const parsed = typeof value === 'string' ? parseAddress(value) : undefined;
  if (!parsed)
    throw new TrafficInputError(`${path}: must be an IPv4 or IPv6 address, got ${describe(value)}`);
  return parsed;
}

function tcpFlags(path: string, value: unknown): number {
  if (typeof value === 'number') return integer(path, value, 0, 255);
  if (typeof value !== 'string' || !/^[FSRPAUEC]*$/.test(value)) {
    throw new TrafficInputError(
      `${path}: must be letters of ${TCP_FLAG_LETTERS} (FIN SYN RST PSH ACK URG ECE CWR, e.g. 'SA') or a number 0-255, got ${describe(value)}`,
    );
  }
  let bits = 0;
  for (const letter of value) bits |= 1 << TCP_FLAG_LETTERS.indexOf(letter);
  return bits;
}

function payload(path: string, value: unknown): Buffer {
  if (value === undefined) return Buffer.alloc(0);
  if (typeof value !== 'string' || !/^(?:[0-9a-fA-F]{2})*$/.test(value)) {
    throw new TrafficInputError(`${path}: must be an even number of hexadecimal digits`);
  }
  return Buffer.from(value, 'hex');
}

function direction(path: string, value: unknown): Direction {
  if (value !== 'ingress' && value !== 'egress') {
    throw new TrafficInputError(`${path}: must be 'ingress' or 'egress', got ${describe(value)}`);
  }
  return value;
}

/** One packet of the request, checked; `path` names it in errors (`packets[3]`). */
export function parsePacket(path: string, input: unknown): Packet {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new TrafficInputError(`${path}: must be a JSON object`);
  }
  const fields = input as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!PACKET_FIELDS.has(key)) {
      throw new TrafficInputError(`${path}.${key}: unknown field (known: ${[...PACKET_FIELDS].join(', ')})`);
    }
  }
  const dir = direction(`${path}.direction`, fields.direction);
  const rawProtocol = fields.protocol;
  let protocol: number | 'arp';
  if (typeof rawProtocol === 'string' && Object.hasOwn(PROTOCOL_NAMES, rawProtocol.toLowerCase())) {
    protocol = PROTOCOL_NAMES[rawProtocol.toLowerCase()] as number | 'arp';
  } else if (typeof rawProtocol === 'number') {
    protocol = integer(`${path}.protocol`, rawProtocol, 0, 255);
  } else {
    throw new TrafficInputError(
      `${path}.protocol: must be an IANA protocol number 0-255 or one of tcp, udp, icmp, icmpv6, arp, got ${describe(rawProtocol)}`,
    );
  }
  const source = address(`${path}.source`, fields.source);
  const destination = address(`${path}.destination`, fields.destination);
  if (source.family !== destination.family) {
    throw new TrafficInputError(
      `${path}.destination: must be of the source's IP family (IPv${source.family})`,
    );
  }
  if (protocol === 'arp') {
    for (const key of Object.keys(fields)) {
      if (!['direction', 'protocol', 'source', 'destination'].includes(key)) {
        throw new TrafficInputError(`${path}.${key}: not allowed with protocol 'arp'`);
      }
    }
    if (source.family !== 4) throw new TrafficInputError(`${path}.source: ARP takes IPv4 addresses`);
    return { kind: 'arp', direction: dir, family: 4, source: source.value, destination: destination.value };
  }
  if (protocol === ICMPV6 && source.family !== 6) {
    throw new TrafficInputError(`${path}.protocol: 58 (ICMPv6) needs IPv6 addresses`);
  }
  if (protocol === ICMP && source.family !== 4) {
    throw new TrafficInputError(`${path}.protocol: 1 (ICMP) needs IPv4 addresses; use 58 (ICMPv6) for IPv6`);
  }
  const ported = protocol === TCP || protocol === UDP;
  const ports: { sourcePort?: number; destinationPort?: number } = {};
  for (const key of ['sourcePort', 'destinationPort'] as const) {
    const value = fields[key];
    if (ported) {
      if (value === undefined)
        throw new TrafficInputError(`${path}.${key}: required for TCP (6) and UDP (17)`);
      ports[key] = integer(`${path}.${key}`, value, 0, 65535);
    } else if (value !== undefined) {
      throw new TrafficInputError(`${path}.${key}: only TCP (6) and UDP (17) have ports`);
    }
  }
  if (fields.tcpFlags !== undefined && protocol !== TCP) {
    throw new TrafficInputError(`${path}.tcpFlags: only for TCP (6)`);
  }
  const icmp = protocol === ICMP || protocol === ICMPV6;
  for (const key of ['icmpType', 'icmpCode'] as const) {
    if (fields[key] !== undefined && !icmp) {
      throw new TrafficInputError(`${path}.${key}: only for ICMP (1) and ICMPv6 (58)`);
    }
  }
  const data = payload(`${path}.payloadHex`, fields.payloadHex);
  const headers = ipHeaderLength(source.family) + l4HeaderLength(protocol);
  const minimum = headers + data.length;
  if (minimum > MAX_PACKET_LENGTH) {
    throw new TrafficInputError(
      `${path}.payloadHex: makes a packet of ${minimum} bytes, longer than AWS's largest MTU (${MAX_PACKET_LENGTH})`,
    );
  }
  const length =
    fields.length === undefined ? minimum : integer(`${path}.length`, fields.length, 0, MAX_PACKET_LENGTH);
  if (length < minimum) {
    throw new TrafficInputError(
      `${path}.length: ${length} is less than the packet's headers and payload (${minimum} bytes)`,
    );
  }
  return {
    kind: 'ip',
    direction: dir,
    protocol,
    family: source.family,
    source: source.value,
    destination: destination.value,
    ...ports,
    length,
    payload: data,
    tcpFlags:
      fields.tcpFlags === undefined
        ? data.length > 0 || length > minimum
          ? 0x18 // PSH ACK: a segment carrying data
          : 0x10 // ACK
        : tcpFlags(`${path}.tcpFlags`, fields.tcpFlags),
    icmpType:
      fields.icmpType === undefined
        ? protocol === ICMPV6
          ? 128 // echo request
          : 8
        : integer(`${path}.icmpType`, fields.icmpType, 0, 255),
    icmpCode: fields.icmpCode === undefined ? 0 : integer(`${path}.icmpCode`, fields.icmpCode, 0, 255),
    ttl: fields.ttl === undefined ? 64 : integer(`${path}.ttl`, fields.ttl, 1, 255),
  };
}

/** The request's packets: a non-empty list of at most MAX_PACKETS. */
export function parsePackets(input: unknown): Packet[] {
  if (!Array.isArray(input) || input.length === 0) {
    throw new TrafficInputError('packets: must be a non-empty list of packets');
  }
  if (input.length > MAX_PACKETS) {
    throw new TrafficInputError(`packets: at most ${MAX_PACKETS} packets a request, got ${input.length}`);
  }
  return input.map((packet, index) => parsePacket(`packets[${index}]`, packet));
}

// ---- bytes --------------------------------------------------------------------------------------

/** RFC 1071: the ones' complement of the ones' complement sum of the 16-bit words (odd byte padded). */
export function internetChecksum(...parts: Buffer[]): number {
  // The parts are concatenated for the sum: a part of odd length shifts the next one's words.
  const bytes = parts.length === 1 ? (parts[0] ?? Buffer.alloc(0)) : Buffer.concat(parts);
  let sum = 0;
  const even = bytes.length & ~1;
  for (let i = 0; i < even; i += 2) sum += bytes.readUInt16BE(i);
  if (even < bytes.length) sum += (bytes[even] ?? 0) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function addressBytes(family: Family, value: bigint): Buffer {
  const size = family === 4 ? 4 : 16;
  const out = Buffer.alloc(size);
  for (let i = size - 1, rest = value; i >= 0; i--, rest >>= 8n) out[i] = Number(rest & 0xffn);
  return out;
}

/** The pseudo-header TCP, UDP and ICMPv6 checksums cover: RFC 9293 3.1 (IPv4), RFC 8200 8.1 (IPv6). */
function pseudoHeader(packet: IpPacket, upperLength: number): Buffer {
  const src = addressBytes(packet.family, packet.source);
  const dst = addressBytes(packet.family, packet.destination);
  if (packet.family === 4) {
    const tail = Buffer.alloc(4);
    tail[1] = packet.protocol;
    tail.writeUInt16BE(upperLength, 2);
    return Buffer.concat([src, dst, tail]);
  }
  const tail = Buffer.alloc(8);
  tail.writeUInt32BE(upperLength, 0);
  tail[7] = packet.protocol;
  return Buffer.concat([src, dst, tail]);
}

/** What follows the IP header: the L4 header with its checksum, then the payload padded to the length. */
function upperLayer(packet: IpPacket): Buffer {
  const headerLength = l4HeaderLength(packet.protocol);
  const upperLength = packet.length - ipHeaderLength(packet.family);
  const out = Buffer.alloc(upperLength);
  packet.payload.copy(out, headerLength);
  if (packet.protocol === TCP) {
    out.writeUInt16BE(packet.sourcePort ?? 0, 0);
    out.writeUInt16BE(packet.destinationPort ?? 0, 2);
    out.writeUInt32BE(1, 4); // sequence number
    out.writeUInt32BE(packet.tcpFlags & 0x10 ? 1 : 0, 8); // acknowledgment number, when ACK is set
    out[12] = 5 << 4; // data offset: 5 words, no options
    out[13] = packet.tcpFlags;
    out.writeUInt16BE(65535, 14); // window
    out.writeUInt16BE(internetChecksum(pseudoHeader(packet, upperLength), out), 16);
  } else if (packet.protocol === UDP) {
    out.writeUInt16BE(packet.sourcePort ?? 0, 0);
    out.writeUInt16BE(packet.destinationPort ?? 0, 2);
    out.writeUInt16BE(upperLength, 4);
    const sum = internetChecksum(pseudoHeader(packet, upperLength), out);
    // RFC 768: a computed zero is sent as all ones (zero means "no checksum").
    out.writeUInt16BE(sum === 0 ? 0xffff : sum, 6);
  } else if (packet.protocol === ICMP || packet.protocol === ICMPV6) {
    out[0] = packet.icmpType;
    out[1] = packet.icmpCode;
    // ICMP's checksum covers the message alone; ICMPv6's also the pseudo-header (RFC 4443 2.3).
    const sum =
      packet.protocol === ICMP
        ? internetChecksum(out)
        : internetChecksum(pseudoHeader(packet, upperLength), out);
    out.writeUInt16BE(sum, 2);
  }
  return out;
}

/** The IP packet: header (checksummed for IPv4) and upper layer. `id` is the IPv4 Identification. */
export function ipPacket(packet: IpPacket, id = 0): Buffer {
  const upper = upperLayer(packet);
  if (packet.family === 4) {
    const header = Buffer.alloc(20);
    header[0] = 0x45; // version 4, IHL 5 words
    header.writeUInt16BE(packet.length, 2);
    header.writeUInt16BE(id & 0xffff, 4);
    header.writeUInt16BE(0x4000, 6); // Don't Fragment, offset 0
    header[8] = packet.ttl;
    header[9] = packet.protocol;
    addressBytes(4, packet.source).copy(header, 12);
    addressBytes(4, packet.destination).copy(header, 16);
    header.writeUInt16BE(internetChecksum(header), 10);
    return Buffer.concat([header, upper]);
  }
  const header = Buffer.alloc(40);
  header.writeUInt32BE(0x60000000, 0); // version 6, traffic class 0, flow label 0
  header.writeUInt16BE(upper.length, 4);
  header[6] = packet.protocol;
  header[7] = packet.ttl;
  addressBytes(6, packet.source).copy(header, 8);
  addressBytes(6, packet.destination).copy(header, 24);
  return Buffer.concat([header, upper]);
}

/** Six bytes from `aa:bb:cc:dd:ee:ff`. */
export function macBytes(mac: string): Buffer {
  const hex = mac.split(':').join('');
  if (!/^[0-9a-f]{12}$/i.test(hex)) throw new RangeError(`not a MAC address: ${mac}`);
  return Buffer.from(hex, 'hex');
}

/** An Ethernet II frame (no frame check sequence, as captures show frames). */
export function ethernetFrame(destinationMac: string, sourceMac: string, family: Family, ip: Buffer): Buffer {
  const header = Buffer.alloc(14);
  macBytes(destinationMac).copy(header, 0);
  macBytes(sourceMac).copy(header, 6);
  header.writeUInt16BE(family === 4 ? 0x0800 : 0x86dd, 12);
  return Buffer.concat([header, ip]);
}

/** RFC 7348 section 5: flags with the I bit (0x08), 24 reserved bits, the 24-bit VNI, 8 reserved bits. */
export function vxlanHeader(vni: number): Buffer {
  if (!Number.isInteger(vni) || vni < 0 || vni > 0xffffff) throw new RangeError(`VNI out of range: ${vni}`);
  const header = Buffer.alloc(8);
  header[0] = 0x08;
  header.writeUIntBE(vni, 4, 3); // bytes 4-6; byte 7 reserved
  return header;
}

/**
 * The UDP payload a session sends for one packet: VXLAN header, then the frame cut to `packetLength`
 * bytes when given (PacketLength counts the bytes after the VXLAN header).
 */
export function vxlanDatagram(vni: number, frame: Buffer, packetLength?: number): Buffer {
  const kept = packetLength === undefined ? frame : frame.subarray(0, Math.min(frame.length, packetLength));
  return Buffer.concat([vxlanHeader(vni), kept]);
}
