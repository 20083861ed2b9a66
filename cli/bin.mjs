#!/usr/bin/env node
// The `mirrorops` command. It runs the build in dist/cli, made once at install (`npm ci` runs
// `prepare`, i.e. cli/build.mjs): JavaScript, so no TypeScript is compiled at start, and each
// command is loaded only when it runs. It runs the TypeScript sources through tsx instead when
// there is no build, when a source changed after the build (a checkout being edited: never a
// stale build), or for `invoke` and `demo`, which load the functions' handlers as TypeScript.
// MIRROROPS_CLI=sources or MIRROROPS_CLI=build chooses instead (the benchmark; debugging).
import { readFileSync, statSync } from 'node:fs';
import module from 'node:module';

// Node >= 22.1 keeps V8's compiled code between runs (in the OS temp dir): most of a start's time.
module.enableCompileCache?.();

const root = new URL('../', import.meta.url);
const SOURCES_ONLY = new Set(['invoke', 'demo']);

/** The build exists and no source it was made from changed since. */
function built() {
  try {
    const { builtAt, inputs } = JSON.parse(readFileSync(new URL('dist/cli/inputs.json', root), 'utf8'));
    return inputs.every((path) => statSync(new URL(path, root)).mtimeMs <= builtAt);
  } catch {
    return false;
  }
}

let main;
const chosen = process.env.MIRROROPS_CLI;
if (chosen === 'build' || (chosen !== 'sources' && !SOURCES_ONLY.has(process.argv[2]) && built())) {
  ({ main } = await import('../dist/cli/main.mjs'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('./main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
