import type { SessionView } from '../shared/aws/ec2.ts';
import type { Reason } from '../shared/domain/slots.ts';
import { isManaged, TAG } from '../shared/domain/tags.ts';
import type { AwsAccount } from './aws.ts';
import { NotFoundError, refused } from './command.ts';

/** Which sessions an extend or stop is about. */
export interface Selector {
  instanceId?: string | undefined;
  eniId?: string | undefined;
  sessionId?: string | undefined;
  reason?: Reason | undefined;
  all?: boolean | undefined;
}

/**
 * The sessions mirrorops manages in the account that the selector names, from one read of the
 * account's own sessions (not other accounts' sessions on its targets, which it cannot change).
 * A session named that does not exist is NotFoundError; one mirrorops did not create is refused,
 * never touched. An instance or ENI named that does not exist is NotFoundError; one that exists
 * with no matching session gives an empty list (nothing to do).
 */
export async function selectManaged(
  aws: AwsAccount,
  selector: Selector,
): Promise<{ chosen: SessionView[]; everything: SessionView[] }> {
  const everything: SessionView[] = [];
  for await (const page of aws.gateway.sessionPages(aws.account)) everything.push(...page);
  const where = `${aws.account} ${aws.region}`;
  if (selector.sessionId !== undefined) {
    const session = everything.find((s) => s.id === selector.sessionId);
    if (!session) throw new NotFoundError(`no mirror session ${selector.sessionId} in ${where}`);
    if (!isManaged(session.tags))
      throw refused(`session ${selector.sessionId} was not created by mirrorops; it is left alone`);
  }
  const chosen = everything.filter(
    (s) =>
      isManaged(s.tags) &&
      (selector.sessionId === undefined || s.id === selector.sessionId) &&
      (selector.instanceId === undefined || s.tags[TAG.instance] === selector.instanceId) &&
      (selector.eniId === undefined || s.eniId === selector.eniId) &&
      (selector.reason === undefined || s.tags[TAG.reason] === selector.reason),
  );
  if (chosen.length === 0) {
    if (selector.instanceId !== undefined && !(await aws.gateway.instance(selector.instanceId)))
      throw new NotFoundError(`no instance ${selector.instanceId} in ${where}`);
    if (selector.eniId !== undefined && !(await aws.gateway.networkInterface(selector.eniId)))
      throw new NotFoundError(`no network interface ${selector.eniId} in ${where}`);
  }
  return { chosen, everything };
}

/** The selector in words, for "nothing to do" lines. */
export function selectorText(selector: Selector): string {
  const parts = [
    selector.sessionId && `session ${selector.sessionId}`,
    selector.instanceId && `instance ${selector.instanceId}`,
    selector.eniId && `ENI ${selector.eniId}`,
    selector.reason && `reason ${selector.reason}`,
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : 'this account and Region';
}
