import { describe, expect, test } from 'vitest';
import type { SessionView } from '../../shared/aws/ec2.ts';
import { Memory } from '../../shared/memory.ts';

const session = (id: string): SessionView => ({
  id,
  eniId: 'eni-1',
  number: 1,
  filterId: 'tmf-1',
  targetId: 'tmt-1',
  tags: {},
});

describe('Memory', () => {
  test('holds at most its capacity, forgetting the least recently remembered first', () => {
    const memory = new Memory(3);
    for (const key of ['a', 'b', 'c']) memory.rememberSession(key, session(key));
    memory.rememberSession('a', session('a2')); // a is now the most recent
    memory.rememberSession('d', session('d'));
    expect(memory.size).toBe(3);
    expect(memory.session('b')).toBeUndefined();
    expect(memory.session('a')?.id).toBe('a2');
    expect(memory.session('c')?.id).toBe('c');
    expect(memory.session('d')?.id).toBe('d');
  });

  test('forgets a session on request; filters are kept apart from sessions', () => {
    const memory = new Memory(2);
    memory.rememberSession('x', session('x'));
    memory.rememberFilter('x', 'tmf-1');
    memory.forgetSession('x');
    expect(memory.session('x')).toBeUndefined();
    expect(memory.filter('x')).toBe('tmf-1');
  });
});
