import { type FileHandle, open, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { captureFileName, type SessionIdentity } from '../../shared/capture/naming.ts';
import {
  originalLength,
  pcapFileHeader,
  RECORD_HEADER,
  writeRecordHeader,
} from '../../shared/capture/pcap.ts';

/** The index beside the capture files: what each file is. */
export const INDEX_FILE = 'index.json';
export const INDEX_FORMAT = 'mirrorops-capture-index/1';

export interface IndexEntry {
  file: string;
  vni: number;
  sequence: number;
  sessionId?: string;
  networkInterfaceId?: string;
  instanceId?: string;
  sessionNumber?: number;
  intent?: string;
  reason?: string;
  ownerId?: string;
  /** Why the file is named after its VNI alone when its session was asked for and not found. */
  unresolved?: string;
  firstPacket?: string;
  lastPacket?: string;
  packets: number;
  bytes: number;
  /** False while the file is being written, true once it is closed. */
  complete: boolean;
}

/** What a VNI's files are named after: known now, found later, or nothing more than the VNI. */
export type Identify = (
  vni: number,
) =>
  | { identity?: SessionIdentity; unresolved?: string }
  | Promise<{ identity?: SessionIdentity; unresolved?: string }>;

export interface FilesOptions {
  dir: string;
  /** Start a new file before one would grow past this many bytes. */
  rotateBytes?: number;
  /** Start a new file once one is this old (from its first packet), in nanoseconds. */
  rotateNs?: bigint;
  identify?: Identify;
  /** Files open at once; the least recently written is closed to open another. */
  maxOpenFiles?: number;
  /** Bytes gathered before a write. */
  chunkBytes?: number;
  /** Bytes waiting to be written, per file and in all: packets past either are dropped. */
  maxBufferedPerFile?: number;
  maxBufferedTotal?: number;
  /** A problem worth a line on stderr (a file that could not be written). */
  note?: (line: string) => void;
}

export interface FilesStats {
  packets: number;
  bytes: number;
  /** Packets let go on arrival: buffers full, or their file could not be written. */
  dropped: number;
  filesOpened: number;
  /** Files that could not be created or written (the first error of each kind is noted). */
  failedFiles: number;
  filesOpen: number;
  buffered: number;
}

const NS = 1_000_000_000n;

/** An instant as seconds and nanoseconds since the epoch, in ISO 8601 with nine decimals. */
export function isoTime(seconds: number, nanoseconds: number): string {
  return isoNs(BigInt(seconds) * NS + BigInt(nanoseconds));
}

/** An instant in nanoseconds since the epoch as ISO 8601 with nine decimals. */
export function isoNs(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const fraction = String(ns % NS).padStart(9, '0');
  return `${new Date(ms).toISOString().slice(0, 19)}.${fraction}Z`;
}

class CaptureFile {
  name: string | undefined;
  sequence = 0;
  handle: FileHandle | undefined;
  chunk: Buffer;
  used = 0;
  queue: Buffer[] = [];
  /** Bytes appended and not yet written (queue and chunk). */
  buffered = 0;
  size = 0;
  packets = 0;
  /** First and last packet: seconds and nanoseconds since the epoch. */
  firstSeconds: number;
  firstNanos: number;
  lastSeconds: number;
  lastNanos: number;
  view: DataView;
  lastUse = 0;
  writing = false;
  ending = false;
  failed = false;
  entry: IndexEntry | undefined;
  readonly closed: Promise<void>;
  markClosed!: () => void;

  constructor(
    readonly vni: number,
    seconds: number,
    nanos: number,
    chunk: Buffer,
  ) {
    this.chunk = chunk;
    this.view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.firstSeconds = seconds;
    this.firstNanos = nanos;
    this.lastSeconds = seconds;
    this.lastNanos = nanos;
    this.closed = new Promise((resolve) => {
      this.markClosed = resolve;
    });
  }
}

/**
 * One pcap file per VNI, written through bounded buffers: records are gathered into chunks and
 * written in order by one write at a time per file; a file rotates by size or age; at most
 * `maxOpenFiles` are open (the least recently written is closed); a packet that would push the
 * buffered bytes past a cap is dropped and counted, so memory stays bounded when the disk is slow.
 * Existing files are never overwritten: a name that exists takes the next sequence number.
 */
export class PcapFiles {
  private readonly open = new Map<number, CaptureFile>();
  private readonly ending = new Set<CaptureFile>();
  private readonly nextSequence = new Map<number, number>();
  private readonly entries = new Map<string, IndexEntry>();
  private readonly chunkBytes: number;
  private readonly maxOpen: number;
  private readonly maxPerFile: number;
  private readonly maxTotal: number;
  private buffered = 0;
  private readonly rotateNs: number | undefined;
  private readonly spare: Buffer[] = [];
  private uses = 0;
  private readonly stats = { packets: 0, bytes: 0, dropped: 0, filesOpened: 0, failedFiles: 0 };
  private readonly failures = new Set<string>();
  private indexWriting: Promise<void> | undefined;
  private indexDirty = false;

  private constructor(private readonly o: FilesOptions) {
    this.chunkBytes = o.chunkBytes ?? 64 * 1024;
    this.maxOpen = o.maxOpenFiles ?? 64;
    this.maxPerFile = o.maxBufferedPerFile ?? 4 * 1024 * 1024;
    this.maxTotal = o.maxBufferedTotal ?? 64 * 1024 * 1024;
    this.rotateNs = o.rotateNs === undefined ? undefined : Number(o.rotateNs);
  }

  /** Opens the directory's files: the index there is kept and added to; another file of that name is refused. */
  static async create(o: FilesOptions): Promise<PcapFiles> {
    const files = new PcapFiles(o);
    const path = join(o.dir, INDEX_FILE);
    const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (text !== undefined) {
      let index: { format?: unknown; files?: unknown } | undefined;
      try {
        index = JSON.parse(text);
      } catch {
        index = undefined;
      }
      if (index?.format !== INDEX_FORMAT || !Array.isArray(index.files)) {
        throw new Error(`${path} exists and is not a mirrorops capture index; choose another --out`);
      }
      for (const entry of index.files as IndexEntry[]) files.entries.set(entry.file, entry);
    }
    return files;
  }

  /**
   * Appends one packet: `datagram` from `from` on is the Ethernet frame, arrived at `seconds` and
   * `nanos` since the epoch (numbers, not a bigint: this runs for every packet).
   */
  packet(vni: number, datagram: Buffer, from: number, seconds: number, nanos: number): void {
    const length = datagram.length - from;
    const record = RECORD_HEADER + length;
    let file = this.open.get(vni);
    if (file && this.due(file, record, seconds, nanos)) {
      this.finish(file);
      file = undefined;
    }
    if (file === undefined) file = this.start(vni, seconds, nanos);
    if (file.failed || file.buffered + record > this.maxPerFile || this.buffered + record > this.maxTotal) {
      this.stats.dropped++;
      return;
    }
    if (file.used + record > file.chunk.length) {
      this.seal(file);
      if (record > file.chunk.length) this.setChunk(file, Buffer.allocUnsafe(record));
    }
    writeRecordHeader(file.view, file.used, seconds, nanos, length, originalLength(datagram, from));
    datagram.copy(file.chunk, file.used + RECORD_HEADER, from);
    file.used += record;
    file.buffered += record;
    this.buffered += record;
    file.size += record;
    file.packets++;
    file.lastSeconds = seconds;
    file.lastNanos = nanos;
    file.lastUse = ++this.uses;
    this.stats.packets++;
    this.stats.bytes += length;
  }

  /**
   * Writes what each file has gathered and closes the files past their age; called every second or
   * so, and with the same clock as the packets.
   */
  tick(now: bigint): void {
    const seconds = Number(now / NS);
    const nanos = Number(now % NS);
    for (const file of [...this.open.values()]) {
      if (file.failed) this.open.delete(file.vni);
      else if (this.aged(file, seconds, nanos)) this.finish(file);
      else this.seal(file);
    }
    if (this.open.size > 0) this.requestIndex();
  }

  /** Writes and closes every file, then the index. */
  async close(): Promise<void> {
    for (const file of [...this.open.values()]) this.finish(file);
    await Promise.all([...this.ending].map((file) => file.closed));
    if (this.entries.size > 0) {
      this.requestIndex();
      await this.indexWriting;
    }
  }

  snapshot(): FilesStats {
    return { ...this.stats, filesOpen: this.open.size, buffered: this.buffered };
  }

  /** The index entries of the files written so far in this directory. */
  /** In the order of their first packets (files are created asynchronously, so not in the order named). */
  index(): IndexEntry[] {
    const key = (e: IndexEntry) => `${e.firstPacket ?? ''} ${e.file}`;
    return [...this.entries.values()].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  }

  private due(file: CaptureFile, record: number, seconds: number, nanos: number): boolean {
    const { rotateBytes } = this.o;
    if (rotateBytes !== undefined && file.packets > 0 && file.size + record > rotateBytes) return true;
    return this.aged(file, seconds, nanos);
  }

  private aged(file: CaptureFile, seconds: number, nanos: number): boolean {
    return (
      this.rotateNs !== undefined &&
      (seconds - file.firstSeconds) * 1e9 + (nanos - file.firstNanos) >= this.rotateNs
    );
  }

  /** A chunk to gather into: one written earlier when there is one, else a new one. */
  private newChunk(): Buffer {
    return this.spare.pop() ?? Buffer.allocUnsafe(this.chunkBytes);
  }

  private setChunk(file: CaptureFile, chunk: Buffer): void {
    file.chunk = chunk;
    file.view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }

  private start(vni: number, seconds: number, nanos: number): CaptureFile {
    if (this.open.size >= this.maxOpen) {
      let oldest: CaptureFile | undefined;
      for (const open of this.open.values()) if (!oldest || open.lastUse < oldest.lastUse) oldest = open;
      if (oldest) this.finish(oldest);
    }
    const file = new CaptureFile(vni, seconds, nanos, this.newChunk());
    const header = pcapFileHeader();
    header.copy(file.chunk, 0);
    file.used = header.length;
    file.buffered = header.length;
    file.size = header.length;
    this.buffered += header.length;
    this.open.set(vni, file);
    this.stats.filesOpened++;
    void this.create(file);
    return file;
  }

  /** Names and creates a file (its session looked up first when asked), then writes what it gathered. */
  private async create(file: CaptureFile): Promise<void> {
    const found = this.o.identify ? await this.o.identify(file.vni) : {};
    for (;;) {
      const sequence = this.nextSequence.get(file.vni) ?? 1;
      this.nextSequence.set(file.vni, sequence + 1);
      const name = captureFileName(file.vni, sequence, found.identity);
      try {
        file.handle = await open(join(this.o.dir, name), 'wx');
        file.name = name;
        file.sequence = sequence;
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
        this.fail(file, error, `creating ${join(this.o.dir, name)}`);
        return;
      }
    }
    const identity = found.identity;
    file.entry = {
      file: file.name,
      vni: file.vni,
      sequence: file.sequence,
      ...(identity
        ? {
            sessionId: identity.sessionId,
            networkInterfaceId: identity.networkInterfaceId,
            ...(identity.instanceId === undefined ? {} : { instanceId: identity.instanceId }),
            ...(identity.sessionNumber === undefined ? {} : { sessionNumber: identity.sessionNumber }),
            ...(identity.intent === undefined ? {} : { intent: identity.intent }),
            ...(identity.reason === undefined ? {} : { reason: identity.reason }),
            ...(identity.ownerId === undefined ? {} : { ownerId: identity.ownerId }),
          }
        : {}),
      ...(found.unresolved === undefined ? {} : { unresolved: found.unresolved }),
      firstPacket: isoTime(file.firstSeconds, file.firstNanos),
      packets: 0,
      bytes: 0,
      complete: false,
    };
    this.entries.set(file.name, file.entry);
    this.requestIndex();
    void this.pump(file);
  }

  /** Moves the gathered bytes to the file's write queue. */
  private seal(file: CaptureFile): void {
    if (file.used > 0) {
      file.queue.push(file.chunk.subarray(0, file.used));
      this.setChunk(file, file.ending ? Buffer.alloc(0) : this.newChunk());
      file.used = 0;
    }
    void this.pump(file);
  }

  private async pump(file: CaptureFile): Promise<void> {
    if (file.writing || file.handle === undefined) return;
    file.writing = true;
    const handle = file.handle;
    while (file.queue.length > 0 && !file.failed) {
      const buffers = file.queue.splice(0);
      const bytes = buffers.reduce((sum, b) => sum + b.length, 0);
      try {
        let written = 0;
        while (written < bytes) {
          const { bytesWritten } = await handle.writev(written === 0 ? buffers : remaining(buffers, written));
          written += bytesWritten;
        }
      } catch (error) {
        this.fail(file, error, `writing ${join(this.o.dir, file.name ?? '')}`);
      }
      file.buffered -= bytes;
      this.buffered -= bytes;
      // Written chunks are gathered into again: no allocation, no garbage, at any packet rate.
      for (const b of buffers) {
        if (b.buffer.byteLength === this.chunkBytes && this.spare.length < 16) {
          this.spare.push(Buffer.from(b.buffer, 0, this.chunkBytes));
        }
      }
    }
    file.writing = false;
    if (file.ending && file.queue.length === 0 && file.used === 0) await this.closeFile(file);
  }

  /**
   * A file that cannot be created or written: what it gathered is let go, a line says why (once per
   * kind of error), and its VNI's packets are dropped until the next tick tries a new file.
   */
  private fail(file: CaptureFile, error: unknown, doing: string): void {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    if (!this.failures.has(code)) this.o.note?.(`${doing} failed: ${(error as Error).message}`);
    this.failures.add(code);
    if (!file.failed) this.stats.failedFiles++;
    file.failed = true;
    const pending = file.used + file.queue.reduce((sum, b) => sum + b.length, 0);
    file.buffered -= pending;
    this.buffered -= pending;
    file.queue = [];
    file.used = 0;
    if (file.handle === undefined) {
      file.ending = true;
      file.markClosed();
    } else this.finish(file);
  }

  /** Stops writing to a file: what it gathered is written, then it is closed. */
  private finish(file: CaptureFile): void {
    if (this.open.get(file.vni) === file) this.open.delete(file.vni);
    if (file.ending) return;
    file.ending = true;
    this.ending.add(file);
    this.seal(file);
  }

  private async closeFile(file: CaptureFile): Promise<void> {
    const handle = file.handle;
    file.handle = undefined;
    await handle?.close().catch(() => undefined);
    if (file.entry) {
      file.entry.packets = file.packets;
      file.entry.bytes = file.size;
      file.entry.firstPacket = isoTime(file.firstSeconds, file.firstNanos);
      file.entry.lastPacket = isoTime(file.lastSeconds, file.lastNanos);
      file.entry.complete = true;
      this.requestIndex();
    }
    this.ending.delete(file);
    file.markClosed();
  }

  /** Asks for the index to be written: one write at a time, and one more if asked during it. */
  private requestIndex(): void {
    this.indexDirty = true;
    this.indexWriting ??= (async () => {
      while (this.indexDirty) {
        this.indexDirty = false;
        await this.writeIndex();
      }
      this.indexWriting = undefined;
    })();
  }

  /** Writes the index to a temporary name, then renames it over the old one. */
  private async writeIndex(): Promise<void> {
    for (const file of this.open.values()) {
      if (file.entry) {
        file.entry.packets = file.packets;
        file.entry.bytes = file.size;
        file.entry.firstPacket = isoTime(file.firstSeconds, file.firstNanos);
        file.entry.lastPacket = isoTime(file.lastSeconds, file.lastNanos);
      }
    }
    const path = join(this.o.dir, INDEX_FILE);
    const temporary = `${path}.${process.pid}.tmp`;
    try {
      await writeFile(
        temporary,
        `${JSON.stringify({ format: INDEX_FORMAT, files: this.index() }, null, 2)}\n`,
      );
      await rename(temporary, path);
    } catch (error) {
      this.o.note?.(`writing ${path} failed: ${(error as Error).message}`);
    }
  }
}

/** The buffers after the first `skip` bytes (what a short write left). */
function remaining(buffers: Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  let left = skip;
  for (const buffer of buffers) {
    if (left >= buffer.length) left -= buffer.length;
    else {
      out.push(left > 0 ? buffer.subarray(left) : buffer);
      left = 0;
    }
  }
  return out;
}
