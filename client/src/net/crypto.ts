// Password rooms: keys from the room password, and AES-GCM sealing of what the server forwards.
// Pure functions over WebCrypto (globalThis.crypto.subtle), so the browser, Node peers and tests share them.

/** OWASP's 2023 figure for PBKDF2-HMAC-SHA256; one derivation per tab and join, not per message. */
export const PBKDF2_ITERATIONS = 600_000;
export { PASSWORD_MAX, passwordProblem } from '../protocol/limits.ts';

const VERSION = 'lockstep/v1';
const SEALED_PREFIX = 'e2.';
const IV_BYTES = 12;

/** What a payload is bound to: a ciphertext opens only with the same room, kind, sender and recipient. */
export interface SealContext {
  room: string;
  kind: 'signal' | 'relay';
  from: number;
  to: number;
}

export interface RoomKeys {
  /** AES-GCM-256, non-extractable. */
  key: CryptoKey;
  /** Proof of the password for the server: 32 bytes, base64url (43 characters). */
  verifier: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export function toBase64Url(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromBase64Url(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  const bin = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * PBKDF2-SHA256 (salted with the room ID) gives a base key; HKDF expands it under two labels into the
 * encryption key and the verifier, which are independent: the verifier tells nothing about the key.
 */
export async function deriveRoomKeys(
  password: string,
  room: string,
  iterations = PBKDF2_ITERATIONS,
): Promise<RoomKeys> {
  const subtle = globalThis.crypto.subtle;
  const material = await subtle.importKey('raw', enc.encode(password.normalize('NFC')), 'PBKDF2', false, [
    'deriveBits',
  ]);
  const salt = enc.encode(`${VERSION} room ${room}`);
  const base = await subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, material, 256);
  const hkdf = await subtle.importKey('raw', base, 'HKDF', false, ['deriveKey', 'deriveBits']);
  const info = (label: string) => enc.encode(`${VERSION} ${label}`);
  const key = await subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt, info: info('aes-gcm payload key') },
    hkdf,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
  const verifier = await subtle.deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt, info: info('server verifier') },
    hkdf,
    256,
  );
  return { key, verifier: toBase64Url(new Uint8Array(verifier)) };
}

/**
 * Who sealed a payload and when: the sender's page session (8 random bytes, base64url) and its count of
 * payloads sealed so far. Authenticated with the payload, so a recipient can take each one once.
 */
export interface Stamp {
  session: string;
  n: number;
}

function additionalData(ctx: SealContext, stamp: Stamp): Uint8Array<ArrayBuffer> {
  // Room IDs and sessions are [A-Za-z0-9_-] and the rest are numbers or fixed words: "|" is unambiguous.
  return enc.encode(`${VERSION}|${ctx.room}|${ctx.kind}|${ctx.from}|${ctx.to}|${stamp.session}|${stamp.n}`);
}

/** A page session's stamps: one random session, counted up from 0. */
export class Stamper {
  private readonly session = toBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(8)));
  private n = 0;

  next(): Stamp {
    return { session: this.session, n: this.n++ };
  }
}

/** Encrypts under a fresh random 96-bit IV: "e2.<session>.<n>.<iv>.<ciphertext+tag>", base64url. */
export async function seal(
  key: CryptoKey,
  plaintext: string,
  ctx: SealContext,
  stamp: Stamp,
): Promise<string> {
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const ct = await globalThis.crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: additionalData(ctx, stamp) },
    key,
    enc.encode(plaintext),
  );
  return `${SEALED_PREFIX}${stamp.session}.${stamp.n}.${toBase64Url(iv)}.${toBase64Url(new Uint8Array(ct))}`;
}

export type Opened = { ok: true; text: string; stamp: Stamp } | { ok: false; error: string };

const WINDOW = 1024;
const SESSIONS_PER_SENDER = 8;
const SENDERS = 1024;

interface Seen {
  top: number;
  seen: Set<number>;
  /** The highest stamp among this session's signals we took: signals come in order, so none is older. */
  signalTop: number;
}

/**
 * Which stamps each sender's payloads have already used: a payload is taken once. Within a session, the
 * last WINDOW stamps are remembered, so relayed frames the server reordered still open; one further back is
 * refused. Signals must also come in order: a hello or offer the server held back while the link it asks
 * about was built would otherwise tear that link down. A session not seen before is a new page session of
 * the sender (a reload); its last SESSIONS_PER_SENDER are kept, for the last SENDERS senders heard.
 */
export class ReplayGuard {
  private readonly senders = new Map<number, Map<string, Seen>>();

  /** Why this payload must not be taken from `from`, or null. Check after opening, then record. */
  problem(from: number, kind: SealContext['kind'], stamp: Stamp): string | null {
    const w = this.senders.get(from)?.get(stamp.session);
    if (!w) return null;
    if (stamp.n <= w.top - WINDOW) return 'replayed (older than the replay window)';
    if (w.seen.has(stamp.n)) return 'replayed';
    if (kind === 'signal' && stamp.n < w.signalTop) return 'out of order (a signal held back)';
    return null;
  }

  record(from: number, kind: SealContext['kind'], stamp: Stamp): void {
    let sessions = this.senders.get(from);
    // Most recently heard last, so the one evicted is the one heard least recently.
    this.senders.delete(from);
    if (!sessions) {
      if (this.senders.size >= SENDERS) this.senders.delete(this.senders.keys().next().value as number);
      sessions = new Map();
    }
    this.senders.set(from, sessions);
    let w = sessions.get(stamp.session);
    if (!w) {
      if (sessions.size >= SESSIONS_PER_SENDER) sessions.delete(sessions.keys().next().value as string);
      w = { top: -1, seen: new Set(), signalTop: -1 };
      sessions.set(stamp.session, w);
    }
    w.seen.add(stamp.n);
    if (kind === 'signal') w.signalTop = Math.max(w.signalTop, stamp.n);
    if (stamp.n > w.top) {
      w.top = stamp.n;
      for (const old of w.seen) if (old <= stamp.n - WINDOW) w.seen.delete(old);
    }
  }
}

/** Decrypts and authenticates; any change to stamp, IV, ciphertext, tag or context fails. Never throws. */
export async function open(key: CryptoKey, sealed: unknown, ctx: SealContext): Promise<Opened> {
  if (typeof sealed !== 'string' || !sealed.startsWith(SEALED_PREFIX)) {
    return { ok: false, error: 'not an encrypted payload' };
  }
  const [session, count, ivText, ctText, extra] = sealed.slice(SEALED_PREFIX.length).split('.');
  const iv = ivText === undefined ? null : fromBase64Url(ivText);
  const ct = ctText === undefined ? null : fromBase64Url(ctText);
  const n = count !== undefined && /^\d{1,15}$/.test(count) ? Number(count) : -1;
  if (
    extra !== undefined ||
    session === undefined ||
    !/^[A-Za-z0-9_-]{11}$/.test(session) ||
    n < 0 ||
    !iv ||
    iv.length !== IV_BYTES ||
    !ct ||
    ct.length < 16
  ) {
    return { ok: false, error: 'malformed encrypted payload' };
  }
  const stamp = { session, n };
  try {
    const plain = await globalThis.crypto.subtle.decrypt(
      { name: 'AES-GCM', iv, additionalData: additionalData(ctx, stamp) },
      key,
      ct,
    );
    return { ok: true, text: dec.decode(plain), stamp };
  } catch {
    return { ok: false, error: 'failed to decrypt (wrong key, tampered, or sent to someone else)' };
  }
}
