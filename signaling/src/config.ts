// Turns an environment (index.ts passes process.env) into checked server settings.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { REDIS_DEFAULTS } from './redis.ts';
import { DEFAULTS } from './server.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

const integer = (fallback: number, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return fallback;
      const value = Number(raw);
      if (!Number.isInteger(value) || value < min || value > max) {
        ctx.addIssue({
          code: 'custom',
          message: `must be a whole number from ${min} to ${max}, got "${raw}"`,
        });
        return z.NEVER;
      }
      return value;
    });

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

const iceServerSchema = z.strictObject({
  urls: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  username: z.string().optional(),
  credential: z.string().optional(),
});

const envSchema = z.object({
  PORT: integer(8080, 0, 65_535),
  HOST: z.string().trim().optional(),
  GRACE_MS: integer(DEFAULTS.graceMs, 0, 24 * 60 * 60 * 1000),
  MAX_MEMBERS: integer(DEFAULTS.maxMembers, 1, 10_000),
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
        let parsed: URL | undefined;
        try {
          parsed = new URL(origin);
        } catch {}
        if (!parsed || parsed.origin !== origin) {
          ctx.addIssue({
            code: 'custom',
            message: `"${origin}" is not an origin like https://example.com (scheme, host, optional port, no path)`,
          });
        }
      }
      return list;
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
    .pipe(z.array(iceServerSchema, { error: 'must be a JSON array of RTCIceServer objects' })),
  TRUST_PROXY: boolean,
  RATE_LIMIT_PER_SEC: integer(DEFAULTS.rateLimit.perSecond, 1, 100_000),
  RATE_LIMIT_BURST: integer(DEFAULTS.rateLimit.burst, 1, 100_000),
  RATE_LIMIT_STRIKES: integer(DEFAULTS.rateLimit.strikes, 1, 100_000),
  MAX_JOINS_PER_SOCKET: integer(DEFAULTS.maxJoinsPerSocket, 1, 100_000),
  MAX_SOCKETS_PER_IP: integer(DEFAULTS.maxSocketsPerIp, 1, 1_000_000),
  MAX_CONNECTIONS: integer(DEFAULTS.maxConnections, 1, 1_000_000),
  PING_INTERVAL_MS: integer(DEFAULTS.pingIntervalMs, 1_000, 60_000),
  PING_TIMEOUT_MS: integer(DEFAULTS.pingTimeoutMs, 1_000, 60_000),
  SHUTDOWN_RECONNECT_MS: integer(DEFAULTS.shutdownReconnectMs, 0, 60_000),
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
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`);
  throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
}
