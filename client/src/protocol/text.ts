// Text that other players read: names and stage names, from any source (URL, lobby form, server).

// C0/C1 controls, zero-width and bidi formatting characters: invisible or able to reorder what others read.
// biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point.
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** Removes control/invisible characters and collapses whitespace. */
export function cleanText(text: string): string {
  return text.replace(INVISIBLE, '').replace(/\s+/g, ' ').trim();
}

/** Length as a reader counts it: an emoji is one character, not two UTF-16 units. */
export function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}
