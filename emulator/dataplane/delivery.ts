/**
 * Where each target's VXLAN goes, and the UDP socket that sends it. AWS sends a target's mirrored
 * traffic to UDP port 4789 of its address; here every target delivers to 127.0.0.1:4789 unless
 * told otherwise, per target (`tmt-...`) or for all (`*`).
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';

export interface DeliveryAddress {
  address: string;
  port: number;
}

export const VXLAN_PORT = 4789;
export const DEFAULT_DELIVERY: DeliveryAddress = { address: '127.0.0.1', port: VXLAN_PORT };

const KEY = /^(\*|tmt-[0-9a-f]{8,17})$/;

/** `HOST:PORT` or `[IPV6]:PORT`, HOST an IP address; RangeError naming what is wrong otherwise. */
export function parseDeliveryAddress(text: string): DeliveryAddress {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const address = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (!match || address === undefined || !(port >= 1 && port <= 65535)) {
    throw new RangeError(`a delivery address is HOST:PORT or [IPV6]:PORT with a port 1-65535, got '${text}'`);
  }
  if (match[1] !== undefined ? !isIPv6(address) : !isIPv4(address)) {
    throw new RangeError(`a delivery address needs an IP address as its host, got '${address}'`);
  }
  return { address, port };
}

/** Checks a delivery key: a target id (`tmt-` and 8 or 17 hex digits) or `*`. */
export function checkDeliveryKey(key: string): void {
  if (!KEY.test(key)) {
    throw new RangeError(`a delivery is set for a target id (tmt-...) or '*' for all, got '${key}'`);
  }
}

/** The delivery table and the sockets (one IPv4, one IPv6, opened on first use). */
export class Delivery {
  private readonly table = new Map<string, DeliveryAddress>();
  private readonly sockets = new Map<4 | 6, Promise<Socket>>();

  constructor(entries: Record<string, string> = {}) {
    for (const [key, value] of Object.entries(entries)) this.set(key, value);
  }

  /** Sets where a target (or `*`, every target without its own entry) delivers; undefined removes it. */
  set(key: string, address: string | undefined): void {
    checkDeliveryKey(key);
    if (address === undefined) this.table.delete(key);
    else this.table.set(key, parseDeliveryAddress(address));
  }

  /** The target's own entry, else `*`'s, else 127.0.0.1:4789. */
  addressOf(targetId: string): DeliveryAddress {
    return this.table.get(targetId) ?? this.table.get('*') ?? DEFAULT_DELIVERY;
  }

  private socket(family: 4 | 6): Promise<Socket> {
    let socket = this.sockets.get(family);
    if (!socket) {
      socket = new Promise<Socket>((resolve, reject) => {
        const s = createSocket(family === 4 ? 'udp4' : 'udp6');
        s.once('error', reject);
        s.bind(0, family === 4 ? '0.0.0.0' : '::', () => {
          s.off('error', reject);
          // A send that fails (an unreachable address) is reported by send's callback; later
          // asynchronous errors (ICMP port unreachable on some systems) must not crash the emulator.
          s.on('error', () => {});
          s.unref();
          resolve(s);
        });
      });
      this.sockets.set(family, socket);
    }
    return socket;
  }

  /** Hands the datagram to the socket; resolves once it is sent (or with the reason it was not). */
  async send(datagram: Buffer, to: DeliveryAddress): Promise<string | undefined> {
    const family = isIPv6(to.address) ? 6 : 4;
    let socket: Socket;
    try {
      socket = await this.socket(family);
    } catch (error) {
      // No such socket here (no IPv6 on this host): reported, and tried again on the next send.
      this.sockets.delete(family);
      return `cannot open a UDP socket for IPv${family}: ${(error as Error).message}`;
    }
    return new Promise((resolve) => {
      try {
        socket.send(datagram, to.port, to.address, (error) => resolve(error ? error.message : undefined));
      } catch (error) {
        // The socket was closed under it (the emulator stopping mid-request).
        resolve((error as Error).message);
      }
    });
  }

  async close(): Promise<void> {
    const sockets = [...this.sockets.values()];
    this.sockets.clear();
    await Promise.all(
      sockets.map(async (pending) => {
        const socket = await pending.catch(() => undefined);
        await new Promise<void>((resolve) => (socket ? socket.close(() => resolve()) : resolve()));
      }),
    );
  }
}
