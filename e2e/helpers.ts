import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContextOptions, test as base, expect, type Page } from '@playwright/test';
import type { AxeResults, Result } from 'axe-core';
import {
  type OwnChromium,
  openPage,
  ownChromium,
  type Player,
  type RoomOptions,
  roomUrl,
  type ServerProcess,
  startServer,
} from './kit.ts';

export {
  firstTimeOf,
  freePort,
  type Player,
  type RoomOptions,
  roomUrl,
  ServerProcess,
  TIMING,
  uniqueRoom,
  watched,
  watchText,
} from './kit.ts';

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
  const p = await openPage(browser, roomUrl(server, room, name, opts), name, { context: contextOptions });
  await expect(tid(p.page, 'self-id')).toHaveText(/^\d+$/);
  return p;
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

export async function snap(page: Page, name: string): Promise<string> {
  const dir = fileURLToPath(new URL('../test-results/screenshots/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const path = `${dir}${name}.png`;
  await page.screenshot({ path, fullPage: true });
  await test.info().attach(name, { path, contentType: 'image/png' });
  return path;
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * axe-core's violations on the page as it stands: every rule it runs by default, or only `rules`. axe is
 * put into each document once and run in place. @axe-core/playwright took about 1 s a scan here against
 * 0.1 s, since it finishes every run in a page of its own (for frames, which these pages do not have).
 */
export async function axeViolations(page: Page, rules?: readonly string[]): Promise<Result[]> {
  // Buttons fade to new colours in 0.15 s (a theme switch, a confirm step): scanned mid-fade, their
  // contrast is neither state's. So no CSS transition may be running.
  await expect
    .poll(() =>
      page.evaluate(() =>
        document
          .getAnimations()
          .filter((a) => a instanceof CSSTransition && a.playState === 'running')
          .map((a) => (a as CSSTransition).transitionProperty),
      ),
    )
    .toEqual([]);
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource);
  return page.evaluate(async (only) => {
    const axe = (window as unknown as { axe: { run(ctx: Document, o: object): Promise<AxeResults> } }).axe;
    const options = only ? { runOnly: { type: 'rule', values: only } } : {};
    return (await axe.run(document, { resultTypes: ['violations'], ...options })).violations;
  }, rules ?? null);
}

interface Fixtures {
  server: ServerProcess;
  players: Player[];
  /** Starts a player's Chromium of its own (ownChromium); each is closed after the test, a timed-out one too. */
  own: () => Promise<OwnChromium>;
}

/** A fresh server per test (GRACE_MS short unless a test starts its own) and cleanup of every context. */
export const test = base.extend<Fixtures>({
  // biome-ignore lint/correctness/noEmptyPattern: Playwright fixtures must destructure their dependencies.
  server: async ({}, use) => {
    const server = await startServer({ GRACE_MS: '3000', RESTART_HOLD_MS: '0' });
    await use(server);
    await server.kill();
  },
  // biome-ignore lint/correctness/noEmptyPattern: Playwright fixtures must destructure their dependencies.
  players: async ({}, use) => {
    const list: Player[] = [];
    await use(list);
    await Promise.all(list.map((p) => p.context.close().catch(() => {})));
  },
  // biome-ignore lint/correctness/noEmptyPattern: Playwright fixtures must destructure their dependencies.
  own: async ({}, use) => {
    const started: OwnChromium[] = [];
    await use(async () => {
      const browser = await ownChromium();
      started.push(browser);
      return browser;
    });
    await Promise.all(started.map((b) => b.close()));
  },
});

export { expect };
