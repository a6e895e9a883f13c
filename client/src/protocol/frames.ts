// The mesh's wire format: what one data-channel or relay frame holds, and what one `signal` carries.
// Core messages ride inside `core` frames and are checked by parseMessage (messages.ts).

import { LIMITS, PROTOCOL_VERSION } from './limits.ts';

/** Pings and pongs name the sender's protocol version (absent: a build from before versions, 0). */
export type Frame =
  | { k: 'core'; m: unknown }
  /** `a`: the sender's page is hidden (away); repeated on every ping, so a newcomer learns it too. */
  | { k: 'ping'; t: number; v?: number; a?: boolean }
  | { k: 'pong'; t: number; v?: number }
  /** An app message on channel `n` (the library's `room.channel`); `d` is checked by the channel. */
  | { k: 'app'; n: string; d: unknown };

/** App channel names: short and plain, so they can be logged and used as keys safely. */
export const CHANNEL_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * What travels in a `signal` event: one link's SDP/ICE tagged with its epoch, or a responder's hello. A hello
 * names (`s`) the last epoch the responder had heard of, so the initiator can tell a plea about its current
 * offer from one sent before that offer arrived.
 */
export type SignalEnvelope = ({ e: string; d: unknown } | { hello: true; s?: string }) & { v?: number };

export const MAX_FRAME_CHARS = LIMITS.frameChars;

export function encodeFrame(frame: Frame): string {
  return JSON.stringify(frame);
}

export const ping = (k: 'ping' | 'pong', t: number): Frame => ({ k, t, v: PROTOCOL_VERSION });

/** The version a frame or envelope names: 0 when it names none or names junk. */
export function versionOf(x: { v?: unknown }): number {
  return typeof x.v === 'number' && Number.isSafeInteger(x.v) && x.v >= 0 ? x.v : 0;
}

export type Decoded = { ok: true; frame: Frame } | { ok: false; error: string };

/** Parses untrusted text; the core message inside is validated later by parseMessage. */
export function decodeFrame(text: unknown): Decoded {
  if (typeof text !== 'string') return { ok: false, error: 'frame is not text' };
  if (text.length > MAX_FRAME_CHARS) return { ok: false, error: `frame too large (${text.length} chars)` };
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch {
    return { ok: false, error: 'frame is not JSON' };
  }
  if (typeof x !== 'object' || x === null || Array.isArray(x))
    return { ok: false, error: 'frame is not an object' };
  const o = x as Record<string, unknown>;
  switch (o.k) {
    case 'core':
      return { ok: true, frame: { k: 'core', m: o.m } };
    case 'ping':
    case 'pong':
      if (typeof o.t !== 'number' || !Number.isFinite(o.t))
        return { ok: false, error: `${o.k} without a time` };
      if (o.k === 'ping' && o.a !== undefined) {
        if (typeof o.a !== 'boolean') return { ok: false, error: 'ping.a must be a boolean' };
        return { ok: true, frame: { k: 'ping', t: o.t, v: versionOf(o), a: o.a } };
      }
      return { ok: true, frame: { k: o.k, t: o.t, v: versionOf(o) } };
    case 'app':
      if (typeof o.n !== 'string' || !CHANNEL_NAME.test(o.n))
        return { ok: false, error: 'app frame without a valid channel name' };
      if (o.d === undefined) return { ok: false, error: `app frame on ${o.n} without data` };
      return { ok: true, frame: { k: 'app', n: o.n, d: o.d } };
    default:
      return { ok: false, error: `unknown frame kind ${JSON.stringify(String(o.k)).slice(0, 40)}` };
  }
}
