import { describe, expect, it } from 'vitest';
import {
  deriveRoomKeys,
  fromBase64Url,
  open,
  PBKDF2_ITERATIONS,
  passwordProblem,
  ReplayGuard,
  type SealContext,
  Stamper,
  seal,
  toBase64Url,
} from './crypto.ts';

const ctx: SealContext = { room: 'room-1', kind: 'relay', from: 1, to: 2 };

// The real iteration count once (it is what ships), a cheap one where only the structure matters.
const FAST = 1_000;

const stamps = new Stamper();
const st = () => stamps.next();

describe('room keys', () => {
  it('derive with at least 100,000 PBKDF2 rounds, deterministically per password and room', async () => {
    expect(PBKDF2_ITERATIONS).toBeGreaterThanOrEqual(100_000);
    const a = await deriveRoomKeys('correct horse', 'room-1');
    const b = await deriveRoomKeys('correct horse', 'room-1');
    expect(a.verifier).toBe(b.verifier);
    expect(a.verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Different key objects, same key: one seals, the other opens.
    const opened = await open(b.key, await seal(a.key, 'hello', ctx, st()), ctx);
    expect(opened).toMatchObject({ ok: true, text: 'hello' });
    expect(a.key.extractable).toBe(false);
    expect(a.key.algorithm).toMatchObject({ name: 'AES-GCM', length: 256 });
  });

  it('differ by password and by room (the room ID is the salt)', async () => {
    const base = await deriveRoomKeys('pw', 'room-1', FAST);
    const otherPw = await deriveRoomKeys('pw2', 'room-1', FAST);
    const otherRoom = await deriveRoomKeys('pw', 'room-2', FAST);
    expect(new Set([base.verifier, otherPw.verifier, otherRoom.verifier]).size).toBe(3);
    const sealed = await seal(base.key, 'secret', ctx, st());
    expect((await open(otherPw.key, sealed, ctx)).ok).toBe(false);
    expect((await open(otherRoom.key, sealed, ctx)).ok).toBe(false);
  });

  it('normalize the password, so the same text typed differently gives the same key', async () => {
    const composed = await deriveRoomKeys('caf\u00e9', 'r', FAST);
    const decomposed = await deriveRoomKeys('cafe\u0301', 'r', FAST);
    expect(composed.verifier).toBe(decomposed.verifier);
  });

  it('give a verifier that is not key material: it neither is the key nor opens anything', async () => {
    const keys = await deriveRoomKeys('pw', 'room-1', FAST);
    const verifierBytes = fromBase64Url(keys.verifier)!;
    expect(verifierBytes).toHaveLength(32);
    // The verifier used as an AES key fails to open what the real key sealed.
    const asKey = await crypto.subtle.importKey('raw', verifierBytes, 'AES-GCM', false, ['decrypt']);
    const sealed = await seal(keys.key, 'secret', ctx, st());
    expect((await open(asKey, sealed, ctx)).ok).toBe(false);
    // And the real key, exported from an extractable twin derivation, differs from the verifier.
    const raw = await exportedKey('pw', 'room-1');
    expect(toBase64Url(raw)).not.toBe(keys.verifier);
    expect(raw).toHaveLength(32);
  });
});

/** The same derivation as deriveRoomKeys, but with an extractable key, to compare bytes. */
async function exportedKey(password: string, room: string): Promise<Uint8Array> {
  const enc = new TextEncoder();
  const subtle = crypto.subtle;
  const material = await subtle.importKey('raw', enc.encode(password), 'PBKDF2', false, ['deriveBits']);
  const salt = enc.encode(`lockstep/v1 room ${room}`);
  const base = await subtle.deriveBits(
    { name: 'PBKDF2', hash: 'SHA-256', salt, iterations: FAST },
    material,
    256,
  );
  const hkdf = await subtle.importKey('raw', base, 'HKDF', false, ['deriveKey']);
  const key = await subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt, info: enc.encode('lockstep/v1 aes-gcm payload key') },
    hkdf,
    { name: 'AES-GCM', length: 256 },
    true,
    ['encrypt'],
  );
  // Sanity: this twin really is the shipped key (it seals what deriveRoomKeys opens).
  const sealed = await seal(key, 'twin', ctx, st());
  const shipped = await deriveRoomKeys(password, room, FAST);
  expect(await open(shipped.key, sealed, ctx)).toMatchObject({ ok: true, text: 'twin' });
  return new Uint8Array(await subtle.exportKey('raw', key));
}

describe('seal and open', () => {
  it('round-trip any text with a fresh IV each time', async () => {
    const { key } = await deriveRoomKeys('pw', 'room-1', FAST);
    const text = JSON.stringify({ k: 'core', m: { t: 'HEARTBEAT', term: 3, note: 'ünïcødé ✓' } });
    const one = await seal(key, text, ctx, st());
    const two = await seal(key, text, ctx, st());
    expect(one).not.toBe(two);
    expect(one.split('.')[3]).not.toBe(two.split('.')[3]);
    expect(one).not.toContain('HEARTBEAT');
    expect(await open(key, one, ctx)).toMatchObject({ ok: true, text });
    expect(await open(key, two, ctx)).toMatchObject({ ok: true, text });
    expect(await open(key, await seal(key, '', ctx, st()), ctx)).toMatchObject({ ok: true, text: '' });
  });

  it('reject a tampered ciphertext, tag, IV or stamp', async () => {
    const { key } = await deriveRoomKeys('pw', 'room-1', FAST);
    const sealed = await seal(key, 'the plan: advance at noon', ctx, st());
    const [prefix, session, n, iv, ct] = sealed.split('.') as [string, string, string, string, string];
    const flip = (text: string, at: number) => {
      const bytes = fromBase64Url(text)!;
      bytes[at] = bytes[at]! ^ 0x01;
      return toBase64Url(bytes);
    };
    const ctBytes = fromBase64Url(ct)!.length;
    const head = `${prefix}.${session}.${n}`;
    const variants = [
      `${head}.${flip(iv, 0)}.${ct}`,
      `${head}.${iv}.${flip(ct, 0)}`,
      `${head}.${iv}.${flip(ct, ctBytes - 1)}`, // the tag
      `${head}.${iv}.${toBase64Url(fromBase64Url(ct)!.slice(0, -1))}`,
      // The stamp is authenticated: a replay cannot pass for a new payload.
      `${prefix}.${session}.${Number(n) + 1}.${iv}.${ct}`,
      `${prefix}.${flip(session, 0)}.${n}.${iv}.${ct}`,
    ];
    for (const v of variants) {
      expect(await open(key, v, ctx)).toMatchObject({ ok: false, error: expect.stringMatching(/decrypt/) });
    }
  });

  it('bind the payload to room, kind, sender and recipient (no replay to another peer, no swap)', async () => {
    const { key } = await deriveRoomKeys('pw', 'room-1', FAST);
    const sealed = await seal(key, 'for 2 only', ctx, st());
    for (const other of [
      { ...ctx, to: 3 },
      { ...ctx, from: 3 },
      { ...ctx, kind: 'signal' as const },
      { ...ctx, room: 'room-2' },
      { ...ctx, from: 2, to: 1 },
    ]) {
      expect((await open(key, sealed, other)).ok).toBe(false);
    }
    expect(await open(key, sealed, { ...ctx })).toMatchObject({ ok: true, text: 'for 2 only' });
  });

  it('reject anything that is not a sealed payload, without throwing', async () => {
    const { key } = await deriveRoomKeys('pw', 'room-1', FAST);
    for (const junk of [
      undefined,
      null,
      42,
      { type: 'offer', sdp: 'v=0' },
      '{"k":"core"}',
      'e2.',
      'e2.AAAA',
      'e2.AAAAAAAAAAA.1.!!!.AAAA',
      'e2.AAAAAAAAAAA.1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.extra',
      'e2.AAAAAAAAAAA.-1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA',
      'e2.AAAAAAAAAAA.1e3.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA',
      'e2.AAAA.1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA',
      // The format before stamps (a build of protocol 5).
      'e1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA',
    ]) {
      expect((await open(key, junk, ctx)).ok).toBe(false);
    }
  });
});

describe('replays', () => {
  const stamp = (session: string, n: number) => ({ session: session.padEnd(11, 'A'), n });
  const take = (
    g: ReplayGuard,
    from: number,
    s: ReturnType<typeof stamp>,
    kind: 'relay' | 'signal' = 'relay',
  ) => {
    const problem = g.problem(from, kind, s);
    if (problem === null) g.record(from, kind, s);
    return problem;
  };

  it('take each stamp of a sender once, in any order within the window', () => {
    const g = new ReplayGuard();
    expect(take(g, 1, stamp('a', 5))).toBeNull();
    expect(take(g, 1, stamp('a', 3))).toBeNull();
    expect(take(g, 1, stamp('a', 5))).toBe('replayed');
    expect(take(g, 1, stamp('a', 3))).toBe('replayed');
    expect(take(g, 1, stamp('a', 4))).toBeNull();
    // Another sender's stamps are its own.
    expect(take(g, 2, stamp('a', 5))).toBeNull();
    expect(take(g, 1, stamp('a', 2000))).toBeNull();
    expect(take(g, 1, stamp('a', 976))).toBe('replayed (older than the replay window)');
    expect(take(g, 1, stamp('a', 977))).toBeNull();
  });

  it('take signals in order only: a hello held back while its link was built is refused', () => {
    const g = new ReplayGuard();
    expect(take(g, 1, stamp('a', 2), 'signal')).toBeNull();
    expect(take(g, 1, stamp('a', 1), 'relay')).toBeNull();
    expect(take(g, 1, stamp('a', 0), 'signal')).toBe('out of order (a signal held back)');
    expect(take(g, 1, stamp('a', 3), 'signal')).toBeNull();
    // A reload's session starts over.
    expect(take(g, 1, stamp('b', 0), 'signal')).toBeNull();
  });

  it('take a new session of a sender (a reload), and still refuse its old one’s replays', () => {
    const g = new ReplayGuard();
    expect(take(g, 1, stamp('a', 0))).toBeNull();
    expect(take(g, 1, stamp('b', 0))).toBeNull();
    expect(take(g, 1, stamp('a', 0))).toBe('replayed');
    expect(take(g, 1, stamp('a', 1))).toBeNull();
  });

  it('forget the sessions and senders heard least recently, past their bounds', () => {
    const g = new ReplayGuard();
    for (let i = 0; i < 9; i++) expect(take(g, 1, stamp(`s${i}`, 0))).toBeNull();
    // The first of 9 sessions is forgotten, the second is not.
    expect(take(g, 1, stamp('s0', 0))).toBeNull();
    expect(take(g, 1, stamp('s2', 0))).toBe('replayed');
    expect(take(g, 7, stamp('x', 0))).toBeNull();
    for (let id = 100; id < 1123; id++) {
      take(g, id, stamp('x', 0));
      // Sender 7 keeps being heard, so it is never the one forgotten.
      if (id % 100 === 0) expect(take(g, 7, stamp('x', id))).toBeNull();
    }
    // 1,025 senders: the one heard least recently (1) is forgotten, 7 is not.
    expect(take(g, 7, stamp('x', 0))).toMatch(/replayed/);
    expect(take(g, 1, stamp('s2', 0))).toBeNull();
  });

  it('a check alone records nothing: a payload that failed to open does not burn its stamp', () => {
    const g = new ReplayGuard();
    expect(g.problem(1, 'relay', stamp('a', 0))).toBeNull();
    expect(g.problem(1, 'relay', stamp('a', 0))).toBeNull();
  });

  it('stamp with one random session and a rising count, under fresh random IVs', async () => {
    const a = new Stamper();
    const [x, y] = [a.next(), a.next()];
    expect(x.session).toBe(y.session);
    expect(x.session).toMatch(/^[A-Za-z0-9_-]{11}$/);
    expect(y.n).toBe(x.n + 1);
    expect(new Stamper().next().session).not.toBe(x.session);
    const { key } = await deriveRoomKeys('pw', 'room-1', FAST);
    const opened = await open(key, await seal(key, 'hi', ctx, y), ctx);
    expect(opened).toEqual({ ok: true, text: 'hi', stamp: y });
  });
});

describe('passwords', () => {
  it('must be 1–256 characters', () => {
    expect(passwordProblem('')).toMatch(/empty/);
    expect(passwordProblem('x'.repeat(257))).toMatch(/at most 256/);
    expect(passwordProblem('🔑'.repeat(256))).toBeNull();
    expect(passwordProblem('hunter2')).toBeNull();
  });
});
