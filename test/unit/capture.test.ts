import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { isoNs } from '../../cli/capture/files.ts';
import { parseListen, statusLine } from '../../cli/commands/capture.ts';
import { captureFileName, parseCaptureFileName } from '../../shared/capture/naming.ts';
import { originalLength, pcapFileHeader } from '../../shared/capture/pcap.ts';
import { VXLAN_HEADER, vxlanHeader, vxlanVni } from '../../shared/capture/vxlan.ts';
import { ethernetFrame, vxlan } from '../support/vxlan.ts';

describe('VXLAN header (RFC 7348)', () => {
  test('reads the 24-bit VNI after the I flag; reserved bits are ignored', () => {
    const frame = ethernetFrame();
    expect(vxlanVni(vxlan(0, frame))).toBe(0);
    expect(vxlanVni(vxlan(0xabcdef, frame))).toBe(0xabcdef);
    const reserved = vxlan(77, frame, 0xff);
    reserved[1] = 0xff;
    reserved[7] = 0xff;
    expect(vxlanVni(reserved)).toBe(77);
  });

  test('a datagram without the I flag, or too short for the header and an Ethernet header, is malformed', () => {
    expect(vxlanVni(vxlan(5, ethernetFrame(), 0x00))).toBe('no-vni-flag');
    expect(vxlanVni(vxlan(5, ethernetFrame(), 0xf7))).toBe('no-vni-flag');
    expect(vxlanVni(Buffer.from('hello'))).toBe('too-short');
    expect(vxlanVni(vxlan(5, Buffer.alloc(13)))).toBe('too-short');
    expect(vxlanVni(vxlan(5, Buffer.alloc(14)))).toBe(5);
  });

  test('the header written for any VNI reads back as that VNI', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffff }),
        fc.uint8Array({ minLength: 14, maxLength: 64 }),
        (vni, frame) => {
          const header = vxlanHeader(vni);
          expect(header.length).toBe(VXLAN_HEADER);
          expect(header[0]).toBe(0x08);
          expect(vxlanVni(Buffer.concat([header, frame]))).toBe(vni);
        },
      ),
    );
    expect(() => vxlanHeader(0x1000000)).toThrow(RangeError);
  });

  test('any bytes give a VNI of 24 bits or a reason, never an exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        const result = vxlanVni(bytes);
        if (typeof result === 'number') {
          expect(bytes.length).toBeGreaterThanOrEqual(22);
          expect(result).toBeLessThanOrEqual(0xffffff);
        } else expect(['too-short', 'no-vni-flag']).toContain(result);
      }),
    );
  });
});

describe('pcap', () => {
  test('file header: nanosecond magic, version 2.4, snap length, Ethernet, little-endian', () => {
    expect(pcapFileHeader().toString('hex')).toBe('4d3cb2a1020004000000000000000000000004000100' + '0000');
  });

  test('the original length of a frame cut anywhere after its IP length field is Ethernet + the IP length', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(4 as const, 6 as const),
        fc.constantFrom(6 as const, 17 as const),
        fc.integer({ min: 0, max: 1400 }),
        fc.integer({ min: 0, max: 2000 }),
        (version, protocol, size, cut) => {
          const frame = ethernetFrame({ version, protocol, payload: Buffer.alloc(size, 7) });
          const lengthFieldEnd = version === 4 ? 18 : 20;
          const kept = frame.subarray(0, Math.max(lengthFieldEnd, Math.min(frame.length, cut)));
          expect(originalLength(kept)).toBe(frame.length);
        },
      ),
    );
  });

  test('a frame with no IP length to read keeps its captured length; padding never shortens it', () => {
    const arp = Buffer.concat([Buffer.alloc(12), Buffer.from([0x08, 0x06]), Buffer.alloc(28)]);
    expect(originalLength(arp)).toBe(arp.length);
    const cutBefore = ethernetFrame().subarray(0, 16);
    expect(originalLength(cutBefore)).toBe(16);
    const small = ethernetFrame({ payload: Buffer.alloc(0) }); // 54 bytes: Ethernet pads it to 60
    expect(originalLength(Buffer.concat([small, Buffer.alloc(6)]))).toBe(60);
    const jumbogram = ethernetFrame({ version: 6 });
    jumbogram.writeUInt16BE(0, 18);
    expect(originalLength(jumbogram)).toBe(jumbogram.length);
  });

  test('802.1Q tags before the IP header count in the original length', () => {
    const frame = ethernetFrame({ payload: Buffer.alloc(500) });
    const tagged = Buffer.concat([
      frame.subarray(0, 12),
      Buffer.from([0x81, 0x00, 0x00, 0x05]),
      frame.subarray(12),
    ]);
    expect(originalLength(tagged.subarray(0, 60))).toBe(frame.length + 4);
  });

  test('an offset reads the frame inside a datagram', () => {
    const frame = ethernetFrame({ payload: Buffer.alloc(300) });
    expect(originalLength(vxlan(1, frame.subarray(0, 50)), 8)).toBe(frame.length);
  });

  test('timestamps print with nine decimals', () => {
    expect(isoNs(1_700_000_000_123_456_789n)).toBe('2023-11-14T22:13:20.123456789Z');
    expect(isoNs(5n)).toBe('1970-01-01T00:00:00.000000005Z');
  });
});

describe('file names', () => {
  const identity = {
    sessionId: 'tms-0a1b2c3d',
    networkInterfaceId: 'eni-0123abcd',
    instanceId: 'i-0fedcba9',
  };

  test('VNI and sequence alone, or after instance, ENI and session', () => {
    expect(captureFileName(42, 1)).toBe('42_1.pcap');
    expect(captureFileName(42, 3, identity)).toBe('i-0fedcba9_eni-0123abcd_tms-0a1b2c3d_42_3.pcap');
    const { instanceId: _, ...noInstance } = identity;
    expect(captureFileName(42, 3, noInstance)).toBe('eni-0123abcd_tms-0a1b2c3d_42_3.pcap');
  });

  test('nothing but ids of AWS shape goes into a name', () => {
    expect(
      captureFileName(1, 1, { sessionId: '../../etc', networkInterfaceId: 'eni-x/y', instanceId: 'i-0abc' }),
    ).toBe('i-0abc_1_1.pcap');
  });

  test('names read back as their VNI and sequence', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffff }),
        fc.integer({ min: 1, max: 1e6 }),
        fc.boolean(),
        (vni, n, named) => {
          expect(parseCaptureFileName(captureFileName(vni, n, named ? identity : undefined))).toEqual({
            vni,
            n,
          });
        },
      ),
    );
    expect(parseCaptureFileName('index.json')).toBeUndefined();
  });
});

describe('command line', () => {
  test('--listen takes IPv4 or bracketed IPv6 with a port', () => {
    expect(parseListen('0.0.0.0:4789')).toEqual({ host: '0.0.0.0', port: 4789 });
    expect(parseListen('[::]:0')).toEqual({ host: '::', port: 0 });
    for (const bad of ['4789', 'localhost:4789', '0.0.0.0:70000', '::1:4789', '1.2.3.4:']) {
      expect(() => parseListen(bad)).toThrow(/--listen/);
    }
  });

  test('the status line names packets, bytes, files, drops and malformed datagrams', () => {
    const line = statusLine({
      packets: 12,
      bytes: 3_400_000,
      dropped: 1,
      filesOpened: 3,
      filesOpen: 2,
      failedFiles: 0,
      buffered: 0,
      malformed: 4,
      malformedBy: { 'too-short': 1, 'no-vni-flag': 3 },
      kernelDrops: 5,
    });
    expect(line).toBe('12 packets, 3.40 MB, 3 files (2 open); dropped 1 (kernel 5), malformed 4');
  });
});
