// Builds the `mirrorops` command line once, at install (`npm ci` runs `prepare`), into dist/cli:
// plain JavaScript that starts without compiling TypeScript. Each command is its own chunk,
// loaded when it runs, so `mirrorops --help` reads one small file. The AWS SDK and zod are bundled
// (tree-shaken: the commands the CLI sends, not all of EC2's); other packages stay in
// node_modules. inputs.json lists the project files the build read, so cli/bin.mjs can tell a
// build older than the sources (a checkout being edited) and run the sources instead.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

let build;
try {
  ({ build } = await import('esbuild'));
} catch {
  // Installed without dev dependencies: no build, and cli/bin.mjs runs the sources through tsx.
  console.error('mirrorops: esbuild is not installed; the CLI will run from its TypeScript sources');
  process.exit(0);
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'cli');

/** Packages bundled into the build; every other bare import is left to node_modules. */
const BUNDLED = /^(@aws-sdk\/|@smithy\/|@aws-crypto\/|zod(\/|$))/;

const keepOthersExternal = {
  name: 'node-modules-external',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:') || BUNDLED.test(args.path)) return undefined;
      return { path: args.path, external: true };
    });
  },
};

const startedAt = Date.now();
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { main: 'cli/main.ts' },
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // The chunks sit beside main.mjs, two levels under the root as cli/commands/ is, so the
  // commands' `new URL('../../events/...', import.meta.url)` still finds the project's files.
  chunkNames: '[name]-[hash]',
  outExtension: { '.js': '.mjs' },
  // CommonJS inside the SDK calls require() for Node's modules.
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
  mainFields: ['module', 'main'],
  // Less to parse at each start; names are kept (the dry run reads the SDK commands' class names).
  minifyWhitespace: true,
  minifySyntax: true,
  metafile: true,
  logLevel: 'warning',
  plugins: [keepOthersExternal],
});
const inputs = Object.keys(result.metafile.inputs)
  .filter((path) => !path.includes('node_modules'))
  .map((path) => relative(root, resolve(root, path)));
await writeFile(join(out, 'inputs.json'), `${JSON.stringify({ builtAt: startedAt, inputs }, null, 1)}\n`);
const files = Object.keys(result.metafile.outputs).length;
console.error(
  `mirrorops: CLI built into dist/cli (${files} files, ${inputs.length} sources) in ${Date.now() - startedAt} ms`,
);
