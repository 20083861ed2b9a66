import { isIP } from 'node:net';
import { CaptureSetupError, type CaptureStats, startCapture } from '../capture/capture.ts';
import type { Identify } from '../capture/files.ts';
import { type Command, parseFlags, UsageError, untilShutdown } from '../command.ts';

const HELP = `Usage: mirrorops capture --out DIR [options]

Receives the VXLAN that mirror sessions deliver (UDP 4789) and writes the mirrored frames to one
pcap file per session (per VNI) in DIR: classic pcap, Ethernet, nanosecond timestamps, named
<vni>_<n>.pcap. Run it on the mirror target's instance. Prints the address it listens on; stops
on Ctrl-C (SIGINT) or SIGTERM, writing and closing every file. A status line goes to stderr
every few seconds. index.json in DIR says what each file is.

Options:
  --out DIR              where the files go (created when missing)
  --listen HOST:PORT     address to receive VXLAN on (default 0.0.0.0:4789; port 0 picks one)
  --rotate-mb N          start a VNI's next file before one passes N megabytes (10^6 bytes)
  --rotate-seconds S     start a VNI's next file once one is S seconds old
  --health-port P        accept and close TCP connections on P: the health check of a Network
                         Load Balancer whose UDP 4789 listener forwards to this instance
  --resolve              look each VNI up to its session in this account and Region and name
                         files i-..._eni-..._tms-..._<vni>_<n>.pcap (needs
                         ec2:DescribeTrafficMirrorSessions and ec2:DescribeNetworkInterfaces)
  --region R, --profile P, --endpoint-url U
                         where --resolve looks, as the AWS CLI reads them (else AWS_REGION,
                         AWS_PROFILE, AWS_ENDPOINT_URL, the instance's role)
  --status-seconds N     seconds between status lines (default 5; 0: none)
  --max-open-files N     files open at once; the least recently written is closed (default 64)
  -h, --help             show this help`;

const flags = {
  out: { type: 'string' },
  listen: { type: 'string', default: '0.0.0.0:4789' },
  'rotate-mb': { type: 'string' },
  'rotate-seconds': { type: 'string' },
  'health-port': { type: 'string' },
  resolve: { type: 'boolean', default: false },
  // As cli/aws.ts's awsFlags; that module (and the SDK) is loaded only for --resolve.
  region: { type: 'string' },
  profile: { type: 'string' },
  'endpoint-url': { type: 'string' },
  'status-seconds': { type: 'string', default: '5' },
  'max-open-files': { type: 'string', default: '64' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function positive(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value <= 0) {
    throw new UsageError(`--${flag} must be a number above 0, got '${raw}'`);
  }
  return value;
}

function integer(flag: string, raw: string, min: number, max: number): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new UsageError(`--${flag} must be an integer from ${min} to ${max}, got '${raw}'`);
  }
  return value;
}

/** HOST:PORT, with an IPv6 host in brackets ([::]:4789). */
export function parseListen(raw: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d+)$/.exec(raw);
  const host = match?.[1] ?? match?.[2];
  if (!match || host === undefined || isIP(host) === 0) {
    throw new UsageError(`--listen must be IP:PORT (an IPv6 address in brackets), got '${raw}'`);
  }
  return { host, port: integer('listen', match[3] ?? '', 0, 65535) };
}

const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 0)} MB`;

export function statusLine(s: CaptureStats): string {
  const kernel = s.kernelDrops === undefined ? '' : ` (kernel ${s.kernelDrops})`;
  const failed = s.failedFiles > 0 ? `, ${s.failedFiles} files failed` : '';
  return `${s.packets} packets, ${megabytes(s.bytes)}, ${s.filesOpened} files (${s.filesOpen} open); dropped ${s.dropped}${kernel}, malformed ${s.malformed}${failed}`;
}

export const captureCommand: Command = {
  summary: 'receive mirrored traffic (VXLAN) and write one pcap file per session',
  async run(args, io, shutdown) {
    const { values } = parseFlags(args, flags);
    if (values.help) {
      io.out(HELP);
      return 0;
    }
    if (values.out === undefined || values.out === '') throw new UsageError('--out DIR is required');
    const { host, port } = parseListen(values.listen);
    const rotateMb = positive('rotate-mb', values['rotate-mb']);
    const rotateSeconds = positive('rotate-seconds', values['rotate-seconds']);
    const healthPort =
      values['health-port'] === undefined
        ? undefined
        : integer('health-port', values['health-port'], 0, 65535);
    const statusSeconds = integer('status-seconds', values['status-seconds'], 0, 86_400);
    const maxOpenFiles = integer('max-open-files', values['max-open-files'], 1, 10_000);
    const note = (line: string) => io.err(`mirrorops capture: ${line}`);
    const lookups = new AbortController();
    // The account is checked before anything listens: missing credentials are an error now (exit 5), not later.
    let identify: Identify | undefined;
    if (values.resolve) {
      const [{ connect }, { ec2VniLookup, resolvingIdentify }] = await Promise.all([
        import('../aws.ts'),
        import('../capture/resolve.ts'),
      ]);
      identify = resolvingIdentify(ec2VniLookup((await connect(values, io)).ec2), {
        signal: lookups.signal,
        note,
      });
    }

    const capture = await startCapture({
      host,
      port,
      dir: values.out,
      ...(rotateMb === undefined ? {} : { rotateBytes: Math.max(1, Math.round(rotateMb * 1e6)) }),
      ...(rotateSeconds === undefined ? {} : { rotateSeconds }),
      ...(healthPort === undefined ? {} : { healthPort }),
      ...(identify === undefined ? {} : { identify }),
      maxOpenFiles,
      note,
    }).catch((error: unknown) => {
      if (error instanceof CaptureSetupError) throw new Error(error.message);
      throw error;
    });
    const { address, healthAddress } = capture;
    const shown = (a: { host: string; port: number }) =>
      isIP(a.host) === 6 ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
    io.out(shown(address));
    io.err(
      [
        `mirrorops capture: receiving VXLAN on UDP ${shown(address)}, writing one pcap per VNI to ${values.out}`,
        ...(healthAddress
          ? [`mirrorops capture: health checks answered on TCP ${shown(healthAddress)}`]
          : []),
        ...(capture.receiveBufferBytes < 8 * 1024 * 1024
          ? [
              `mirrorops capture: the kernel granted a ${Math.round(capture.receiveBufferBytes / 1024)} KiB receive buffer; for bursts raise net.core.rmem_max (sysctl -w net.core.rmem_max=33554432)`,
            ]
          : []),
        'Ctrl-C stops it.',
      ].join('\n'),
    );
    const status =
      statusSeconds > 0
        ? setInterval(() => {
            void capture.stats().then((s) => note(statusLine(s)));
          }, statusSeconds * 1000)
        : undefined;
    const reason = await untilShutdown(shutdown);
    if (status) clearInterval(status);
    lookups.abort();
    const last = await capture.stop();
    note(`stopped (${reason}): ${statusLine(last)}`);
    return 0;
  },
};
