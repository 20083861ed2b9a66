import type * as z from 'zod/mini';
import '../runtime/zod.ts';

/** An event that is not what its rule promised: named by the path of the first bad field. */
export class EventValidationError extends Error {
  override name = 'EventValidationError';
  constructor(
    readonly source: string,
    readonly issues: readonly { path: string; message: string }[],
  ) {
    super(`invalid ${source} event: ${issues.map((i) => `${i.path || '(event)'}: ${i.message}`).join('; ')}`);
  }
}

export function parseOrThrow<T extends z.ZodMiniType>(schema: T, source: string, event: unknown): z.infer<T> {
  const result = schema.safeParse(event);
  if (result.success) return result.data;
  throw new EventValidationError(
    source,
    result.error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message })),
  );
}
