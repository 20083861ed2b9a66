import { createSocket, type Socket } from 'node:dgram';
import { access, constants, mkdir, readFile, stat } from 'node:fs/promises';
import { createServer, isIPv6, type Server, type Socket as TcpSocket } from 'node:net';
import { type Malformed, VXLAN_HEADER, vxlanVni } from '../../shared/capture/vxlan.ts';
import { type FilesStats, type Identify, PcapFiles } from './files.ts';

export interface CaptureOptions {
  host: string;
  port: number;
  dir: string;
  rotateBytes?: number;
  rotateSeconds?: number;
  /** TCP port that accepts and closes connections: a load balancer's health check. */
  healthPort?: number;
  identify?: Identify;
  /** Nanoseconds since the epoch; tests move it by hand. */
  clock?: () => bigint;
  /** How often the files are written out and aged (ms); 0 leaves it to `tick()`. */
  tickMs?: number;
  maxOpenFiles?: number;
  maxBufferedPerFile?: number;
  maxBufferedTotal?: number;
  /** The UDP receive buffer to ask the kernel for (it grants up to net.core.rmem_max). */
  receiveBufferBytes?: number;
  note?: (line: string) => void;
}

export interface CaptureStats extends FilesStats {
  malformed: number;
  malformedBy: Record<Malformed, number>;
  /** Datagrams the kernel let go because the socket's buffer was full (Linux: /proc/net/udp), when known. */
  kernelDrops?: number;
}

export interface Capture {
  /** Where VXLAN is received and, when asked, health checks answered. */
  address: { host: string; port: number };
  healthAddress?: { host: string; port: number };
  receiveBufferBytes: number;
  stats(): Promise<CaptureStats>;
  /** Writes out what is gathered and closes files past their age now (as the timer does). */
  tick(): void;
  /** Stops receiving, writes and closes every file and the index. */
  stop(): Promise<CaptureStats>;
}

/** Why the capture could not start, in one line (the port is taken, the directory is not writable). */
export class CaptureSetupError extends Error {
  override name = 'CaptureSetupError';
}

function listenError(error: unknown, what: string, host: string, port: number): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE')
    return new CaptureSetupError(`${what} port ${port} on ${host} is already in use`);
  if (code === 'EACCES')
    return new CaptureSetupError(`not allowed to listen on ${what} port ${port} on ${host}`);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EINVAL') {
    return new CaptureSetupError(`cannot listen on ${host}: no such local address`);
  }
  return error instanceof Error ? error : new Error(String(error));
}

/** Creates the directory when missing; refuses one that is not a directory or cannot be written. */
async function writableDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    if (!(await stat(dir)).isDirectory()) throw new CaptureSetupError(`${dir} is not a directory`);
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (error) {
    if (error instanceof CaptureSetupError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'EROFS'
          ? 'read-only file system'
          : code === 'ENOTDIR' || code === 'EEXIST'
            ? 'a part of the path is not a directory'
            : (error as Error).message;
    throw new CaptureSetupError(`cannot write to directory ${dir}: ${why}`);
  }
}

/** The kernel's drop counter for the UDP socket on this port (Linux), or undefined. */
async function kernelDrops(port: number, ipv6: boolean): Promise<number | undefined> {
  const text = await readFile(ipv6 ? '/proc/net/udp6' : '/proc/net/udp', 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let drops: number | undefined;
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[1]?.endsWith(`:${hexPort}`)) drops = (drops ?? 0) + Number(fields[fields.length - 1]);
  }
  return drops;
}

/** Seconds and nanoseconds since the epoch, written into a reused object: no bigint per packet. */
type Clock = (into: { seconds: number; nanos: number }) => void;

/**
 * The wall clock to the nanosecond, as numbers: the epoch at start (performance.timeOrigin, in
 * whole milliseconds and the nanoseconds past them) plus the monotonic performance.now(), which
 * Node derives from a nanosecond counter.
 */
function wallClock(): Clock {
  const originMs = Math.floor(performance.timeOrigin);
  const originSeconds = Math.floor(originMs / 1000);
  const originNanos = (originMs % 1000) * 1e6 + Math.round((performance.timeOrigin - originMs) * 1e6);
  return (into) => {
    const elapsed = Math.round(performance.now() * 1e6) + originNanos;
    const whole = Math.floor(elapsed / 1e9);
    into.seconds = originSeconds + whole;
    into.nanos = elapsed - whole * 1e9;
  };
}

function fromBigint(clock: () => bigint): Clock {
  return (into) => {
    const now = clock();
    into.seconds = Number(now / 1_000_000_000n);
    into.nanos = Number(now % 1_000_000_000n);
  };
}

/**
 * Receives VXLAN on a UDP port and writes each VNI's frames to its own pcap files; datagrams that
 * are not VXLAN are counted and let go. Resolves once the port (and the health port) listen.
 */
export async function startCapture(o: CaptureOptions): Promise<Capture> {
  await writableDirectory(o.dir);
  const time = o.clock ? fromBigint(o.clock) : wallClock();
  const arrival = { seconds: 0, nanos: 0 };
  const clock = () => {
    time(arrival);
    return BigInt(arrival.seconds) * 1_000_000_000n + BigInt(arrival.nanos);
  };
  const files = await PcapFiles.create({
    dir: o.dir,
    ...(o.rotateBytes === undefined ? {} : { rotateBytes: o.rotateBytes }),
    ...(o.rotateSeconds === undefined ? {} : { rotateNs: BigInt(Math.round(o.rotateSeconds * 1e9)) }),
    ...(o.identify === undefined ? {} : { identify: o.identify }),
    ...(o.maxOpenFiles === undefined ? {} : { maxOpenFiles: o.maxOpenFiles }),
    ...(o.maxBufferedPerFile === undefined ? {} : { maxBufferedPerFile: o.maxBufferedPerFile }),
    ...(o.maxBufferedTotal === undefined ? {} : { maxBufferedTotal: o.maxBufferedTotal }),
    ...(o.note === undefined ? {} : { note: o.note }),
  });
  const malformedBy: Record<Malformed, number> = { 'too-short': 0, 'no-vni-flag': 0 };
  const ipv6 = isIPv6(o.host);
  const socket: Socket = createSocket({ type: ipv6 ? 'udp6' : 'udp4' });
  socket.on('message', (datagram) => {
    const vni = vxlanVni(datagram);
    if (typeof vni === 'string') malformedBy[vni]++;
    else {
      time(arrival);
      files.packet(vni, datagram, VXLAN_HEADER, arrival.seconds, arrival.nanos);
    }
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', (error) => reject(listenError(error, 'UDP', o.host, o.port)));
    socket.bind({ port: o.port, address: o.host, exclusive: true }, () => {
      socket.removeAllListeners('error');
      resolve();
    });
  }).catch((error: unknown) => {
    socket.close();
    throw error;
  });
  socket.on('error', (error) => o.note?.(`receiving failed: ${error.message}`));
  const wanted = o.receiveBufferBytes ?? 32 * 1024 * 1024;
  try {
    socket.setRecvBufferSize(wanted);
  } catch {
    // The kernel keeps its default; the granted size is reported below.
  }
  const address = socket.address();

  let health: Server | undefined;
  const checks = new Set<TcpSocket>();
  if (o.healthPort !== undefined) {
    const server = createServer((connection) => {
      checks.add(connection);
      connection.on('close', () => checks.delete(connection));
      connection.on('error', () => undefined);
      connection.end();
    });
    health = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) => reject(listenError(error, 'TCP health', o.host, o.healthPort ?? 0)));
      server.listen({ port: o.healthPort, host: o.host, exclusive: true }, () => {
        server.removeAllListeners('error');
        resolve();
      });
    }).catch((error: unknown) => {
      socket.close();
      throw error;
    });
    server.on('error', (error) => o.note?.(`health port failed: ${error.message}`));
  }
  const healthAddress = health?.address();

  const stats = async (): Promise<CaptureStats> => {
    const drops = await kernelDrops(address.port, ipv6);
    return {
      ...files.snapshot(),
      malformed: malformedBy['too-short'] + malformedBy['no-vni-flag'],
      malformedBy: { ...malformedBy },
      ...(drops === undefined ? {} : { kernelDrops: drops }),
    };
  };
  const tickMs = o.tickMs ?? 1000;
  const timer = tickMs > 0 ? setInterval(() => files.tick(clock()), tickMs) : undefined;
  timer?.unref();
  let stopped: Promise<CaptureStats> | undefined;
  return {
    address: { host: address.address, port: address.port },
    ...(healthAddress && typeof healthAddress === 'object'
      ? { healthAddress: { host: healthAddress.address, port: healthAddress.port } }
      : {}),
    receiveBufferBytes: socket.getRecvBufferSize(),
    stats,
    tick: () => files.tick(clock()),
    stop() {
      stopped ??= (async () => {
        if (timer) clearInterval(timer);
        const last = await stats();
        await new Promise<void>((resolve) => socket.close(() => resolve()));
        if (health) {
          const closed = new Promise<void>((resolve) => health.close(() => resolve()));
          for (const connection of checks) connection.destroy();
          await closed;
        }
        await files.close();
        return { ...last, ...files.snapshot() };
      })();
      return stopped;
    },
  };
}
