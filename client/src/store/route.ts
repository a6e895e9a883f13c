// Where the page is: the lobby or a room, from the URL. Everything here is untrusted input.

import { LIMITS, type RoomSettings } from '../../../signaling/src/events.ts';
import { passwordProblem } from '../net/crypto.ts';

export type Route =
  | { kind: 'lobby' }
  | {
      kind: 'room';
      room: string;
      name: string | null;
      settings: Partial<RoomSettings> | null;
      /** From the fragment `#k=`, which browsers never send to the server. */
      password?: string;
    }
  | { kind: 'invalid'; errors: string[] };

// biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point.
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

export function cleanName(raw: string): string {
  return raw.replace(INVISIBLE, '').replace(/\s+/g, ' ').trim();
}

export function validRoomId(id: string): boolean {
  return id.length >= LIMITS.roomId.min && id.length <= LIMITS.roomId.max && LIMITS.roomId.pattern.test(id);
}

function intParam(
  raw: string | null,
  label: string,
  range: { min: number; max: number },
  errors: string[],
): number | undefined {
  if (raw === null) return undefined;
  if (!/^\d{1,9}$/.test(raw.trim())) {
    errors.push(`${label} must be a whole number of milliseconds, got "${raw.slice(0, 20)}"`);
    return undefined;
  }
  const n = Number(raw.trim());
  if (n < range.min || n > range.max) {
    errors.push(`${label} must be between ${range.min} and ${range.max}, got ${n}`);
    return undefined;
  }
  return n;
}

/** Checks room settings from any source (URL or lobby form); returns the problems found. */
export function checkSettings(
  input: { heartbeatMs?: string | null; timeoutMs?: string | null; stages?: string | null },
  errors: string[],
): Partial<RoomSettings> | null {
  const settings: Partial<RoomSettings> = {};
  const hb = intParam(input.heartbeatMs ?? null, 'heartbeatMs', LIMITS.heartbeatMs, errors);
  const to = intParam(input.timeoutMs ?? null, 'timeoutMs', LIMITS.timeoutMs, errors);
  if (hb !== undefined) settings.heartbeatMs = hb;
  if (to !== undefined) settings.timeoutMs = to;
  const effHb = hb ?? LIMITS.heartbeatMs.default;
  const effTo = to ?? LIMITS.timeoutMs.default;
  if ((hb !== undefined || to !== undefined) && effTo < LIMITS.timeoutHeartbeats * effHb) {
    errors.push(`timeoutMs (${effTo}) must be at least ${LIMITS.timeoutHeartbeats} × heartbeatMs (${effHb})`);
  }
  if (input.stages !== undefined && input.stages !== null) {
    const names = input.stages.split(',').map(cleanName);
    if (names.length < LIMITS.stages.min || names.length > LIMITS.stages.max) {
      errors.push(`stages must list ${LIMITS.stages.min} to ${LIMITS.stages.max} names`);
    } else if (names.some((n) => n.length === 0)) {
      errors.push('stages must not contain an empty name');
    } else if (names.some((n) => [...n].length > LIMITS.stages.nameMax)) {
      errors.push(`each stage name must be at most ${LIMITS.stages.nameMax} characters`);
    } else settings.stages = names;
  }
  return Object.keys(settings).length > 0 ? settings : null;
}

/** The fragment that carries a room password: `#k=<password>`, percent-encoded. */
export function passwordFragment(password: string): string {
  return `#k=${encodeURIComponent(password)}`;
}

/** The `k` parameter of a fragment such as `#k=…`; undefined when absent. */
export function readPasswordFragment(hash: string, errors: string[]): string | undefined {
  const raw = new URLSearchParams(hash.replace(/^#/, '')).get('k');
  if (raw === null) return undefined;
  const problem = passwordProblem(raw);
  if (problem) errors.push(`the link's ${problem}`);
  return problem ? undefined : raw;
}

/** `/` is the lobby; `/r/<room>?name=&heartbeatMs=&timeoutMs=&stages=#k=<password>` joins a room. */
export function parseRoute(pathname: string, search: string, hash = ''): Route {
  const path = pathname.replace(/\/+$/, '');
  if (path === '' || path === '/index.html') return { kind: 'lobby' };
  const m = /^\/r\/([^/]+)$/.exec(path);
  if (!m) return { kind: 'invalid', errors: [`there is no page at ${pathname.slice(0, 80)}`] };
  const errors: string[] = [];
  let room = '';
  try {
    room = decodeURIComponent(m[1]!);
  } catch {
    errors.push('the room ID in the link is malformed');
  }
  if (room && !validRoomId(room)) {
    errors.push(
      `room ID must be 1–${LIMITS.roomId.max} letters, digits, "_" or "-" (got "${room.slice(0, 70)}")`,
    );
  }
  const q = new URLSearchParams(search);
  let name: string | null = null;
  const rawName = q.get('name');
  if (rawName !== null) {
    const cleaned = cleanName(rawName);
    if (cleaned.length === 0) errors.push('name must not be empty');
    else if ([...cleaned].length > LIMITS.name.max)
      errors.push(`name must be at most ${LIMITS.name.max} characters`);
    else name = cleaned;
  }
  const settings = checkSettings(
    { heartbeatMs: q.get('heartbeatMs'), timeoutMs: q.get('timeoutMs'), stages: q.get('stages') },
    errors,
  );
  const password = readPasswordFragment(hash, errors);
  if (errors.length > 0) return { kind: 'invalid', errors };
  return { kind: 'room', room, name, settings, ...(password === undefined ? {} : { password }) };
}

export function roomPath(room: string, params: Record<string, string> = {}): string {
  const q = new URLSearchParams(params).toString();
  return `/r/${encodeURIComponent(room)}${q ? `?${q}` : ''}`;
}
