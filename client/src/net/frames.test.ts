import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame } from './frames.ts';

describe('frames', () => {
  it('round-trips core, ping and pong frames', () => {
    for (const f of [
      { k: 'core', m: { t: 'bye' } },
      { k: 'ping', t: 12.5 },
      { k: 'pong', t: 3 },
      { k: 'ping', t: 4, a: true },
      { k: 'app', n: 'chat.v1', d: { text: 'hi' } },
    ] as const) {
      expect(decodeFrame(encodeFrame(f))).toEqual({ ok: true, frame: f });
    }
  });

  it('refuses junk without throwing', () => {
    for (const junk of [
      42,
      null,
      '',
      'nope',
      '[]',
      '{"k":"x"}',
      '{"k":"ping","t":"1"}',
      '{"k":"ping","t":1,"a":"yes"}',
      '{"k":"app","n":"bad name!","d":1}',
      '{"k":"app","n":"chat"}',
      'x'.repeat(20_000),
    ]) {
      expect(decodeFrame(junk).ok).toBe(false);
    }
  });
});
