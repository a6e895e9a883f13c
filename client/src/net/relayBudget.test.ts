import { expect, it } from 'vitest';
import { encodeFrame } from '../protocol/frames.ts';
import { utf8Bytes } from '../protocol/messages.ts';
import { RelayBudget, relayedBytes } from './relayBudget.ts';

it('counts a frame at least as the server does: its JSON string inside the relay event, escapes and all', () => {
  for (const d of ['x', '"quoted" \\ back', '中文'.repeat(50), { a: ['"', '\\"'] }]) {
    const text = encodeFrame({ k: 'app', n: 'c', d });
    const onWire = utf8Bytes(JSON.stringify([{ to: 12, data: text }]));
    expect(relayedBytes(text, utf8Bytes(text), false)).toBeGreaterThanOrEqual(onWire);
  }
});

it('lets app frames spend only down to a reserve the protocol keeps, which refills', () => {
  const b = new RelayBudget({ perSec: 100, burst: 100, bytesPerSec: 1e6, bytesBurst: 1e6 });
  let app = 0;
  while (b.fits(0, 1, 10)) {
    b.spend(0, 10);
    app++;
  }
  // 90 of the burst's 100 are ours to spend, and app frames leave a quarter of those (22.5).
  expect(app).toBe(67);
  for (let i = 0; i < 22; i++) b.spend(0, 10);
  expect(b.fits(0, 1, 10)).toBe(false);
  expect(b.fits(1_000, 1, 10)).toBe(true);
});
