import { EC2Client } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import {
  AcceptResourceShareInvitationCommand,
  CreateResourceShareCommand,
  GetResourceShareAssociationsCommand,
  GetResourceShareInvitationsCommand,
  RAMClient,
  type ResourceShareAssociation,
} from '@aws-sdk/client-ram';
import { type Credentials, STSClient } from '@aws-sdk/client-sts';
import { must } from './topology.ts';

/** Static credentials: an account's access key id, or what STS handed out. */
export interface Keys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

const keysOf = (account: string): Keys => ({ accessKeyId: account, secretAccessKey: 'test' });

const config = (url: string, keys: Keys, region = 'us-east-1') => ({
  endpoint: url,
  region,
  maxAttempts: 1,
  credentials: keys,
});

export const stsFor = (url: string, who: string | Keys, region?: string) =>
  new STSClient(config(url, typeof who === 'string' ? keysOf(who) : who, region));

export const iamFor = (url: string, who: string | Keys) =>
  new IAMClient(config(url, typeof who === 'string' ? keysOf(who) : who));

export const ramFor = (url: string, who: string | Keys, region?: string) =>
  new RAMClient(config(url, typeof who === 'string' ? keysOf(who) : who, region));

export const ec2With = (url: string, keys: Keys, region?: string) => new EC2Client(config(url, keys, region));

/** The keys of credentials STS returned. */
export function keysFrom(credentials: Credentials | undefined): Keys {
  const c = must(credentials, 'Credentials');
  return {
    accessKeyId: must(c.AccessKeyId, 'AccessKeyId'),
    secretAccessKey: must(c.SecretAccessKey, 'SecretAccessKey'),
    sessionToken: must(c.SessionToken, 'SessionToken'),
  };
}

/** A trust policy document: one Allow of sts:AssumeRole to `principal`, with an ExternalId condition if given. */
export function trustPolicy(principal: string | string[], externalId?: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { AWS: principal },
        Action: 'sts:AssumeRole',
        ...(externalId === undefined
          ? {}
          : { Condition: { StringEquals: { 'sts:ExternalId': externalId } } }),
      },
    ],
  });
}

export const targetArnOf = (account: string, targetId: string, region = 'us-east-1') =>
  `arn:aws:ec2:${region}:${account}:traffic-mirror-target/${targetId}`;

/** The statuses of a share's associations of one type, as one GetResourceShareAssociations reads them. */
export async function associationStatuses(
  ram: RAMClient,
  shareArn: string,
  type: 'PRINCIPAL' | 'RESOURCE' = 'PRINCIPAL',
): Promise<ResourceShareAssociation[]> {
  const out = await ram.send(
    new GetResourceShareAssociationsCommand({ associationType: type, resourceShareArns: [shareArn] }),
  );
  return out.resourceShareAssociations ?? [];
}

/**
 * Shares a target through RAM as an operator would: the owner creates a share for the member, the
 * member accepts the invitation if it got one, and the owner reads the associations until they
 * are complete (the emulator completes one at its second read, so this stops within a few reads).
 */
export async function shareTarget(
  url: string,
  owner: string,
  targetId: string,
  member: string,
): Promise<string> {
  const ram = ramFor(url, owner);
  const created = await ram.send(
    new CreateResourceShareCommand({
      name: `mirror-target-${targetId}`,
      resourceArns: [targetArnOf(owner, targetId)],
      principals: [member],
    }),
  );
  const shareArn = must(created.resourceShare?.resourceShareArn, 'resourceShareArn');
  const memberRam = ramFor(url, member);
  const { resourceShareInvitations = [] } = await memberRam.send(
    new GetResourceShareInvitationsCommand({ resourceShareArns: [shareArn] }),
  );
  for (const invitation of resourceShareInvitations) {
    if (invitation.status === 'PENDING') {
      await memberRam.send(
        new AcceptResourceShareInvitationCommand({
          resourceShareInvitationArn: invitation.resourceShareInvitationArn,
        }),
      );
    }
  }
  for (let read = 0; read < 3; read++) {
    const all = [
      ...(await associationStatuses(ram, shareArn, 'PRINCIPAL')),
      ...(await associationStatuses(ram, shareArn, 'RESOURCE')),
    ];
    if (all.every((a) => a.status === 'ASSOCIATED')) return shareArn;
  }
  throw new Error(`the share ${shareArn} did not complete in three reads`);
}

/** An organizational unit's ARN, as the emulator's organisation names it (default organisation id). */
export const ouArnOf = (management: string, ouId: string, orgId = 'o-exampleorgid') =>
  `arn:aws:organizations::${management}:ou/${orgId}/${ouId}`;
