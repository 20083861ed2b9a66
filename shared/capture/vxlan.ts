/**
 * VXLAN as Traffic Mirroring delivers it (RFC 7348 section 5; traffic-mirroring-packet-formats.html):
 * an 8-byte header, then the mirrored Ethernet frame.
 *
 *   byte 0       flags: R R R R I R R R (I = 0x08, "valid VNI", MUST be 1)
 *   bytes 1-3    reserved
 *   bytes 4-6    VNI (24 bits)
 *   byte 7       reserved
 */
export const VXLAN_HEADER = 8;
export const VXLAN_PORT = 4789;
export const ETHERNET_HEADER = 14;
export const I_FLAG = 0x08;

/** Why a datagram was not taken as VXLAN carrying an Ethernet frame. */
export type Malformed = 'too-short' | 'no-vni-flag';

/**
 * Reads a VXLAN datagram's VNI, or says why it is not one: shorter than the header and an
 * Ethernet header, or without the I flag. Reserved bits are ignored, as RFC 7348 says a receiver
 * must. The frame starts at VXLAN_HEADER; nothing is copied.
 */
export function vxlanVni(datagram: Uint8Array): number | Malformed {
  if (datagram.length < VXLAN_HEADER + ETHERNET_HEADER) return 'too-short';
  if (((datagram[0] ?? 0) & I_FLAG) === 0) return 'no-vni-flag';
  return ((datagram[4] ?? 0) << 16) | ((datagram[5] ?? 0) << 8) | (datagram[6] ?? 0);
}

/** The VXLAN header for a VNI (I flag set, reserved bits zero), as a sender writes it. */
export function vxlanHeader(vni: number): Buffer {
  if (!Number.isInteger(vni) || vni < 0 || vni > 0xffffff) throw new RangeError(`VNI ${vni} is not 24 bits`);
  const header = Buffer.alloc(VXLAN_HEADER);
  header[0] = I_FLAG;
  header.writeUIntBE(vni, 4, 3);
  return header;
}
