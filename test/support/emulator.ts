import { EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll } from 'vitest';
import { type Emulator, startEmulator } from '../../emulator/index.ts';

export const ACCOUNT = '111111111111';

/** An EC2 client for the emulator as the given account (the access key id selects it). */
export function ec2For(url: string, account = ACCOUNT, region = 'us-east-1'): EC2Client {
  return new EC2Client({
    endpoint: url,
    region,
    maxAttempts: 1,
    credentials: { accessKeyId: account, secretAccessKey: 'test' },
  });
}

/** Starts one emulator for the test file and stops it after; `env.url` is its endpoint. */
export function useEmulator(options: Parameters<typeof startEmulator>[0] = {}) {
  const env = {} as { emulator: Emulator; url: string };
  beforeAll(async () => {
    env.emulator = await startEmulator(options);
    env.url = env.emulator.url;
  });
  afterAll(async () => {
    await env.emulator?.stop();
  });
  return env;
}
