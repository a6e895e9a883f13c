// Text that other players read: names and stage names, from any source (URL, lobby form, server).

// Controls, half an emoji (a lone surrogate, drawn as �), line and paragraph separators, and what Unicode says to draw as nothing (default-ignorable:
// zero-width and bidi formatting, which can also reorder what others read, fillers, tags that can carry
// hidden text), and the braille blank. Kept: joiners (below) and the variation selectors that pick a glyph.
const INVISIBLE =
  /[\p{Cc}\p{Cs}\u2028\u2029\u2800]|(?!\u200c|\u200d|[\u180b-\u180d\u180f\ufe00-\ufe0f\u{e0100}-\u{e01ef}])\p{Default_Ignorable_Code_Point}/gu;
// Joiners (ZWNJ, ZWJ) shape Persian and Indic words and join emoji: kept inside a word, and after a virama
// or another mark even at a word's end (Malayalam's chillu, Kannada), dropped where they could only hide.
const JOINERS = /[\u200c\u200d]+/g;
const MARK = /\p{M}/u;
// What shows: anything but white space, marks, format and default-ignorable characters (not "unassigned":
// an emoji newer than this engine's Unicode is unassigned to it, and shows).
const VISIBLE = /[^\s\p{M}\p{Cf}\p{Default_Ignorable_Code_Point}]/u;

/**
 * Removes control and invisible characters, keeps joiners only where words need them, and collapses white
 * space. Text with nothing visible left is empty.
 */
export function cleanText(text: string): string {
  const kept = text
    .replace(INVISIBLE, '')
    .replace(JOINERS, (run, at: number, s: string) => {
      const before = s[at - 1];
      const after = s[at + run.length];
      const inWord = before !== undefined && after !== undefined && !/\s/.test(before) && !/\s/.test(after);
      return inWord || (before !== undefined && MARK.test(before)) ? run[0]! : '';
    })
    .replace(/\s+/g, ' ')
    .trim();
  return VISIBLE.test(kept) ? kept : '';
}

/** Length as a reader counts it: an emoji is one character, not two UTF-16 units. */
export function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/** `text` in at most `max` UTF-16 units, marked with … where cut. */
export function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  // Never between an emoji's two halves: a lone one shows as �.
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

/**
 * Untrusted text quoted in a message, cut short: what cleanText would drop is shown as an escape such as
 * \u{202E}, so the message says what was wrong and nothing in it can reorder the text around it.
 */
export function quoted(text: string, max = 70): string {
  const cut = [...text.slice(0, max * 2)].slice(0, max);
  const shown = cut
    .join('')
    .replace(/[\p{Cc}\p{Cf}\p{Cs}\p{Z}\p{Default_Ignorable_Code_Point}\u2800]/gu, (c) =>
      c === ' ' ? c : `\\u{${c.codePointAt(0)!.toString(16).toUpperCase()}}`,
    );
  return `"${shown}${[...text].length > max ? '…' : ''}"`;
}
