import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seal } from '../core/chain.ts';
import { type Base, type Entry, type Persisted, Player, seededRng } from '../core/index.ts';
import { fuzzed, type Json, nearMiss, picks } from '../sim/mutate.ts';
import { clearSaved, type KeyValueStorage, LOG_CHUNK, loadSaved, SavedWriter, storageKey } from './saved.ts';

/**
 * A storage that counts writes, and can be made to refuse them all (disabled) or any past a quota of
 * characters (a full sessionStorage, which takes a small write again once something is removed).
 */
function storage() {
  const data = new Map<string, string>();
  const writes: string[] = [];
  let quota = Number.POSITIVE_INFINITY;
  const used = () => [...data].reduce((n, [k, v]) => n + k.length + v.length, 0);
  const s: KeyValueStorage = {
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => {
      if (used() - (data.has(k) ? k.length + data.get(k)!.length : 0) + k.length + v.length > quota)
        throw new Error('QuotaExceededError');
      writes.push(k);
      data.set(k, v);
    },
    removeItem: (k) => void data.delete(k),
  };
  return { s, data, writes, fill: (chars = 0) => (quota = chars ? used() + chars : 0) };
}

/** A resume token and an owner token as the server makes them (32 URL-safe characters). */
const T = 't'.repeat(32);
const O = 'o'.repeat(32);

/** What a record that lost its state reads as: no token, no state, the rest kept. */
const lost = (id: number, kept: { ownerToken?: string; incarnation?: string } = {}) => ({
  id,
  persisted: null,
  ...kept,
});

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

const persisted = (history: Entry[], base?: Base): Persisted => ({
  term: 3,
  promised: 1,
  done: true,
  history,
  accepted: null,
  initialized: true,
  ...(base ? { base } : {}),
});

/** `h` compacted at `index`: its base, and the entries after it. */
function compacted(h: Entry[], index: number): [Base, Entry[]] {
  const base: Base = {
    entry: h[index - 1]!,
    stages: [],
    names: [],
    app: [['a', index, 1, 1]],
    state: { n: index },
  };
  return [base, h.slice(index)];
}

describe('saved state', () => {
  it('round-trips, and a commit rewrites the last log chunk and the record, not the whole log', () => {
    const { s, writes } = storage();
    const w = new SavedWriter(s, 'r');
    const h = log(3 * LOG_CHUNK + 5);
    w.write({ id: 2, token: T, persisted: persisted(h) });
    expect(writes).toHaveLength(4 + 1);
    expect(loadSaved(s, 'r')).toEqual({ id: 2, token: T, persisted: persisted(h) });
    writes.length = 0;
    const more = [...h, ...log(3 * LOG_CHUNK + 6).slice(-1)];
    more[more.length - 1] = seal(h.at(-1)!.hash, { ...more.at(-1)!, index: more.length });
    w.write({ id: 2, token: T, persisted: persisted(more) });
    expect(writes).toEqual([`${storageKey('r')}:log:3`, storageKey('r')]);
    expect(loadSaved(s, 'r')?.persisted?.history).toEqual(more);
  });

  it('an expired session keeps its state without a token; a record that claims both reads as one with a token', () => {
    const { s, data } = storage();
    const w = new SavedWriter(s, 'r');
    const h = log(LOG_CHUNK + 2);
    const record = {
      id: 2,
      expired: true as const,
      persisted: persisted(h),
      incarnation: 'inc12345',
      writes: 4,
      continued: [1],
    };
    w.write(record);
    expect(loadSaved(s, 'r')).toEqual(record);
    const key = storageKey('r');
    data.set(key, JSON.stringify({ ...JSON.parse(data.get(key)!), token: T }));
    expect(loadSaved(s, 'r')).toMatchObject({ id: 2, token: T, persisted: persisted(h) });
    expect(loadSaved(s, 'r')?.expired).toBeUndefined();
    // A list of slots that is not one is left out.
    data.set(key, JSON.stringify({ ...JSON.parse(data.get(key)!), continued: ['x', -1] }));
    expect(loadSaved(s, 'r')?.continued).toBeUndefined();
  });

  it('a cut log rewrites from the chunk it changed, and drops chunks past its end', () => {
    const { s, data } = storage();
    const w = new SavedWriter(s, 'r');
    w.write({ id: 2, token: T, persisted: persisted(log(2 * LOG_CHUNK + 1)) });
    const other = log(LOG_CHUNK + 3, 'b');
    w.write({ id: 2, token: T, persisted: persisted(other) });
    expect(loadSaved(s, 'r')?.persisted?.history).toEqual(other);
    expect(data.has(`${storageKey('r')}:log:2`)).toBe(false);
  });

  it('a full storage keeps no token or state, so a reload never resumes an older promise; the owner keeps its rights', () => {
    const { s, data, fill } = storage();
    const w = new SavedWriter(s, 'r');
    const kept = { ownerToken: O };
    const room = { ...kept, incarnation: 'inc12345' };
    w.write({ id: 2, token: T, persisted: persisted(log(10)), ...room });
    fill(10);
    expect(w.write({ id: 2, token: T, persisted: persisted(log(LOG_CHUNK + 1)), ...room })).toBe(false);
    // The ID (what the tab was), the owner's rights and the incarnation stay (the join does not send the last).
    expect(loadSaved(s, 'r')).toEqual(lost(2, room));
    expect(data.size).toBe(1);
    // Storage that takes nothing at all keeps nothing.
    fill();
    w.write({ id: 2, token: T, persisted: persisted(log(LOG_CHUNK + 1)), ...kept });
    expect(loadSaved(s, 'r')).toBeNull();
  });

  it('keeps the count of saves, also in the record a full storage leaves, and drops a junk one', () => {
    const { s, fill } = storage();
    const w = new SavedWriter(s, 'r');
    w.write({ id: 2, token: T, persisted: persisted(log(3)), writes: 4 });
    expect(loadSaved(s, 'r')?.writes).toBe(4);
    fill(10);
    expect(w.write({ id: 2, token: T, persisted: persisted(log(LOG_CHUNK + 1)), writes: 5 })).toBe(false);
    expect(loadSaved(s, 'r')).toEqual({ id: 2, persisted: null, writes: 5 });
    for (const writes of [-1, 1.5, '7', null]) {
      s.setItem(storageKey('r'), JSON.stringify({ id: 2, persisted: null, writes }));
      expect(loadSaved(s, 'r')).toEqual({ id: 2, persisted: null });
    }
  });

  it('clearSaved removes the record and its chunks; junk reads as nothing', () => {
    const { s, data } = storage();
    new SavedWriter(s, 'r').write({ id: 2, token: T, persisted: persisted(log(LOG_CHUNK * 2)) });
    clearSaved(s, 'r');
    expect(data.size).toBe(0);
    const state = '"term":1,"promised":0,"done":false,"accepted":null';
    data.set(storageKey('r'), `{"id":1,"token":"${T}","persisted":{${state},"log":{"length":5}}}`);
    expect(loadSaved(s, 'r')?.persisted?.history).toEqual([]);
    // A state that is not one counts as lost: the tab plays on as a new player, as when storage was full.
    data.set(storageKey('r'), `{"id":1,"token":"${T}","persisted":{"term":1,"log":{"length":5}}}`);
    expect(loadSaved(s, 'r')).toEqual(lost(1));
    // A junk length reads no further than the chunks there are, at once.
    new SavedWriter(s, 'r').write({ id: 2, token: T, persisted: persisted(log(3)) });
    const record = JSON.parse(data.get(storageKey('r'))!);
    record.persisted.log.length = 1e15;
    data.set(storageKey('r'), JSON.stringify(record));
    expect(loadSaved(s, 'r')?.persisted?.history).toHaveLength(3);
    clearSaved(s, 'r');
    expect(data.size).toBe(0);
    data.set(storageKey('r'), 'not json');
    expect(loadSaved(s, 'r')).toBeNull();
    data.set(storageKey('r'), `{"id":-1,"token":"${T}","persisted":null}`);
    expect(loadSaved(s, 'r')).toBeNull();
  });

  it('a malformed entry ends the log there (it threw in the core on every reload before)', () => {
    const { s, data } = storage();
    const h = log(5);
    new SavedWriter(s, 'r').write({ id: 2, token: T, persisted: persisted(h) });
    const chunk = JSON.parse(data.get(`${storageKey('r')}:log:0`)!);
    delete chunk[3].done;
    data.set(`${storageKey('r')}:log:0`, JSON.stringify(chunk));
    const saved = loadSaved(s, 'r');
    expect(saved?.persisted?.history).toEqual(h.slice(0, 3));
    const timing = { heartbeatTicks: 2, timeoutTicks: 8, answerTicks: 2 };
    const roster = { version: 1, members: [1, 2] };
    const p = new Player({ self: 2, timing, rng: seededRng(1), roster, persisted: saved!.persisted });
    expect(p.length).toBe(3);
  });

  it('a record whose state holds a field that is not what it says counts as lost; one it does not know is left out', () => {
    const { s, data } = storage();
    const kept = { ownerToken: O };
    new SavedWriter(s, 'r').write({ id: 2, token: T, persisted: persisted(log(3)), ...kept });
    const good = data.get(storageKey('r'))!;
    const withField = (k: string, value: unknown) => {
      const record = JSON.parse(good);
      record.persisted[k] = value;
      data.set(storageKey('r'), JSON.stringify(record));
      return loadSaved(s, 'r');
    };
    // An earlier build kept its base in the record: a stray one reached the core's log and threw there.
    expect(withField('base', 5)).toEqual(lost(2, kept));
    expect(withField('aliases', [[5, 'x']])).toEqual(lost(2, kept));
    expect(withField('issued', -1)).toEqual(lost(2, kept));
    expect(withField('later', { x: 1 })?.persisted).toEqual(persisted(log(3)));
  });

  it('a token the join would be refused for is not sent: a damaged resume token loses the state, others go', () => {
    const { s, data } = storage();
    const room = { ownerToken: O, incarnation: 'inc12345' };
    new SavedWriter(s, 'r').write({ id: 2, token: T, persisted: persisted(log(3)), ...room });
    const good = JSON.parse(data.get(storageKey('r'))!);
    const reads = (change: Record<string, unknown>) => {
      data.set(storageKey('r'), JSON.stringify({ ...good, ...change }));
      return loadSaved(s, 'r');
    };
    expect(reads({})).toEqual({ id: 2, token: T, persisted: persisted(log(3)), ...room });
    expect(reads({ token: 't' })).toEqual(lost(2, room));
    expect(reads({ ownerToken: 'o' })).toEqual({
      id: 2,
      token: T,
      persisted: persisted(log(3)),
      incarnation: 'inc12345',
    });
    expect(reads({ incarnation: 'x' })).toEqual({
      id: 2,
      token: T,
      persisted: persisted(log(3)),
      ownerToken: O,
    });
    expect(reads({ token: 5, ownerToken: 'o', incarnation: 7 })).toEqual(lost(2));
    // No player is 0.
    expect(reads({ id: 0 })).toBeNull();
  });

  it('reads the older format, with the log inline', () => {
    const { s, data } = storage();
    const h = log(3);
    data.set(storageKey('r'), JSON.stringify({ id: 4, token: T, persisted: persisted(h) }));
    expect(loadSaved(s, 'r')?.persisted?.history).toEqual(h);
  });

  it('round-trips a base under its own key, with the entries after it', () => {
    const { s, data } = storage();
    const [base, rest] = compacted(log(3 * LOG_CHUNK), LOG_CHUNK + 5);
    new SavedWriter(s, 'r').write({ id: 2, token: T, persisted: persisted(rest, base) });
    expect(JSON.parse(data.get(`${storageKey('r')}:base:${base.entry.index}`)!)).toEqual(base);
    expect(data.get(storageKey('r'))).not.toContain('"state"');
    expect(loadSaved(s, 'r')).toEqual({ id: 2, token: T, persisted: persisted(rest, base) });
    // Nothing after the base at all.
    const [tipBase] = compacted(log(LOG_CHUNK), LOG_CHUNK);
    new SavedWriter(s, 'r').write({ id: 2, token: T, persisted: persisted([], tipBase) });
    expect(loadSaved(s, 'r')?.persisted).toEqual(persisted([], tipBase));
  });

  it('a compaction removes the chunks wholly below its base and rewrites none of the others', () => {
    const { s, data, writes } = storage();
    const w = new SavedWriter(s, 'r');
    const h = log(4 * LOG_CHUNK + 3);
    w.write({ id: 2, token: T, persisted: persisted(h) });
    writes.length = 0;
    // Chunk 2 holds 33..48: the base at 40 leaves it as it is (41..48 are read from it, 33..40 skipped).
    const [base, rest] = compacted(h, 2 * LOG_CHUNK + 8);
    w.write({ id: 2, token: T, persisted: persisted(rest, base) });
    expect(writes).toEqual([`${storageKey('r')}:base:${base.entry.index}`, storageKey('r')]);
    expect([0, 1, 2, 3, 4].map((k) => data.has(`${storageKey('r')}:log:${k}`))).toEqual([
      false,
      false,
      true,
      true,
      true,
    ]);
    expect(loadSaved(s, 'r')?.persisted).toEqual(persisted(rest, base));
    // The next commit rewrites its chunk and the record; the base stays as it is.
    writes.length = 0;
    const more = [...h, seal(h.at(-1)!.hash, { ...log(1)[0]!, index: h.length + 1 })];
    w.write({ id: 2, token: T, persisted: persisted(more.slice(base.entry.index), base) });
    expect(writes).toEqual([`${storageKey('r')}:log:4`, storageKey('r')]);
    expect(loadSaved(s, 'r')?.persisted?.history).toEqual(more.slice(base.entry.index));
    // A reloaded page's writer writes the first chunk anew, with only the entries after the base.
    writes.length = 0;
    new SavedWriter(s, 'r').write({ id: 2, token: T, persisted: persisted(rest, base) });
    expect(JSON.parse(data.get(`${storageKey('r')}:log:2`)!)).toEqual(h.slice(40, 48));
    expect(loadSaved(s, 'r')?.persisted).toEqual(persisted(rest, base));
  });

  it('a log that leaves its base (the room forked below it) removes the base after the record', () => {
    const { s, data } = storage();
    const w = new SavedWriter(s, 'r');
    const [base, rest] = compacted(log(2 * LOG_CHUNK), 20);
    w.write({ id: 2, token: T, persisted: persisted(rest, base) });
    const other = log(LOG_CHUNK + 2, 'b');
    w.write({ id: 2, token: T, persisted: persisted(other) });
    expect(data.has(`${storageKey('r')}:base:20`)).toBe(false);
    expect(loadSaved(s, 'r')?.persisted).toEqual(persisted(other));
  });

  it('a torn or missing chunk ends the log there; a missing, torn or other base loses the record', () => {
    const { s, data } = storage();
    const h = log(5 * LOG_CHUNK);
    const [base, rest] = compacted(h, LOG_CHUNK + 2);
    new SavedWriter(s, 'r').write({ id: 2, token: T, persisted: persisted(rest, base) });
    data.set(`${storageKey('r')}:log:4`, '[{"index":');
    expect(loadSaved(s, 'r')?.persisted?.history).toEqual(h.slice(LOG_CHUNK + 2, 4 * LOG_CHUNK));
    data.delete(`${storageKey('r')}:log:3`);
    expect(loadSaved(s, 'r')?.persisted?.history).toEqual(h.slice(LOG_CHUNK + 2, 3 * LOG_CHUNK));
    // Resuming without the base would vote with a log that forgot what it accepted: the record is lost.
    const key = `${storageKey('r')}:base:${base.entry.index}`;
    const [newer] = compacted(h, 2 * LOG_CHUNK);
    for (const junk of [null, '{"entry":', JSON.stringify(newer)]) {
      if (junk === null) data.delete(key);
      else data.set(key, junk);
      expect(loadSaved(s, 'r')).toEqual(lost(2));
    }
  });

  it('a write cut short after a new base leaves the old record readable, and the next write removes the old base', () => {
    const { s, data } = storage();
    const h = log(4 * LOG_CHUNK);
    const [base, rest] = compacted(h, LOG_CHUNK + 2);
    new SavedWriter(s, 'r').write({ id: 2, token: T, persisted: persisted(rest, base) });
    // The next base is written, then the tab dies before its record.
    const [newer, after] = compacted(h, 3 * LOG_CHUNK);
    data.set(`${storageKey('r')}:base:${newer.entry.index}`, JSON.stringify(newer));
    expect(loadSaved(s, 'r')?.persisted).toEqual(persisted(rest, base));
    // The reloaded page's writer finds the stored base from the record, and removes it once replaced.
    new SavedWriter(s, 'r').write({ id: 2, token: T, persisted: persisted(after, newer) });
    expect(data.has(`${storageKey('r')}:base:${base.entry.index}`)).toBe(false);
    expect(loadSaved(s, 'r')?.persisted).toEqual(persisted(after, newer));
  });

  it('clearSaved and a failed write remove the base and every chunk', () => {
    const { s, data, fill } = storage();
    const h = log(4 * LOG_CHUNK);
    const [base, rest] = compacted(h, LOG_CHUNK + 1);
    new SavedWriter(s, 'r').write({ id: 2, token: T, persisted: persisted(rest, base) });
    expect(data.size).toBe(5);
    clearSaved(s, 'r');
    expect(data.size).toBe(0);
    const w = new SavedWriter(s, 'r');
    w.write({ id: 2, token: T, persisted: persisted(rest, base) });
    fill();
    const [later, after] = compacted(h, 3 * LOG_CHUNK);
    expect(w.write({ id: 2, token: T, persisted: persisted(after, later) })).toBe(false);
    expect(data.size).toBe(0);
    // With room for it, only the record without its token and state.
    const room = storage();
    const w2 = new SavedWriter(room.s, 'r');
    w2.write({ id: 2, token: T, persisted: persisted(rest, base) });
    room.fill(10);
    expect(w2.write({ id: 2, token: T, persisted: persisted(after, later) })).toBe(false);
    expect([...room.data.keys()]).toEqual([storageKey('r')]);
  });

  it('reads the previous format: chunks numbered from 0, no base', () => {
    const { s, data } = storage();
    const h = log(2 * LOG_CHUNK + 3);
    const p = persisted(h);
    const { history: _, ...rest } = p;
    data.set(
      storageKey('r'),
      JSON.stringify({
        id: 4,
        token: T,
        persisted: { ...rest, log: { length: h.length, tip: h.at(-1)!.hash } },
      }),
    );
    for (let k = 0; k * LOG_CHUNK < h.length; k++)
      data.set(`${storageKey('r')}:log:${k}`, JSON.stringify(h.slice(k * LOG_CHUNK, (k + 1) * LOG_CHUNK)));
    expect(loadSaved(s, 'r')?.persisted).toEqual(p);
    // And the 64-entry chunks before those.
    data.set(`${storageKey('r')}:log:0`, JSON.stringify(h));
    data.delete(`${storageKey('r')}:log:1`);
    expect(loadSaved(s, 'r')?.persisted?.history).toEqual(h);
  });
});

// sessionStorage is the page's own, but what an older build, a torn write or an extension left there comes
// back on reload: a damaged record must start the tab afresh or resume it, never throw (FUZZ_SEED, FUZZ_RUNS).
describe('a damaged record, fuzzed', () => {
  it('loads as null, as a record without token or state, or as a state a player starts from, ticks and shows', () => {
    const h = log(2 * LOG_CHUNK + 3);
    const [base, after] = compacted(h, LOG_CHUNK + 2);
    const { s, data } = storage();
    // Two records to damage: one whose log starts from a base, and one from the first entry.
    const records = [persisted(after, base), persisted(h)].map((p) => {
      data.clear();
      new SavedWriter(s, 'r').write({
        id: 2,
        token: T,
        ownerToken: O,
        incarnation: 'inc12345',
        persisted: { ...p, accepted: { ballot: 3, entry: h.at(-1)! }, aliases: [[5, 2]], issued: 5, was: 2 },
      });
      return new Map(data);
    });
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.nat(),
        picks,
        fc.oneof(fc.constant(null), fc.string()),
        // A field the record's state may or may not have, with any value: near misses never add one.
        fc.option(
          fc.tuple(
            fc.constantFrom(
              'base',
              'history',
              'log',
              'accepted',
              'retired',
              'aliases',
              'lastWords',
              'was',
              'issued',
            ),
            fc.jsonValue(),
          ),
        ),
        (fromBase, which, m, junk, extra) => {
          const stored = records[fromBase ? 0 : 1]!;
          const keys = [...stored.keys()];
          data.clear();
          for (const [k, v] of stored) data.set(k, v);
          const key = keys[which % keys.length]!;
          const json = JSON.parse(stored.get(key)!) as Json;
          // A near miss of one stored value, or a torn or foreign one in its place.
          if (junk === null) data.set(key, JSON.stringify(nearMiss([json], 0, m.path, m.op, m.other)));
          else data.set(key, junk);
          if (extra && key !== storageKey('r')) {
            const record = JSON.parse(data.get(storageKey('r'))!) as { persisted: Record<string, unknown> };
            record.persisted[extra[0]] = extra[1];
            data.set(storageKey('r'), JSON.stringify(record));
          }
          const saved = loadSaved(s, 'r');
          // Without its token it can resume nothing, and so carries no state either.
          if (saved && saved.token === undefined) expect(saved.persisted).toBeNull();
          const p = new Player({
            self: 7,
            timing: { heartbeatTicks: 2, timeoutTicks: 8, answerTicks: 2 },
            rng: seededRng(1),
            roster: { version: 1, members: [1, 7] },
            persisted: saved?.persisted ?? null,
            lastStage: 5,
          });
          for (let t = 0; t < 20; t++) p.tick();
          p.ready();
          p.view();
        },
      ),
      fuzzed(300),
    );
  });
});
