// Signaling capacity: N concurrent socket.io sockets in N/4 rooms against one Lockstep server process, then
// as many joined sockets against a bare socket.io server (its only handler joins a room and acks: the floor
// the design's socket.io sets), then as many idle PeerJS clients against PeerJS's server (the `peer`
// package, a reference), each server in its own child. Prints one JSON line. Usage: node --import tsx bench/lib/capacity.ts [sockets=10000]
// (run under `ulimit -n` ≥ 2 × sockets + slack: bench/run.ts raises it to the hard limit).

import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { io as connectClient, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { PROTOCOL_VERSION } from '../../client/src/protocol/limits.ts';
import type {
  Ack,
  ClientToServerEvents,
  Joined,
  ServerToClientEvents,
} from '../../client/src/protocol/signaling.ts';
import { pollHealth } from '../../signaling/src/testing.ts';
import { percentile } from './stats.ts';

type Usage = { rss: number; heapUsed: number; cpuMs: number };
type ToParent = { kind: 'listening'; port: number } | { kind: 'usage'; usage: Usage };

const ROOM_SIZE = 4;
const BATCH = 200;
/** Quiet and flooded phases of 200 honest joins each, alternating. */
const FLOOD_ROUNDS = 5;

let serverMetrics: (() => Promise<string>) | undefined;
let profiler: Session | undefined;

async function runServer(kind: string): Promise<void> {
  let port: number;
  let close: () => Promise<void>;
  if (kind === 'lockstep') {
    const { createSignalingServer } = await import('../../signaling/src/server.ts');
    const http = createServer();
    // Every bot comes from one address: lift the per-address caps on sockets and rooms, which would
    // otherwise stop it early. The flood's players name their own address (X-Forwarded-For from loopback).
    const s = createSignalingServer(http, {
      maxSocketsPerIp: 1_000_000,
      maxConnections: 1_000_000,
      maxRoomsPerIp: 1_000_000,
      maxRooms: 1_000_000,
      trustProxy: ['127.0.0.1'],
    });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    port = (http.address() as AddressInfo).port;
    close = () => s.close();
    serverMetrics = () => s.metrics();
  } else if (kind === 'socketio') {
    const { Server } = await import('socket.io');
    const http = createServer();
    const io = new Server(http, { transports: ['websocket'] });
    io.on('connection', (socket) => {
      socket.on('join', (msg: { room?: unknown }, ack: unknown) => {
        if (typeof msg?.room !== 'string' || typeof ack !== 'function') return;
        socket.join(msg.room);
        ack({ ok: true });
      });
    });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    port = (http.address() as AddressInfo).port;
    close = () => io.close().then(() => undefined);
  } else {
    const { PeerServer } = await import('peer');
    const http = await new Promise<import('node:http').Server>((resolve) => {
      PeerServer({ port: 0, host: '127.0.0.1', concurrent_limit: 1_000_000 }, (srv) =>
        resolve(srv as import('node:http').Server),
      );
    });
    port = (http.address() as AddressInfo).port;
    close = async () => {
      http.closeAllConnections();
      http.close();
    };
  }
  const send = (m: ToParent) => process.send?.(m);
  send({ kind: 'listening', port });
  process.on('message', async (msg: string) => {
    if (msg === 'measure') {
      // Settle and collect garbage, so only live state is counted.
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 200));
        globalThis.gc?.();
      }
      const { rss, heapUsed } = process.memoryUsage();
      const cpu = process.cpuUsage();
      send({ kind: 'usage', usage: { rss, heapUsed, cpuMs: (cpu.user + cpu.system) / 1000 } });
    } else if (msg === 'prof-start') {
      // CAPACITY_PROF=dir: the server's CPU profile of the flood alone, and its metrics after it.
      profiler = new Session();
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.start');
    } else if (msg === 'prof-stop' && profiler) {
      const { profile } = await profiler.post('Profiler.stop');
      writeFileSync(`${process.env.CAPACITY_PROF}/flood.cpuprofile`, JSON.stringify(profile));
      if (serverMetrics) writeFileSync(`${process.env.CAPACITY_PROF}/metrics.txt`, await serverMetrics());
    } else if (msg === 'stop') {
      await close();
      process.exit(0);
    }
  });
}

/**
 * During the flood (two or more cores) the attacker gets cores of its own, away from the server and the
 * honest clients, as if it were another machine: otherwise its own CPU would count against the server.
 * 'all' undoes it.
 */
function pin(pid: number | undefined, cores: 'attacker' | 'rest' | 'all'): void {
  const n = cpus().length;
  if (pid === undefined || n < 2) return;
  const list = cores === 'rest' ? '0' : cores === 'attacker' ? `1-${n - 1}` : `0-${n - 1}`;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', list, String(pid)], { stdio: 'ignore' });
  } catch {
    // No taskset: the figures are then taken on shared cores.
  }
}

class ServerChild {
  private readonly child: ChildProcess;
  constructor(kind: string) {
    this.child = fork(fileURLToPath(import.meta.url), ['--server', kind], {
      execArgv: ['--import', 'tsx', '--expose-gc'],
      env: { ...process.env, LOG_LEVEL: 'silent' },
    });
  }
  next(): Promise<ToParent> {
    return once(this.child, 'message').then(([m]) => m as ToParent);
  }
  async port(): Promise<number> {
    const m = await this.next();
    if (m.kind !== 'listening') throw new Error('server did not start');
    return m.port;
  }
  send(msg: string): void {
    this.child.send(msg);
  }
  get pid(): number | undefined {
    return this.child.pid;
  }
  async measure(): Promise<Usage> {
    this.child.send('measure');
    const m = await this.next();
    if (m.kind !== 'usage') throw new Error('unexpected reply');
    return m.usage;
  }
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.send('stop');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }
}

type Client = Socket<ServerToClientEvents, ClientToServerEvents>;

async function lockstep(n: number) {
  const server = new ServerChild('lockstep');
  const url = `http://127.0.0.1:${await server.port()}`;
  const joinMs: number[] = [];
  const clients: Client[] = [];
  const open = async (i: number, record: boolean): Promise<Client> => {
    const s: Client = connectClient(url, { transports: ['websocket'], reconnection: false, forceNew: true });
    clients.push(s);
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('connect_error', reject);
    });
    const t = performance.now();
    const res: Ack<Joined> = await s
      .timeout(30_000)
      .emitWithAck('join', { v: PROTOCOL_VERSION, room: `cap-${Math.floor(i / ROOM_SIZE)}`, name: `p${i}` });
    if (!res.ok) throw new Error(`join failed: ${res.code} ${res.error}`);
    if (record) joinMs.push(performance.now() - t);
    return s;
  };
  try {
    // Warm lazily loaded paths so the baseline does not charge them to the connections.
    for (const s of await Promise.all(Array.from({ length: 20 }, (_, i) => open(1e7 + i, false)))) s.close();
    clients.length = 0;
    const before = await server.measure();
    const t0 = performance.now();
    for (let i = 0; i < n; i += BATCH) {
      await Promise.all(Array.from({ length: Math.min(BATCH, n - i) }, (_, k) => open(i + k, true)));
    }
    const connectMs = performance.now() - t0;
    const after = await server.measure();
    const sockets = clients.filter((c) => c.connected).length;

    // Short floods: 200 honest joins (each from its own address) on the quiet server, then 200 more while
    // 16 connections of one address flood relays of 16 KiB as fast as they can (reconnecting when cut).
    const connectAs = async (address: string): Promise<Client> => {
      const s: Client = connectClient(url, {
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
        extraHeaders: { 'x-forwarded-for': address },
      });
      clients.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('connect', resolve);
        s.once('connect_error', reject);
      });
      return s;
    };
    const honestJoins = async (tag: number): Promise<number[]> => {
      const ms: number[] = [];
      for (let b = 0; b < 4; b++) {
        await Promise.all(
          Array.from({ length: 50 }, async (_, k) => {
            const s = await connectAs(`10.${200 + tag}.${b}.${k + 1}`);
            const t = performance.now();
            const res: Ack<Joined> = await s
              .timeout(30_000)
              .emitWithAck('join', { v: PROTOCOL_VERSION, room: `honest-${tag}-${b}-${k >> 2}`, name: 'h' });
            if (!res.ok) throw new Error(`honest join failed: ${res.code} ${res.error}`);
            ms.push(performance.now() - t);
          }),
        );
      }
      return ms;
    };
    // Quiet and flooded joins on the same core, so the ratio compares like with like, in alternating rounds
    // so that a slow spell of the machine falls on both sides.
    pin(server.pid, 'rest');
    pin(process.pid, 'rest');
    const quietMs: number[] = [];
    const floodMs: number[] = [];
    const health: number[] = [];
    const quietHealth: number[] = [];
    const roundRatios: number[] = [];
    const healthRatios: number[] = [];
    let relays = 0;
    try {
      for (let round = 0; round < FLOOD_ROUNDS; round++) {
        const stopQuietWatch = await pollHealth(url);
        const quiet = await honestJoins(2 * round);
        quietMs.push(...quiet);
        const quietAnswers = (await stopQuietWatch()).ms;
        quietHealth.push(...quietAnswers);
        const flood = fork(fileURLToPath(new URL('./flood.ts', import.meta.url)), [url, '16', '10.255.0.1'], {
          execArgv: ['--import', 'tsx'],
        });
        try {
          pin(flood.pid, 'attacker');
          const reported = once(flood, 'message') as Promise<[{ relays: number }]>;
          await new Promise((r) => setTimeout(r, 500));
          if (process.env.CAPACITY_PROF && round === 0) server.send('prof-start');
          const stopWatch = await pollHealth(url);
          const flooded = await honestJoins(2 * round + 1);
          floodMs.push(...flooded);
          roundRatios.push(percentile(flooded, 99) / percentile(quiet, 99));
          const watched = await stopWatch();
          if (watched.failures > 0)
            throw new Error(`/healthz failed ${watched.failures} times during the flood`);
          health.push(...watched.ms);
          healthRatios.push(percentile(watched.ms, 99) / percentile(quietAnswers, 99));
          if (process.env.CAPACITY_PROF && round === 0) server.send('prof-stop');
          flood.send('stop');
          relays += (await reported)[0].relays;
        } finally {
          // An honest join that failed must not leave the attacker running.
          if (flood.exitCode === null) flood.kill();
        }
      }
    } finally {
      pin(server.pid, 'all');
      pin(process.pid, 'all');
    }
    return {
      sockets,
      rooms: Math.ceil(n / ROOM_SIZE),
      joinP50Ms: percentile(joinMs, 50),
      joinP99Ms: percentile(joinMs, 99),
      quietJoinP99Ms: percentile(quietMs, 99),
      floodJoinP99Ms: percentile(floodMs, 99),
      // Each round's ratio is taken between phases seconds apart; the median round discards a slow spell of
      // the machine that fell on one phase only.
      floodJoinP99Ratio: percentile(roundRatios, 50),
      quietHealthP99Ms: percentile(quietHealth, 99),
      floodHealthP99Ms: percentile(health, 99),
      floodHealthP99Ratio: percentile(healthRatios, 50),
      floodHealthMaxMs: Math.max(...health),
      floodRelays: relays,
      connectAllMs: connectMs,
      rssMb: after.rss / 2 ** 20,
      bytesPerConn: (after.rss - before.rss) / n,
      heapPerConn: (after.heapUsed - before.heapUsed) / n,
      cpuMs: after.cpuMs - before.cpuMs,
    };
  } finally {
    for (const c of clients) c.close();
    await server.stop();
  }
}

/**
 * RSS and heap per connection of `n` idle connections against a server child of `kind`, after 20 to warm its
 * lazily loaded paths. `open` registers each connection with `keep` before it waits on it, so all are closed.
 */
async function idle<C>(
  kind: string,
  n: number,
  open: (port: number, i: number, keep: (c: C) => void) => Promise<void>,
  live: (c: C) => boolean,
  end: (c: C) => void,
) {
  const server = new ServerChild(kind);
  const port = await server.port();
  const conns: C[] = [];
  const keep = (c: C) => void conns.push(c);
  try {
    await Promise.all(Array.from({ length: 20 }, (_, i) => open(port, 1e7 + i, keep)));
    for (const c of conns.splice(0)) end(c);
    const before = await server.measure();
    for (let i = 0; i < n; i += BATCH) {
      await Promise.all(Array.from({ length: Math.min(BATCH, n - i) }, (_, k) => open(port, i + k, keep)));
    }
    const after = await server.measure();
    return {
      sockets: conns.filter(live).length,
      rssMb: after.rss / 2 ** 20,
      bytesPerConn: (after.rss - before.rss) / n,
      heapPerConn: (after.heapUsed - before.heapUsed) / n,
    };
  } finally {
    for (const c of conns) end(c);
    await server.stop();
  }
}

/** The same joined sockets against a bare socket.io server. */
const socketio = (n: number) =>
  idle<Socket>(
    'socketio',
    n,
    async (port, i, keep) => {
      const s = connectClient(`http://127.0.0.1:${port}`, {
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
      });
      keep(s);
      await new Promise<void>((resolve, reject) => {
        s.once('connect', resolve);
        s.once('connect_error', reject);
      });
      const res = (await s
        .timeout(30_000)
        .emitWithAck('join', { v: PROTOCOL_VERSION, room: `cap-${Math.floor(i / ROOM_SIZE)}` })) as {
        ok?: boolean;
      };
      if (!res?.ok) throw new Error('bare socket.io join failed');
    },
    (s) => s.connected,
    (s) => s.close(),
  );

/** As many idle PeerJS clients (OPEN received) against PeerJS's server. */
const peerjs = (n: number) =>
  idle<WebSocket>(
    'peerjs',
    n,
    (port, i, keep) =>
      new Promise<void>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/peerjs?key=peerjs&id=bench${i}&token=t${i}`);
        keep(ws);
        ws.once('message', (d) => {
          const m = JSON.parse(String(d)) as { type?: string };
          if (m.type === 'OPEN') resolve();
          else reject(new Error(`peerjs said ${String(d)}`));
        });
        ws.once('error', reject);
      }),
    (ws) => ws.readyState === WebSocket.OPEN,
    (ws) => ws.terminate(),
  );

/** The one JSON line this prints. */
export interface CapacityOut {
  lockstep: Awaited<ReturnType<typeof lockstep>>;
  socketio: Awaited<ReturnType<typeof socketio>>;
  peerjs: Awaited<ReturnType<typeof peerjs>>;
}

const serverAt = process.argv.indexOf('--server');
if (serverAt >= 0) {
  await runServer(process.argv[serverAt + 1] ?? 'lockstep');
} else {
  const n = Number(process.argv[2] ?? 10_000);
  if (!Number.isInteger(n) || n < 100 || n > 20_000)
    throw new Error('sockets must be a whole number, 100-20000');
  const ls = await lockstep(n);
  const sio = await socketio(n);
  const pj = await peerjs(n);
  process.stdout.write(`${JSON.stringify({ lockstep: ls, socketio: sio, peerjs: pj })}\n`);
  process.exit(0);
}
