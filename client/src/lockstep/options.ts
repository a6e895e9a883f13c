// Checks joinRoom's options: they may come from anywhere (a URL, a form, a config file).

import { LIMITS } from '../../../signaling/src/events.ts';
import { PASSWORD_MAX } from '../net/crypto.ts';
import { cleanName, validRoomId } from '../store/route.ts';
import { LockstepError } from './errors.ts';
import type { JoinOptions, RoomSettings } from './types.ts';

export const DEFAULT_JOIN_TIMEOUT_MS = 15_000;

export interface CheckedOptions {
  server: string;
  room: string;
  name: string;
  password: string | undefined;
  settings: Partial<RoomSettings> | null;
  timeoutMs: number;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/** Every problem at once, as one `bad_argument` error. */
export function checkOptions(input: JoinOptions, needRtc: boolean): CheckedOptions {
  const errors: string[] = [];
  const o = (typeof input === 'object' && input !== null ? input : {}) as Partial<Record<string, unknown>>;
  if ((o as unknown) !== input) errors.push('options must be an object');
  let server = '';
  if (typeof o.server !== 'string') errors.push('server must be a URL string');
  else {
    try {
      const url = new URL(o.server);
      if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol))
        errors.push('server must be http(s) or ws(s)');
      server = o.server;
    } catch {
      errors.push(`server is not a URL: ${JSON.stringify(o.server.slice(0, 80))}`);
    }
  }
  const room = typeof o.room === 'string' ? o.room : '';
  if (!validRoomId(room)) errors.push(`room must be 1–${LIMITS.roomId.max} characters of A–Z a–z 0–9 _ -`);
  const name = typeof o.name === 'string' ? cleanName(o.name) : '';
  if (name.length === 0 || [...name].length > LIMITS.name.max)
    errors.push(`name must be 1–${LIMITS.name.max} characters`);
  const password = o.password;
  if (
    password !== undefined &&
    (typeof password !== 'string' || password.length === 0 || [...password].length > PASSWORD_MAX)
  )
    errors.push(`password must be a string of 1–${PASSWORD_MAX} characters`);
  const settings = checkSettings(o.settings, errors);
  const timeoutMs = o.timeoutMs ?? DEFAULT_JOIN_TIMEOUT_MS;
  if (!isInt(timeoutMs) || timeoutMs < 1 || timeoutMs > 600_000) errors.push('timeoutMs must be 1–600000');
  if (o.rtc !== undefined && (typeof o.rtc !== 'object' || o.rtc === null || !('RTCPeerConnection' in o.rtc)))
    errors.push('rtc must be a WebRTC implementation with RTCPeerConnection (e.g. @roamhq/wrtc)');
  if (
    needRtc &&
    o.rtc === undefined &&
    typeof (globalThis as { RTCPeerConnection?: unknown }).RTCPeerConnection !== 'function'
  )
    errors.push('no WebRTC here: pass rtc (e.g. `import wrtc from "@roamhq/wrtc"`)');
  if (errors.length > 0) throw new LockstepError('bad_argument', errors.join('; '));
  return {
    server,
    room,
    name,
    password: password as string | undefined,
    settings,
    timeoutMs: timeoutMs as number,
  };
}

function checkSettings(x: unknown, errors: string[]): Partial<RoomSettings> | null {
  if (x === undefined || x === null) return null;
  if (typeof x !== 'object') {
    errors.push('settings must be an object');
    return null;
  }
  const s = x as Partial<Record<keyof RoomSettings, unknown>>;
  const out: Partial<RoomSettings> = {};
  const range = (key: 'heartbeatMs' | 'timeoutMs') => {
    const v = s[key];
    if (v === undefined) return;
    const { min, max } = LIMITS[key];
    if (!isInt(v) || v < min || v > max) errors.push(`settings.${key} must be a whole number ${min}–${max}`);
    else out[key] = v;
  };
  range('heartbeatMs');
  range('timeoutMs');
  const hb = out.heartbeatMs ?? LIMITS.heartbeatMs.default;
  const to = out.timeoutMs ?? LIMITS.timeoutMs.default;
  if (to < LIMITS.timeoutHeartbeats * hb)
    errors.push(
      `settings.timeoutMs (${to}) must be at least ${LIMITS.timeoutHeartbeats} × heartbeatMs (${hb})`,
    );
  if (s.stages !== undefined) {
    const st = s.stages;
    if (!Array.isArray(st) || st.length < LIMITS.stages.min || st.length > LIMITS.stages.max)
      errors.push(`settings.stages must list ${LIMITS.stages.min}–${LIMITS.stages.max} names`);
    else {
      const names = st.map((n) => (typeof n === 'string' ? cleanName(n) : ''));
      if (names.some((n) => n.length === 0 || [...n].length > LIMITS.stages.nameMax))
        errors.push(`settings.stages names must be 1–${LIMITS.stages.nameMax} characters`);
      else out.stages = names;
    }
  }
  return Object.keys(out).length > 0 ? out : null;
}
