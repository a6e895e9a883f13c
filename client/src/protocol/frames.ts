// The mesh's wire format: what one data-channel or relay frame holds, and what one `signal` carries.
// Core messages ride inside `core` frames and are checked by parseMessage (messages.ts).

import { LIMITS, PROTOCOL_VERSION } from './limits.ts';

/** Pings and pongs name the sender's protocol version (absent: a build from before versions, 0). */
export type Frame =
  | { k: 'core'; m: unknown }
  | { k: 'ping'; t: number; v?: number }
  | { k: 'pong'; t: number; v?: number };

/** What travels in a `signal` event: one link's SDP/ICE tagged with its epoch, or a responder's hello. */
export type SignalEnvelope = ({ e: string; d: unknown } | { hello: true }) & { v?: number };

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
      return { ok: true, frame: { k: o.k, t: o.t, v: versionOf(o) } };
    default:
      return { ok: false, error: `unknown frame kind ${JSON.stringify(String(o.k)).slice(0, 40)}` };
  }
}
