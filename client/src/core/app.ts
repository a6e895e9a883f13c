// App entries: which of the values in the log apply, and a proposer's own pending values.

import { LIMITS } from '../protocol/limits.ts';
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

/** A base's record of one page session: [client, last applied number, by, since, ...earlier runs' by, since]. */
export type AppTuple = [string, number, Id, number, ...number[]];

/**
 * The replicated dedupe state of app values: each page session's last applied number, the player whose
 * value that was, where that player's run of numbers began, and the runs before it (LIMITS.app.earlierRuns).
 * A proposer caught up from a base past its values tells its own from a liar's by the run they fell in:
 * one page session's values go out under each ID it has had, so one run is not enough.
 */
export class AppBook {
  readonly last = new Map<string, number>();
  readonly by = new Map<string, Id>();
  readonly since = new Map<string, number>();
  /** Earlier runs, oldest first: [by, since]. */
  readonly runs = new Map<string, [Id, number][]>();

  constructor(tuples: readonly (readonly [string, number, Id, number, ...number[]])[] = []) {
    for (const [c, seq, by, since, ...earlier] of tuples) {
      this.last.set(c, seq);
      this.by.set(c, by);
      this.since.set(c, since);
      const runs: [Id, number][] = [];
      for (let i = 0; i + 1 < earlier.length && runs.length < LIMITS.app.earlierRuns; i += 2)
        runs.push([earlier[i]!, earlier[i + 1]!]);
      if (runs.length > 0) this.runs.set(c, runs);
    }
  }

  /** The values of `e` that apply (applyOps), recorded. */
  apply(e: Entry): Op[] {
    const applied = applyOps(this.last, e);
    for (const op of applied) {
      const by = this.by.get(op.c);
      if (by !== op.by) {
        if (by !== undefined) {
          const runs = this.runs.get(op.c) ?? [];
          runs.push([by, this.since.get(op.c)!]);
          if (runs.length > LIMITS.app.earlierRuns) runs.shift();
          this.runs.set(op.c, runs);
        }
        this.since.set(op.c, op.seq);
      }
      this.by.set(op.c, op.by);
    }
    return applied;
  }

  /** Who proposed page session `c`'s value `seq` (applied), if a run kept here says. */
  proposerOf(c: string, seq: number): Id | undefined {
    if (seq > (this.last.get(c) ?? 0)) return undefined;
    if (seq >= (this.since.get(c) ?? Number.POSITIVE_INFINITY)) return this.by.get(c);
    const runs = this.runs.get(c) ?? [];
    for (let i = runs.length - 1; i >= 0; i--) if (seq >= runs[i]![1]) return runs[i]![0];
    return undefined;
  }

  tuples(): AppTuple[] {
    return [...this.last].map(([c, seq]) => [
      c,
      seq,
      this.by.get(c)!,
      this.since.get(c)!,
      ...(this.runs.get(c) ?? []).flat(),
    ]);
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
