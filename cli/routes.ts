import { matches, validatePattern } from '../shared/domain/pattern.ts';
import type { Stack } from './stack.ts';

/** An EventBridge rule of serverless.yml: the function it invokes and its event pattern. */
export interface Route {
  functionName: string;
  pattern: unknown;
}

/** Every `eventBridge` pattern in serverless.yml, checked as EventBridge would check it. */
export function routesOf(stack: Stack): Route[] {
  return Object.values(stack.functions).flatMap((fn) =>
    fn.events.flatMap((event) => {
      const rule = event.eventBridge as { pattern?: unknown } | undefined;
      if (!rule?.pattern) return [];
      validatePattern(rule.pattern);
      return [{ functionName: fn.name, pattern: rule.pattern }];
    }),
  );
}

/** The functions an event reaches, in the order serverless.yml lists them. */
export function route(routes: readonly Route[], event: unknown): string[] {
  return [...new Set(routes.filter((r) => matches(r.pattern, event)).map((r) => r.functionName))];
}
