import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createSignalingServer, type SignalingServer } from './public.ts';
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
});
