import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';

// The process entry as `npm start` runs it, signals and all.
const root = fileURLToPath(new URL('../../', import.meta.url));
let child: ChildProcess | undefined;

afterEach(() => {
  child?.kill('SIGKILL');
  child = undefined;
});

/** Starts the server on a free port and resolves with its first log line once it listens. */
async function start(level = 'info'): Promise<{ server: ChildProcess; lines: string[] }> {
  const server = spawn(process.execPath, ['--import', 'tsx', 'signaling/src/index.ts'], {
    cwd: root,
    // Only what the server needs: not REDIS_URL, ROOM_SECRET or anything else the test's own may hold.
    env: {
      PATH: process.env.PATH ?? '',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: level,
      STATIC_DIR: `${root}dist/client`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = server;
  const lines: string[] = [];
  let text = '';
  server.stdout?.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    server.once('exit', (code) => reject(new Error(`server exited (${code}) before listening`)));
    server.stdout?.on('data', (chunk: string) => {
      text += chunk;
      const parts = text.split('\n');
      text = parts.pop() ?? '';
      lines.push(...parts);
      if (lines.some((line) => line.includes('"listening"'))) resolve();
    });
  });
  return { server, lines };
}

/** The exit code once its output is all read, or 'hung' if it is still running after `ms`. */
async function exitWithin(server: ChildProcess, ms: number): Promise<number | string | null> {
  const timer = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), ms));
  const exited = once(server, 'close').then(([code]) => code as number | null);
  return Promise.race([exited, timer]);
}

describe('the server process', () => {
  it('logs its stop and exits 0 on SIGTERM', async () => {
    const { server, lines } = await start();
    server.kill('SIGTERM');
    expect(await exitWithin(server, 8_000)).toBe(0);
    const messages = lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(messages).toEqual(expect.arrayContaining(['listening', 'stopping', 'stopped']));
  });

  it('exits 0 on SIGTERM when nobody reads its stdout any more (`npm start | head -1`)', async () => {
    const { server } = await start();
    // Our end of the pipe closed: the server's next log line meets EPIPE.
    server.stdout?.destroy();
    server.kill('SIGTERM');
    expect(await exitWithin(server, 8_000)).toBe(0);
  });

  it('keeps serving while nobody reads its stdout, and still exits on SIGTERM', async () => {
    const { server, lines } = await start('debug');
    const port = (JSON.parse(lines.find((l) => l.includes('"listening"'))!) as { address: { port: number } })
      .address.port;
    // A reader that stops reading; each refused handshake then logs its 8 KB origin: 20 fill the pipe.
    server.stdout?.pause();
    const origin = `http://${'x'.repeat(8_000)}.example`;
    for (let i = 0; i < 40; i++) {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`, { origin });
      await once(ws, 'close').catch(() => {});
    }
    // A server blocked on its stdout would not answer at all (the synchronous stream of 1e12419 did not).
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(8_000) });
    expect(res.status).toBe(200);
    server.kill('SIGTERM');
    expect(await exitWithin(server, 8_000)).toBe(0);
  });
});
