// What sessionStorage keeps per room, so a reload resumes the same ID, stage and Done. The log goes in
// chunks of its own keys: a commit rewrites the last chunk, not the whole log (a game with app entries
// commits many times a second, and rewriting a megabyte each time would be most of the tab's work).

import type { Entry, Id, Persisted } from '../core/index.ts';

export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface Saved {
  id: Id;
  token: string;
  persisted: Persisted | null;
  /** The room's owner token, kept across reloads and new IDs. */
  ownerToken?: string;
  /** The room incarnation `persisted` belongs to. */
  incarnation?: string;
}

export const storageKey = (room: string) => `lockstep:room:${room}`;
const chunkKey = (room: string, k: number) => `${storageKey(room)}:log:${k}`;
/** Entries per stored chunk. */
export const LOG_CHUNK = 16;

/** The main record: the log's place is taken by its length and last hash (its chunks hold it). */
type Stored = Omit<Saved, 'persisted'> & {
  persisted:
    | (Omit<Persisted, 'history'> & { history?: Entry[]; log?: { length: number; tip: string } })
    | null;
};

/** What is stored, read back; a log whose chunks are missing or torn ends where they stop chaining (the core checks). */
export function loadSaved(storage: KeyValueStorage | null, room: string): Saved | null {
  try {
    const raw = storage?.getItem(storageKey(room));
    if (!raw) return null;
    const x = JSON.parse(raw) as Partial<Stored>;
    if (typeof x.id !== 'number' || typeof x.token !== 'string') return null;
    let persisted: Persisted | null = null;
    if (x.persisted && typeof x.persisted === 'object') {
      const { log, history, ...rest } = x.persisted;
      persisted = { ...rest, history: Array.isArray(history) ? history : readChunks(storage!, room, log) };
    }
    return {
      id: x.id,
      token: x.token,
      persisted,
      ...(typeof x.ownerToken === 'string' ? { ownerToken: x.ownerToken } : {}),
      ...(typeof x.incarnation === 'string' ? { incarnation: x.incarnation } : {}),
    };
  } catch {
    return null;
  }
}

function readChunks(storage: KeyValueStorage, room: string, log: unknown): Entry[] {
  const length = (log as { length?: unknown } | undefined)?.length;
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length <= 0) return [];
  // Chunks in order until the length is reached or one is missing: a junk length reads no further than the
  // chunks there are, whatever size an earlier build wrote them in.
  const out: Entry[] = [];
  for (let k = 0; out.length < length; k++) {
    const raw = storage.getItem(chunkKey(room, k));
    const chunk = raw === null ? null : (JSON.parse(raw) as unknown);
    if (!Array.isArray(chunk) || chunk.length === 0) break;
    out.push(...(chunk as Entry[]));
  }
  return out.slice(0, length);
}

/** Removes the record and its log chunks. */
export function clearSaved(storage: KeyValueStorage | null, room: string): void {
  if (!storage) return;
  try {
    const raw = storage.getItem(storageKey(room));
    const length = raw ? (JSON.parse(raw) as Stored).persisted?.log?.length : undefined;
    storage.removeItem(storageKey(room));
    const chunks =
      typeof length === 'number' && Number.isSafeInteger(length) ? Math.ceil(length / LOG_CHUNK) : 0;
    for (let k = 0; k < chunks && storage.getItem(chunkKey(room, k)) !== null; k++)
      storage.removeItem(chunkKey(room, k));
  } catch {
    // Storage disabled: nothing to remove.
  }
}

/**
 * Writes Saved records for one room, rewriting only the log chunks that changed since its last write. All
 * or nothing: if any write fails (storage full), the record is removed, so a reload never resumes with a
 * promise or vote the tab has since gone past.
 */
export class SavedWriter {
  /** Each stored chunk's length and last hash, as this writer last wrote them. */
  private chunks: string[] = [];

  constructor(
    private readonly storage: KeyValueStorage | null,
    private readonly room: string,
  ) {}

  write(saved: Saved): boolean {
    const storage = this.storage;
    if (!storage) return false;
    try {
      const p = saved.persisted;
      let stored: Stored = { ...saved, persisted: null };
      if (p) {
        const { history, ...rest } = p;
        const n = Math.ceil(history.length / LOG_CHUNK);
        for (let k = 0; k < n; k++) {
          const part = history.slice(k * LOG_CHUNK, (k + 1) * LOG_CHUNK);
          const sig = `${part.length}:${part[part.length - 1]!.hash}`;
          if (this.chunks[k] === sig) continue;
          storage.setItem(chunkKey(this.room, k), JSON.stringify(part));
          this.chunks[k] = sig;
        }
        for (let k = n; k < this.chunks.length; k++) storage.removeItem(chunkKey(this.room, k));
        this.chunks.length = n;
        stored = {
          ...saved,
          persisted: { ...rest, log: { length: history.length, tip: history.at(-1)?.hash ?? '' } },
        };
      }
      storage.setItem(storageKey(this.room), JSON.stringify(stored));
      return true;
    } catch {
      // Every chunk this writer may have written goes too: nothing else knows where they are.
      const written = Math.max(
        this.chunks.length,
        Math.ceil((saved.persisted?.history.length ?? 0) / LOG_CHUNK),
      );
      this.chunks = [];
      try {
        storage.removeItem(storageKey(this.room));
        for (let k = 0; k < written; k++) storage.removeItem(chunkKey(this.room, k));
      } catch {
        // Storage disabled altogether: nothing was saved.
      }
      return false;
    }
  }

  /** Forgets what it wrote (after something else removed or replaced the record). */
  reset(): void {
    this.chunks = [];
  }
}
