import { expect, test } from 'vitest';
import { MAX_LATENCY_MS, parseLatencyMs } from './chaos.ts';

test('the latency field takes whole milliseconds up to the bound, and says why it refuses anything else', () => {
  expect(parseLatencyMs('40')).toEqual({ ok: true, ms: 40 });
  expect(parseLatencyMs(' 0 ')).toEqual({ ok: true, ms: 0 });
  expect(parseLatencyMs(String(MAX_LATENCY_MS))).toEqual({ ok: true, ms: MAX_LATENCY_MS });
  for (const junk of [
    '',
    'abc',
    '-5',
    '1.5',
    '1e3',
    '0x10',
    String(MAX_LATENCY_MS + 1),
    '9'.repeat(400),
    '４０',
  ]) {
    const r = parseLatencyMs(junk);
    expect(r.ok, junk).toBe(false);
    if (!r.ok) expect(r.error).toBe('Latency is a whole number of milliseconds, 0 to 5000.');
  }
});
