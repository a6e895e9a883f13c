import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, readConfig } from './config.ts';

describe('readConfig', () => {
  it('has documented defaults for an empty environment', () => {
    const config = readConfig({});
    expect(config).toMatchObject({
      PORT: 8080,
      GRACE_MS: 15_000,
      MAX_MEMBERS: 50,
      ALLOWED_ORIGINS: [],
      ICE_SERVERS: [],
      TRUST_PROXY: [],
      RATE_LIMIT_PER_SEC: 400,
      RATE_LIMIT_BURST: 800,
      RATE_LIMIT_STRIKES: 50,
      MAX_JOINS_PER_SOCKET: 20,
      MAX_SOCKETS_PER_IP: 100,
      MAX_CONNECTIONS: 10_000,
      PING_INTERVAL_MS: 4_000,
      PING_TIMEOUT_MS: 4_000,
      SHUTDOWN_RECONNECT_MS: 1_000,
      LOG_LEVEL: 'info',
      MAX_SESSIONS_PER_IP_PER_ROOM: 32,
      MAX_ROOMS_PER_IP: 50,
      MAX_ROOMS: 5_000,
      GRACE_TOTAL_MS: 60_000,
      REOPEN_PROTECT_MS: 5 * 60_000,
      ROOM_JOINS_PER_SEC: 5,
      ROOM_JOIN_BURST: 50,
      RATE_LIMIT_BYTES_PER_SEC: 256 * 1024,
      RATE_LIMIT_BYTES_BURST: 1024 * 1024,
      RATE_LIMIT_STRIKE_WINDOW_MS: 10_000,
      IP_RATE_LIMIT_PER_SEC: 4_000,
      IP_RATE_LIMIT_BURST: 8_000,
      IP_RATE_LIMIT_BYTES_PER_SEC: 4 * 1024 * 1024,
      IP_RATE_LIMIT_BYTES_BURST: 8 * 1024 * 1024,
      RECIPIENT_BUFFER_BYTES: 1024 * 1024,
      PASSWORD_ATTEMPTS_PER_IP: 10,
      PASSWORD_ATTEMPTS_PER_ROOM: 30,
      PASSWORD_WINDOW_MS: 15 * 60_000,
      SERVE_SOURCE_MAPS: false,
    });
    expect(config.PUBLIC_ORIGIN).toBeUndefined();
    expect(config.METRICS_PORT).toBeUndefined();
    expect(config.METRICS_TOKEN).toBeUndefined();
    expect(config.ROOM_SECRET).toBeUndefined();
    expect(config.HOST).toBeUndefined();
    expect(config.STATIC_DIR).toBe(path.resolve(import.meta.dirname, '../../dist/client'));
  });

  it('parses lists, JSON and booleans', () => {
    const config = readConfig({
      PORT: '0',
      ALLOWED_ORIGINS: 'https://a.example, http://localhost:5173',
      ICE_SERVERS: '[{"urls":["turn:t.example:3478"],"username":"u","credential":"c"}]',
      TRUST_PROXY: '10.0.0.5, 10.1.0.0/16,::1',
      LOG_LEVEL: 'debug',
    });
    expect(config.ALLOWED_ORIGINS).toEqual(['https://a.example', 'http://localhost:5173']);
    expect(config.ICE_SERVERS).toEqual([{ urls: ['turn:t.example:3478'], username: 'u', credential: 'c' }]);
    expect(config.TRUST_PROXY).toEqual(['10.0.0.5', '10.1.0.0/16', '::1']);
    expect(() => readConfig({ TRUST_PROXY: 'true' })).toThrow(/TRUST_PROXY takes the addresses or CIDRs/);
    expect(() => readConfig({ TRUST_PROXY: '10.0.0.0/33' })).toThrow(/TRUST_PROXY .*prefix length/);
    expect(readConfig({ ALLOWED_ORIGINS: 'https://a.example,*' }).ALLOWED_ORIGINS).toBe('*');
  });

  it('leaves Redis off by default and checks its settings when given', () => {
    const plain = readConfig({});
    expect(plain.REDIS_URL).toBeUndefined();
    expect(plain).toMatchObject({ REDIS_PREFIX: 'lockstep:', NODE_TTL_MS: 10_000, SWEEP_INTERVAL_MS: 1_000 });
    const multi = readConfig({
      REDIS_URL: 'redis://127.0.0.1:6380/2',
      REDIS_PREFIX: 'game:',
      NODE_TTL_MS: '3000',
      SWEEP_INTERVAL_MS: '250',
    });
    expect(multi).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:6380/2',
      REDIS_PREFIX: 'game:',
      NODE_TTL_MS: 3_000,
      SWEEP_INTERVAL_MS: 250,
    });
    expect(() => readConfig({ REDIS_URL: 'http://127.0.0.1:6379' })).toThrow(/REDIS_URL/);
    expect(() => readConfig({ REDIS_PREFIX: 'two words' })).toThrow(/REDIS_PREFIX/);
    expect(() => readConfig({ NODE_TTL_MS: '10' })).toThrow(/NODE_TTL_MS/);
  });

  it('refuses ICE servers past the bounds a client holds a join answer to, at start rather than at every join', () => {
    const many = JSON.stringify(Array.from({ length: 65 }, () => ({ urls: 'stun:x.example' })));
    expect(() => readConfig({ ICE_SERVERS: many })).toThrow(/ICE_SERVERS must list at most 64 servers/);
    expect(() => readConfig({ ICE_SERVERS: JSON.stringify([{ urls: `stun:${'x'.repeat(5000)}` }]) })).toThrow(
      /ICE_SERVERS/,
    );
    expect(readConfig({ ICE_SERVERS: JSON.stringify(JSON.parse(many).slice(1)) }).ICE_SERVERS).toHaveLength(
      64,
    );
  });

  it('names every bad variable in one error', () => {
    const attempt = () =>
      readConfig({
        PORT: 'eighty',
        GRACE_MS: '-1',
        ALLOWED_ORIGINS: 'https://a.example/path',
        ICE_SERVERS: '{"urls":"stun:x"}',
        TRUST_PROXY: 'maybe',
        LOG_LEVEL: 'loud',
        PUBLIC_ORIGIN: 'https://a.example/app',
        METRICS_TOKEN: 'short',
        ROOM_SECRET: 'short',
        RATE_LIMIT_BYTES_BURST: '100',
      });
    expect(attempt).toThrow(ConfigError);
    const message = (() => {
      try {
        attempt();
        return '';
      } catch (err) {
        return (err as Error).message;
      }
    })();
    for (const name of [
      'PORT',
      'GRACE_MS',
      'ALLOWED_ORIGINS',
      'ICE_SERVERS',
      'TRUST_PROXY',
      'LOG_LEVEL',
      'PUBLIC_ORIGIN',
      'METRICS_TOKEN',
      'ROOM_SECRET',
      'RATE_LIMIT_BYTES_BURST',
    ]) {
      expect(message).toContain(name);
    }
  });

  it('reads whole numbers as digits only, and refuses a grace its total would cut short', () => {
    expect(() => readConfig({ PORT: '0x4857' })).toThrow(/PORT must be a whole number/);
    expect(() => readConfig({ GRACE_MS: '1e3' })).toThrow(/GRACE_MS must be a whole number/);
    expect(() => readConfig({ GRACE_MS: '120000' })).toThrow(/must not exceed GRACE_TOTAL_MS/);
    expect(readConfig({ GRACE_MS: '120000', GRACE_TOTAL_MS: '240000' }).GRACE_MS).toBe(120_000);
    expect(readConfig({ REOPEN_PROTECT_MS: '0' }).REOPEN_PROTECT_MS).toBe(0);
    expect(() => readConfig({ REOPEN_PROTECT_MS: '-1' })).toThrow(/REOPEN_PROTECT_MS must be a whole number/);
    expect(() => readConfig({ REOPEN_PROTECT_MS: String(8 * 86_400_000) })).toThrow(/REOPEN_PROTECT_MS/);
  });
});
