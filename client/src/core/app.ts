// App entries: which of the values in the log apply, and a proposer's own pending values.

import type { Entry, Id, Op } from './types.ts';

/**
 * The values of app entry `e` that apply, in order, given the last applied proposal number of each page
 * session (`last`, updated). A value applies when it is its session's next number: a retry of a value
 * already applied, or one a liar numbered ahead, does not. Every player runs this on the same log, so
 * every player applies the same values.
 */
export function applyOps(last: Map<string, number>, e: Entry): Op[] {
  const out: Op[] = [];
  for (const op of e.ops ?? []) {
    if (op.seq !== (last.get(op.c) ?? 0) + 1) continue;
    last.set(op.c, op.seq);
    out.push(op);
  }
  return out;
}

/**
 * The replicated dedupe state of app values: each page session's last applied number, the player whose
 * value that was, and where that player's run of numbers began. A base carries it as tuples.
 */
export class AppBook {
  readonly last = new Map<string, number>();
  readonly by = new Map<string, Id>();
  readonly since = new Map<string, number>();

  constructor(tuples: readonly (readonly [string, number, Id, number])[] = []) {
    for (const [c, seq, by, since] of tuples) {
      this.last.set(c, seq);
      this.by.set(c, by);
      this.since.set(c, since);
    }
  }

  /** The values of `e` that apply (applyOps), recorded. */
  apply(e: Entry): Op[] {
    const applied = applyOps(this.last, e);
    for (const op of applied) {
      if (this.by.get(op.c) !== op.by) this.since.set(op.c, op.seq);
      this.by.set(op.c, op.by);
    }
    return applied;
  }

  tuples(): [string, number, Id, number][] {
    return [...this.last].map(([c, seq]) => [c, seq, this.by.get(c)!, this.since.get(c)!]);
  }
}

/** An applied value and where it sits: log entry `index`, value `n` (0-based) of it. */
export interface AppliedOp {
  index: number;
  n: number;
  op: Op;
}

/** Every value a log applies, in order (the simulator's checker and tests replay logs with it). */
export function appliedOps(log: readonly Entry[]): AppliedOp[] {
  const last = new Map<string, number>();
  const out: AppliedOp[] = [];
  for (const e of log) {
    if (e.kind !== 'app') continue;
    const applied = applyOps(last, e);
    for (const op of applied) out.push({ index: e.index, n: e.ops!.indexOf(op), op });
  }
  return out;
}

/** What a proposer hands to its next core (a new ID in the same page keeps its pending values). */
export interface Proposals {
  /** This page session's client ID (1–16 characters of 0-9 a-z). */
  client: string;
  /** The next proposal number. */
  next: number;
  /** The next id handed to a caller; default `next`. */
  nextId?: number;
  /** Values not yet resolved, by number; `sent` once any leader may have them. */
  pending: [number, { id: number; data: unknown; json: string; sent: boolean }][];
  /** The latest decided ones (`ours`: committed as ours), offered again if a cut log loses them. */
  decided?: [number, { id: number; data: unknown; json: string; sent: boolean; ours?: boolean }][];
  /** The IDs this page session's values went out under (the latest last): a base names one of them. */
  names?: Id[];
}
