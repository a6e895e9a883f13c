// Turns an environment (index.ts passes process.env) into checked server settings.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { LIMITS } from '../../client/src/protocol/limits.ts';
import { iceServerProblem } from '../../client/src/protocol/signaling.ts';
import { originProblem } from './options.ts';
import { trustEntryProblem } from './proxy.ts';
import { REDIS_DEFAULTS } from './redis.ts';
import { DEFAULTS, MAX_HTTP_BUFFER_BYTES } from './server.ts';
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
  GRACE_MS: integer(DEFAULTS.graceMs, 0, 24 * 60 * 60 * 1000),
  MAX_MEMBERS: integer(DEFAULTS.maxMembers, 1, LIMITS.members.max),
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
  RATE_LIMIT_PER_SEC: integer(DEFAULTS.rateLimit.perSecond, 1, 100_000),
  RATE_LIMIT_BURST: integer(DEFAULTS.rateLimit.burst, 1, 100_000),
  // A burst below one full frame would refuse the largest legitimate message forever.
  RATE_LIMIT_BYTES_PER_SEC: integer(DEFAULTS.rateLimit.bytesPerSecond, 1_024, 1_073_741_824),
  RATE_LIMIT_BYTES_BURST: integer(DEFAULTS.rateLimit.bytesBurst, MAX_HTTP_BUFFER_BYTES, 1_073_741_824),
  RATE_LIMIT_STRIKES: integer(DEFAULTS.rateLimit.strikes, 1, 100_000),
  RATE_LIMIT_STRIKE_WINDOW_MS: integer(DEFAULTS.rateLimit.strikeWindowMs, 100, 3_600_000),
  IP_RATE_LIMIT_PER_SEC: integer(DEFAULTS.addressRateLimit.perSecond, 1, 10_000_000),
  IP_RATE_LIMIT_BURST: integer(DEFAULTS.addressRateLimit.burst, 1, 10_000_000),
  IP_RATE_LIMIT_BYTES_PER_SEC: integer(DEFAULTS.addressRateLimit.bytesPerSecond, 1_024, 1_073_741_824),
  IP_RATE_LIMIT_BYTES_BURST: integer(
    DEFAULTS.addressRateLimit.bytesBurst,
    MAX_HTTP_BUFFER_BYTES,
    1_073_741_824,
  ),
  RECIPIENT_BUFFER_BYTES: integer(DEFAULTS.recipientBufferBytes, MAX_HTTP_BUFFER_BYTES, 1_073_741_824),
  MAX_SESSIONS_PER_IP_PER_ROOM: integer(DEFAULTS.maxSessionsPerIpPerRoom, 1, 10_000),
  MAX_ROOMS_PER_IP: integer(DEFAULTS.maxRoomsPerIp, 1, 1_000_000),
  MAX_ROOMS: integer(DEFAULTS.maxRooms, 1, 10_000_000),
  GRACE_TOTAL_MS: integer(DEFAULTS.graceTotalMs, 0, 7 * 24 * 60 * 60 * 1000),
  ROOM_JOINS_PER_SEC: integer(DEFAULTS.roomJoinsPerSec, 1, 100_000),
  ROOM_JOIN_BURST: integer(DEFAULTS.roomJoinBurst, 1, 1_000_000),
  PASSWORD_ATTEMPTS_PER_IP: integer(AttemptThrottle.ADDRESS_DEFAULTS.free, 1, 1_000_000),
  PASSWORD_ATTEMPTS_PER_ROOM: integer(AttemptThrottle.ROOM_DEFAULTS.free, 1, 1_000_000),
  PASSWORD_WINDOW_MS: integer(AttemptThrottle.ADDRESS_DEFAULTS.windowMs, 1_000, 7 * 24 * 60 * 60 * 1000),
  METRICS_PORT: integer(0, 0, 65_535).transform((port) => (port === 0 ? undefined : port)),
  METRICS_TOKEN: secret('a password'),
  METRICS_HOST: z.string().trim().optional(),
  SERVE_SOURCE_MAPS: boolean,
  MAX_JOINS_PER_SOCKET: integer(DEFAULTS.maxJoinsPerSocket, 1, 100_000),
  MAX_SOCKETS_PER_IP: integer(DEFAULTS.maxSocketsPerIp, 1, 1_000_000),
  MAX_CONNECTIONS: integer(DEFAULTS.maxConnections, 1, 1_000_000),
  PING_INTERVAL_MS: integer(DEFAULTS.pingIntervalMs, 1_000, 60_000),
  PING_TIMEOUT_MS: integer(DEFAULTS.pingTimeoutMs, 1_000, 60_000),
  SHUTDOWN_RECONNECT_MS: integer(DEFAULTS.shutdownReconnectMs, 0, 60_000),
  RESTART_HOLD_MS: integer(4_000, 0, 60_000),
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
