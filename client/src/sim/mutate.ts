// Small changes to JSON values, for the fuzz tests: a value anywhere in a message replaced by a neighbour, an
// extreme, another type or another message's value. fast-check picks which, by index, so it can shrink them.

import fc from 'fast-check';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every place in a JSON value that holds a value: its container and key (the root has none). */
export function places(x: Json, out: [Json[] | { [k: string]: Json }, string | number][] = []) {
  if (Array.isArray(x))
    for (const [i, v] of x.entries()) {
      out.push([x, i]);
      places(v, out);
    }
  else if (x !== null && typeof x === 'object')
    for (const [k, v] of Object.entries(x)) {
      out.push([x, k]);
      places(v, out);
    }
  return out;
}

const NUMBERS = [0, 1, -1, 0.5, 2 ** 31, 2 ** 53 - 1, -(2 ** 53), 1e308];

/** `v` changed by operation `op` (modulo the operations there are); `other` is a value from elsewhere. */
export function mutate(v: Json, op: number, other: Json): Json {
  const ops: ((v: Json) => Json)[] = [
    () => other,
    () => null,
    () => (typeof v === 'number' ? v + 1 : 7),
    () => (typeof v === 'number' ? v - 1 : ''),
    () => (typeof v === 'number' ? v * 2 : []),
    () => (typeof v === 'number' ? v + 2 + (op % 9) : 'y'),
    () => (typeof v === 'number' ? v - 2 - (op % 9) : 'z'),
    () => NUMBERS[Math.floor(op / 16) % NUMBERS.length]!,
    () => (typeof v === 'boolean' ? !v : typeof v === 'string' ? `${v}x` : 'x'),
    () => (Array.isArray(v) ? v.slice(1) : {}),
    () => (Array.isArray(v) ? [...v, ...v] : [v]),
    () => (Array.isArray(v) ? [...v].reverse() : 'x'.repeat(70_000)),
  ];
  return ops[op % ops.length]!(v);
}

type Box = Record<string | number, Json>;

/** A frame's kind (`k`), a message's type (`t`), or nothing: a frame's `t` is its time. */
const kindOf = (m: Json) => {
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return '';
  return typeof m.k === 'string' ? m.k : typeof m.t === 'string' ? m.t : '';
};

/**
 * A copy of `corpus[pick]` one step from valid: sent again as it was (a replay), one value swapped for the
 * value of the same field in `corpus[other]` (a splice: consistent, but from elsewhere), a field dropped, or
 * one value changed by `mutate`. Indices are taken modulo what exists, so fast-check can shrink them.
 */
export function nearMiss(
  corpus: readonly Json[],
  pick: number,
  path: number,
  op: number,
  other: number,
): Json {
  // Each kind of message as likely as any other, however rare it is on the wire (heartbeats are most of it).
  const kinds = [...new Set(corpus.map(kindOf))];
  const kind = kinds[pick % kinds.length];
  const ofKind = corpus.filter((m) => kindOf(m) === kind);
  const x = structuredClone(ofKind[Math.floor(pick / kinds.length) % ofKind.length]!);
  const mode = op % 5;
  // The kind (`t`, `k`) is swapped only for another message's (a splice): a kind nobody knows tests the
  // schema alone.
  const all = places(x).filter(([at, k]) => mode === 1 || at !== x || kindOf(x) !== (x as Box)[k]);
  // Half the time a number: indices, stages, terms and IDs are where a near miss means most.
  const numbers = all.filter(([at, k]) => typeof (at as Box)[k] === 'number');
  const spots = Math.floor(op / 5) % 2 === 1 && numbers.length > 0 ? numbers : all;
  if (mode === 0) return x;
  if (spots.length === 0) return mutate(x, op, null);
  const [at, key] = spots[path % spots.length]!;
  const box = at as Box;
  const donor = places(corpus[other % corpus.length]!);
  const alike = donor.filter(([, k]) => k === key);
  if (mode === 1 && alike.length > 0) {
    const [dAt, dKey] = alike[other % alike.length]!;
    box[key] = structuredClone((dAt as Box)[dKey]!);
  } else if (mode === 2 && !Array.isArray(at)) delete box[key];
  else {
    const given = donor.length > 0 ? donor[other % donor.length]! : null;
    box[key] = mutate(box[key]!, op, given ? (given[0] as Box)[given[1]]! : null);
  }
  return x;
}

/** nearMiss's indices as fast-check draws them (and shrinks them). */
export const picks = fc.record({ pick: fc.nat(), path: fc.nat(), op: fc.nat(), other: fc.nat() });

/** Near misses of `pool`, as a fast-check arbitrary. */
export const nearMisses = (pool: readonly Json[]) =>
  picks.map(({ pick, path, op, other }) => nearMiss(pool, pick, path, op, other));

/** Every fuzz test's seed: pinned, or FUZZ_SEED to replay the one a failure printed. */
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20_261_204);

/** fast-check's settings for a fuzz test of `runs` runs (FUZZ_RUNS searches longer). */
export const fuzzed = (runs: number) => ({ seed: FUZZ_SEED, numRuns: Number(process.env.FUZZ_RUNS ?? runs) });
