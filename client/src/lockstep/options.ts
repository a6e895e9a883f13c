// Checks joinRoom's options: they may come from anywhere (a URL, a form, a config file).

import * as v from 'valibot';
import { describeIssues } from '../protocol/issues.ts';
import { LIMITS, PASSWORD_MAX } from '../protocol/limits.ts';
import { nameSchema, settingsSchema, validRoomId } from '../protocol/signaling.ts';
import { LockstepError } from './errors.ts';
import type { JoinOptions, JoinProgress, KeyValueStore, RoomSettings, RtcImplementation } from './types.ts';

export const DEFAULT_JOIN_TIMEOUT_MS = 15_000;
export const DEFAULT_PROPOSE_TIMEOUT_MS = 5_000;

export interface CheckedOptions {
  server: string;
  room: string;
  name: string;
  password: string | undefined;
  settings: Partial<RoomSettings> | null;
  timeoutMs: number;
  proposeTimeoutMs: number;
  chaos: boolean;
  testHooks: boolean;
  /** undefined: the default store; null: none. */
  storage: KeyValueStore | null | undefined;
  signal: AbortSignal | undefined;
  rtc: RtcImplementation | undefined;
  pageLifecycle: boolean;
  onProgress: ((progress: JoinProgress) => void) | undefined;
}

const KNOWN = new Set([
  'server',
  'room',
  'name',
  'password',
  'settings',
  'rtc',
  'storage',
  'timeoutMs',
  'proposeTimeoutMs',
  'signal',
  'onProgress',
  'pageLifecycle',
  'chaos',
  'testHooks',
]);
/** Longer than any real server URL; engine.io throws a bare string past its own limit. */
const SERVER_MAX = 2_048;

const hasMethods = (x: unknown, names: string[]) =>
  typeof x === 'object' &&
  x !== null &&
  names.every((n) => typeof (x as Record<string, unknown>)[n] === 'function');

/**
 * The options' own fields, each read once: a getter may throw, or answer differently the second time. A
 * misspelt key is an error, not a silent default (`timeout: 100` waited the full 15 s).
 */
function readFields(input: unknown, errors: string[]): Partial<Record<string, unknown>> {
  const o: Partial<Record<string, unknown>> = {};
  if (typeof input !== 'object' || input === null) {
    errors.push('options must be an object');
    return o;
  }
  let keys: string[] = [];
  try {
    keys = Object.keys(input);
  } catch (err) {
    errors.push(`options could not be read: ${(err as Error)?.message ?? err}`);
  }
  const unknown = keys.filter((k) => !KNOWN.has(k));
  if (unknown.length > 0)
    errors.push(
      `unknown option(s): ${unknown
        .slice(0, 5)
        .map((k) => JSON.stringify(k.slice(0, 40)))
        .join(', ')}`,
    );
  for (const k of KNOWN) {
    try {
      o[k] = (input as Record<string, unknown>)[k];
    } catch (err) {
      errors.push(`${k} could not be read: ${(err as Error)?.message ?? err}`);
    }
  }
  return o;
}

const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x);

/** Every problem at once, as one `bad_argument` error. */
export function checkOptions(input: JoinOptions, needRtc: boolean): CheckedOptions {
  const errors: string[] = [];
  const o = readFields(input, errors);
  let server = '';
  if (typeof o.server !== 'string') errors.push('server must be a URL string');
  else if (o.server.length > SERVER_MAX)
    errors.push(`server must be a URL of at most ${SERVER_MAX} characters`);
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
  const checkedName = v.safeParse(nameSchema, o.name);
  const name = checkedName.success ? checkedName.output : '';
  if (!checkedName.success) errors.push(`name must be 1–${LIMITS.name.max} characters`);
  const password = o.password;
  if (
    password !== undefined &&
    (typeof password !== 'string' || password.length === 0 || [...password].length > PASSWORD_MAX)
  )
    errors.push(`password must be a string of 1–${PASSWORD_MAX} characters`);
  const settings = checkSettings(o.settings, errors);
  const timeoutMs = o.timeoutMs ?? DEFAULT_JOIN_TIMEOUT_MS;
  if (!isInt(timeoutMs) || timeoutMs < 1 || timeoutMs > 600_000) errors.push('timeoutMs must be 1–600000');
  const proposeTimeoutMs = o.proposeTimeoutMs ?? DEFAULT_PROPOSE_TIMEOUT_MS;
  if (!isInt(proposeTimeoutMs) || proposeTimeoutMs < 1 || proposeTimeoutMs > 600_000)
    errors.push('proposeTimeoutMs must be 1–600000');
  if (o.rtc !== undefined && (typeof o.rtc !== 'object' || o.rtc === null || !('RTCPeerConnection' in o.rtc)))
    errors.push('rtc must be a WebRTC implementation with RTCPeerConnection (e.g. @roamhq/wrtc)');
  if (
    needRtc &&
    o.rtc === undefined &&
    typeof (globalThis as { RTCPeerConnection?: unknown }).RTCPeerConnection !== 'function'
  )
    errors.push('no WebRTC here: pass rtc (e.g. `import wrtc from "@roamhq/wrtc"`)');
  for (const flag of ['chaos', 'testHooks', 'pageLifecycle'] as const)
    if (o[flag] !== undefined && typeof o[flag] !== 'boolean') errors.push(`${flag} must be true or false`);
  if (
    o.storage !== undefined &&
    o.storage !== null &&
    !hasMethods(o.storage, ['getItem', 'setItem', 'removeItem'])
  )
    errors.push('storage must be null or have getItem, setItem and removeItem (e.g. sessionStorage)');
  if (
    o.signal !== undefined &&
    !(
      hasMethods(o.signal, ['addEventListener', 'removeEventListener']) &&
      typeof (o.signal as { aborted?: unknown }).aborted === 'boolean'
    )
  )
    errors.push('signal must be an AbortSignal');
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function')
    errors.push('onProgress must be a function');
  if (errors.length > 0) throw new LockstepError('bad_argument', errors.join('; '));
  return {
    server,
    room,
    name,
    password: password as string | undefined,
    settings,
    timeoutMs: timeoutMs as number,
    proposeTimeoutMs: proposeTimeoutMs as number,
    chaos: o.chaos === true,
    testHooks: o.testHooks === true,
    storage: o.storage as KeyValueStore | null | undefined,
    signal: o.signal as AbortSignal | undefined,
    rtc: o.rtc as RtcImplementation | undefined,
    pageLifecycle: o.pageLifecycle !== false,
    onProgress: o.onProgress as ((progress: JoinProgress) => void) | undefined,
  };
}

/** The server's own schema; only the settings given are kept (the server fills in the rest). */
function checkSettings(x: unknown, errors: string[]): Partial<RoomSettings> | null {
  if (x === undefined || x === null) return null;
  try {
    return checkGivenSettings(x, errors);
  } catch (err) {
    // A getter on the settings that throws.
    errors.push(`settings could not be read: ${(err as Error)?.message ?? err}`);
    return null;
  }
}

function checkGivenSettings(x: unknown, errors: string[]): Partial<RoomSettings> | null {
  const checked = v.safeParse(settingsSchema, x);
  if (!checked.success) {
    errors.push(describeIssues(checked.issues, 'settings', true));
    return null;
  }
  const given = x as Partial<RoomSettings>;
  const out: Partial<RoomSettings> = {};
  if (given.heartbeatMs !== undefined) out.heartbeatMs = checked.output.heartbeatMs;
  if (given.timeoutMs !== undefined) out.timeoutMs = checked.output.timeoutMs;
  if (given.stages !== undefined) out.stages = checked.output.stages;
  return Object.keys(out).length > 0 ? out : null;
}
