import type { QueryService } from './context.ts';
import { iamService } from './iam.ts';
import { stsService } from './sts.ts';

/** The Query services other than EC2, by the API version a request names. */
export const QUERY_SERVICES: Readonly<Record<string, QueryService>> = {
  [stsService.version]: stsService,
  [iamService.version]: iamService,
};

export type { QueryService, RoleSession } from './context.ts';
export { callerOf } from './sts.ts';
