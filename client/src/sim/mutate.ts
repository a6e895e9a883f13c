// Small changes to JSON values, for the fuzz tests: a value anywhere in a message replaced by a neighbour, an
// extreme, another type or another message's value. fast-check picks which, by index, so it can shrink them.

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
    () => NUMBERS[(typeof v === 'number' ? Math.abs(v) : op) % NUMBERS.length]!,
    () => (typeof v === 'boolean' ? !v : typeof v === 'string' ? `${v}x` : 'x'),
    () => (Array.isArray(v) ? v.slice(1) : {}),
    () => (Array.isArray(v) ? [...v, ...v] : [v]),
    () => (Array.isArray(v) ? [...v].reverse() : 'x'.repeat(70_000)),
  ];
  return ops[op % ops.length]!(v);
}
