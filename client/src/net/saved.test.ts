import { describe, expect, it } from 'vitest';
import { seal } from '../core/chain.ts';
import type { Entry, Persisted } from '../core/index.ts';
import { clearSaved, type KeyValueStorage, LOG_CHUNK, loadSaved, SavedWriter, storageKey } from './saved.ts';

/** A storage that counts writes, and can be made to refuse them (a full sessionStorage). */
function storage() {
  const data = new Map<string, string>();
  const writes: string[] = [];
  let full = false;
  const s: KeyValueStorage = {
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => {
      if (full) throw new Error('QuotaExceededError');
      writes.push(k);
      data.set(k, v);
    },
    removeItem: (k) => void data.delete(k),
  };
  return { s, data, writes, fill: () => (full = true) };
}

function log(n: number, tag = 'a'): Entry[] {
  const out: Entry[] = [];
  for (let i = 1; i <= n; i++) {
    const body = { index: i, kind: 'app' as const, stage: 0, term: 1, done: [], members: [1] };
    out.push(
      seal(out.at(-1)?.hash ?? '0', { ...body, ops: [{ by: 1, c: tag, seq: i, data: `${tag}${i}` }] }),
    );
  }
  return out;
}

const persisted = (history: Entry[]): Persisted => ({
  term: 3,
  promised: 1,
  done: true,
  history,
  accepted: null,
  initialized: true,
});

describe('saved state', () => {
  it('round-trips, and a commit rewrites the last log chunk and the record, not the whole log', () => {
    const { s, writes } = storage();
    const w = new SavedWriter(s, 'r');
    const h = log(3 * LOG_CHUNK + 5);
    w.write({ id: 2, token: 't', persisted: persisted(h) });
    expect(writes).toHaveLength(4 + 1);
    expect(loadSaved(s, 'r')).toEqual({ id: 2, token: 't', persisted: persisted(h) });
    writes.length = 0;
    const more = [...h, ...log(3 * LOG_CHUNK + 6).slice(-1)];
    more[more.length - 1] = seal(h.at(-1)!.hash, { ...more.at(-1)!, index: more.length });
    w.write({ id: 2, token: 't', persisted: persisted(more) });
    expect(writes).toEqual([`${storageKey('r')}:log:3`, storageKey('r')]);
    expect(loadSaved(s, 'r')?.persisted?.history).toEqual(more);
  });

  it('a cut log rewrites from the chunk it changed, and drops chunks past its end', () => {
    const { s, data } = storage();
    const w = new SavedWriter(s, 'r');
    w.write({ id: 2, token: 't', persisted: persisted(log(2 * LOG_CHUNK + 1)) });
    const other = log(LOG_CHUNK + 3, 'b');
    w.write({ id: 2, token: 't', persisted: persisted(other) });
    expect(loadSaved(s, 'r')?.persisted?.history).toEqual(other);
    expect(data.has(`${storageKey('r')}:log:2`)).toBe(false);
  });

  it('a full storage leaves no record behind, so a reload never resumes an older promise', () => {
    const { s, fill } = storage();
    const w = new SavedWriter(s, 'r');
    w.write({ id: 2, token: 't', persisted: persisted(log(10)) });
    fill();
    expect(w.write({ id: 2, token: 't', persisted: persisted(log(11)) })).toBe(false);
    expect(loadSaved(s, 'r')).toBeNull();
  });

  it('clearSaved removes the record and its chunks; junk reads as nothing', () => {
    const { s, data } = storage();
    new SavedWriter(s, 'r').write({ id: 2, token: 't', persisted: persisted(log(LOG_CHUNK * 2)) });
    clearSaved(s, 'r');
    expect(data.size).toBe(0);
    data.set(storageKey('r'), '{"id":1,"token":"t","persisted":{"term":1,"log":{"length":5}}}');
    expect(loadSaved(s, 'r')?.persisted?.history).toEqual([]);
    // A junk length reads no further than the chunks there are, at once.
    new SavedWriter(s, 'r').write({ id: 2, token: 't', persisted: persisted(log(3)) });
    const record = JSON.parse(data.get(storageKey('r'))!);
    record.persisted.log.length = 1e15;
    data.set(storageKey('r'), JSON.stringify(record));
    expect(loadSaved(s, 'r')?.persisted?.history).toHaveLength(3);
    clearSaved(s, 'r');
    expect(data.size).toBe(0);
    data.set(storageKey('r'), 'not json');
    expect(loadSaved(s, 'r')).toBeNull();
  });

  it('reads the older format, with the log inline', () => {
    const { s, data } = storage();
    const h = log(3);
    data.set(storageKey('r'), JSON.stringify({ id: 4, token: 't', persisted: persisted(h) }));
    expect(loadSaved(s, 'r')?.persisted?.history).toEqual(h);
  });
});
