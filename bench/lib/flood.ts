// The capacity bench's attacker, in a process of its own: an attacker is another machine, so its own event
// loop must not delay the honest clients whose join times are measured beside it. Forked by capacity.ts
// with `url connections address`; floods until it is sent 'stop', then reports how many relays it sent.

import { io as connectClient, type Socket } from 'socket.io-client';
import { PROTOCOL_VERSION } from '../../client/src/protocol/limits.ts';

const [url = '', count = '16', address = '10.255.0.1'] = process.argv.slice(2);
const connections = Number(count);
let flooding = true;
let relays = 0;
process.on('message', (m) => {
  if (m === 'stop') flooding = false;
});

const payload = 'f'.repeat(16 * 1024);
const connectAs = (): Promise<Socket | undefined> =>
  new Promise((resolve) => {
    const s = connectClient(url, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      extraHeaders: { 'x-forwarded-for': address },
    });
    s.once('connect', () => resolve(s));
    s.once('connect_error', () => {
      s.close();
      resolve(undefined);
    });
  });

// 16 connections of one address flood relays of 16 KiB as fast as they can, reconnecting when cut.
await Promise.all(
  Array.from({ length: connections }, async (_, i) => {
    while (flooding) {
      const s = await connectAs();
      if (!s) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      await s
        .timeout(5_000)
        .emitWithAck('join', { v: PROTOCOL_VERSION, room: 'flood', name: `f${i}` })
        .catch(() => undefined);
      while (flooding && s.connected) {
        for (let k = 0; k < 20; k++)
          s.emit('relay', { frames: [{ to: 1 + ((i + 1) % connections), data: payload }] }, () => {});
        relays += 20;
        await new Promise((r) => setImmediate(r));
      }
      s.close();
    }
  }),
);
process.send?.({ relays });
process.disconnect?.();
