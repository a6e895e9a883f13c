// Where the page is: the lobby or a room, from the URL. Everything here is untrusted input.

import { nanoid } from 'nanoid';
import * as v from 'valibot';
import { describeIssues } from '../protocol/issues.ts';
import { LIMITS, roomPasswordProblem } from '../protocol/limits.ts';
import { nameSchema, type RoomSettings, settingsSchema, validRoomId } from '../protocol/signaling.ts';
import { quoted } from '../protocol/text.ts';

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

/** A URL's number: digits only, so "1e3" or "0x10" is not read as something the user did not write. */
function intParam(raw: string | null, label: string, errors: string[]): number | undefined {
  if (raw === null) return undefined;
  if (!/^\d{1,9}$/.test(raw.trim())) {
    errors.push(`${label} must be a whole number of milliseconds, got ${quoted(raw, 20)}`);
    return undefined;
  }
  return Number(raw.trim());
}

/**
 * Checks room settings from any source (URL or lobby form) with the server's own schema; returns the
 * settings given, cleaned, or null when none were, and pushes the problems found.
 */
export function checkSettings(
  input: { heartbeatMs?: string | null; timeoutMs?: string | null; stages?: string | null },
  errors: string[],
): Partial<RoomSettings> | null {
  const given: Partial<RoomSettings> = {};
  const before = errors.length;
  const hb = intParam(input.heartbeatMs ?? null, 'heartbeatMs', errors);
  const to = intParam(input.timeoutMs ?? null, 'timeoutMs', errors);
  if (hb !== undefined) given.heartbeatMs = hb;
  if (to !== undefined) given.timeoutMs = to;
  if (input.stages !== undefined && input.stages !== null) given.stages = splitStages(input.stages);
  if (errors.length > before || Object.keys(given).length === 0) return null;
  const checked = v.safeParse(settingsSchema, given);
  if (!checked.success) {
    // Each problem named (a few), so one fix of the link is enough.
    const shown = checked.issues.slice(0, 4);
    for (const issue of shown) errors.push(describeIssues([issue], 'settings'));
    const more = checked.issues.length - shown.length;
    if (more > 0) errors.push(`and ${more} more problem(s) with the settings`);
    return null;
  }
  return given.stages ? { ...given, stages: checked.output.stages } : given;
}

/**
 * A link's `stages`: names joined by commas, a comma or backslash inside a name written `\,` or `\\`
 * (an SDK room may name a stage "Round 1, part A"). Any other backslash is kept as it is.
 */
export function joinStages(names: readonly string[]): string {
  return names.map((n) => n.replace(/[\\,]/g, (c) => `\\${c}`)).join(',');
}

export function splitStages(text: string): string[] {
  const names: string[] = [];
  let name = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const next = text[i + 1];
    if (c === '\\' && (next === ',' || next === '\\')) {
      name += next;
      i++;
    } else if (c === ',') {
      names.push(name);
      name = '';
    } else name += c;
  }
  names.push(name);
  return names;
}

/** The fragment that carries a room password: `#k=<password>`, percent-encoded. */
export function passwordFragment(password: string): string {
  return `#k=${encodeURIComponent(password)}`;
}

/**
 * The `k` parameter of a fragment such as `#k=…`; undefined when absent. Decoded as passwordFragment
 * encodes it: a "+" is a plus, not a space, and broken percent-encoding is an error, not a U+FFFD.
 */
export function readPasswordFragment(hash: string, errors: string[]): string | undefined {
  const given = linkParts(hash.replace(/^#/, ''), false).filter((p) => p.key === 'k');
  if (given.length === 0) return undefined;
  if (given.length > 1) {
    errors.push("the link's password is given more than once (#k=)");
    return undefined;
  }
  const raw = decoded(given[0]!.raw, false);
  if (raw === null) {
    errors.push("the link's password is not valid percent-encoding (#k=)");
    return undefined;
  }
  const problem = roomPasswordProblem(raw);
  if (problem) errors.push(`the link's ${problem}`);
  return problem ? undefined : raw;
}

/** `/` is the lobby; `/r/<room>?name=&heartbeatMs=&timeoutMs=&stages=#k=<password>` joins a room. */
export function parseRoute(pathname: string, search: string, hash = ''): Route {
  // Not /\/+$/: on a run of slashes that does not end the path it backtracks quadratically (a crafted link of
  // 80,000 slashes held the page for seconds).
  let end = pathname.length;
  while (end > 0 && pathname[end - 1] === '/') end--;
  const path = pathname.slice(0, end);
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
    errors.push(`room ID must be 1–${LIMITS.roomId.max} letters, digits, "_" or "-" (got ${quoted(room)})`);
  }
  const q = readQuery(search, errors);
  let name: string | null = null;
  const rawName = q.get('name');
  if (rawName !== null) {
    const checked = v.safeParse(nameSchema, rawName);
    if (checked.success) name = checked.output;
    else errors.push(describeIssues(checked.issues, 'name'));
  }
  const settings = checkSettings(
    { heartbeatMs: q.get('heartbeatMs'), timeoutMs: q.get('timeoutMs'), stages: q.get('stages') },
    errors,
  );
  // In the query it would reach the server and its logs, and be ignored: a room made without a password.
  if (q.has('k')) errors.push('a room password goes after #k= in the link, not in its query (?k=)');
  const password = readPasswordFragment(hash, errors);
  if (errors.length > 0) return { kind: 'invalid', errors };
  return { kind: 'room', room, name, settings, ...(password === undefined ? {} : { password }) };
}

/** What a room link's query may set; anything else (a tracker's `fbclid`, say) is left alone. */
const ROOM_PARAMS = new Set(['name', 'heartbeatMs', 'timeoutMs', 'stages', 'testHooks', 'k']);

/** A component of a link decoded, or null when its percent-encoding is broken. */
function decoded(raw: string, plusIsSpace: boolean): string | null {
  try {
    return decodeURIComponent(plusIsSpace ? raw.replace(/\+/g, ' ') : raw);
  } catch {
    return null;
  }
}

/** Links longer than any the app makes are cut here, so a crafted one cannot hold the page. */
const MAX_PARTS = 64;

/** A query or fragment's `key=value` parts: each key decoded (null when broken), each value still raw. */
function linkParts(text: string, plusIsSpace: boolean): { key: string | null; raw: string }[] {
  return text
    .split('&', MAX_PARTS)
    .filter((part) => part !== '')
    .map((part) => {
      const at = part.indexOf('=');
      return at < 0
        ? { key: decoded(part, plusIsSpace), raw: '' }
        : { key: decoded(part.slice(0, at), plusIsSpace), raw: part.slice(at + 1) };
    });
}

/**
 * The query, with each parameter the page reads given once and decodable: a second `name`, or broken
 * percent-encoding (which URLSearchParams turns into U+FFFD without a word), is an error, said once per
 * parameter. Keys are decoded first, so an unknown one costs nothing more.
 */
function readQuery(search: string, errors: string[]): URLSearchParams {
  const q = new URLSearchParams();
  const problems = new Set<string>();
  for (const { key, raw } of linkParts(search.replace(/^\?/, ''), true)) {
    if (key === null || !ROOM_PARAMS.has(key)) continue;
    const value = decoded(raw, true);
    if (value === null) problems.add(`${key} in the link is not valid percent-encoding`);
    else if (q.has(key)) problems.add(`${key} is given more than once in the link`);
    else q.set(key, value);
  }
  errors.push(...problems);
  return q;
}

export function roomPath(room: string, params: Record<string, string> = {}): string {
  const q = new URLSearchParams(params).toString();
  return `/r/${encodeURIComponent(room)}${q ? `?${q}` : ''}`;
}

/** A new room (a fresh ID) that this link makes with these settings, and this password if one is given. */
export function newRoomPath(name: string, settings: Partial<RoomSettings>, password?: string): string {
  const path = roomPath(nanoid(21), {
    name,
    heartbeatMs: String(settings.heartbeatMs),
    timeoutMs: String(settings.timeoutMs),
    stages: joinStages(settings.stages ?? []),
  });
  return password === undefined ? path : `${path}${passwordFragment(password)}`;
}

/** The query's own parameters with `name` set: the link's creation settings and test flags stay with it. */
export function withName(search: string, name: string): Record<string, string> {
  const params = Object.fromEntries(new URLSearchParams(search));
  return { ...params, name };
}

/** What the address bar keeps once joined: the name, and the test hooks a reload still needs. */
export function keptAfterJoin(search: string, name: string): Record<string, string> | null {
  const q = new URLSearchParams(search);
  const spent = ['stages', 'heartbeatMs', 'timeoutMs'].some((k) => q.has(k));
  if (!spent) return null;
  return { name, ...(q.get('testHooks') === '1' ? { testHooks: '1' } : {}) };
}
