// Wire format of one data-channel or relay frame. The net layer wraps core messages so it can add its
// own ping/pong without touching the core's Message union.

export type Frame =
  | { k: 'core'; m: unknown }
  /** `a`: the sender's page is hidden (away); repeated on every ping, so a newcomer learns it too. */
  | { k: 'ping'; t: number; a?: boolean }
  | { k: 'pong'; t: number }
  /** An app message on channel `n` (the library's `room.channel`); `d` is checked by the channel. */
  | { k: 'app'; n: string; d: unknown };

/** App channel names: short and plain, so they can be logged and used as keys safely. */
export const CHANNEL_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Largest frame we bother parsing: the relay caps payloads at 16 KiB, channels get the same bound. */
export const MAX_FRAME_CHARS = 16 * 1024;

export function encodeFrame(frame: Frame): string {
  return JSON.stringify(frame);
}

export type Decoded = { ok: true; frame: Frame } | { ok: false; error: string };

/** Parses untrusted text; the core message inside is validated later by core's parseMessage. */
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
        return { ok: true, frame: { k: 'ping', t: o.t, a: o.a } };
      }
      return { ok: true, frame: { k: o.k, t: o.t } };
    case 'app':
      if (typeof o.n !== 'string' || !CHANNEL_NAME.test(o.n))
        return { ok: false, error: 'app frame without a valid channel name' };
      if (o.d === undefined) return { ok: false, error: `app frame on ${o.n} without data` };
      return { ok: true, frame: { k: 'app', n: o.n, d: o.d } };
    default:
      return { ok: false, error: `unknown frame kind ${JSON.stringify(String(o.k)).slice(0, 40)}` };
  }
}
