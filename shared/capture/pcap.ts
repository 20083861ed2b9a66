/**
 * Classic pcap with nanosecond timestamps (the libpcap file format, draft-ietf-opsawg-pcap):
 * a 24-byte file header, then per packet a 16-byte record header and the captured bytes.
 * Written little-endian; readers tell the byte order and resolution from the magic number.
 */
export const PCAP_NANO_MAGIC = 0xa1b23c4d;
export const LINKTYPE_ETHERNET = 1;
/** What tcpdump writes by default: larger than any frame a session mirrors (9001-byte MTU). */
export const SNAPLEN = 262_144;
export const FILE_HEADER = 24;
export const RECORD_HEADER = 16;

/** The file header: magic, version 2.4, no time zone, snap length, Ethernet. */
export function pcapFileHeader(): Buffer {
  const header = Buffer.alloc(FILE_HEADER);
  header.writeUInt32LE(PCAP_NANO_MAGIC, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(SNAPLEN, 16);
  header.writeUInt32LE(LINKTYPE_ETHERNET, 20);
  return header;
}

/** Writes a record header at `offset`: time as seconds and nanoseconds, captured and original length. */
export function writeRecordHeader(
  into: DataView,
  offset: number,
  seconds: number,
  nanoseconds: number,
  capturedLength: number,
  originalLength: number,
): void {
  into.setUint32(offset, seconds, true);
  into.setUint32(offset + 4, nanoseconds, true);
  into.setUint32(offset + 8, capturedLength, true);
  into.setUint32(offset + 12, originalLength, true);
}

const VLAN_TAGS = new Set([0x8100, 0x88a8]);

/**
 * The length the frame had on the wire, from its own IP header, so a frame a session cut at its
 * PacketLength ("the number of bytes in each packet to mirror", traffic-mirroring-session.html)
 * keeps its original length and a reader shows it as truncated: 14 bytes of Ethernet (and 4 per
 * 802.1Q tag), plus the IPv4 total length or 40 + the IPv6 payload length. Never less than what
 * was captured (Ethernet pads short frames); the captured length when the frame has no IP header
 * to read (not IP, cut before it, or an IPv6 jumbogram).
 */
export function originalLength(frame: Uint8Array, start = 0): number {
  const captured = frame.length - start;
  let at = start + 12;
  let type = ((frame[at] ?? 0) << 8) | (frame[at + 1] ?? 0);
  while (VLAN_TAGS.has(type) && at + 6 <= frame.length) {
    at += 4;
    type = ((frame[at] ?? 0) << 8) | (frame[at + 1] ?? 0);
  }
  const ip = at + 2;
  let onWire: number | undefined;
  if (type === 0x0800 && ip + 4 <= frame.length && (frame[ip] ?? 0) >> 4 === 4) {
    onWire = (((frame[ip + 2] ?? 0) << 8) | (frame[ip + 3] ?? 0)) + (ip - start);
  } else if (type === 0x86dd && ip + 6 <= frame.length && (frame[ip] ?? 0) >> 4 === 6) {
    const payload = ((frame[ip + 4] ?? 0) << 8) | (frame[ip + 5] ?? 0);
    if (payload > 0) onWire = payload + 40 + (ip - start);
  }
  return onWire === undefined ? captured : Math.max(captured, onWire);
}
