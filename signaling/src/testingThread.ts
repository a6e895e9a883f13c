// A signaling server in a worker thread of its own (see startServerThread in testing.ts): an attack's
// client-side work in the test's thread then neither delays the server nor counts as the server's delay.

import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { pendingBytes } from './backlog.ts';
import { createSignalingServer, type SignalingOptions } from './server.ts';

/** What the test's thread asks; each answer carries the request's `seq`. */
export type ThreadAsk =
  | { kind: 'metrics' }
  | { kind: 'watchPending'; player: number }
  | { kind: 'stopPending' }
  | { kind: 'close' };
type ThreadRequest = { seq: number } & ThreadAsk;

const port = parentPort;
if (!port) throw new Error('testingThread.ts runs in a worker thread');

const http = createServer();
const handle = createSignalingServer(http, workerData as SignalingOptions);
http.listen(0, '127.0.0.1');
await once(http, 'listening');
port.postMessage({ listening: (http.address() as AddressInfo).port });

// The most bytes the server held at once for one player's socket, sampled every 20 ms.
let pending: { timer: NodeJS.Timeout; worst: number } | undefined;

port.on('message', async (req: ThreadRequest) => {
  const answer = (value: unknown) => port.postMessage({ seq: req.seq, value });
  if (req.kind === 'metrics') answer(await handle.metrics());
  else if (req.kind === 'watchPending') {
    const socket = [...handle.io.sockets.sockets.values()].find((s) => s.data.session?.id === req.player);
    if (!socket) return answer(undefined);
    clearInterval(pending?.timer);
    const watch = { worst: 0, timer: setInterval(() => sample(), 20) };
    const sample = () => {
      watch.worst = Math.max(watch.worst, pendingBytes(socket, Number.POSITIVE_INFINITY));
    };
    pending = watch;
    answer(true);
  } else if (req.kind === 'stopPending') {
    clearInterval(pending?.timer);
    answer(pending?.worst);
    pending = undefined;
  } else if (req.kind === 'close') {
    await handle.close();
    answer(true);
    port.close();
  }
});
