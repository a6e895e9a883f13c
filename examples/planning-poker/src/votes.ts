// The votes are values in the room's agreed log, so every player shows the same cards, fixed once shown. A
// card goes in hidden during Vote (a hash of it and a random salt) and is opened at Reveal: nobody can read
// a card early, pick one after seeing the others', or show different players different cards. Anyone may
// propose anything (a console can), so this fold checks every value the same way for everyone.

import type { LogItem, PlayerId } from 'lockstep';

export const CARDS = [1, 2, 3, 5, 8, 13];

/** What players propose. */
export type Vote = { t: 'commit'; h: string } | { t: 'open'; card: number; salt: string };

export interface Votes {
  /** Each player's first commitment made during Vote. */
  commits: ReadonlyMap<PlayerId, string>;
  /** Each committed player's first opening made at Reveal (checked against its commitment by `shown`). */
  opens: ReadonlyMap<PlayerId, { card: number; salt: string }>;
}

export const noVotes = (): Votes => ({ commits: new Map(), opens: new Map() });

const HASH = /^[0-9a-f]{64}$/;
const SALT = /^[0-9a-f]{32}$/;

/** `m` with `from`'s value under `to`. */
function moved<T>(m: ReadonlyMap<PlayerId, T>, from: PlayerId, to: PlayerId): ReadonlyMap<PlayerId, T> {
  if (!m.has(from)) return m;
  const out = new Map(m);
  out.set(to, out.get(from)!);
  out.delete(from);
  return out;
}

/** The votes after one more log item. Pure: the same votes and item give the same votes everywhere. */
export function fold(v: Votes, item: LogItem): Votes {
  // A snapshot is another player's word: checked like a vote, and nothing if it is not votes at all.
  if (item.kind === 'snapshot') return asVotes(item.state) ?? noVotes();
  if (item.kind === 'reset') return noVotes();
  // A player back under a new ID (its session expired, the server restarted) keeps its card.
  // Not onto a player that committed a card of its own: the new name is its own claim.
  if (item.kind === 'renamed' && !v.commits.has(item.to))
    return { commits: moved(v.commits, item.from, item.to), opens: moved(v.opens, item.from, item.to) };
  if (item.kind === 'renamed') return v;
  if (item.kind !== 'app' || typeof item.data !== 'object' || item.data === null) return v;
  const d = item.data as Record<string, unknown>;
  if (d.t === 'commit' && item.stage.index === 0 && typeof d.h === 'string' && HASH.test(d.h)) {
    // A copy of another's commitment would let its sender show that card without choosing one.
    if (v.commits.has(item.by) || [...v.commits.values()].includes(d.h)) return v;
    return { ...v, commits: new Map(v.commits).set(item.by, d.h) };
  }
  if (d.t === 'open' && item.stage.index === 1 && typeof d.salt === 'string' && SALT.test(d.salt)) {
    if (!v.commits.has(item.by) || v.opens.has(item.by) || !CARDS.includes(d.card as number)) return v;
    return { ...v, opens: new Map(v.opens).set(item.by, { card: d.card as number, salt: d.salt }) };
  }
  return v;
}

/** Votes as JSON, for `room.snapshot` (Maps do not survive JSON). */
export function toState(v: Votes): {
  commits: [PlayerId, string][];
  opens: [PlayerId, { card: number; salt: string }][];
} {
  return { commits: [...v.commits], opens: [...v.opens] };
}

/** A snapshot's state as votes, or null: every entry checked as the fold checks a vote. */
export function asVotes(state: unknown): Votes | null {
  const s = state as { commits?: unknown; opens?: unknown } | null;
  if (typeof s !== 'object' || s === null || !Array.isArray(s.commits) || !Array.isArray(s.opens))
    return null;
  const isId = (id: unknown): id is PlayerId => Number.isSafeInteger(id) && (id as number) > 0;
  const commits = new Map<PlayerId, string>();
  for (const e of s.commits) {
    if (!Array.isArray(e) || e.length !== 2 || !isId(e[0]) || typeof e[1] !== 'string' || !HASH.test(e[1]))
      return null;
    if (commits.has(e[0]) || [...commits.values()].includes(e[1])) return null;
    commits.set(e[0], e[1]);
  }
  const opens = new Map<PlayerId, { card: number; salt: string }>();
  for (const e of s.opens) {
    const o = Array.isArray(e) && e.length === 2 ? (e[1] as { card?: unknown; salt?: unknown } | null) : null;
    if (!o || typeof o !== 'object' || !isId(e[0]) || !commits.has(e[0]) || opens.has(e[0])) return null;
    if (!CARDS.includes(o.card as number) || typeof o.salt !== 'string' || !SALT.test(o.salt)) return null;
    opens.set(e[0], { card: o.card as number, salt: o.salt });
  }
  return { commits, opens };
}

const hex = (bytes: ArrayBuffer | Uint8Array) =>
  [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, '0')).join('');

export const newSalt = (): string => hex(crypto.getRandomValues(new Uint8Array(16)));

/** A card's commitment: SHA-256 of the card and its salt, in hex. */
export async function commitment(card: number, salt: string): Promise<string> {
  return hex(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`${card}:${salt}`)));
}

/** Each opened card, or `mismatch` where the opening is not what its player committed to. */
export async function shown(v: Votes): Promise<Map<PlayerId, number | 'mismatch'>> {
  const out = new Map<PlayerId, number | 'mismatch'>();
  for (const [id, o] of v.opens)
    out.set(id, (await commitment(o.card, o.salt)) === v.commits.get(id) ? o.card : 'mismatch');
  return out;
}
