// Text that other players read: names and stage names, from any source (URL, lobby form, server).

// C0/C1 controls, zero-width and bidi formatting characters (invisible, or able to reorder what others read),
// and characters that render as nothing though they are letters or symbols to Unicode: the soft hyphen,
// the Arabic letter mark, the Hangul fillers, the Mongolian vowel separator, the braille blank, and tag characters (they can carry hidden text; a subdivision flag such as
// England's shows as a plain black flag).
const INVISIBLE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point.
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u115f\u1160\u180e\u200b\u200e\u200f\u2028-\u202e\u2060-\u2069\u2800\u3164\ufeff\uffa0\u{e0000}-\u{e007f}]/gu;
// Joiners (ZWNJ, ZWJ) shape Persian and Indic words and join emoji: kept between two characters, dropped
// elsewhere, where they could only hide.
const JOINERS = /[\u200c\u200d]+/g;
// What shows: anything but white space, marks (variation selectors among them) and format characters.
const VISIBLE = /[^\s\p{M}\p{Cf}]/u;

/**
 * Removes control and invisible characters, keeps joiners only inside words, and collapses white space.
 * Text with nothing visible left is empty.
 */
export function cleanText(text: string): string {
  const kept = text
    .replace(INVISIBLE, '')
    .replace(JOINERS, (run, at: number, s: string) =>
      at > 0 && at + run.length < s.length && !/\s/.test(s[at - 1]!) && !/\s/.test(s[at + run.length]!)
        ? run[0]!
        : '',
    )
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

/** Untrusted text quoted in a message: cleaned (no bidi reordering of the message) and cut short. */
export function quoted(text: string, max = 70): string {
  const clean = cleanText(text);
  const cut = [...clean];
  return `"${cut.length > max ? `${cut.slice(0, max).join('')}…` : clean}"`;
}
