import { describe, expect, it } from 'vitest';
import { cleanText, cut, quoted } from './text.ts';

describe('cleanText', () => {
  it('strips what hides or reorders text, and collapses white space', () => {
    expect(cleanText('  Ann\u202e\u0007 \t Lee\u200b ')).toBe('Ann Lee');
    expect(cleanText('in\u00advis\u2060ible')).toBe('invisible');
    // Tag characters can carry a hidden message.
    expect(cleanText('Bob\u{e0069}\u{e0067}\u{e006e}')).toBe('Bob');
  });

  it('empties text with nothing a reader can see', () => {
    for (const blank of [
      '\u3164',
      '\u2800\u2800',
      '\u115f\u1160',
      '\ufe0f',
      '\u0301\u0301',
      '\u200d',
      ' \u200c ',
      '\uffa0',
    ])
      expect(cleanText(blank)).toBe('');
  });

  it('keeps joiners inside words and emoji, which Persian, Indic scripts and emoji need', () => {
    const persian = 'می\u200cخواهم';
    const family = '👨\u200d👩\u200d👧';
    const hindi = 'क्\u200dष';
    for (const text of [persian, family, hindi, 'नमस्ते', '❤️', 'Zoë']) expect(cleanText(text)).toBe(text);
    expect(cleanText('\u200dAnn\u200c')).toBe('Ann');
    expect(cleanText('a \u200d b')).toBe('a b');
    expect(cleanText('a\u200d\u200d\u200cb')).toBe('a\u200db');
    // After a virama a joiner ends a word (Malayalam's older chillu encoding, Kannada, Hindi's eyelash ra).
    for (const text of ['അവന്\u200d', 'ಕ್\u200c', 'र्\u200d य']) expect(cleanText(text)).toBe(text);
  });

  it('treats what Unicode draws as nothing as invisible, unassigned characters included', () => {
    for (const blank of ['\u{e0080}', '\ufff0', '\u034f', '\u17b4', '\u206a', '\u{1d173}'])
      expect(cleanText(blank)).toBe('');
    expect(cleanText('a\u034fb\u{e0080}c')).toBe('abc');
  });

  it('drops half an emoji (a lone surrogate, drawn as �) and keeps whole ones', () => {
    expect(cleanText('a\ud800')).toBe('a');
    expect(cleanText('\udc00\udc00')).toBe('');
    expect(cleanText('\ud83d\ude00 \ude00\ud83d')).toBe('😀');
    expect(quoted('a\ud800')).toBe('"a\\u{D800}"');
  });
});

describe('quoted', () => {
  it('quotes untrusted text with what it hides shown as escapes, cut short', () => {
    expect(quoted('abc\u202edef')).toBe('"abc\\u{202E}def"');
    expect(quoted('a\tb c\u200b')).toBe('"a\\u{9}b c\\u{200B}"');
    expect(quoted('x'.repeat(100), 5)).toBe('"xxxxx…"');
  });
});

describe('cleanText on random text', () => {
  it('is idempotent: what the server cleaned, a client cleans to the same name', () => {
    // Joiners, marks, viramas, blanks, bidi, tags, lone surrogates and white space, mixed at random.
    const pool = [
      'a',
      ' ',
      '\t',
      '\u200d',
      '\u200c',
      '\u0301',
      '\u094d',
      'क',
      '👨',
      '\ufe0f',
      '\u202e',
      '\u3164',
    ];
    pool.push('\u2800', '\u00ad', '\u{e0067}', '\u2028', '\ud800', '\udc00', 'ന', '്');
    let seed = 1;
    const next = () => {
      seed = (seed * 1_103_515_245 + 12_345) & 0x7fff_ffff;
      return seed / 0x7fff_ffff;
    };
    const changed: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      let text = '';
      for (let n = Math.floor(next() * 8); n > 0; n--) text += pool[Math.floor(next() * pool.length)];
      const once = cleanText(text);
      if (cleanText(once) !== once) changed.push(JSON.stringify(text));
    }
    expect(changed).toEqual([]);
  });
});

describe('cut', () => {
  it('leaves text that fits alone, and marks where it cut', () => {
    expect(cut('short', 5)).toBe('short');
    expect(cut('abcdefghij', 5)).toBe('abcd…');
  });

  it('never leaves half an emoji at the cut', () => {
    expect(cut('abc😀defgh', 5)).toBe('abc…');
    expect(cut('ab😀cdefgh', 5)).toBe('ab😀…');
    for (let max = 2; max < 12; max++) {
      const out = cut('😀'.repeat(10), max);
      expect(out.length).toBeLessThanOrEqual(max);
      expect(out).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
    }
  });
});
