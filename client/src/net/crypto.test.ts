import { describe, expect, it } from 'vitest';
import {
  deriveRoomKeys,
  fromBase64Url,
  IvSource,
  open,
  PBKDF2_ITERATIONS,
  passwordProblem,
  ReplayGuard,
  type SealContext,
  seal,
  toBase64Url,
} from './crypto.ts';

const ctx: SealContext = { room: 'room-1', kind: 'relay', from: 1, to: 2 };

// The real iteration count once (it is what ships), a cheap one where only the structure matters.
const FAST = 1_000;

describe('room keys', () => {
  it('derive with at least 100,000 PBKDF2 rounds, deterministically per password and room', async () => {
    expect(PBKDF2_ITERATIONS).toBeGreaterThanOrEqual(100_000);
    const a = await deriveRoomKeys('correct horse', 'room-1');
    const b = await deriveRoomKeys('correct horse', 'room-1');
    expect(a.verifier).toBe(b.verifier);
    expect(a.verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Different key objects, same key: one seals, the other opens.
    const opened = await open(b.key, await seal(a.key, 'hello', ctx), ctx);
    expect(opened).toMatchObject({ ok: true, text: 'hello' });
    expect(a.key.extractable).toBe(false);
    expect(a.key.algorithm).toMatchObject({ name: 'AES-GCM', length: 256 });
  });

  it('differ by password and by room (the room ID is the salt)', async () => {
    const base = await deriveRoomKeys('pw', 'room-1', FAST);
    const otherPw = await deriveRoomKeys('pw2', 'room-1', FAST);
    const otherRoom = await deriveRoomKeys('pw', 'room-2', FAST);
    expect(new Set([base.verifier, otherPw.verifier, otherRoom.verifier]).size).toBe(3);
    const sealed = await seal(base.key, 'secret', ctx);
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
    const sealed = await seal(keys.key, 'secret', ctx);
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
  const sealed = await seal(key, 'twin', ctx);
  const shipped = await deriveRoomKeys(password, room, FAST);
  expect(await open(shipped.key, sealed, ctx)).toMatchObject({ ok: true, text: 'twin' });
  return new Uint8Array(await subtle.exportKey('raw', key));
}

describe('seal and open', () => {
  it('round-trip any text with a fresh IV each time', async () => {
    const { key } = await deriveRoomKeys('pw', 'room-1', FAST);
    const text = JSON.stringify({ k: 'core', m: { t: 'HEARTBEAT', term: 3, note: 'ünïcødé ✓' } });
    const one = await seal(key, text, ctx);
    const two = await seal(key, text, ctx);
    expect(one).not.toBe(two);
    expect(one.split('.')[1]).not.toBe(two.split('.')[1]);
    expect(one).not.toContain('HEARTBEAT');
    expect(await open(key, one, ctx)).toMatchObject({ ok: true, text });
    expect(await open(key, two, ctx)).toMatchObject({ ok: true, text });
    expect(await open(key, await seal(key, '', ctx), ctx)).toMatchObject({ ok: true, text: '' });
  });

  it('reject a tampered ciphertext, tag or IV', async () => {
    const { key } = await deriveRoomKeys('pw', 'room-1', FAST);
    const sealed = await seal(key, 'the plan: advance at noon', ctx);
    const [prefix, iv, ct] = sealed.split('.') as [string, string, string];
    const flip = (text: string, at: number) => {
      const bytes = fromBase64Url(text)!;
      bytes[at] = bytes[at]! ^ 0x01;
      return toBase64Url(bytes);
    };
    const ctBytes = fromBase64Url(ct)!.length;
    const variants = [
      `${prefix}.${flip(iv, 0)}.${ct}`,
      `${prefix}.${iv}.${flip(ct, 0)}`,
      `${prefix}.${iv}.${flip(ct, ctBytes - 1)}`, // the tag
      `${prefix}.${iv}.${toBase64Url(fromBase64Url(ct)!.slice(0, -1))}`,
    ];
    for (const v of variants) {
      expect(await open(key, v, ctx)).toMatchObject({ ok: false, error: expect.stringMatching(/decrypt/) });
    }
  });

  it('bind the payload to room, kind, sender and recipient (no replay to another peer, no swap)', async () => {
    const { key } = await deriveRoomKeys('pw', 'room-1', FAST);
    const sealed = await seal(key, 'for 2 only', ctx);
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
      'e1.',
      'e1.AAAA',
      'e1.!!!.AAAA',
      'e1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.extra',
      'e1.AAAA.AAAAAAAAAAAAAAAAAAAAAA',
    ]) {
      expect((await open(key, junk, ctx)).ok).toBe(false);
    }
  });
});

describe('replays', () => {
  const iv = (nonce: number, counter: number) => {
    const bytes = new Uint8Array(12);
    bytes[0] = nonce;
    new DataView(bytes.buffer).setUint32(8, counter);
    return bytes;
  };
  const take = (g: ReplayGuard, from: number, v: Uint8Array) => {
    const problem = g.problem(from, v);
    if (problem === null) g.record(from, v);
    return problem;
  };

  it('take each IV of a sender once, in any order within the window', () => {
    const g = new ReplayGuard();
    expect(take(g, 1, iv(7, 5))).toBeNull();
    expect(take(g, 1, iv(7, 3))).toBeNull();
    expect(take(g, 1, iv(7, 5))).toBe('replayed');
    expect(take(g, 1, iv(7, 3))).toBe('replayed');
    expect(take(g, 1, iv(7, 4))).toBeNull();
    // Another sender's counters are its own.
    expect(take(g, 2, iv(7, 5))).toBeNull();
    expect(take(g, 1, iv(7, 2000))).toBeNull();
    expect(take(g, 1, iv(7, 976))).toBe('replayed (older than the replay window)');
    expect(take(g, 1, iv(7, 977))).toBeNull();
  });

  it('take a new session of a sender (a reload), and still refuse its old one’s replays', () => {
    const g = new ReplayGuard();
    expect(take(g, 1, iv(1, 0))).toBeNull();
    expect(take(g, 1, iv(2, 0))).toBeNull();
    expect(take(g, 1, iv(1, 0))).toBe('replayed');
    expect(take(g, 1, iv(1, 1))).toBeNull();
  });

  it('a check alone records nothing: a payload that failed to open does not burn its IV', () => {
    const g = new ReplayGuard();
    expect(g.problem(1, iv(1, 0))).toBeNull();
    expect(g.problem(1, iv(1, 0))).toBeNull();
  });

  it('send IVs with one random session nonce and a rising counter', () => {
    const a = new IvSource();
    const [x, y] = [a.next(), a.next()];
    expect(x.subarray(0, 8)).toEqual(y.subarray(0, 8));
    expect(new DataView(y.buffer).getUint32(8)).toBe(new DataView(x.buffer).getUint32(8) + 1);
    expect(new IvSource().next().subarray(0, 8)).not.toEqual(x.subarray(0, 8));
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
