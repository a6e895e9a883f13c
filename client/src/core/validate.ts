import type { Entry, Message, Proposal, Retirement, Tally } from './types.ts';

/** Bounds for untrusted input: generous for real rooms, small enough that junk cannot balloon state. */
const MAX_ID = 2 ** 31;
const MAX_IDS = 1000;
const MAX_ENTRIES = 64;

export type Parsed = { ok: true; msg: Message } | { ok: false; error: string };

class Invalid extends Error {}

function fail(why: string): never {
  throw new Invalid(why);
}

function obj(x: unknown, what: string): Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) fail(`${what} must be an object`);
  return x as Record<string, unknown>;
}

function nat(o: Record<string, unknown>, key: string, max = Number.MAX_SAFE_INTEGER): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) {
    fail(`${key} must be an integer in [0, ${max}]`);
  }
  return v;
}

function bool(o: Record<string, unknown>, key: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') fail(`${key} must be a boolean`);
  return v;
}

function ids(x: unknown, key: string): number[] {
  if (!Array.isArray(x) || x.length > MAX_IDS) fail(`${key} must be an array of at most ${MAX_IDS} IDs`);
  return x.map((v) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0 || v > MAX_ID)
      fail(`${key} holds a bad ID`);
    return v;
  });
}

const HASH = /^[0-9a-z]{1,16}$/;

function hash(o: Record<string, unknown>, key: string): string {
  const v = o[key];
  if (typeof v !== 'string' || !HASH.test(v)) fail(`${key} must be an entry hash`);
  return v;
}

function id(o: Record<string, unknown>, key: string): number {
  const v = nat(o, key, MAX_ID);
  if (v === 0) fail(`${key} must be a player ID`);
  return v;
}

function retirements(x: unknown): Retirement[] {
  if (!Array.isArray(x) || x.length > MAX_IDS) fail(`retired must be an array of at most ${MAX_IDS}`);
  return x.map((r) => {
    const o = obj(r, 'retired');
    return {
      id: id(o, 'id'),
      term: nat(o, 'term'),
      index: nat(o, 'index'),
      hash: hash(o, 'hash'),
      accepted: proposal(o.accepted),
    };
  });
}

function entry(x: unknown): Entry {
  const o = obj(x, 'entry');
  const kind = o.kind;
  if (kind !== 'stage' && kind !== 'members') fail('entry.kind must be "stage" or "members"');
  const e: Entry = {
    index: nat(o, 'index'),
    kind,
    stage: nat(o, 'stage'),
    term: nat(o, 'term'),
    done: ids(o.done, 'done'),
    members: ids(o.members, 'members'),
    hash: hash(o, 'hash'),
  };
  // The protocol writes both sorted and without repeats; anything else is forged.
  for (const [key, list] of [
    ['members', e.members],
    ['done', e.done],
  ] as const)
    for (let i = 1; i < list.length; i++)
      if (list[i]! <= list[i - 1]!) fail(`entry.${key} must be in increasing order without repeats`);
  if (e.index < 1) fail('entry.index must be at least 1');
  if (kind === 'stage' && e.stage < 1) fail('a stage entry reaches stage 1 or later');
  return e;
}

function entries(x: unknown, key: string): Entry[] {
  if (!Array.isArray(x) || x.length > MAX_ENTRIES)
    fail(`${key} must be an array of at most ${MAX_ENTRIES} entries`);
  return x.map(entry);
}

function proposal(x: unknown): Proposal | null {
  if (x === null) return null;
  const o = obj(x, 'accepted');
  return { ballot: nat(o, 'ballot'), entry: entry(o.entry) };
}

/** Ages in ticks: a day of 10 ms ticks is far more than any timeout, and keeps junk bounded. */
const MAX_AGE = 8_640_000;

function tally(x: unknown): Tally {
  const o = obj(x, 'tally');
  const t: Tally = {
    stage: nat(o, 'stage'),
    done: ids(o.done, 'tally.done'),
    live: ids(o.live, 'tally.live'),
    members: nat(o, 'members'),
  };
  if (o.silent !== undefined) {
    const a = o.silent;
    if (!Array.isArray(a) || a.length !== t.live.length)
      fail('tally.silent must be an array as long as tally.live');
    t.silent = a.map((v) => {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > MAX_AGE)
        fail(`tally.silent holds a bad age (integers in [0, ${MAX_AGE}])`);
      return v;
    });
  }
  return t;
}

/** Validates a message from the network. Unknown fields are dropped, so nothing unchecked reaches the core. */
export function parseMessage(x: unknown): Parsed {
  try {
    const o = obj(x, 'message');
    const t = o.t;
    switch (t) {
      case 'hb': {
        const m: Extract<Message, { t: 'hb' }> = {
          t,
          term: nat(o, 'term'),
          leader: nat(o, 'leader', MAX_ID),
          stage: nat(o, 'stage'),
          index: nat(o, 'index'),
          done: bool(o, 'done'),
          init: bool(o, 'init'),
          hash: hash(o, 'hash'),
        };
        if (o.tally !== undefined) m.tally = tally(o.tally);
        if (o.was !== undefined) m.was = id(o, 'was');
        if (o.retired !== undefined) m.retired = retirements(o.retired);
        return { ok: true, msg: m };
      }
      case 'election':
      case 'answer':
      case 'coordinator':
      case 'reject':
        return { ok: true, msg: { t, term: nat(o, 'term') } };
      case 'report':
        return {
          ok: true,
          msg: {
            t,
            term: nat(o, 'term'),
            done: bool(o, 'done'),
            init: bool(o, 'init'),
            history: entries(o.history, 'history'),
            accepted: proposal(o.accepted),
          },
        };
      case 'done':
        return { ok: true, msg: { t, term: nat(o, 'term'), stage: nat(o, 'stage'), done: bool(o, 'done') } };
      case 'accept':
      case 'advance':
        return { ok: true, msg: { t, term: nat(o, 'term'), entry: entry(o.entry) } };
      case 'accepted':
        return { ok: true, msg: { t, term: nat(o, 'term'), index: nat(o, 'index') } };
      case 'sync':
        return { ok: true, msg: { t, index: nat(o, 'index'), hash: hash(o, 'hash') } };
      case 'history':
        return { ok: true, msg: { t, entries: entries(o.entries, 'entries') } };
      case 'bye':
        return { ok: true, msg: { t } };
      case 'leave':
        return {
          ok: true,
          msg: {
            t,
            term: nat(o, 'term'),
            index: nat(o, 'index'),
            hash: hash(o, 'hash'),
            accepted: proposal(o.accepted),
            entries: entries(o.entries, 'entries'),
            ...(o.retired === undefined ? {} : { retired: retirements(o.retired) }),
            ...(o.was === undefined ? {} : { was: id(o, 'was') }),
          },
        };
      default:
        return { ok: false, error: `unknown message type ${JSON.stringify(String(t)).slice(0, 40)}` };
    }
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, error: e.message };
    throw e;
  }
}
