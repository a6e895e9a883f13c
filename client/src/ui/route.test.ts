import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  joinStages,
  keptAfterJoin,
  newRoomPath,
  parseRoute,
  passwordFragment,
  roomPath,
  splitStages,
  withName,
} from './route.ts';

describe('newRoomPath', () => {
  it('makes a fresh room each time, whose link reads back as the settings, name and password it was given', () => {
    const stages = ['a & b', '#1?', '50% ✓', 'k=x', 'Round 1, part A', 'C:\\dir\\', '\\,', 'x\\y'];
    const settings = { heartbeatMs: 300, timeoutMs: 2_000, stages };
    const name = 'Zoë & "Bo" #2';
    const password = 'p#k=&%20 ünïcode';
    const path = newRoomPath(name, settings, password);
    expect(newRoomPath(name, settings, password)).not.toBe(path);
    const at = [path.indexOf('?'), path.indexOf('#')];
    const route = parseRoute(path.slice(0, at[0]), path.slice(at[0]!, at[1]), path.slice(at[1]!));
    expect(route).toMatchObject({ kind: 'room', name, settings, password });
    expect(newRoomPath(name, settings)).not.toContain('#');
  });
});

describe('joinStages and splitStages', () => {
  it('round-trip any stage names, commas and backslashes included, and read old links as before', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { minLength: 1, maxLength: 6 }), (names) => {
        expect(splitStages(joinStages(names))).toEqual(names);
      }),
    );
    expect(splitStages('One,Two')).toEqual(['One', 'Two']);
    // A backslash an older link has before anything but a comma or a backslash is just a backslash.
    expect(splitStages('a\\b,c')).toEqual(['a\\b', 'c']);
  });
});

describe('parseRoute', () => {
  it('reads the lobby and a room link with creation settings', () => {
    expect(parseRoute('/', '')).toEqual({ kind: 'lobby' });
    expect(
      parseRoute('/r/abc_DEF-1', '?name=Ada&heartbeatMs=100&timeoutMs=600&stages=One,%20Two%20,Three'),
    ).toEqual({
      kind: 'room',
      room: 'abc_DEF-1',
      name: 'Ada',
      settings: { heartbeatMs: 100, timeoutMs: 600, stages: ['One', 'Two', 'Three'] },
    });
    expect(parseRoute('/r/x/', '')).toEqual({ kind: 'room', room: 'x', name: null, settings: null });
  });

  it('reads a link of a million slashes at once (a crafted link must not hold the page)', () => {
    const slashes = '/'.repeat(1_000_000);
    expect(parseRoute(slashes, '')).toEqual({ kind: 'lobby' });
    expect(parseRoute(`/r/x${slashes}`, '')).toMatchObject({ kind: 'room', room: 'x' });
    expect(parseRoute(`${slashes}x`, '').kind).toBe('invalid');
  });

  it('reads a room password from the fragment only', () => {
    expect(parseRoute('/r/x', '?name=Ada', '#k=s%C3%A9same%20%26%20co')).toEqual({
      kind: 'room',
      room: 'x',
      name: 'Ada',
      settings: null,
      password: 'sésame & co',
    });
    // In the query it would reach the server: refused, not ignored.
    const inQuery = parseRoute('/r/x', '?k=inquery', '');
    expect(inQuery.kind === 'invalid' && inQuery.errors.join()).toMatch(/goes after #k=/);
    const empty = parseRoute('/r/x', '', '#k=');
    expect(empty.kind === 'invalid' && empty.errors.join()).toMatch(/password must not be empty/);
  });

  it('reads #k= as passwordFragment writes it, and refuses a short, broken or repeated one', () => {
    const password = (hash: string) => {
      const r = parseRoute('/r/x', '?name=Ada', hash);
      return r.kind === 'room' ? r.password : r.kind === 'invalid' ? r.errors.join('; ') : r.kind;
    };
    for (const p of ['a+b c&d=e#f%g', 'ünïcödé 🔑 pass', ' spaces '])
      expect(password(passwordFragment(p))).toBe(p);
    expect(password('#k=a+b+c+d+e')).toBe('a+b+c+d+e');
    // Any join can create its room, so a link cannot make one with a password the lobby would refuse.
    expect(password('#k=a')).toMatch(/password must be at least 8 characters/);
    expect(password('#k=1234567')).toMatch(/at least 8/);
    expect(password('#k=%E0%A4%A')).toMatch(/not valid percent-encoding/);
    expect(password('#k=longenough&k=another1')).toMatch(/more than once/);
    expect(password('#x=1&k=longenough')).toBe('longenough');
    expect(password('#%6B=longenough')).toBe('longenough');
    expect(password('#k')).toMatch(/must not be empty/);
  });

  it('rejects bad values with readable errors instead of throwing', () => {
    const bad = (path: string, search: string) => {
      const r = parseRoute(path, search);
      expect(r.kind).toBe('invalid');
      return r.kind === 'invalid' ? r.errors.join('; ') : '';
    };
    expect(bad('/r/has%20space', '')).toMatch(/room ID/);
    expect(bad('/r/%E0%A4%A', '')).toMatch(/malformed/);
    expect(bad(`/r/${'a'.repeat(65)}`, '')).toMatch(/room ID/);
    expect(bad('/r/ok', '?heartbeatMs=abc')).toMatch(/heartbeatMs must be a whole number/);
    expect(bad('/r/ok', '?heartbeatMs=10')).toMatch(/heartbeatMs must be at least 50/);
    expect(bad('/r/ok', '?timeoutMs=99999')).toMatch(/timeoutMs must be at most 60000/);
    expect(bad('/r/ok', '?heartbeatMs=500&timeoutMs=1000')).toMatch(/at least 3 × heartbeatMs/);
    expect(bad('/r/ok', '?stages=a,,b')).toMatch(/stages\[1\] must not be empty/);
    expect(bad('/r/ok', '?stages=a,%E2%80%8B,b')).toMatch(/stages\[1\] must not be empty/);
    expect(bad('/r/ok', `?stages=${'x'.repeat(49)}`)).toMatch(/at most 48/);
    expect(bad('/r/ok', '?name=%20%20')).toMatch(/name must not be empty/);
    expect(bad('/r/ok', `?name=${'n'.repeat(33)}`)).toMatch(/at most 32/);
    expect(bad('/elsewhere', '')).toMatch(/no page/);
  });

  it("the name prompt keeps the link's settings and flags; the address bar drops only spent settings", () => {
    const q = '?stages=Draft,Vote&heartbeatMs=100&timeoutMs=600&testHooks=1';
    const path = roomPath('newroom', withName(q, 'Bob'));
    const r = parseRoute(path.split('?')[0]!, `?${path.split('?')[1]}`);
    expect(r).toMatchObject({ kind: 'room', name: 'Bob', settings: { heartbeatMs: 100, timeoutMs: 600 } });
    expect(keptAfterJoin(q, 'Bob')).toEqual({ name: 'Bob', testHooks: '1' });
    expect(keptAfterJoin('?heartbeatMs=100', 'Bob')).toEqual({ name: 'Bob' });
    expect(keptAfterJoin('?name=Bob', 'Bob')).toBeNull();
  });

  it('reads each parameter once and strictly: a repeat or broken encoding is an error, an unknown one is left alone', () => {
    const errors = (search: string, path = '/r/ok') => {
      const r = parseRoute(path, search);
      return r.kind === 'invalid' ? r.errors.join('; ') : '';
    };
    expect(errors('?name=Ann&name=Bob')).toMatch(/name is given more than once/);
    expect(errors('?name=%E0%A4%A')).toMatch(/name in the link is not valid percent-encoding/);
    expect(errors('?name=Ann&stages=a,b&stages=c')).toMatch(/stages is given more than once/);
    expect(parseRoute('/r/ok', '?fbclid=x%&name=Ann+Lee')).toMatchObject({ kind: 'room', name: 'Ann Lee' });
    // What a link says is quoted without its bidi controls, which could reorder the message around it.
    const shown = errors('?heartbeatMs=1\u202e0', '/r/a%E2%80%AEb');
    expect(shown).toContain('got "a\\u{202E}b"');
    expect(shown).toContain('got "1\\u{202E}0"');
    expect(shown).not.toMatch(/\u202e/);
    // An encoded key is still that key: a password in the query is refused however it is spelled.
    expect(errors('?name=a&%6B=secret%')).toMatch(/k in the link/);
    expect(errors('?name=a&%6B=secret')).toMatch(/goes after #k=/);
    // One sentence per problem, however often a crafted link repeats it.
    expect(errors(`?${'name=x&'.repeat(10_000)}`).split('; ')).toHaveLength(1);
  });

  it('names each settings problem, not only the first', () => {
    const r = parseRoute('/r/x', '?heartbeatMs=10&timeoutMs=100000');
    expect(r.kind === 'invalid' && r.errors).toEqual([
      'heartbeatMs must be at least 50',
      expect.stringMatching(/^timeoutMs must be at most 60000/),
    ]);
    const many = parseRoute('/r/x', '?heartbeatMs=10&timeoutMs=10&stages=,,');
    expect(many.kind === 'invalid' && many.errors).toHaveLength(5);
  });

  it('refuses a password in the query, which would reach the server and make a room without one', () => {
    const r = parseRoute('/r/ok', '?name=a&k=secret');
    expect(r.kind).toBe('invalid');
  });
});

// A link is typed, pasted and crafted: fast-check's (FUZZ_SEED and FUZZ_RUNS replay and widen).
describe('parseRoute, fuzzed', () => {
  it('any path, query and fragment gives a page or the reasons it cannot, in a sentence', () => {
    const part = fc.oneof(
      fc.string(),
      fc.webSegment(),
      fc.constantFrom('%', '%E0%A4%A', '/', '//', '#k=', '?'),
    );
    const links = fc.oneof(
      fc.tuple(fc.string(), fc.string(), fc.string()),
      fc.tuple(
        fc.array(part, { maxLength: 4 }).map((p) => `/r/${p.join('')}`),
        fc
          .array(
            fc.tuple(fc.constantFrom('name', 'heartbeatMs', 'timeoutMs', 'stages', 'testHooks', 'k'), part),
            {
              maxLength: 5,
            },
          )
          .map((kv) => `?${kv.map(([k, x]) => `${k}=${x}`).join('&')}`),
        part.map((p) => `#k=${p}`),
      ),
    );
    fc.assert(
      fc.property(links, ([path, search, hash]) => {
        const r = parseRoute(path, search, hash);
        if (r.kind === 'invalid')
          for (const e of r.errors) expect(e.length > 0 && e.length <= 200, e.slice(0, 300)).toBe(true);
      }),
      { seed: Number(process.env.FUZZ_SEED ?? 20_261_204), numRuns: Number(process.env.FUZZ_RUNS ?? 300) },
    );
  });
});
