import type { Id } from './types.ts';

/** The smallest number of `n` voters that any two such groups must share one of. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

/**
 * Whether `votes` hold a majority of `voters`. Only the agreed voters count (never the server's roster),
 * and each voter once: a slot that changed its ID counts under whichever name `slotOf` maps it to.
 * An empty voter set has no quorum: nobody can decide for a room that has no voters.
 */
export function isQuorum(
  votes: Iterable<Id>,
  voters: readonly Id[],
  slotOf: (id: Id) => Id = (id) => id,
): boolean {
  // Distinct voters: a list with repeats (only a liar's entry has them) must not raise the bar.
  return quorumOf(votes, new Set(voters), slotOf);
}

/** isQuorum for voters already held as a set (a caller that keeps one saves building it per check). */
export function quorumOf(
  votes: Iterable<Id>,
  voters: ReadonlySet<Id>,
  slotOf: (id: Id) => Id = (id) => id,
): boolean {
  if (voters.size === 0) return false;
  const counted = new Set<Id>();
  for (const id of votes) {
    const slot = slotOf(id);
    if (voters.has(slot)) counted.add(slot);
  }
  return counted.size >= majority(voters.size);
}

/** The voters `votes` still lack for a quorum, lowest first: whom a waiting room waits for. */
export function missing(
  votes: Iterable<Id>,
  voters: readonly Id[],
  slotOf: (id: Id) => Id = (id) => id,
): { needed: number; have: number; absent: Id[] } {
  const have = new Set<Id>();
  for (const id of votes) have.add(slotOf(id));
  const distinct = [...new Set(voters)];
  const present = distinct.filter((v) => have.has(v));
  return {
    needed: majority(distinct.length),
    have: present.length,
    absent: distinct.filter((v) => !have.has(v)).sort((a, b) => a - b),
  };
}
