// The nemeses: what each fault does, drawn from a seeded generator so a seed replays the same schedule
// (the same faults, targets and holds; the players' own timing still varies run to run).

import type { Node } from './world.ts';

export const KINDS = [
  'partition-majority',
  'partition-bridge',
  'partition-oneway',
  'server-cut',
  'server-restart',
  'redis-node-kill',
  'crash',
  'freeze',
] as const;
export type Kind = (typeof KINDS)[number];

const NET: Kind[] = ['partition-majority', 'partition-bridge', 'partition-oneway', 'server-cut'];
const PROCESS: Kind[] = ['crash', 'freeze'];

/** The kinds each server setup can inject: a memory store restarts, of two Redis nodes one dies. */
export const KINDS_FOR = {
  memory: KINDS.filter((k) => k !== 'redis-node-kill'),
  redis: KINDS.filter((k) => k !== 'server-restart'),
} as const;

export type Rng = () => number;

/** mulberry32: small, seedable, good enough to pick faults. */
export function rngFrom(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const between = (rng: Rng, lo: number, hi: number) => Math.round(lo + rng() * (hi - lo));
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)] as T;
function shuffled<T>(rng: Rng, xs: readonly T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

export interface Timing {
  graceMs: number;
  timeoutMs: number;
  nodeTtlMs: number;
}

/** One fault, planned: the runner carries it out, holds it, heals it. */
export interface Fault {
  kind: Kind;
  holdMs: number;
  /** Players it hits (0-based). */
  targets: number[];
  /** Directed drops while it lasts (network kinds). */
  drops: [Node, Node][];
  /** Disjoint sides, for the checker's "at most one side advances" (majority/minority partitions only). */
  sides?: number[][];
  /** Redis: which server node dies. */
  node?: number;
  detail: string;
}

const both = (xs: Node[], ys: Node[]): [Node, Node][] =>
  xs.flatMap((x) =>
    ys.flatMap((y): [Node, Node][] => [
      [x, y],
      [y, x],
    ]),
  );
const names = (xs: number[]) => xs.map((i) => `p${i + 1}`).join(',');

/** `leader`: the player most now follow, so crashes and freezes hit the leader half the time. */
export function plan(
  kind: Kind,
  rng: Rng,
  n: number,
  t: Timing,
  leader: number | null,
  quick = false,
): Fault {
  const hold = (lo: number, hi: number) => (quick ? lo : between(rng, lo, hi));
  const order = shuffled(
    rng,
    Array.from({ length: n }, (_, i) => i),
  );
  const victim = leader !== null && rng() < 0.5 ? leader : (order[0] as number);
  switch (kind) {
    case 'partition-majority': {
      const small = order.slice(0, Math.floor((n - 1) / 2));
      const big = order.slice(small.length);
      // The server sits on one side; the other loses it too, or the relay would bridge the cut.
      const serverWithBig = rng() < 0.5;
      const a: Node[] = serverWithBig ? [...big, 'server'] : big;
      const b: Node[] = serverWithBig ? small : [...small, 'server'];
      return {
        kind,
        holdMs: hold(4_000, 10_000),
        targets: order,
        drops: both(a, b),
        sides: [big, small],
        detail: `majority ${names(big)} | minority ${names(small)}; server with the ${serverWithBig ? 'majority' : 'minority'}`,
      };
    }
    case 'partition-bridge': {
      const [mid, ...rest] = order as [number, ...number[]];
      const left = rest.slice(0, Math.ceil(rest.length / 2));
      const right = rest.slice(left.length);
      const a: Node[] = [...left, 'server'];
      return {
        kind,
        holdMs: hold(4_000, 10_000),
        targets: order,
        drops: both(a, right),
        detail: `${names(left)} | ${names(right)}, p${mid + 1} sees both; server with ${names(left)}`,
      };
    }
    case 'partition-oneway': {
      const k = between(rng, 1, Math.max(1, Math.floor(n / 2)));
      const from: Node[] = order.slice(0, k);
      const to: Node[] = order.slice(k, k + between(rng, 1, n - k));
      if (rng() < 0.3) (rng() < 0.5 ? from : to).push('server');
      const drops = from.flatMap((x) => to.map((y): [Node, Node] => [x, y]));
      const label = (xs: Node[]) => xs.map((x) => (x === 'server' ? 'server' : `p${x + 1}`)).join(',');
      return {
        kind,
        holdMs: hold(4_000, 10_000),
        targets: order.slice(0, k + to.length),
        drops,
        detail: `${label(from)} -> ${label(to)} dropped (the other way works)`,
      };
    }
    case 'server-cut': {
      const cut = order.slice(0, between(rng, 1, Math.max(1, Math.floor((n - 1) / 2))));
      return {
        kind,
        holdMs: hold(t.graceMs + 1_500, t.graceMs + 4_000),
        targets: cut,
        drops: both(cut, ['server']),
        detail: `${names(cut)} lose the server past the ${t.graceMs} ms grace; the mesh stays`,
      };
    }
    case 'server-restart':
      return {
        kind,
        holdMs: hold(500, 4_000),
        targets: [],
        drops: [],
        detail: 'signaling server SIGKILLed, restarted with an empty memory store',
      };
    case 'redis-node-kill': {
      const node = between(rng, 0, 1);
      return {
        kind,
        holdMs: hold(t.nodeTtlMs + 1_000, t.nodeTtlMs + 4_000),
        targets: [],
        drops: [],
        node,
        detail: `Redis-backed node ${node + 1} of 2 SIGKILLed, restarted later`,
      };
    }
    case 'crash':
      return {
        kind,
        holdMs: hold(500, t.graceMs + 3_000),
        targets: [victim],
        drops: [],
        detail: `p${victim + 1} SIGKILLed, restarted under the same storage`,
      };
    case 'freeze':
      return {
        kind,
        holdMs: hold(2 * t.timeoutMs, 4 * t.timeoutMs),
        targets: [victim],
        drops: [],
        detail: `p${victim + 1} SIGSTOPped past the timeout, then SIGCONT`,
      };
  }
}

/**
 * The kinds of the next step: `first` (every kind of the setup once, in a seeded order) before random
 * ones; now and then a process fault rides along with a network one.
 */
export function nextKinds(rng: Rng, kinds: readonly Kind[], first: Kind[]): Kind[] {
  const k = first.shift() ?? pick(rng, kinds);
  if (NET.includes(k) && rng() < 0.35) return [k, pick(rng, PROCESS)];
  return [k];
}

export function coverage(rng: Rng, kinds: readonly Kind[]): Kind[] {
  return shuffled(rng, kinds);
}
