// Helpers for the signaling integration tests: a server on port 0 and recorded client sockets.

import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import { io as connectClient, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import { PROTOCOL_VERSION } from '../../client/src/protocol/limits.ts';
import {
  type Ack,
  ackFromServer,
  type ClientToServerEvents,
  fromServer,
  type Joined,
  type JoinRequest,
  joinedSchema,
  type ServerToClientEvents,
  serverEventSchemas,
} from '../../client/src/protocol/signaling.ts';
import { createSignalingServer, type SignalingOptions, type SignalingServer } from './server.ts';
import type { ThreadAsk } from './testingThread.ts';

export type Client = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface TestServer {
  handle: SignalingServer;
  url: string;
  close(): Promise<void>;
}

export async function startServer(options: SignalingOptions = {}): Promise<TestServer> {
  const httpServer = createServer();
  const handle = createSignalingServer(httpServer, options);
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  const { port } = httpServer.address() as AddressInfo;
  return { handle, url: `http://127.0.0.1:${port}`, close: () => handle.close() };
}

interface Recorded {
  event: string;
  args: unknown[];
}

/** A client that records every server event, so a test can wait for one that may already have arrived. */
export class RecordingClient {
  readonly events: Recorded[] = [];
  /**
   * What the browser's client would have dropped as malformed: server events and join answers that fail
   * its checks. Tests expect none, so the server keeps the contract the client holds it to.
   */
  readonly malformed: string[] = [];
  private waiters: (() => void)[] = [];

  constructor(readonly socket: Client) {
    socket.onAny((event: string, ...args: unknown[]) => this.record(event, args));
    socket.on('connect', () => this.record('connect', []));
    socket.on('disconnect', (reason) => this.record('disconnect', [reason]));
    socket.on('connect_error', (err) => this.record('connect_error', [err]));
  }

  private record(event: string, args: unknown[]) {
    // The client's own check of this event (protocol/signaling.ts), if it is one the server pushes.
    const schema: Parameters<typeof fromServer<unknown>>[0] | undefined = Object.hasOwn(
      serverEventSchemas,
      event,
    )
      ? serverEventSchemas[event as keyof typeof serverEventSchemas]
      : undefined;
    const checked = schema && fromServer(schema, args[0], event);
    if (checked && !checked.ok) this.malformed.push(`${event}: ${checked.error}`);
    this.events.push({ event, args });
    for (const wake of this.waiters.splice(0)) wake();
  }

  received<T = unknown>(event: string): T[] {
    return this.events.filter((e) => e.event === event).map((e) => e.args[0] as T);
  }

  /** Resolves with the first matching event (past or future); rejects after timeoutMs so a bug fails fast. */
  waitFor<T = unknown>(
    event: string,
    match: (value: T) => boolean = () => true,
    timeoutMs = 5_000,
  ): Promise<T> {
    return this.waitForEntry((e) => e.event === event && match(e.args[0] as T), event, timeoutMs).then(
      (e) => e.args[0] as T,
    );
  }

  /** Resolves with whichever of the given events is recorded first. */
  waitForOneOf(events: string[], timeoutMs = 5_000): Promise<Recorded> {
    return this.waitForEntry((e) => events.includes(e.event), events.join(' or '), timeoutMs);
  }

  private waitForEntry(match: (e: Recorded) => boolean, what: string, timeoutMs: number): Promise<Recorded> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.events.find(match);
        if (hit === undefined) return false;
        clearTimeout(timer);
        resolve(hit);
        return true;
      };
      const wake = () => {
        if (!check()) this.waiters.push(wake);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      wake();
    });
  }

  async join(req: JoinRequest): Promise<Ack<Joined>> {
    const res = await this.socket.timeout(5_000).emitWithAck('join', { v: PROTOCOL_VERSION, ...req });
    const checked = ackFromServer<Joined>(res, 'join', joinedSchema);
    if (!checked.ok && /malformed/.test(checked.error)) this.malformed.push(checked.error);
    return res;
  }

  /** Sends anything (even a payload the types forbid) and returns the acknowledgement. */
  raw(event: string, ...args: unknown[]): Promise<Ack<Record<string, unknown>>> {
    const untyped = this.socket as unknown as {
      timeout(ms: number): { emitWithAck(event: string, ...args: unknown[]): Promise<unknown> };
    };
    return untyped.timeout(5_000).emitWithAck(event, ...args) as Promise<Ack<Record<string, unknown>>>;
  }

  close() {
    this.socket.disconnect();
  }
}

export async function connect(
  url: string,
  options: Partial<ManagerOptions & SocketOptions> = {},
): Promise<RecordingClient> {
  const client = connectUnchecked(url, options);
  const outcome = await client.waitForOneOf(['connect', 'connect_error']);
  if (outcome.event === 'connect_error') throw outcome.args[0];
  return client;
}

/** A client that may or may not be let in; wait for 'connect' or 'connect_error' yourself. */
export function connectUnchecked(url: string, options: Partial<ManagerOptions & SocketOptions> = {}) {
  const socket: Client = connectClient(url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    ...options,
  });
  return new RecordingClient(socket);
}

export function expectOk<T extends object>(res: Ack<T>): T & { ok: true } {
  if (!res.ok) throw new Error(`expected ok, got ${res.code}: ${res.error}`);
  return res;
}

/** A server in a worker thread (testingThread.ts); options must survive structured cloning. */
export interface ThreadServer {
  url: string;
  metrics(): Promise<string>;
  /** Starts sampling what the server holds unsent for a player; the returned function stops and gives the most. */
  watchPending(player: number): Promise<() => Promise<number>>;
  close(): Promise<void>;
}

const THREAD_FILE = new URL('./testingThread.ts', import.meta.url).href;

export async function startServerThread(options: SignalingOptions = {}): Promise<ThreadServer> {
  // A worker does not inherit tsx's loader: it registers it, then loads the TypeScript.
  const worker = new Worker(
    `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(THREAD_FILE)}); })`,
    { eval: true, workerData: options },
  );
  const [first] = (await Promise.race([
    once(worker, 'message'),
    once(worker, 'error').then(([e]) => {
      throw e;
    }),
  ])) as [{ listening: number }];
  let seq = 0;
  // Rejects on an error in the worker, or on its exit, rather than waiting for an answer that cannot come.
  const ask = <T>(req: ThreadAsk): Promise<T> => {
    const mine = ++seq;
    return new Promise((resolve, reject) => {
      const onExit = (code: number) => done(new Error(`server thread exited (${code})`));
      const onMessage = (m: { seq?: number; value: T }) => {
        if (m.seq === mine) done(undefined, m.value);
      };
      const done = (err: unknown, value?: T) => {
        worker.off('message', onMessage);
        worker.off('error', done);
        worker.off('exit', onExit);
        if (err) reject(err);
        else resolve(value as T);
      };
      worker.on('message', onMessage);
      worker.once('error', done);
      worker.once('exit', onExit);
      worker.postMessage({ ...req, seq: mine });
    });
  };
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${first.listening}`,
    metrics: () => ask<string>({ kind: 'metrics' }),
    async watchPending(player) {
      if (!(await ask<boolean | undefined>({ kind: 'watchPending', player }))) {
        throw new Error(`player ${player} has no socket on the server`);
      }
      return async () => (await ask<number | undefined>({ kind: 'stopPending' })) ?? 0;
    },
    // A server stuck closing (a paused client holds up its close handshake) is ended after 3 s.
    close: () =>
      (closed ??= Promise.race([
        ask({ kind: 'close' }).catch(() => undefined),
        new Promise((r) => setTimeout(r, 3_000)),
      ]).then(async () => {
        await worker.terminate();
      })),
  };
}

/**
 * Fetches /healthz every 50 ms until stopped; resolves to each answer's time (ms) and how many failed (not
 * 200, or no answer within 10 s); starts once a first answer came. Shared by the attack tests and the
 * capacity bench's flood. It polls from a worker thread: the caller's own work (an attacker's, a bench's
 * clients') must not count as the server's.
 */
export async function pollHealth(url: string): Promise<() => Promise<{ ms: number[]; failures: number }>> {
  const worker = new Worker(HEALTH_POLLER, { eval: true, workerData: `${url}/healthz` });
  // Unref'd: a caller that throws before stopping it must not be kept alive by it.
  worker.unref();
  const [ready] = (await once(worker, 'message')) as [unknown];
  if (ready !== 'ready') {
    await worker.terminate();
    throw new Error(`/healthz did not answer before polling: ${String(ready)}`);
  }
  const result = once(worker, 'message') as Promise<[{ ms: number[]; failures: number }]>;
  return async () => {
    worker.postMessage('stop');
    try {
      const [out] = await result;
      return out;
    } finally {
      await worker.terminate();
    }
  };
}

const HEALTH_POLLER = `
const { parentPort, workerData: url } = require('node:worker_threads');
const ms = [];
let failures = 0;
let running = true;
parentPort.once('message', () => { running = false; });
(async () => {
  // The first fetch loads undici: not the server's time.
  try {
    await (await fetch(url)).text();
    parentPort.postMessage('ready');
  } catch (err) {
    parentPort.postMessage(String(err));
    return;
  }
  while (running) {
    const started = performance.now();
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(10000) });
      if (res.status !== 200) failures++;
      await res.text();
    } catch {
      failures++;
    }
    ms.push(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  parentPort.postMessage({ ms, failures });
})();
`;
