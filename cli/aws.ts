import { ec2Client } from '../shared/aws/clients.ts';
import { ec2Gateway } from '../shared/aws/ec2.ts';

const LOCAL = /^https?:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?\/?$/;

/**
 * Prepares the environment for AWS calls from the command line: against a local endpoint (the
 * emulator) any credentials do, so placeholders are set when none are; the Region defaults to
 * us-east-1. Real AWS uses the usual credential chain untouched.
 */
export function prepareAwsEnv(env: NodeJS.ProcessEnv = process.env): string {
  if (LOCAL.test(env.AWS_ENDPOINT_URL ?? '') && !env.AWS_ACCESS_KEY_ID) {
    env.AWS_ACCESS_KEY_ID = '123456789012';
    env.AWS_SECRET_ACCESS_KEY = 'local';
  }
  env.AWS_REGION ??= env.AWS_DEFAULT_REGION ?? 'us-east-1';
  return env.AWS_REGION;
}

/** The EC2 gateway for the command line's account and Region. */
export const cliGateway = () => ec2Gateway(ec2Client(prepareAwsEnv()));
