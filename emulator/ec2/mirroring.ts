import type { Handler } from './context.ts';

export const mirroringActions: Record<string, Handler> = {};
