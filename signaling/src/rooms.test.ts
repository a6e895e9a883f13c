import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../client/src/protocol/limits.ts';
import { MemoryRoomStore, newResumeToken } from './rooms.ts';
import { describeRoomStore } from './storeCases.ts';

describe('resume tokens', () => {
  it('are 32 URL-safe characters carrying 192 random bits, never repeating', () => {
    const tokens = new Set(Array.from({ length: 1_000 }, newResumeToken));
    expect(tokens.size).toBe(1_000);
    for (const token of tokens) {
      expect(token).toHaveLength(LIMITS.token.length);
      expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(Buffer.from(token, 'base64url')).toHaveLength(24);
    }
  });
});

describeRoomStore('MemoryRoomStore', async (options) => new MemoryRoomStore(options));
