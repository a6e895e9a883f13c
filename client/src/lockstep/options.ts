// Checks joinRoom's options: they may come from anywhere (a URL, a form, a config file).

import * as v from 'valibot';
import { describeIssues } from '../protocol/issues.ts';
import { LIMITS, PASSWORD_MAX } from '../protocol/limits.ts';
import { nameSchema, settingsSchema, validRoomId } from '../protocol/signaling.ts';
import { LockstepError } from './errors.ts';
import type { JoinOptions, RoomSettings } from './types.ts';

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
}

const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x);

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
  };
}

/** The server's own schema; only the settings given are kept (the server fills in the rest). */
function checkSettings(x: unknown, errors: string[]): Partial<RoomSettings> | null {
  if (x === undefined || x === null) return null;
  const checked = v.safeParse(settingsSchema, x);
  if (!checked.success) {
    errors.push(describeIssues(checked.issues, 'settings'));
    return null;
  }
  const given = x as Partial<RoomSettings>;
  const out: Partial<RoomSettings> = {};
  if (given.heartbeatMs !== undefined) out.heartbeatMs = checked.output.heartbeatMs;
  if (given.timeoutMs !== undefined) out.timeoutMs = checked.output.timeoutMs;
  if (given.stages !== undefined) out.stages = checked.output.stages;
  return Object.keys(out).length > 0 ? out : null;
}
