import * as v from 'valibot';
import { cut } from './text.ts';

/**
 * Turns schema issues into one short sentence such as "stages[2] must not be empty". `root` names the value
 * when the problem is the whole of it; `nested`, it names the object the paths are in, and stays in front
 * ("settings.stages[2] …": the caller passed `settings`).
 */
export function describeIssues(
  issues: readonly v.BaseIssue<unknown>[],
  root = 'payload',
  nested = false,
): string {
  const first = issues[0];
  if (!first) return `${root} is invalid`;
  let path = root;
  // An unknown field's issue points at that field; the sentence names it and reads from its object.
  const items = (first.path ?? []).slice(0, first.expected === 'never' ? -1 : undefined);
  for (const [index, item] of items.entries()) {
    const key = item.key;
    if (typeof key === 'number') path += `[${key}]`;
    else path = index === 0 && !nested ? String(key) : `${path}.${String(key)}`;
  }
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem(s))` : '';
  // valibot's own messages quote what was received: a sentence quotes no more of it than a person reads.
  return `${path} ${cut(first.message, 161)}${more}`;
}

/** A field's problem as the object reports it: a field that must not be there, or one that is missing. */
function fieldIssue(issue: v.BaseIssue<unknown>): string {
  if (issue.expected === 'never') {
    // The name is the sender's: a sentence quotes no more of it than a person reads.
    const key = String(issue.path?.at(-1)?.key);
    return `has unknown field(s) ${JSON.stringify(cut(key, 41))}`;
  }
  return 'is required';
}

const plain = v.custom<Record<string, unknown>>(
  (x) => typeof x === 'object' && x !== null && !Array.isArray(x),
  'must be an object',
);

/** An object (not an array) with these fields; others are dropped. */
export const record = <T extends v.ObjectEntries>(entries: T) => v.pipe(plain, v.object(entries, fieldIssue));

/** An object (not an array) with exactly these fields: an unknown one is named, as a typo there is a bug. */
export const exact = <T extends v.ObjectEntries>(entries: T) =>
  v.pipe(plain, v.strictObject(entries, fieldIssue));
