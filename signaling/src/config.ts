// Turns an environment (index.ts passes process.env) into checked server settings.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { LIMITS } from '../../client/src/protocol/limits.ts';
import { iceServerProblem } from '../../client/src/protocol/signaling.ts';
import { BOUNDS, originProblem, RATE_BOUNDS, THROTTLE_BOUNDS } from './options.ts';
import { trustEntryProblem } from './proxy.ts';
import { REDIS_DEFAULTS } from './redis.ts';
import { DEFAULTS } from './server.ts';
import { AttemptThrottle } from './throttle.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

const integer = (fallback: number, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return fallback;
      // Digits only: Number() would also read 0x4857 and 1e3.
      const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
      if (!Number.isInteger(value) || value < min || value > max) {
        ctx.addIssue({
          code: 'custom',
          message: `must be a whole number from ${min} to ${max}, got "${raw}"`,
        });
        return z.NEVER;
      }
      return value;
    });

/** An optional secret; empty means unset, and a short one is refused rather than trusted. */
const secret = (what: string) =>
  z
    .string()
    .trim()
    .optional()
    .transform((raw) => (raw === '' ? undefined : raw))
    .pipe(z.string().min(16, `must be at least 16 characters (it is ${what})`).optional());

const boolean = z
  .string()
  .trim()
  .toLowerCase()
  .optional()
  .transform((raw, ctx) => {
    if (raw === undefined || raw === '' || raw === '0' || raw === 'false' || raw === 'no') return false;
    if (raw === '1' || raw === 'true' || raw === 'yes') return true;
    ctx.addIssue({ code: 'custom', message: `must be true or false, got "${raw}"` });
    return z.NEVER;
  });

// The bounds the client holds a join's answer to (protocol/limits.ts): a deployment past them fails here, at start.
const { iceServers: ICE } = LIMITS;
const iceText = () => z.string().max(ICE.chars);
const iceServerSchema = z
  .strictObject({
    urls: z.union([iceText().min(1), z.array(iceText().min(1)).min(1).max(ICE.urls)]),
    username: iceText().optional(),
    credential: iceText().optional(),
  })
  .superRefine((server, ctx) => {
    const problem = iceServerProblem(server);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

const envSchema = z.object({
  PORT: integer(8080, 0, 65_535),
  HOST: z.string().trim().optional(),
  GRACE_MS: integer(DEFAULTS.graceMs, ...BOUNDS.graceMs),
  MAX_MEMBERS: integer(DEFAULTS.maxMembers, ...BOUNDS.maxMembers),
  ALLOWED_ORIGINS: z
    .string()
    .optional()
    .transform((raw, ctx): string[] | '*' => {
      const list = (raw ?? '')
        .split(',')
        .map((origin) => origin.trim())
        .filter(Boolean);
      if (list.includes('*')) return '*';
      for (const origin of list) {
        const problem = originProblem(origin);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }
      return list;
    }),
  PUBLIC_ORIGIN: z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return undefined;
      const problem = originProblem(raw);
      if (problem) {
        ctx.addIssue({ code: 'custom', message: problem });
        return z.NEVER;
      }
      return raw;
    }),
  ICE_SERVERS: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return [];
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON array of RTCIceServer objects' });
        return z.NEVER;
      }
    })
    .pipe(
      z
        .array(iceServerSchema, { error: 'must be a JSON array of RTCIceServer objects' })
        .max(ICE.max, `must list at most ${ICE.max} servers`),
    ),
  TRUST_PROXY: z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx): string[] => {
      if (raw === undefined || raw === '' || raw.toLowerCase() === 'false') return [];
      if (raw.toLowerCase() === 'true') {
        ctx.addIssue({
          code: 'custom',
          message:
            'takes the addresses or CIDRs of the proxies to trust (e.g. 10.0.0.5 or 10.0.0.0/8,::1), no longer "true": anyone reaching the node directly could forge X-Forwarded-For',
        });
        return z.NEVER;
      }
      const list = raw
        .split(',')
        .map((entry) => entry.trim())
        .filter(Boolean);
      for (const entry of list) {
        const problem = trustEntryProblem(entry);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }
      return list;
    }),
  RATE_LIMIT_PER_SEC: integer(DEFAULTS.rateLimit.perSecond, ...RATE_BOUNDS.perSecond),
  RATE_LIMIT_BURST: integer(DEFAULTS.rateLimit.burst, ...RATE_BOUNDS.burst),
  RATE_LIMIT_BYTES_PER_SEC: integer(DEFAULTS.rateLimit.bytesPerSecond, ...RATE_BOUNDS.bytesPerSecond),
  RATE_LIMIT_BYTES_BURST: integer(DEFAULTS.rateLimit.bytesBurst, ...RATE_BOUNDS.bytesBurst),
  RATE_LIMIT_STRIKES: integer(DEFAULTS.rateLimit.strikes, ...RATE_BOUNDS.strikes),
  RATE_LIMIT_STRIKE_WINDOW_MS: integer(DEFAULTS.rateLimit.strikeWindowMs, ...RATE_BOUNDS.strikeWindowMs),
  IP_RATE_LIMIT_PER_SEC: integer(DEFAULTS.addressRateLimit.perSecond, ...RATE_BOUNDS.perSecond),
  IP_RATE_LIMIT_BURST: integer(DEFAULTS.addressRateLimit.burst, ...RATE_BOUNDS.burst),
  IP_RATE_LIMIT_BYTES_PER_SEC: integer(
    DEFAULTS.addressRateLimit.bytesPerSecond,
    ...RATE_BOUNDS.bytesPerSecond,
  ),
  IP_RATE_LIMIT_BYTES_BURST: integer(DEFAULTS.addressRateLimit.bytesBurst, ...RATE_BOUNDS.bytesBurst),
  RECIPIENT_BUFFER_BYTES: integer(DEFAULTS.recipientBufferBytes, ...BOUNDS.recipientBufferBytes),
  MAX_SESSIONS_PER_IP_PER_ROOM: integer(DEFAULTS.maxSessionsPerIpPerRoom, ...BOUNDS.maxSessionsPerIpPerRoom),
  MAX_ROOMS_PER_IP: integer(DEFAULTS.maxRoomsPerIp, ...BOUNDS.maxRoomsPerIp),
  MAX_ROOMS: integer(DEFAULTS.maxRooms, ...BOUNDS.maxRooms),
  GRACE_TOTAL_MS: integer(DEFAULTS.graceTotalMs, ...BOUNDS.graceTotalMs),
  REOPEN_PROTECT_MS: integer(DEFAULTS.reopenProtectMs, ...BOUNDS.reopenProtectMs),
  ROOM_JOINS_PER_SEC: integer(DEFAULTS.roomJoinsPerSec, ...BOUNDS.roomJoinsPerSec),
  ROOM_JOIN_BURST: integer(DEFAULTS.roomJoinBurst, ...BOUNDS.roomJoinBurst),
  PASSWORD_ATTEMPTS_PER_IP: integer(AttemptThrottle.ADDRESS_DEFAULTS.free, ...THROTTLE_BOUNDS.free),
  PASSWORD_ATTEMPTS_PER_ROOM: integer(AttemptThrottle.ROOM_DEFAULTS.free, ...THROTTLE_BOUNDS.free),
  PASSWORD_WINDOW_MS: integer(AttemptThrottle.ADDRESS_DEFAULTS.windowMs, ...THROTTLE_BOUNDS.windowMs),
  METRICS_PORT: integer(0, 0, 65_535).transform((port) => (port === 0 ? undefined : port)),
  METRICS_TOKEN: secret('a password'),
  METRICS_HOST: z.string().trim().optional(),
  SERVE_SOURCE_MAPS: boolean,
  MAX_JOINS_PER_SOCKET: integer(DEFAULTS.maxJoinsPerSocket, ...BOUNDS.maxJoinsPerSocket),
  MAX_SOCKETS_PER_IP: integer(DEFAULTS.maxSocketsPerIp, ...BOUNDS.maxSocketsPerIp),
  MAX_CONNECTIONS: integer(DEFAULTS.maxConnections, ...BOUNDS.maxConnections),
  PING_INTERVAL_MS: integer(DEFAULTS.pingIntervalMs, ...BOUNDS.pingIntervalMs),
  PING_TIMEOUT_MS: integer(DEFAULTS.pingTimeoutMs, ...BOUNDS.pingTimeoutMs),
  SHUTDOWN_RECONNECT_MS: integer(DEFAULTS.shutdownReconnectMs, ...BOUNDS.shutdownReconnectMs),
  RESTART_HOLD_MS: integer(4_000, ...BOUNDS.restartHoldMs),
  ROOM_SECRET: secret('a key'),
  REDIS_URL: z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return undefined;
      let url: URL | undefined;
      try {
        url = new URL(raw);
      } catch {}
      if (!url || (url.protocol !== 'redis:' && url.protocol !== 'rediss:')) {
        ctx.addIssue({ code: 'custom', message: 'must be a URL like redis://host:6379 or rediss://…' });
        return z.NEVER;
      }
      return raw;
    }),
  REDIS_PREFIX: z
    .string()
    .trim()
    .optional()
    .transform((raw) => raw || REDIS_DEFAULTS.prefix)
    .pipe(z.string().regex(/^\S+$/, 'must not contain whitespace')),
  NODE_TTL_MS: integer(REDIS_DEFAULTS.nodeTtlMs, 300, 600_000),
  SWEEP_INTERVAL_MS: integer(REDIS_DEFAULTS.sweepIntervalMs, 50, 60_000),
  STATIC_DIR: z
    .string()
    .trim()
    .optional()
    .transform((raw) => path.resolve(repoRoot, raw || 'dist/client')),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'must be one of fatal, error, warn, info, debug, trace, silent',
    })
    .optional()
    .default('info'),
});

export type Config = z.output<typeof envSchema>;

export class ConfigError extends Error {}

export function readConfig(env: Record<string, string | undefined>): Config {
  const result = envSchema.safeParse(env);
  if (result.success) {
    const c = result.data;
    // The total caps each grace: a longer GRACE_MS would be promised to clients and cut short.
    if (c.GRACE_MS > c.GRACE_TOTAL_MS)
      throw new ConfigError(
        `invalid configuration:\n  GRACE_MS (${c.GRACE_MS}) must not exceed GRACE_TOTAL_MS (${c.GRACE_TOTAL_MS}): raise both`,
      );
    return c;
  }
  const problems = result.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`);
  throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
}
