import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type BuildOptions, build, type Metafile } from 'esbuild';
import { fixed, median, table, verdict } from './table.ts';

/**
 * Cold start of each function as it deploys: bundled with esbuild exactly as serverless.yml asks
 * (its `custom.esbuild`, as `osls print` resolves it, over serverless-esbuild's defaults), then
 * imported by a fresh `node` process. The yardstick is the floor of any function on the finding's
 * path: a bundle of the same options that only imports and constructs the EC2 and EventBridge
 * clients. Issue 12 asks for a ratio of at most 1.2: the other clients (SQS, RAM, STS) are
 * imported when first used, and Powertools must fit in the margin. The table also names the
 * clients each bundle holds at all, and which of them its cold import evaluates.
 */

export interface ColdStartOptions {
  /** Fresh processes per bundle; the median counts. */
  runs: number;
}

export const DEFAULT_COLD_START: ColdStartOptions = { runs: 11 };

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

interface ServerlessConfig {
  custom?: { esbuild?: Record<string, unknown> };
  functions: Record<string, { handler: string }>;
}

/** serverless.yml resolved by the framework itself, offline. */
async function serverlessConfig(): Promise<ServerlessConfig> {
  const { stdout } = await run(
    join(root, 'node_modules', '.bin', 'osls'),
    ['print', '--format', 'json', '--param', 'targetId=tmt-0123456789abcdef0'],
    {
      cwd: root,
      env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' },
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  return JSON.parse(stdout) as ServerlessConfig;
}

/** serverless-esbuild 1.x's defaults for what reaches esbuild (dist/index.js, buildOptions). */
const PLUGIN_DEFAULTS: Record<string, unknown> = {
  bundle: true,
  target: 'node18',
  external: [],
  exclude: ['aws-sdk'],
  platform: 'node',
  outputFileExtension: '.js',
};

/** Options serverless-esbuild keeps for itself and removes before calling esbuild (dist/bundle.js). */
const PLUGIN_ONLY = new Set([
  'concurrency',
  'zipConcurrency',
  'exclude',
  'nativeZip',
  'packager',
  'packagePath',
  'watch',
  'keepOutputDirectory',
  'packagerOptions',
  'installExtraArgs',
  'outputFileExtension',
  'outputBuildFolder',
  'outputWorkFolder',
  'nodeExternals',
  'skipBuild',
  'skipRebuild',
  'skipBuildExcludeFns',
  'stripEntryResolveExtensions',
  'disposeContext',
  'config',
]);

const strings = (value: unknown): string[] =>
  (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string');

/** The esbuild options serverless-esbuild derives from `custom.esbuild`. */
export function esbuildOptions(custom: Record<string, unknown>): BuildOptions {
  const merged = { ...PLUGIN_DEFAULTS, ...custom };
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(merged)) if (!PLUGIN_ONLY.has(key)) options[key] = value;
  const exclude = strings(merged.exclude);
  options.external = [...strings(merged.external), ...(exclude.includes('*') ? [] : exclude)];
  const extension = String(merged.outputFileExtension);
  if (extension !== '.js') options.outExtension = { '.js': extension };
  return options as BuildOptions;
}

/** The class each SDK client package exports, for the yardstick bundle. */
const CLIENT_CLASS: Record<string, string> = {
  'client-ec2': 'EC2Client',
  'client-eventbridge': 'EventBridgeClient',
  'client-sqs': 'SQSClient',
  'client-sts': 'STSClient',
  'client-ram': 'RAMClient',
  'client-sfn': 'SFNClient',
};

/** The floor every function is measured against: the finding path's clients. */
const FLOOR = ['client-ec2', 'client-eventbridge'];

/**
 * The SDK clients a cold start evaluates: those reached from the entry through static imports
 * (and require calls). esbuild wraps a module reached only through import() in a function run at
 * that import, so a client behind one is in the bundle but costs nothing until first used.
 */
function clientsAtStart(metafile: Metafile, entry: string): string[] {
  const seen = new Set<string>();
  const queue = Object.keys(metafile.inputs).filter((input) => entry.endsWith(input));
  while (queue.length > 0) {
    const input = queue.pop() as string;
    if (seen.has(input)) continue;
    seen.add(input);
    for (const edge of metafile.inputs[input]?.imports ?? []) {
      if (edge.kind !== 'dynamic-import' && !edge.external) queue.push(edge.path);
    }
  }
  return clientsIn([...seen]);
}

/**
 * The bytes a cold start reads: the entry's file and the chunks it imports statically (with
 * esbuild's splitting, what is reached only through import() is a chunk of its own, read when
 * first used).
 */
function bytesAtStart(outputs: Metafile['outputs'], entry: string): number {
  const seen = new Set<string>();
  const queue = [entry];
  let bytes = 0;
  while (queue.length > 0) {
    const path = queue.pop() as string;
    if (seen.has(path)) continue;
    seen.add(path);
    const output = outputs[path];
    bytes += output?.bytes ?? 0;
    for (const edge of output?.imports ?? []) {
      if (edge.kind === 'import-statement' && !edge.external) queue.push(edge.path);
    }
  }
  return bytes;
}

/** The SDK client packages among a bundle's inputs (esbuild's metafile). */
function clientsIn(inputs: readonly string[]): string[] {
  const found = new Set<string>();
  for (const input of inputs) {
    const match = /node_modules\/@aws-sdk\/(client-[a-z0-9-]+)\//.exec(input);
    if (match?.[1]) found.add(match[1]);
  }
  return [...found].sort();
}

/** Milliseconds a fresh `node` process takes to import the module, measured inside it. */
async function importMs(file: string, env: NodeJS.ProcessEnv): Promise<number> {
  const script =
    'const t=performance.now();await import(process.argv[1]);process.stdout.write(String(performance.now()-t));';
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script, file], { env });
  return Number(stdout);
}

export async function benchColdStart(options: ColdStartOptions = DEFAULT_COLD_START): Promise<string> {
  const config = await serverlessConfig();
  const base = esbuildOptions(config.custom?.esbuild ?? {});
  const out = await mkdtemp(join(tmpdir(), 'mirrorops-cold-'));
  // What the functions read at cold start (config is checked at import); no request is made.
  const env = {
    PATH: process.env.PATH,
    AWS_REGION: 'us-east-1',
    MIRROROPS_TARGET_ID: 'tmt-0123456789abcdef0',
    MIRROROPS_AUDIT_BUS: 'mirrorops-audit-bench',
  };
  try {
    // Built as the functions are (splitting included): what it reaches only through import() (the
    // SDK's rarer credential providers) is read when first used, as it is for them.
    const floorEntry = join(out, 'ec2-eventbridge-only.ts');
    await writeFile(
      floorEntry,
      FLOOR.map(
        (pkg, i) =>
          `import { ${CLIENT_CLASS[pkg]} as C${i} } from '@aws-sdk/${pkg}';\nexport const c${i} = new C${i}({});`,
      ).join('\n'),
    );
    const floorBuild = await build({
      ...base,
      entryPoints: [floorEntry],
      outdir: join(out, 'floor'),
      nodePaths: [join(root, 'node_modules')],
      absWorkingDir: root,
      metafile: true,
      logLevel: 'silent',
    });
    const floorOutputs = floorBuild.metafile?.outputs ?? {};
    const [floorBundle] = Object.entries(floorOutputs)
      .filter(([, output]) => output.entryPoint?.endsWith('ec2-eventbridge-only.ts'))
      .map(([path]) => path);
    if (!floorBundle) throw new Error('esbuild wrote no bundle for the EC2+EventBridge floor');
    const yardstick = join(root, floorBundle);
    const floorBytes = bytesAtStart(floorOutputs, floorBundle);
    const rows: string[][] = [];
    for (const [name, fn] of Object.entries(config.functions)) {
      const entry = `${fn.handler.slice(0, fn.handler.lastIndexOf('.'))}.ts`;
      const result = await build({
        ...base,
        entryPoints: [join(root, entry)],
        outdir: join(out, name, dirname(entry)),
        absWorkingDir: root,
        metafile: true,
        logLevel: 'silent',
      });
      // The entry's own file (with splitting on, the chunks beside it are outputs too).
      const outputs = result.metafile?.outputs ?? {};
      const [bundle] = Object.entries(outputs)
        .filter(([, output]) => output.entryPoint === entry)
        .map(([path]) => path);
      if (!bundle) throw new Error(`esbuild wrote no bundle for ${name}`);
      // Every client the bundle holds (some only behind an import() made when first used).
      const clients = clientsIn(Object.keys(result.metafile?.inputs ?? {}));
      const bundlePath = join(root, bundle);
      const loaded = clientsAtStart(result.metafile ?? { inputs: {}, outputs: {} }, join(root, entry));
      const fnMs: number[] = [];
      const sdkMs: number[] = [];
      for (let i = 0; i < options.runs; i++) {
        // Alternated, so a busy moment of the machine costs both alike.
        fnMs.push(await importMs(bundlePath, env));
        sdkMs.push(await importMs(yardstick, env));
      }
      const startBytes = bytesAtStart(outputs, bundle);
      // Each pair ran back to back: the median of their ratios holds up better on a busy machine
      // than a ratio of medians.
      const ratio = median(fnMs.map((ms, i) => ms / (sdkMs[i] ?? Number.NaN)));
      rows.push([
        name,
        fixed(startBytes / 1024, 0),
        fixed(floorBytes / 1024, 0),
        fixed(median(fnMs), 1),
        fixed(median(sdkMs), 1),
        fixed(ratio, 3),
        '<= 1.2',
        verdict(ratio <= 1.2),
        clients.map((c) => (loaded.includes(c) ? c : `(${c})`).replace('client-', '')).join(' '),
      ]);
    }
    const shown = Object.entries(config.custom?.esbuild ?? {})
      .filter(([k]) => k !== 'banner')
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(' ');
    return [
      `Cold start: esbuild as serverless.yml (${shown}, banner), import in a fresh node ${process.version}, medians of ${options.runs} pairs of runs`,
      table(
        [
          'function',
          'KB at start',
          'EC2+EB KB at start',
          'import ms',
          'EC2+EB ms',
          'ratio',
          'target',
          '',
          'SDK clients (lazy)',
        ],
        rows,
      ),
    ].join('\n');
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}
