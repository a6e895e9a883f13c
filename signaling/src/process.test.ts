import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type NodeProcess, startNode } from './redisTesting.ts';

// The process entry as `npm start` runs it, signals and all.
let node: NodeProcess | undefined;

afterEach(async () => {
  await node?.kill();
  node = undefined;
});

/** The server on a free port, and the log lines it writes from now on. */
async function start(
  level = 'info',
  env: Record<string, string> = {},
): Promise<{ server: ChildProcess; url: string; lines: string[] }> {
  node = await startNode({ LOG_LEVEL: level, ...env });
  const lines: string[] = [];
  let text = '';
  node.child.stdout?.setEncoding('utf8');
  node.child.stdout?.on('data', (chunk: string) => {
    const parts = (text + chunk).split('\n');
    text = parts.pop() ?? '';
    lines.push(...parts);
  });
  return { server: node.child, url: node.url, lines };
}

/** The exit code once its output is all read, or 'hung' if it is still running after `ms`. */
async function exitWithin(server: ChildProcess, ms: number): Promise<number | string | null> {
  const timer = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), ms));
  const exited = once(server, 'close').then(([code]) => code as number | null);
  return Promise.race([exited, timer]);
}

describe('the server process', () => {
  it('logs its stop and exits 0 on SIGTERM', async () => {
    const { server, url, lines } = await start();
    // The longest room link the URL contract allows: 100 stage names of 48 emoji, percent-encoded (58 KB).
    const stages = Array.from({ length: 100 }, () => '😀'.repeat(48)).join(',');
    const long = await fetch(`${url}/r/room?name=${'😀'.repeat(32)}&stages=${encodeURIComponent(stages)}`);
    expect(long.status).not.toBe(431);
    server.kill('SIGTERM');
    expect(await exitWithin(server, 8_000)).toBe(0);
    const messages = lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(messages).toEqual(expect.arrayContaining(['stopping', 'stopped']));
  });

  it('exits 0 on SIGTERM when nobody reads its stdout any more (`npm start | head -1`)', async () => {
    const { server } = await start();
    // Our end of the pipe closed: the server's next log line meets EPIPE.
    server.stdout?.destroy();
    server.kill('SIGTERM');
    expect(await exitWithin(server, 8_000)).toBe(0);
  });

  it('keeps serving while nobody reads its stdout, counts the lines it drops, and still exits on SIGTERM', async () => {
    const token = 'm'.repeat(20);
    const { server, url } = await start('debug', { METRICS_TOKEN: token });
    // A reader that stops reading. Each refused handshake logs its 8 KB origin: 20 fill the pipe, and about
    // 1,000 more the 8 MB the server holds for it.
    server.stdout?.pause();
    const origin = `http://${'x'.repeat(8_000)}.example`;
    const refused = () =>
      new Promise<void>((resolve) => {
        const ws = new WebSocket(`${url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`, {
          origin,
        });
        ws.on('error', () => {});
        ws.on('close', () => resolve());
      });
    for (let i = 0; i < 1_200; i += 50) await Promise.all(Array.from({ length: 50 }, refused));
    // A server blocked on its stdout would not answer at all (the synchronous stream of 1e12419 did not).
    const res = await fetch(`${url}/metrics`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(8_000),
    });
    expect(res.status).toBe(200);
    const dropped = /^lockstep_log_lines_dropped_total (\d+)$/m.exec(await res.text());
    expect(Number(dropped?.[1])).toBeGreaterThan(0);
    server.kill('SIGTERM');
    expect(await exitWithin(server, 8_000)).toBe(0);
  });
});
