// The committed log, from an optional base: the state of its first entries, once an app compacted them.

import type { WireBase } from '../protocol/messages.ts';
import { GENESIS } from './chain.ts';
import type { Entry } from './types.ts';

/**
 * The log up to `entry.index`, in place of its entries (docs/protocol.md, "Snapshots"): the last entry it
 * covers, the stage entries up to it, old names of renamed slots, each page session's last number and
 * player, and the app's state. Each player compacts on its own at an index its app chose; a late joiner
 * takes one from the peer it catches up from.
 */
export type Base = WireBase;

/** Entries from index `first + 1` on, after an optional base at `first`. */
export class Log {
  private base: Base | null = null;
  private list: Entry[] = [];
  /** The indices of the members entries above the base, in order: the only ones that can rename a slot. */
  private membersList: number[] = [];

  constructor(base: Base | null = null, entries: readonly Entry[] = []) {
    this.base = base;
    this.list = entries.slice();
    this.indexMembers();
  }

  /** The last index. */
  get length(): number {
    return this.first + this.list.length;
  }

  /** The index the base covers (0 without one): nothing below it is held. */
  get first(): number {
    return this.base?.entry.index ?? 0;
  }

  get snapshot(): Base | null {
    return this.base;
  }

  /** The entries above the base. The array is only appended to: a cut or a rebase makes a new one. */
  get entries(): readonly Entry[] {
    return this.list;
  }

  /** The last entry held (the base's, when none is above it). */
  last(): Entry | undefined {
    return this.list[this.list.length - 1] ?? this.base?.entry;
  }

  /** Entry `i`, from the base's on. */
  at(i: number): Entry | undefined {
    if (this.base && i === this.base.entry.index) return this.base.entry;
    return i > this.first ? this.list[i - this.first - 1] : undefined;
  }

  /** The chain's hash after entry `i` (GENESIS at 0), or undefined below the base. */
  hash(i: number): string | undefined {
    if (i === 0 && !this.base) return GENESIS;
    return this.at(i)?.hash;
  }

  get tip(): string {
    return this.last()?.hash ?? GENESIS;
  }

  /** Entries with index in (from, to]; only those above the base. */
  between(from: number, to: number = this.length): Entry[] {
    const lo = Math.max(from, this.first) - this.first;
    const hi = Math.max(to, this.first) - this.first;
    return this.list.slice(lo, hi);
  }

  /** The indices of the members entries above the base, in order. */
  get membersAt(): readonly number[] {
    return this.membersList;
  }

  push(e: Entry): void {
    this.list.push(e);
    if (e.kind === 'members') this.membersList.push(this.length);
  }

  /** Keeps entries up to `length` (not below the base), in a new array: `entries` only ever grows. */
  cut(length: number): void {
    const n = Math.max(0, length - this.first);
    this.list = this.list.slice(0, n);
    this.list.length = n;
    while ((this.membersList.at(-1) ?? 0) > this.length) this.membersList.pop();
  }

  /** Drops the entries up to `base.entry.index` (our own compaction, or one a peer sent). */
  rebase(base: Base): void {
    const keep = base.entry.index < this.length ? this.between(base.entry.index) : [];
    this.base = base;
    this.list = keep;
    this.indexMembers();
  }

  private indexMembers(): void {
    this.membersList = [];
    for (const [i, e] of this.list.entries())
      if (e.kind === 'members') this.membersList.push(this.first + i + 1);
  }
}
