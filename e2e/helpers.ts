import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  test as base,
  expect,
  type Page,
} from '@playwright/test';

const root = fileURLToPath(new URL('..', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** The real signaling server (and static client) as a child process, killable and restartable. */
export class ServerProcess {
  private child: ChildProcess | null = null;
  readonly url: string;
  private output = '';

  constructor(
    readonly port: number,
    private readonly env: Record<string, string> = {},
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  async start(): Promise<void> {
    // One process (node --import tsx), not the tsx CLI: its wrapper would leave the server orphaned on SIGKILL.
    const child = spawn(process.execPath, ['--import', 'tsx', 'signaling/src/index.ts'], {
      cwd: root,
      env: { ...process.env, PORT: String(this.port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout?.on('data', (d) => {
      this.output = (this.output + String(d)).slice(-4000);
    });
    child.stderr?.on('data', (d) => {
      this.output = (this.output + String(d)).slice(-4000);
    });
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`server exited early: ${this.output}`);
      try {
        const res = await fetch(`${this.url}/healthz`);
        if (res.ok) return;
      } catch {
        // Not listening yet.
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`server did not start on ${this.port}: ${this.output}`);
  }

  /** SIGKILL: no shutdown event, sockets just drop (a crash, not a deploy). */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
    this.child = null;
  }
}

export interface Player {
  name: string;
  context: BrowserContext;
  page: Page;
}

export interface RoomOptions {
  heartbeatMs?: number;
  timeoutMs?: number;
  stages?: string[];
}

export function roomUrl(server: ServerProcess, room: string, name: string, opts: RoomOptions = {}): string {
  const q = new URLSearchParams({ name });
  if (opts.heartbeatMs) q.set('heartbeatMs', String(opts.heartbeatMs));
  if (opts.timeoutMs) q.set('timeoutMs', String(opts.timeoutMs));
  if (opts.stages) q.set('stages', opts.stages.join(','));
  return `${server.url}/r/${room}?${q}`;
}

export const tid = (page: Page, id: string) => page.getByTestId(id);

export async function textOf(page: Page, id: string): Promise<string> {
  return ((await tid(page, id).textContent()) ?? '').trim();
}

export async function selfId(p: Player): Promise<number> {
  return Number(await textOf(p.page, 'self-id'));
}

/** Opens one player in its own browser context (its own sessionStorage, like a separate device). */
export async function openPlayer(
  browser: Browser,
  server: ServerProcess,
  room: string,
  name: string,
  opts: RoomOptions = {},
  contextOptions: BrowserContextOptions = {},
): Promise<Player> {
  const context = await browser.newContext(contextOptions);
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`[${name}] page error: ${err.message}`));
  await page.goto(roomUrl(server, room, name, opts));
  await expect(tid(page, 'self-id')).toHaveText(/^\d+$/);
  return { name, context, page };
}

/** Opens players one after another, so IDs follow the array order. */
export async function openPlayers(
  browser: Browser,
  server: ServerProcess,
  room: string,
  count: number,
  opts: RoomOptions = {},
): Promise<Player[]> {
  const players: Player[] = [];
  for (let i = 0; i < count; i++) {
    players.push(await openPlayer(browser, server, room, `p${i + 1}`, i === 0 ? opts : {}));
  }
  return players;
}

export async function expectLeader(players: Player[], leader: number, timeout = 15_000): Promise<void> {
  await Promise.all(
    players.map((p) => expect(tid(p.page, 'leader-id')).toHaveText(String(leader), { timeout })),
  );
}

export async function expectStage(players: Player[], stage: number, timeout = 15_000): Promise<void> {
  await Promise.all(players.map((p) => expect(tid(p.page, 'stage')).toHaveText(String(stage), { timeout })));
}

/** Every player sees every other one over a direct data channel. */
export async function expectMesh(players: Player[], timeout = 20_000): Promise<void> {
  await Promise.all(
    players.map((p) =>
      expect
        .poll(
          async () => {
            const states = await p.page
              .getByTestId('peer')
              .evaluateAll((els) => els.map((e) => e.getAttribute('data-state')));
            return states.filter((s) => s === 'direct').length;
          },
          { timeout },
        )
        .toBe(players.length - 1),
    ),
  );
}

/** Presses Done; `last` means this press completes the stage, so Done resets at once with the advance. */
export async function pressDone(p: Player, last = false): Promise<void> {
  const btn = tid(p.page, 'done-button');
  await expect(btn).toBeEnabled();
  if ((await btn.getAttribute('aria-pressed')) !== 'true') await btn.click();
  if (!last) await expect(btn).toHaveAttribute('aria-pressed', 'true');
}

/** Everyone presses Done and the room moves to `next`. */
export async function advanceAll(players: Player[], next: number): Promise<void> {
  for (const [i, p] of players.entries()) await pressDone(p, i === players.length - 1);
  await expectStage(players, next);
}

/**
 * Records, inside the page, the wall time of every change of an element's text, so a transition can be
 * timed without the test's polling delay.
 */
export async function watchText(p: Player, id: string): Promise<void> {
  await p.page.evaluate((testId) => {
    const w = window as unknown as { __watch?: Record<string, { t: number; v: string }[]> };
    w.__watch ??= {};
    const el = document.querySelector(`[data-testid="${testId}"]`);
    if (!el) throw new Error(`no ${testId}`);
    const log: { t: number; v: string }[] = [{ t: Date.now(), v: (el.textContent ?? '').trim() }];
    w.__watch[testId] = log;
    new MutationObserver(() => log.push({ t: Date.now(), v: (el.textContent ?? '').trim() })).observe(el, {
      childList: true,
      characterData: true,
      subtree: true,
    });
  }, id);
}

export async function watched(p: Player, id: string): Promise<{ t: number; v: string }[]> {
  return p.page.evaluate(
    (testId) =>
      (window as unknown as { __watch?: Record<string, { t: number; v: string }[]> }).__watch?.[testId] ?? [],
    id,
  );
}

/** When the watched element first showed `value` (ms since epoch), or null. */
export async function firstTimeOf(p: Player, id: string, value: string): Promise<number | null> {
  const log = await watched(p, id);
  return log.find((e) => e.v === value)?.t ?? null;
}

export async function snap(page: Page, name: string): Promise<string> {
  const dir = fileURLToPath(new URL('../test-results/screenshots/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const path = `${dir}${name}.png`;
  await page.screenshot({ path, fullPage: true });
  await test.info().attach(name, { path, contentType: 'image/png' });
  return path;
}

export function uniqueRoom(): string {
  return `e2e-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

interface Fixtures {
  server: ServerProcess;
  players: Player[];
}

/** A fresh server per test (GRACE_MS short unless a test starts its own) and cleanup of every context. */
export const test = base.extend<Fixtures>({
  // biome-ignore lint/correctness/noEmptyPattern: Playwright fixtures must destructure their dependencies.
  server: async ({}, use) => {
    const server = new ServerProcess(await freePort(), { GRACE_MS: '3000', RESTART_HOLD_MS: '0' });
    await server.start();
    await use(server);
    await server.kill();
  },
  // biome-ignore lint/correctness/noEmptyPattern: Playwright fixtures must destructure their dependencies.
  players: async ({}, use) => {
    const list: Player[] = [];
    await use(list);
    await Promise.all(list.map((p) => p.context.close().catch(() => {})));
  },
});

export { expect };
