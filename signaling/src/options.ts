// Checks createSignalingServer's options by the rules and bounds the environment gets (config.ts): an app passes
// `Number(process.env.X)` as readily as a number, and a NaN limit would switch a protection off unseen.

import { LIMITS } from '../../client/src/protocol/limits.ts';
// What a browser's RTCPeerConnection would refuse, for every player's every link: then each one would fall
// back to relaying through this server. One rule, the tabs' own.
import { iceServerProblem } from '../../client/src/protocol/signaling.ts';

import { trustEntryProblem } from './proxy.ts';

/**
 * The largest socket.io frame a client may send; a larger one closes its connection before it is parsed.
 * Measured (e2e password, catch-up and basics specs, lockstep_largest_frame_bytes): the largest frame
 * browsers sent was 794 bytes, a sealed SDP offer. But the contract lets a relay carry
 * LIMITS.relayBatch.bytes (16 KiB) of data, and in a room without a password that data is JSON text whose
 * quotes the frame escapes again: at most twice its size. So the cut sits just above the largest frame
 * the contract allows, 2 × 16 KiB plus the envelope (`421["relay",{"frames":[{"to":…,"data":"…"},…]}]`,
 * under 30 B a frame, 32 frames at most), not at the SDP's size, which would cut legitimate relays and
 * close honest connections.
 */
export const MAX_HTTP_BUFFER_BYTES = 2 * LIMITS.payloadBytes + 1024;

const DAY_MS = 24 * 60 * 60 * 1000;
const GIB = 1_073_741_824;

/** Each whole-number option's bounds; the environment's variables (config.ts) take the same ones. */
export const BOUNDS = {
  graceMs: [0, DAY_MS],
  maxMembers: [1, LIMITS.members.max],
  maxSessionsPerIpPerRoom: [1, 10_000],
  maxRoomsPerIp: [1, 1_000_000],
  maxRooms: [1, 10_000_000],
  graceTotalMs: [0, 7 * DAY_MS],
  reopenProtectMs: [0, 7 * DAY_MS],
  roomJoinsPerSec: [1, 100_000],
  roomJoinBurst: [1, 1_000_000],
  // Below one full frame, every relay to a recipient with anything queued would be dropped.
  recipientBufferBytes: [MAX_HTTP_BUFFER_BYTES, GIB],
  maxJoinsPerSocket: [1, 10_000_000],
  maxSocketsPerIp: [1, 1_000_000],
  maxConnections: [1, 1_000_000],
  pingIntervalMs: [1_000, 60_000],
  pingTimeoutMs: [1_000, 60_000],
  maxHttpBufferBytes: [1, GIB],
  shutdownReconnectMs: [0, 60_000],
  restartHoldMs: [0, 60_000],
  shutdownDrainMs: [0, 60_000],
} as const satisfies Record<string, readonly [number, number]>;

/** `rateLimit` (per connection) and `addressRateLimit` (per address). */
export const RATE_BOUNDS = {
  perSecond: [1, 10_000_000],
  burst: [1, 10_000_000],
  bytesPerSecond: [1_024, GIB],
  // A burst below one full frame would refuse the largest legitimate message forever.
  bytesBurst: [MAX_HTTP_BUFFER_BYTES, GIB],
  strikes: [1, 10_000_000],
  strikeWindowMs: [100, 3_600_000],
} as const;

/** `passwordThrottle.address` and `.room`. */
export const THROTTLE_BOUNDS = {
  free: [1, 1_000_000],
  windowMs: [1_000, 7 * DAY_MS],
  maxBackoffMs: [1, DAY_MS],
} as const;

const OTHER = [
  'addressRateLimit',
  'rateLimit',
  'passwordThrottle',
  'publicOrigin',
  'web',
  'limiterRedis',
  'allowedOrigins',
  'iceServers',
  'trustProxy',
  'roomSecret',
  'staticDir',
  'fallback',
  'httpRoutes',
  'sharedUpgrades',
  'processMetrics',
  'logger',
  'clock',
  'store',
  'adapter',
];
const KNOWN = new Set([...Object.keys(BOUNDS), ...OTHER]);

/** A browser origin: scheme, host, optional port, nothing else. */
export function originProblem(origin: string): string | null {
  let parsed: URL | undefined;
  try {
    parsed = new URL(origin);
  } catch {}
  if (!parsed || parsed.origin !== origin || !/^https?:$/.test(parsed.protocol))
    return `"${origin}" is not an origin like https://example.com (scheme, host, optional port, no path)`;
  return null;
}

const isWhole = (x: unknown, [min, max]: readonly [number, number]) =>
  typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max;

function checkNumbers(
  o: Record<string, unknown>,
  bounds: Record<string, readonly [number, number]>,
  prefix: string,
  problems: string[],
): void {
  for (const [k, b] of Object.entries(bounds))
    if (o[k] !== undefined && !isWhole(o[k], b))
      problems.push(
        `${prefix}${k} must be a whole number from ${b[0]} to ${b[1]}, got ${String(o[k]).slice(0, 40)}`,
      );
}

function checkNested(
  x: unknown,
  bounds: Record<string, readonly [number, number]>,
  name: string,
  problems: string[],
): void {
  if (x === undefined) return;
  if (typeof x !== 'object' || x === null) {
    problems.push(`${name} must be an object`);
    return;
  }
  const unknown = Object.keys(x).filter((k) => !(k in bounds));
  if (unknown.length > 0) problems.push(`${name} has unknown key(s): ${unknown.slice(0, 5).join(', ')}`);
  checkNumbers(x as Record<string, unknown>, bounds, `${name}.`, problems);
}

/**
 * Every problem with the options at once, or nothing; throws a TypeError naming them. `defaults` are the grace
 * values an option left out stands for, checked against each other as GRACE_MS and GRACE_TOTAL_MS are.
 */
export function checkServerOptions(
  input: unknown,
  defaults: { graceMs: number; graceTotalMs: number } = {
    graceMs: 0,
    graceTotalMs: Number.POSITIVE_INFINITY,
  },
): void {
  const problems: string[] = [];
  if (typeof input !== 'object' || input === null)
    throw new TypeError('createSignalingServer: options must be an object');
  const o = input as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !KNOWN.has(k));
  if (unknown.length > 0) problems.push(`unknown option(s): ${unknown.slice(0, 5).join(', ')}`);
  checkNumbers(o, BOUNDS, '', problems);
  checkNested(o.rateLimit, RATE_BOUNDS, 'rateLimit', problems);
  checkNested(o.addressRateLimit, RATE_BOUNDS, 'addressRateLimit', problems);
  if (o.passwordThrottle !== undefined) {
    if (typeof o.passwordThrottle !== 'object' || o.passwordThrottle === null)
      problems.push('passwordThrottle must be an object');
    else {
      const t = o.passwordThrottle as Record<string, unknown>;
      const extra = Object.keys(t).filter((k) => k !== 'address' && k !== 'room');
      if (extra.length > 0) problems.push(`passwordThrottle has unknown key(s): ${extra.join(', ')}`);
      checkNested(t.address, THROTTLE_BOUNDS, 'passwordThrottle.address', problems);
      checkNested(t.room, THROTTLE_BOUNDS, 'passwordThrottle.room', problems);
    }
  }
  const origins = o.allowedOrigins;
  if (origins !== undefined && origins !== '*') {
    // A string would be matched as a substring: https://app.example.co would pass for https://app.example.com.
    if (!Array.isArray(origins)) problems.push(`allowedOrigins must be '*' or a list of origins`);
    else
      for (const origin of origins) {
        const problem = typeof origin === 'string' ? originProblem(origin) : 'an origin must be a string';
        if (problem) problems.push(`allowedOrigins: ${problem}`);
      }
  }
  if (o.publicOrigin !== undefined) {
    const problem = typeof o.publicOrigin === 'string' ? originProblem(o.publicOrigin) : 'must be a string';
    if (problem) problems.push(`publicOrigin: ${problem}`);
  }
  if (o.trustProxy !== undefined) {
    if (!Array.isArray(o.trustProxy)) problems.push('trustProxy must be a list of addresses or CIDRs');
    else
      for (const entry of o.trustProxy) {
        const problem = typeof entry === 'string' ? trustEntryProblem(entry) : 'an entry must be a string';
        if (problem) problems.push(`trustProxy: ${problem}`);
      }
  }
  if (o.iceServers !== undefined) {
    const ice = LIMITS.iceServers;
    if (!Array.isArray(o.iceServers) || o.iceServers.length > ice.max)
      problems.push(`iceServers must be a list of at most ${ice.max} RTCIceServer objects`);
    else
      for (const s of o.iceServers as unknown[]) {
        const server = s as { urls?: unknown; username?: unknown; credential?: unknown };
        const urls = server?.urls;
        const list = Array.isArray(urls) ? urls : [urls];
        const texts = [...list, server?.username, server?.credential].filter((t) => t !== undefined);
        if (
          typeof s !== 'object' ||
          s === null ||
          list.length === 0 ||
          list.length > ice.urls ||
          !list.every((u) => typeof u === 'string' && u.length > 0) ||
          !texts.every((t) => typeof t === 'string' && t.length <= ice.chars)
        ) {
          problems.push(
            `iceServers: each is { urls, username?, credential? } of strings up to ${ice.chars} characters`,
          );
          continue;
        }
        const problem = iceServerProblem(server as { urls: string | string[] });
        if (problem) problems.push(`iceServers: ${problem}`);
      }
  }
  for (const flag of ['httpRoutes', 'sharedUpgrades', 'processMetrics'] as const)
    if (o[flag] !== undefined && typeof o[flag] !== 'boolean') problems.push(`${flag} must be true or false`);
  for (const text of ['roomSecret', 'staticDir'] as const)
    if (o[text] !== undefined && typeof o[text] !== 'string') problems.push(`${text} must be a string`);
  if (typeof o.roomSecret === 'string' && o.roomSecret.length < 16)
    problems.push('roomSecret must be at least 16 characters');
  const graceMs = o.graceMs ?? defaults.graceMs;
  const graceTotalMs = o.graceTotalMs ?? defaults.graceTotalMs;
  // The total caps each grace: a longer graceMs would be promised to clients and cut short.
  if (typeof graceMs === 'number' && typeof graceTotalMs === 'number' && graceMs > graceTotalMs)
    problems.push(`graceMs (${graceMs}) must not exceed graceTotalMs (${graceTotalMs}): raise both`);
  if (o.logger !== undefined) {
    const logger = o.logger as Record<string, unknown> | null;
    const missing = ['debug', 'info', 'warn', 'error'].filter((m) => typeof logger?.[m] !== 'function');
    if (missing.length > 0) problems.push(`logger must be a pino logger (it has no ${missing.join(', ')})`);
  }
  if (o.adapter !== undefined && o.store === undefined)
    problems.push('adapter needs store: without a shared store every node keeps rooms of its own');
  if (problems.length > 0) throw new TypeError(`createSignalingServer: ${problems.join('; ')}`);
}
