import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The hub stack as `osls package` wrote it: cloudformation-template-update-stack.json. */
    hubTemplatePath: string;
    /** The folder of that package (the function zips beside the template). */
    hubPackageDir: string;
  }
}

const run = promisify(execFile);

/** The default target id the stack is packaged with; tests deploy its roles for their own target. */
export const PACKAGED_TARGET = 'tmt-0123456789abcdef0';

/**
 * Packages the hub stack once for the whole run, offline, exactly as a user runs
 * `npm run package`: the tests that run as the stack's roles take them from this template.
 */
export default async function setup(project: TestProject) {
  const dir = await mkdtemp(join(tmpdir(), 'mirrorops-package-'));
  await run(
    join('node_modules', '.bin', 'osls'),
    ['package', '--package', dir, '--param', `targetId=${PACKAGED_TARGET}`],
    { env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' }, timeout: 240_000 },
  );
  project.provide('hubTemplatePath', join(dir, 'cloudformation-template-update-stack.json'));
  project.provide('hubPackageDir', dir);
  return async () => {
    await rm(dir, { recursive: true, force: true });
  };
}
