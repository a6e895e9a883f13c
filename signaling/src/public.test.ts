import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readConfig } from './config.ts';
import { createSignalingServer, type SignalingOptions, type SignalingServer } from './public.ts';
import { connect, expectOk } from './testing.ts';

let handle: SignalingServer | undefined;
afterEach(async () => {
  await handle?.close();
  handle = undefined;
});

describe('lockstep/server', () => {
  it('attaches to an existing HTTP server and leaves its other requests to it', async () => {
    const http = createServer((req, res) => res.end(`app: ${req.url}`));
    handle = createSignalingServer(http, {});
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    expect(await (await fetch(`${url}/hello`)).text()).toBe('app: /hello');
    const client = await connect(url);
    const joined = expectOk(await client.join({ room: 'r', name: 'a' }));
    expect(joined.id).toBe(1);
    client.close();
  });

  it('leaves the app its requests when httpRoutes is given as undefined, and refuses httpRoutes over an app', async () => {
    const http = createServer(async (req, res) => {
      await new Promise((r) => setTimeout(r, 5));
      res.end(`app: ${req.url}`);
    });
    expect(() => createSignalingServer(http, { httpRoutes: true })).toThrow(/already has a request handler/);
    handle = createSignalingServer(http, { httpRoutes: undefined });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    expect(await (await fetch(`${url}/api/users`)).text()).toBe('app: /api/users');
    // A second signaling server on the same HTTP server would fight the first over every upgrade.
    expect(() => createSignalingServer(http, {})).toThrow(/already has signaling/);
  });

  it.each<[string, SignalingOptions | undefined]>([
    ['maxMembers', { maxMembers: Number.NaN }],
    ['rateLimit.perSecond', { rateLimit: { perSecond: -1 } }],
    ['passwordThrottle.address.free', { passwordThrottle: { address: { free: 1.5 } } }],
    ['pingIntervalMs', { pingIntervalMs: 3e9 }],
    ['graceMs', { graceMs: 1500.5 }],
    ['reopenProtectMs must be a whole number from 0', { reopenProtectMs: -1 }],
    ['allowedOrigins', { allowedOrigins: 'https://app.example.com' as never }],
    ['allowedOrigins', { allowedOrigins: ['https://app.example.com/'] }],
    ['publicOrigin', { publicOrigin: 'https://play.example/' }],
    ['trustProxy', { trustProxy: true as never }],
    ['trustProxy', { trustProxy: ['proxy.internal'] }],
    ['iceServers', { iceServers: [{ urls: 'foo' }] }],
    ['needs a username', { iceServers: [{ urls: 'turn:t.example:3478' }] }],
    ['iceServers', { iceServers: {} as never }],
    ['unknown option(s): maxMember', { maxMember: 2 } as never],
    ['adapter needs store', { adapter: (() => {}) as never }],
    ['options must be an object', null as never],
    // As GRACE_MS and GRACE_TOTAL_MS are: the total would cut every grace short.
    ['graceMs (8000) must not exceed graceTotalMs (1000)', { graceMs: 8_000, graceTotalMs: 1_000 }],
    ['graceMs (120000) must not exceed graceTotalMs (60000)', { graceMs: 120_000 }],
    ['logger must be a pino logger (it has no debug, info, warn, error)', { logger: {} as never }],
    // The environment's floors (config.ts) hold here too: a burst or buffer below one full frame refuses honest frames.
    ['rateLimit.bytesBurst must be a whole number from 33792', { rateLimit: { bytesBurst: 1 } }],
    [
      'addressRateLimit.bytesPerSecond must be a whole number from 1024',
      { addressRateLimit: { bytesPerSecond: 10 } },
    ],
    ['recipientBufferBytes must be a whole number from 33792', { recipientBufferBytes: 1 }],
    [
      'passwordThrottle.room.windowMs must be a whole number from 1000',
      { passwordThrottle: { room: { windowMs: 5 } } },
    ],
  ])('refuses a bad %s at once, naming it', (what, options) => {
    const http = createServer();
    expect(() => createSignalingServer(http, options)).toThrow(what);
  });

  it('takes an undefined limit as its default, and a missing HTTP server is a clear error', async () => {
    const http = createServer();
    handle = createSignalingServer(http, { maxMembers: undefined, rateLimit: { perSecond: undefined } });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const client = await connect(url);
    expect(expectOk(await client.join({ room: 'r', name: 'a' })).id).toBe(1);
    client.close();
    expect(() => createSignalingServer(undefined as never)).toThrow(/must be an http.Server/);
  });

  it('the environment refuses ICE servers a browser would refuse', () => {
    expect(() => readConfig({ ICE_SERVERS: '[{"urls":"foo"}]' })).toThrow(/stun:, stuns:, turn: or turns:/);
    expect(() => readConfig({ ICE_SERVERS: '[{"urls":"turns:t.example:5349"}]' })).toThrow(/username/);
  });
});
