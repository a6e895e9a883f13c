// Test helpers for multi-node signaling: a throwaway redis-server on loopback, and signaling nodes run as
// child processes (so a test can SIGKILL one, as a crash would).

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const REDIS_BIN = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((bin) => existsSync(bin));

export interface RedisProcess {
  url: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Collects a child's output into lines and resolves when one matches. */
function waitForLine(
  child: ChildProcess,
  what: string,
  match: (line: string) => boolean,
  timeoutMs: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    let output = '';
    const done = (err: Error | undefined, line?: string) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
      if (err) reject(err);
      else resolve(line ?? '');
    };
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      output += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      const hit = lines.find(match);
      if (hit !== undefined) done(undefined, hit);
    };
    const onExit = (code: number | null) =>
      done(new Error(`${what} exited (code ${code}) before it was ready:\n${output.slice(-2_000)}`));
    const onError = (err: Error) => done(new Error(`${what} failed to start: ${err.message}`));
    const timer = setTimeout(
      () => done(new Error(`${what} not ready within ${timeoutMs} ms:\n${output.slice(-2_000)}`)),
      timeoutMs,
    );
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

// A test run that dies without its afterAll must not leave servers behind.
function killOnExit(child: ChildProcess): void {
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  child.once('exit', () => process.off('exit', kill));
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** redis-server's arguments for a throwaway node: loopback only, nothing kept on disk. */
export function redisArgs(port: number): string[] {
  return ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
}

/**
 * Starts redis-server on a free loopback port (or `port`: a restart, empty), without persistence. Throws
 * (never skips) if it is missing.
 */
export async function startRedis(port?: number): Promise<RedisProcess> {
  if (REDIS_BIN === undefined) {
    throw new Error(
      'redis-server not found (looked in /usr/bin and /usr/local/bin): install the Debian package ' +
        '"redis-server" (apt-get install redis-server); the multi-node tests need a real Redis',
    );
  }
  port ??= await freePort();
  const child = spawn(REDIS_BIN, [...redisArgs(port), '--loglevel', 'notice'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  killOnExit(child);
  await waitForLine(child, 'redis-server', (line) => line.includes('Ready to accept connections'), 10_000);
  return { url: `redis://127.0.0.1:${port}`, stop: () => stopChild(child, 'SIGKILL') };
}

export interface NodeProcess {
  url: string;
  pid: number;
  /** The process itself: its signals, and its stdout after the listening line (drained unless paused). */
  child: ChildProcess;
  /** Sudden death: no shutdown handler runs, nothing is cleaned up in Redis. */
  kill(): Promise<void>;
  /** Graceful stop (SIGTERM). */
  stop(): Promise<void>;
}

/** Runs `signaling/src/index.ts` as its own process (as `npm start` does) on a free loopback port. */
export async function startNode(env: Record<string, string>): Promise<NodeProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'signaling/src/index.ts'], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? '',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      STATIC_DIR: 'nonexistent-static-dir',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  killOnExit(child);
  const line = await waitForLine(child, 'signaling node', (l) => l.includes('"msg":"listening"'), 20_000);
  const { address } = JSON.parse(line) as { address: { port: number } };
  // Keep draining its logs so a full pipe never blocks the node.
  child.stdout?.resume();
  return {
    url: `http://127.0.0.1:${address.port}`,
    pid: child.pid ?? -1,
    child,
    kill: () => stopChild(child, 'SIGKILL'),
    stop: () => stopChild(child, 'SIGTERM'),
  };
}
