// simple-peer's source on the browser build's shims (not the npm packages they stand in for), run in Node over
// @roamhq/wrtc: a pair connects, messages cross both ways through the adapter, and either side's destroy
// closes both. Node's require is pointed at the shims for one fresh load of simple-peer.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import Module, { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import wrtc from '@roamhq/wrtc';
import type SimplePeer from 'simple-peer';
import { build, mergeConfig } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkFromSimplePeer } from '../simplePeerAdapter.ts';
import type { LinkEvents } from '../transport.ts';
import { browserSimplePeer } from './browserBuild.ts';

const require = createRequire(import.meta.url);
const shim = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const SHIMS: Record<string, string> = {
  'readable-stream': shim('./readable-stream.cjs'),
  buffer: shim('./buffer.cjs'),
  debug: shim('./debug.cjs'),
  randombytes: shim('./randombytes.cjs'),
};

type Resolve = (request: string, ...rest: unknown[]) => string;
const M = Module as unknown as { _resolveFilename: Resolve };
let Peer: typeof SimplePeer;
const loaded: string[] = [];

beforeAll(() => {
  const original = M._resolveFilename;
  M._resolveFilename = (request, ...rest) => {
    const to = SHIMS[request];
    if (to) loaded.push(request);
    return to ?? original(request, ...rest);
  };
  try {
    const entry = require.resolve('simple-peer');
    delete require.cache[entry];
    Peer = require(entry);
    delete require.cache[entry];
  } finally {
    M._resolveFilename = original;
  }
});

const peers: SimplePeer.Instance[] = [];
afterAll(() => {
  for (const p of peers) p.destroy();
});

function side(initiator: boolean) {
  const peer = new Peer({ initiator, trickle: true, wrtc, config: { iceServers: [] } });
  peers.push(peer);
  const got: string[] = [];
  const closed: string[] = [];
  let open = () => {};
  const opened = new Promise<void>((r) => {
    open = r;
  });
  let signal: (d: unknown) => void = () => {};
  const events: LinkEvents = {
    signal: (d) => signal(d),
    open: () => open(),
    data: (t) => got.push(t),
    close: (reason) => closed.push(reason),
  };
  const link = linkFromSimplePeer(peer, events);
  return { peer, link, got, closed, opened, onSignal: (fn: (d: unknown) => void) => (signal = fn) };
}

const until = async (ok: () => boolean, ms = 5_000) => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('simple-peer on the browser build shims', () => {
  it('loads through the shims, not the npm packages', () => {
    expect(new Set(loaded)).toEqual(new Set(Object.keys(SHIMS)));
  });

  it('connects, carries text both ways, and closes both sides on one destroy', async () => {
    const a = side(true);
    const b = side(false);
    a.onSignal((d) => b.link.signal(d));
    b.onSignal((d) => a.link.signal(d));
    await Promise.all([a.opened, b.opened]);
    expect(a.link.send('from a')).toBe(true);
    expect(b.link.send('from b')).toBe(true);
    await until(() => a.got.length === 1 && b.got.length === 1);
    expect([a.got, b.got]).toEqual([['from b'], ['from a']]);
    // Bytes a peer should not send arrive as text, read through the Buffer shim.
    (b.peer as unknown as { _channel: { send(x: Uint8Array): void } })._channel.send(
      new TextEncoder().encode('bytes'),
    );
    await until(() => a.got.length === 2);
    expect(a.got[1]).toBe('bytes');
    a.link.destroy();
    await until(() => b.closed.length === 1);
    expect(b.closed).toEqual(['closed']);
    expect(a.peer.destroyed).toBe(true);
    expect(a.link.send('late')).toBe(false);
  });

  it('reports an error once, with its code, and closes', async () => {
    const a = side(true);
    a.peer.destroy(Object.assign(new Error('boom'), { code: 'ERR_TEST' }));
    await until(() => a.closed.length > 0);
    await new Promise((r) => setTimeout(r, 20));
    expect(a.closed).toEqual(['ERR_TEST']);
    expect(a.link.send('x')).toBe(false);
  });

  it('names the data channel with random hex', () => {
    const p = new Peer({ initiator: true, wrtc }) as unknown as { channelName: string; _id: string };
    peers.push(p as unknown as SimplePeer.Instance);
    expect(p.channelName).toMatch(/^[0-9a-f]{40}$/);
    expect(p._id).toMatch(/^[0-9a-f]{7}$/);
  });
});

describe('engine.io-client in a browser build', () => {
  it('bundles the websocket transport alone, and refuses another by name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lockstep-transports-'));
    try {
      const client = fileURLToPath(import.meta.resolve('socket.io-client'));
      await writeFile(
        join(dir, 'entry.js'),
        `import { io } from ${JSON.stringify(client)};
export const connect = (transports) => io('http://127.0.0.1:9', { transports, reconnection: false });`,
      );
      await build(
        mergeConfig(browserSimplePeer, {
          configFile: false,
          logLevel: 'error',
          build: {
            outDir: join(dir, 'out'),
            minify: false,
            lib: { entry: join(dir, 'entry.js'), formats: ['es'], fileName: 'bundle' },
          },
        }),
      );
      const code = await readFile(join(dir, 'out', 'bundle.js'), 'utf8');
      expect(code).toContain('"websocket error"');
      expect(code).not.toMatch(/xhr poll error|class XHR|new WebTransport/);
      const bundle = (await import(join(dir, 'out', 'bundle.js'))) as { connect(t: string[]): unknown };
      expect(() => bundle.connect(['polling'])).toThrow(
        "this build bundles engine.io's websocket transport only: connect with transports: ['websocket'], not polling",
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
