// Password rooms: keys from the room password, and AES-GCM sealing of what the server forwards.
// Pure functions over WebCrypto (globalThis.crypto.subtle), so the browser, Node peers and tests share them.

/** OWASP's 2023 figure for PBKDF2-HMAC-SHA256; one derivation per tab and join, not per message. */
export const PBKDF2_ITERATIONS = 600_000;
export { PASSWORD_MAX, passwordProblem } from '../protocol/limits.ts';

const VERSION = 'lockstep/v1';
const SEALED_PREFIX = 'e1.';
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

function additionalData(ctx: SealContext): Uint8Array<ArrayBuffer> {
  // Room IDs are [A-Za-z0-9_-] and the rest are numbers or fixed words, so "|" cannot be ambiguous.
  return enc.encode(`${VERSION}|${ctx.room}|${ctx.kind}|${ctx.from}|${ctx.to}`);
}

/**
 * A sender's IVs: 8 random bytes for its session, then a 32-bit counter (NIST SP 800-38D's deterministic
 * construction). Every IV under the room's shared key stays unique, and a recipient can tell a replay.
 */
export class IvSource {
  private nonce = IvSource.fresh();
  private counter = 0;

  private static fresh(): Uint8Array<ArrayBuffer> {
    return globalThis.crypto.getRandomValues(new Uint8Array(8));
  }

  next(): Uint8Array<ArrayBuffer> {
    if (this.counter > 0xffff_ffff) {
      this.nonce = IvSource.fresh();
      this.counter = 0;
    }
    const iv = new Uint8Array(IV_BYTES);
    iv.set(this.nonce);
    new DataView(iv.buffer).setUint32(8, this.counter++);
    return iv;
  }
}

/** Encrypts under `iv` (by default a random one): "e1.<iv>.<ciphertext+tag>", base64url. */
export async function seal(
  key: CryptoKey,
  plaintext: string,
  ctx: SealContext,
  iv: Uint8Array<ArrayBuffer> = globalThis.crypto.getRandomValues(new Uint8Array(IV_BYTES)),
): Promise<string> {
  const ct = await globalThis.crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: additionalData(ctx) },
    key,
    enc.encode(plaintext),
  );
  return `${SEALED_PREFIX}${toBase64Url(iv)}.${toBase64Url(new Uint8Array(ct))}`;
}

export type Opened = { ok: true; text: string; iv: Uint8Array } | { ok: false; error: string };

const WINDOW = 1024;
const NONCES_PER_SENDER = 8;
const SENDERS = 1024;

/**
 * Which IVs each sender's payloads have already used (IvSource's session nonce and counter): a payload is
 * taken once. Within a nonce, the last WINDOW counters are remembered, so payloads the server reordered
 * still open; one further back is refused. A nonce not seen before is a new session of the sender (a
 * reload), unless it is one of the last NONCES_PER_SENDER it used.
 */
export class ReplayGuard {
  private readonly senders = new Map<number, Map<string, { top: number; seen: Set<number> }>>();

  /** Why this IV must not be taken from `from`, or null. Check before opening, record after. */
  problem(from: number, iv: Uint8Array): string | null {
    const w = this.senders.get(from)?.get(nonceOf(iv));
    if (!w) return null;
    const n = counterOf(iv);
    if (n <= w.top - WINDOW) return 'replayed (older than the replay window)';
    return w.seen.has(n) ? 'replayed' : null;
  }

  record(from: number, iv: Uint8Array): void {
    let nonces = this.senders.get(from);
    if (!nonces) {
      if (this.senders.size >= SENDERS) this.senders.delete(this.senders.keys().next().value as number);
      nonces = new Map();
      this.senders.set(from, nonces);
    }
    const key = nonceOf(iv);
    let w = nonces.get(key);
    if (!w) {
      if (nonces.size >= NONCES_PER_SENDER) nonces.delete(nonces.keys().next().value as string);
      w = { top: -1, seen: new Set() };
      nonces.set(key, w);
    }
    const n = counterOf(iv);
    w.seen.add(n);
    if (n > w.top) {
      w.top = n;
      for (const old of w.seen) if (old <= n - WINDOW) w.seen.delete(old);
    }
  }
}

function nonceOf(iv: Uint8Array): string {
  return toBase64Url(iv.subarray(0, 8));
}

function counterOf(iv: Uint8Array): number {
  return new DataView(iv.buffer, iv.byteOffset, iv.byteLength).getUint32(8);
}

/** Decrypts and authenticates; any change to IV, ciphertext, tag or context fails. Never throws. */
export async function open(key: CryptoKey, sealed: unknown, ctx: SealContext): Promise<Opened> {
  if (typeof sealed !== 'string' || !sealed.startsWith(SEALED_PREFIX)) {
    return { ok: false, error: 'not an encrypted payload' };
  }
  const [ivText, ctText, extra] = sealed.slice(SEALED_PREFIX.length).split('.');
  const iv = ivText === undefined ? null : fromBase64Url(ivText);
  const ct = ctText === undefined ? null : fromBase64Url(ctText);
  if (extra !== undefined || !iv || iv.length !== IV_BYTES || !ct || ct.length < 16) {
    return { ok: false, error: 'malformed encrypted payload' };
  }
  try {
    const plain = await globalThis.crypto.subtle.decrypt(
      { name: 'AES-GCM', iv, additionalData: additionalData(ctx) },
      key,
      ct,
    );
    return { ok: true, text: dec.decode(plain), iv };
  } catch {
    return { ok: false, error: 'failed to decrypt (wrong key, tampered, or sent to someone else)' };
  }
}
