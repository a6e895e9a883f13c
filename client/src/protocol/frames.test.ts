import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame } from './frames.ts';

describe('frames', () => {
  it('round-trips core, ping and pong frames', () => {
    for (const f of [
      { k: 'core', m: { t: 'bye' } },
      { k: 'ping', t: 12.5, v: 1 },
      { k: 'pong', t: 3, v: 7 },
      { k: 'ping', t: 4, v: 1, a: true },
      { k: 'app', n: 'chat.v1', d: { text: 'hi' } },
    ] as const) {
      expect(decodeFrame(encodeFrame(f))).toEqual({ ok: true, frame: f });
    }
  });

  it('reads a frame without a version as version 0 (a build from before versions)', () => {
    expect(decodeFrame('{"k":"ping","t":1}')).toEqual({ ok: true, frame: { k: 'ping', t: 1, v: 0 } });
    expect(decodeFrame('{"k":"pong","t":1,"v":"2"}')).toEqual({ ok: true, frame: { k: 'pong', t: 1, v: 0 } });
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
