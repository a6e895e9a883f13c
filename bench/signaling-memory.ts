// Memory per idle signaling connection: a server in a child process, N joined websocket clients here.
// Usage: npx tsx bench/signaling-memory.ts [connections=2000]

import { fork } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { io as connectClient, type Socket } from 'socket.io-client';
import { PROTOCOL_VERSION } from '../client/src/protocol/limits.ts';
import type {
  Ack,
  ClientToServerEvents,
  Joined,
  ServerToClientEvents,
} from '../client/src/protocol/signaling.ts';
import { createSignalingServer } from '../signaling/src/server.ts';

type Usage = { rss: number; heapUsed: number; external: number; arrayBuffers: number };
type ToParent = { kind: 'listening'; port: number } | { kind: 'usage'; usage: Usage; connections: number };

const ROOM_SIZE = 50;
const BATCH = 100;

async function runServer(): Promise<void> {
  const httpServer = createServer();
  const signaling = createSignalingServer(httpServer, {
    maxSocketsPerIp: 1_000_000,
    maxConnections: 1_000_000,
  });
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  const send = (msg: ToParent) => process.send?.(msg);
  send({ kind: 'listening', port: (httpServer.address() as AddressInfo).port });
  process.on('message', async (msg: string) => {
    if (msg === 'measure') {
      // Settle: let pending I/O finish and collect garbage so only live state is counted.
      for (let i = 0; i < 3; i++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        globalThis.gc?.();
      }
      const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
      send({
        kind: 'usage',
        usage: { rss, heapUsed, external, arrayBuffers },
        connections: signaling.io.engine.clientsCount,
      });
    } else if (msg === 'stop') {
      await signaling.close();
      process.exit(0);
    }
  });
}

async function runBench(connections: number): Promise<void> {
  const child = fork(fileURLToPath(import.meta.url), ['--server'], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
  });
  const next = () => once(child, 'message').then(([msg]) => msg as ToParent);
  const listening = await next();
  if (listening.kind !== 'listening') throw new Error('server did not start');
  const url = `http://127.0.0.1:${listening.port}`;
  const measure = async () => {
    child.send('measure');
    const reply = await next();
    if (reply.kind !== 'usage') throw new Error('unexpected reply');
    return reply;
  };

  type Client = Socket<ServerToClientEvents, ClientToServerEvents>;
  const open = async (index: number): Promise<Client> => {
    const socket: Client = connectClient(url, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    const res: Ack<Joined> = await socket.timeout(30_000).emitWithAck('join', {
      v: PROTOCOL_VERSION,
      room: `bench-${Math.floor(index / ROOM_SIZE)}`,
      name: `p${index}`,
    });
    if (!res.ok) throw new Error(`join failed: ${res.code} ${res.error}`);
    return socket;
  };

  // Warm up lazily loaded code paths so the baseline does not charge them to the connections.
  const warm = await Promise.all(Array.from({ length: 20 }, (_, i) => open(1_000_000 + i)));
  for (const socket of warm) socket.disconnect();
  const before = await measure();

  const clients: Client[] = [];
  const started = Date.now();
  for (let i = 0; i < connections; i += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, connections - i) }, (_, k) => open(i + k));
    clients.push(...(await Promise.all(batch)));
  }
  const connectMs = Date.now() - started;
  const after = await measure();

  const perConnection = (key: keyof Usage) => (after.usage[key] - before.usage[key]) / connections;
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  console.log(`connections: ${connections} joined websocket clients in ${connections / ROOM_SIZE} rooms`);
  console.log(`server sees: ${after.connections} engine.io connections; connected in ${connectMs} ms`);
  console.log(`server RSS:  ${mib(before.usage.rss)} -> ${mib(after.usage.rss)}`);
  console.log(`server heap: ${mib(before.usage.heapUsed)} -> ${mib(after.usage.heapUsed)}`);
  console.log(
    `per idle connection: RSS ${kib(perConnection('rss'))}, heap ${kib(perConnection('heapUsed'))}, ` +
      `external ${kib(perConnection('external'))}`,
  );

  for (const socket of clients) socket.disconnect();
  child.send('stop');
  await once(child, 'exit');
}

if (process.argv.includes('--server')) {
  await runServer();
} else {
  const connections = Number(process.argv[2] ?? 2_000);
  if (!Number.isInteger(connections) || connections < 1 || connections > 20_000) {
    throw new Error('connections must be a whole number from 1 to 20000');
  }
  await runBench(connections);
}
