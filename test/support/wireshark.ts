import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname } from 'node:path';
import type { ProtoTree, Vector, WiregasmLib, WiregasmLibOverrides } from '@goodtools/wiregasm';

/**
 * Reads pcap files with Wireshark itself (Wiregasm: Wireshark's dissection library compiled to
 * WebAssembly, an npm package), so the capture's files are checked by the reader responders
 * use, not by code of ours. Loads once per test file (about a second).
 */
const require = createRequire(import.meta.url);
const entry = require.resolve('@goodtools/wiregasm/dist/wiregasm.js');
const load = require(entry) as (overrides: WiregasmLibOverrides) => Promise<WiregasmLib>;

let lib: Promise<WiregasmLib> | undefined;
function wireshark(): Promise<WiregasmLib> {
  lib ??= load({
    locateFile: (path) => `${dirname(entry)}/${path}`,
    print: () => undefined,
    printErr: () => undefined,
    handleStatus: () => undefined,
  }).then((wg) => {
    wg.init();
    return wg;
  });
  return lib;
}

export interface WiresharkFrame {
  number: number;
  /** frame.time_epoch in nanoseconds. */
  epochNs: bigint;
  /** frame.len (on the wire) and frame.cap_len (in the file). */
  length: number;
  capturedLength: number;
  protocols: string;
  /** Every field Wireshark shows, by its display-filter name (the first occurrence). */
  fields: Map<string, string>;
  /** Labels of the tree, for the "[Packet size limited during capture]" mark and the like. */
  labels: string[];
  /** The frame's bytes as captured. */
  bytes: Buffer;
}

export interface WiresharkFile {
  fileType: string;
  encapsulation: string;
  frames: WiresharkFrame[];
}

function walk(tree: Vector<ProtoTree>, fields: Map<string, string>, labels: string[]): void {
  for (let i = 0; i < tree.size(); i++) {
    const node = tree.get(i);
    labels.push(node.label);
    const match = /^([\w.]+) == (.*)$/.exec(node.filter);
    if (match?.[1] && !fields.has(match[1])) fields.set(match[1], (match[2] ?? '').replace(/^"(.*)"$/, '$1'));
    walk(node.tree, fields, labels);
  }
}

let uploads = 0;

/** Every frame of a pcap file as Wireshark dissects it; throws with Wireshark's reason when it cannot read it. */
export async function readWithWireshark(path: string): Promise<WiresharkFile> {
  const wg = await wireshark();
  const data = await readFile(path);
  const virtual = `/uploads/${++uploads}-${basename(path)}`;
  wg.FS.writeFile(virtual, data);
  const session = new wg.DissectSession(virtual);
  try {
    const loaded = session.load();
    if (loaded.code !== 0) throw new Error(`Wireshark cannot read ${path}: ${loaded.error}`);
    const count = session.getFrames('', 0, 0).matched;
    const frames: WiresharkFrame[] = [];
    for (let n = 1; n <= count; n++) {
      const frame = session.getFrame(n);
      const fields = new Map<string, string>();
      const labels: string[] = [];
      walk(frame.tree, fields, labels);
      const source = frame.data_sources.size() > 0 ? frame.data_sources.get(0).data : '';
      const [seconds, fraction = ''] = (fields.get('frame.time_epoch') ?? '0').split('.');
      frames.push({
        number: n,
        epochNs: BigInt(seconds ?? '0') * 1_000_000_000n + BigInt(fraction.padEnd(9, '0').slice(0, 9)),
        length: Number(fields.get('frame.len')),
        capturedLength: Number(fields.get('frame.cap_len')),
        protocols: fields.get('frame.protocols') ?? '',
        fields,
        labels,
        bytes: Buffer.from(source, 'base64'),
      });
    }
    return { fileType: loaded.summary.file_type, encapsulation: loaded.summary.file_encap_type, frames };
  } finally {
    session.delete();
    // Emscripten's FS has unlink; the package's types list only part of it.
    (wg.FS as typeof wg.FS & { unlink(path: string): void }).unlink(virtual);
  }
}
