import { describe, expect, it } from 'vitest';
import { checkedParser, jsonDepth, MAX_FRAME_DEPTH, RefusedFrameError } from './parser.ts';

/** The plain character-by-character scan jsonDepth must agree with. */
function reference(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '[' || c === '{') max = Math.max(max, ++depth);
    else if (c === ']' || c === '}') depth--;
  }
  return max;
}

describe('jsonDepth', () => {
  it('counts nesting outside strings only', () => {
    expect(jsonDepth('["relay",{"to":2,"data":"[[[{{{"}]')).toBe(2);
    expect(jsonDepth('["a\\"[[[", [[1]]]')).toBe(3);
    expect(jsonDepth('["a\\\\", [[1]]]')).toBe(3);
    expect(jsonDepth('"unterminated [[[')).toBe(0);
    expect(jsonDepth('[[[[[', 2)).toBe(3);
  });

  it('agrees with a character-by-character scan on random JSON and random bracket soup (seeded)', () => {
    let seed = 13;
    const rand = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const value = (depth: number): unknown => {
      const kind = rand(depth > 5 ? 3 : 5);
      if (kind === 0) return rand(100);
      if (kind === 1 || kind === 2) {
        return Array.from({ length: rand(6) }, () => '[]{}"\\ab'[rand(9)]).join('');
      }
      if (kind === 3) return Array.from({ length: rand(4) }, () => value(depth + 1));
      return Object.fromEntries(Array.from({ length: rand(4) }, (_, k) => [`k${k}"[`, value(depth + 1)]));
    };
    for (let run = 0; run < 3_000; run++) {
      const json = JSON.stringify(value(0));
      expect(jsonDepth(json), json).toBe(reference(json));
      const soup = Array.from({ length: rand(60) }, () => '[]{}"\\a,'[rand(8)]).join('');
      expect(jsonDepth(soup), soup).toBe(reference(soup));
    }
  });
});

describe('checkedParser', () => {
  const decode = (frame: string) => {
    const decoder = new checkedParser.Decoder();
    const got: unknown[] = [];
    decoder.on('decoded', (p: { data?: unknown }) => got.push(p.data));
    decoder.add(frame);
    return got;
  };
  const deep = `${'['.repeat(MAX_FRAME_DEPTH + 1)}${']'.repeat(MAX_FRAME_DEPTH + 1)}`;

  it('weighs the JSON after the namespace and ack ID, whatever the namespace holds', () => {
    expect(decode('21["join",{"room":"r"}]')).toEqual([['join', { room: 'r' }]]);
    expect(decode('2/other,7["x",[1]]')).toEqual([['x', [1]]]);
    for (const head of ['2', '21', '2/a,', '2/a",', '2/a"\\",3', '2/[[[{"x,'])
      expect(() => decode(`${head}["x",${deep}]`), head).toThrow(RefusedFrameError);
  });
});
