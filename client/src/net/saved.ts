// What sessionStorage keeps per room, so a reload resumes the same ID, stage and Done. The log goes in
// chunks of its own keys, numbered by log index: a commit rewrites the last chunk, not the whole log (a game
// with app entries commits many times a second, and rewriting a megabyte each time would be most of the
// tab's work), and a compaction removes the chunks below its base, which has a key of its own.

import * as v from 'valibot';
import type { Base, Entry, Id, Persisted } from '../core/index.ts';
import { LIMITS } from '../protocol/limits.ts';
import {
  baseSchema,
  entrySchema,
  parseBase,
  proposalSchema,
  retirementSchema,
} from '../protocol/messages.ts';
import { joinFields } from '../protocol/signaling.ts';

export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface Saved {
  id: Id;
  /**
   * None when the record lost its state (damaged, or storage full): the reload joins as a new player, still
   * with the owner's rights, which are not a voter's memory. Its join does not bring the incarnation (with no
   * floor but `id` it could recreate a forgotten room below IDs still playing); the tab still compares it.
   */
  token?: string;
  persisted: Persisted | null;
  /** The room's owner token, kept across reloads and new IDs. */
  ownerToken?: string;
  /** The room incarnation `persisted` belongs to. */
  incarnation?: string;
  /** How many times this player's state was saved so far (IdentityStamps compares a copy's with it). */
  writes?: number;
  /** Earlier IDs whose voter slot this player continues: the owner removing one removes it (Session). */
  continued?: Id[];
  /**
   * The server ended this player's session (its token refused): no token, but the state, which the next
   * join continues under a new ID (its voter slot). Kept so a reload during that join still does.
   */
  expired?: true;
}

export const storageKey = (room: string) => `lockstep:room:${room}`;
const chunkKey = (room: string, k: number) => `${storageKey(room)}:log:${k}`;
/** A base's key names its index: a write cut short between a new base and its record leaves the old one readable. */
const baseKey = (room: string, index: number) => `${storageKey(room)}:base:${index}`;
/** Entries per stored chunk: chunk k holds log indices k * LOG_CHUNK + 1 to (k + 1) * LOG_CHUNK. */
export const LOG_CHUNK = 16;

/** Where the stored log is: its last index and hash, and the base it starts from (under baseKey). */
interface StoredLog {
  length: number;
  tip: string;
  base?: { index: number; hash: string };
}

/** The main record: the log's place is taken by where it ends and starts (its chunks and base hold it). */
type Stored = Omit<Saved, 'persisted'> & {
  persisted: (Omit<Persisted, 'history' | 'base'> & { history?: Entry[]; log?: StoredLog }) | null;
};

const isId = (x: unknown) =>
  Number.isSafeInteger(x) && (x as number) >= 0 && (x as number) <= LIMITS.playerId.max;
const listOf = (x: unknown, ok: (item: Record<string, unknown>) => boolean) =>
  x === undefined ||
  (Array.isArray(x) && x.every((item) => typeof item === 'object' && item !== null && ok(item)));
/** A field the join sends as the server reads it: a damaged one was refused (bad_request) on every reload. */
const joinable = (k: 'token' | 'ownerToken' | 'incarnation', x: unknown): x is string =>
  typeof x === 'string' && v.is(joinFields[k], x);
const retired = (r: Record<string, unknown>) =>
  v.is(retirementSchema, r) && (r.was === undefined || isId(r.was));

/**
 * The player's state as stored, without its log. The page wrote it, but an older build, a torn write or an
 * extension may have left something else, and the core takes its persisted state on trust: a history entry
 * without its `done` list threw in the Player's constructor on every reload.
 */
function isState(s: Record<string, unknown>): boolean {
  return (
    Number.isSafeInteger(s.term) &&
    (s.term as number) >= 0 &&
    isId(s.promised) &&
    typeof s.done === 'boolean' &&
    (s.accepted === null || v.is(proposalSchema, s.accepted)) &&
    (s.initialized === undefined || typeof s.initialized === 'boolean') &&
    (s.was === undefined || isId(s.was)) &&
    (s.issued === undefined || isId(s.issued)) &&
    listOf(s.retired, retired) &&
    listOf(s.lastWords, retired) &&
    listOf(s.aliases, (a) => Array.isArray(a) && a.length === 2 && isId(a[0]) && isId(a[1]))
  );
}

/**
 * What is stored, read back; a log whose chunks are missing or torn ends where they stop chaining (the core
 * checks), or at its first malformed entry. A malformed state counts as lost, as a missing base does: the
 * record comes back without its token and state.
 */
export function loadSaved(storage: KeyValueStorage | null, room: string): Saved | null {
  try {
    const raw = storage?.getItem(storageKey(room));
    if (!raw) return null;
    const x = JSON.parse(raw) as Partial<Stored>;
    if (!isId(x.id) || !x.id) return null;
    const lost: Saved = {
      id: x.id,
      persisted: null,
      ...(joinable('ownerToken', x.ownerToken) ? { ownerToken: x.ownerToken } : {}),
      ...(joinable('incarnation', x.incarnation) ? { incarnation: x.incarnation } : {}),
      ...(Number.isSafeInteger(x.writes) && (x.writes as number) >= 0 ? { writes: x.writes as number } : {}),
      ...(Array.isArray(x.continued) && x.continued.length <= LIMITS.idsPerList && x.continued.every(isId)
        ? { continued: x.continued as Id[] }
        : {}),
    };
    const expired = x.expired === true && x.token === undefined;
    if (!expired && !joinable('token', x.token)) return lost;
    let persisted: Persisted | null = null;
    if (x.persisted && typeof x.persisted === 'object') {
      const { log, history, ...rest } = x.persisted as Stored['persisted'] & { base?: unknown };
      const read = Array.isArray(history) ? { history } : readLog(storage!, room, log);
      // A base the record names but storage no longer holds: resuming without it would vote with a log
      // that forgot what it accepted, so the record counts as lost (a new player, as when storage is full).
      // So does a state that is not one, or a base an earlier build kept in the record that is not one.
      if (read === null || !isState(rest)) return lost;
      const base = read.base ?? rest.base;
      if (base !== undefined && !v.is(baseSchema, base)) return lost;
      const whole = read.history.findIndex((e) => !v.is(entrySchema, e));
      // Only the fields checked: anything else in the record stays there.
      persisted = {
        term: rest.term,
        promised: rest.promised,
        done: rest.done,
        accepted: rest.accepted,
        history: whole < 0 ? read.history : read.history.slice(0, whole),
        ...(base === undefined ? {} : { base: base as Base }),
      };
      for (const k of ['initialized', 'was', 'retired', 'aliases', 'lastWords', 'issued'] as const)
        if (rest[k] !== undefined) Object.assign(persisted, { [k]: rest[k] });
    }
    return expired ? { ...lost, expired: true, persisted } : { ...lost, token: x.token as string, persisted };
  } catch {
    return null;
  }
}

/** The record's log: its base when the record names one, and the entries after it, from their chunks. */
function readLog(
  storage: KeyValueStorage,
  room: string,
  log: unknown,
): Pick<Persisted, 'base' | 'history'> | null {
  const { length, base: named } = (log ?? {}) as Partial<StoredLog>;
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length <= 0) return { history: [] };
  let base: Base | undefined;
  if (named) {
    // Only the base the record names, checked against its index and hash.
    const raw = Number.isSafeInteger(named.index) ? storage.getItem(baseKey(room, named.index)) : null;
    const parsed = raw === null ? null : parseBase(raw, named.index, named.hash);
    if (!parsed?.ok) return null;
    base = parsed.base;
  }
  const first = base?.entry.index ?? 0;
  // Chunks in order until the length is reached or one is missing: a junk length reads no further than the
  // chunks there are, whatever size an earlier build wrote them in. The first may start at or below the base.
  const out: Entry[] = [];
  for (let k = Math.floor(first / LOG_CHUNK); first + out.length < length; k++) {
    const chunk = readJson(storage.getItem(chunkKey(room, k)));
    if (!Array.isArray(chunk) || chunk.length === 0) break;
    for (const e of chunk as (Entry | null)[]) if ((e?.index ?? 0) > first + out.length) out.push(e!);
  }
  const history = out.slice(0, length - first);
  return base ? { base, history } : { history };
}

/** The base the stored record names, or null. */
function storedBase(storage: KeyValueStorage, room: string): { index: number; hash: string } | null {
  const x = readJson(storage.getItem(storageKey(room))) as Partial<Stored> | null;
  const b = x?.persisted?.log?.base;
  return b && Number.isSafeInteger(b.index) && typeof b.hash === 'string' ? b : null;
}

/** A stored JSON value, or null for none or a torn one. */
function readJson(raw: string | null): unknown {
  try {
    return raw === null ? null : JSON.parse(raw);
  } catch {
    return null;
  }
}

/** Removes the record, its base and its log chunks. */
export function clearSaved(storage: KeyValueStorage | null, room: string): void {
  if (!storage) return;
  try {
    const raw = storage.getItem(storageKey(room));
    storage.removeItem(storageKey(room));
    const log = raw ? (JSON.parse(raw) as Stored).persisted?.log : undefined;
    const length = log?.length;
    const first = log?.base?.index ?? 0;
    if (typeof length !== 'number' || !Number.isSafeInteger(length) || !Number.isSafeInteger(first)) return;
    if (first > 0) storage.removeItem(baseKey(room, first));
    for (
      let k = Math.floor(first / LOG_CHUNK);
      k < Math.ceil(length / LOG_CHUNK) && storage.getItem(chunkKey(room, k)) !== null;
      k++
    )
      storage.removeItem(chunkKey(room, k));
  } catch {
    // Storage disabled: nothing to remove.
  }
}

/**
 * Writes Saved records for one room, rewriting only the log chunks (and the base) that changed since its last
 * write: a commit rewrites the last chunk, a compaction removes the chunks wholly below its base. All or
 * nothing: if any write fails (storage full), the record loses its token and state, so a reload never
 * resumes with a promise or vote the tab has since gone past.
 */
export class SavedWriter {
  /** Each stored chunk, by number: the first index it holds, and its last entry's index and hash. */
  private chunks = new Map<number, { from: number; tip: string }>();
  /** The stored base (its index and hash), as this writer last wrote it; null for none, undefined: unknown. */
  private base: { index: number; hash: string } | null | undefined;
  /** The base object last written: a base taken again in place keeps its index and hash, not its state. */
  private baseWritten: unknown = null;

  constructor(
    private readonly storage: KeyValueStorage | null,
    private readonly room: string,
  ) {}

  write(saved: Saved): boolean {
    const storage = this.storage;
    if (!storage) return false;
    const p = saved.persisted;
    const first = p?.base?.entry.index ?? 0;
    const length = first + (p?.history.length ?? 0);
    // The chunks the record will name: from the one that holds the entry after the base to the last.
    const lo = Math.floor(first / LOG_CHUNK);
    const hi = length > first ? Math.ceil(length / LOG_CHUNK) : lo;
    let replaced: { index: number } | null = null;
    // First write since a reload (or a reset): the stored record says which base is there to replace.
    if (this.base === undefined) this.base = storedBase(storage, this.room);
    try {
      let stored: Stored = { ...saved, persisted: null };
      if (p) {
        const { history, base, ...rest } = p;
        // Written before the record that names it; the one it replaces is removed after the record.
        if (
          base &&
          (this.base?.index !== base.entry.index ||
            this.base.hash !== base.entry.hash ||
            this.baseWritten !== base)
        ) {
          storage.setItem(baseKey(this.room, base.entry.index), JSON.stringify(base));
          this.baseWritten = base;
          replaced = this.base ?? null;
          this.base = { index: base.entry.index, hash: base.entry.hash };
        } else if (!base && this.base) {
          replaced = this.base;
          this.base = null;
        }
        for (let k = lo; k < hi; k++) {
          const from = Math.max(first, k * LOG_CHUNK) + 1;
          const part = history.slice(from - first - 1, Math.min(length, (k + 1) * LOG_CHUNK) - first);
          const last = part[part.length - 1]!;
          const tip = `${last.index}:${last.hash}`;
          const had = this.chunks.get(k);
          // Entries chain, so one last hash names the whole chunk; entries it holds below the base are skipped.
          if (had && had.tip === tip && had.from <= from) continue;
          storage.setItem(chunkKey(this.room, k), JSON.stringify(part));
          this.chunks.set(k, { from, tip });
        }
        const log: StoredLog = { length, tip: history.at(-1)?.hash ?? base?.entry.hash ?? '' };
        if (base) log.base = { index: base.entry.index, hash: base.entry.hash };
        stored = { ...saved, persisted: { ...rest, log } };
      }
      storage.setItem(storageKey(this.room), JSON.stringify(stored));
      for (const k of [...this.chunks.keys()]) {
        if (k >= lo && k < hi) continue;
        storage.removeItem(chunkKey(this.room, k));
        this.chunks.delete(k);
      }
      if (replaced && replaced.index !== this.base?.index)
        storage.removeItem(baseKey(this.room, replaced.index));
      return true;
    } catch {
      // Every chunk this writer may have written goes too: nothing else knows where they are.
      const written = new Set(this.chunks.keys());
      for (let k = lo; k < hi; k++) written.add(k);
      const bases = [this.base?.index, replaced?.index, p?.base?.entry.index];
      this.chunks.clear();
      this.base = undefined;
      try {
        storage.removeItem(storageKey(this.room));
        for (const index of bases) if (index) storage.removeItem(baseKey(this.room, index));
        for (const k of written) storage.removeItem(chunkKey(this.room, k));
        const { token: _, ...lost } = saved;
        storage.setItem(storageKey(this.room), JSON.stringify({ ...lost, persisted: null }));
      } catch {
        // Storage disabled altogether: nothing was saved.
      }
      return false;
    }
  }

  /** Forgets what it wrote (after something else removed or replaced the record). */
  reset(): void {
    this.chunks.clear();
    this.base = undefined;
  }
}
