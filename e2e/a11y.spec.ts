import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from '@playwright/test';
import {
  advanceAll,
  axeViolations,
  expect,
  expectLeader,
  expectMesh,
  openPlayer,
  type Player,
  type ServerProcess,
  TIMING,
  test,
  tid,
  uniqueRoom,
} from './helpers.ts';

type Scheme = 'light' | 'dark';
/** The two-column layout; the phone's one column is scanned in a11y-play's 390 px test. */
const DESKTOP = { width: 1280, height: 900 };
const schemes = ['light', 'dark'] as const;

interface Finding {
  state: string;
  violations: { id: string; impact: string | null | undefined; nodes: number; targets: string[] }[];
}

type Findings = Record<Scheme, Finding[]>;

/**
 * The rules whose outcome a colour scheme can change. A scheme swaps only colours (every one hangs off
 * `data-theme`), so a state's structure, names and roles are checked once, in the scheme it loads with.
 */
const COLOUR_RULES = ['color-contrast', 'link-in-text-block'];

/**
 * Every rule axe runs by default (WCAG 2.x A and AA, best practices), or with `colourOnly` the colour rules,
 * and any violation of any impact fails.
 */
async function scan(
  page: Page,
  state: string,
  scheme: Scheme,
  findings: Finding[],
  colourOnly: boolean,
): Promise<void> {
  await expect(page.locator('html')).toHaveAttribute('data-theme', scheme);
  // Only violations are read: axe then skips the details of every passing node, most of a scan's time.
  const found = await axeViolations(page, colourOnly ? COLOUR_RULES : undefined);
  const violations = found.map((v) => ({
    id: v.id,
    impact: v.impact,
    nodes: v.nodes.length,
    targets: v.nodes.slice(0, 6).map((n) => n.target.join(' ')),
  }));
  findings.push({ state, violations });
  expect
    .soft(
      violations.map((v) => `${v.id} (${v.impact}, ${v.nodes} nodes: ${v.targets.join(' | ')})`),
      `axe violations: ${state} [${scheme}]`,
    )
    .toEqual([]);
}

async function themeOf(page: Page): Promise<Scheme> {
  const theme = await page.locator('html').getAttribute('data-theme');
  if (theme !== 'light' && theme !== 'dark') throw new Error(`no theme on the page: ${theme}`);
  return theme;
}

/**
 * Switches a built page state to `scheme` without rebuilding it. The theme is chosen once per page load
 * (public/theme.js from the system scheme, unless the theme toggle stored a choice) and changes only through
 * the toggle, so: the system scheme for the page's media, and the toggle for the theme. Every colour the page
 * uses hangs off `data-theme` (and `color-scheme` with it), so the result is the page that scheme loads with.
 */
async function switchScheme(page: Page, scheme: Scheme): Promise<void> {
  await page.emulateMedia({ colorScheme: scheme });
  if ((await themeOf(page)) !== scheme) await tid(page, 'theme-toggle').click();
  await expect(page.locator('html')).toHaveAttribute('data-theme', scheme);
}

/**
 * Scans one page state in both colour schemes: every rule in the one the page shows first, the colour rules
 * in the other. `holds` checks (or, for a state
 * that times out, sets up again) the state before each scan.
 */
async function scanBoth(
  page: Page,
  state: string,
  findings: Findings,
  holds: () => Promise<void> = async () => {},
): Promise<void> {
  const first = await themeOf(page);
  for (const scheme of first === 'light' ? schemes : ([...schemes].reverse() as Scheme[])) {
    await switchScheme(page, scheme);
    await holds();
    const started = Date.now();
    await scan(page, state, scheme, findings[scheme], scheme !== first);
    mark(`${state} [${scheme}], scanned in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

let t0 = Date.now();
/** Phase timings in the log, like e2e/liar's: where a slow run spent its time. */
function mark(what: string): void {
  console.log(`[a11y] ${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
}

function report(findings: Findings): void {
  const dir = fileURLToPath(new URL('../test-results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  for (const scheme of schemes) {
    writeFileSync(`${dir}a11y-${scheme}.json`, `${JSON.stringify(findings[scheme], null, 2)}\n`);
    for (const f of findings[scheme]) {
      const summary =
        f.violations.length === 0
          ? 'no violations'
          : f.violations.map((v) => `${v.impact} ${v.id} ×${v.nodes}`).join(', ');
      console.log(`[axe ${scheme}] ${f.state}: ${summary}`);
    }
  }
}

/** A page in a context with the given system scheme; the page loads in that scheme. */
async function openPage(browser: Browser, scheme: Scheme, url: string): Promise<Player> {
  const context = await browser.newContext({ colorScheme: scheme, viewport: DESKTOP });
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`[${url}] page error: ${err.message}`));
  await page.goto(url);
  await expect(page.locator('html')).toHaveAttribute('data-theme', scheme);
  return { name: url, context, page };
}

async function scanEveryState(browser: Browser, server: ServerProcess, players: Player[]): Promise<void> {
  const findings: Findings = { light: [], dark: [] };
  t0 = Date.now();

  // The contexts' system schemes alternate, so each scheme is also met on a first load.
  const lobby = await openPage(browser, 'light', `${server.url}/`);
  players.push(lobby);
  await expect(tid(lobby.page, 'lobby-create')).toBeVisible();
  await scanBoth(lobby.page, 'lobby', findings);
  // The lobby's own form errors.
  await tid(lobby.page, 'lobby-name').fill('');
  await tid(lobby.page, 'lobby-create').click();
  await tid(lobby.page, 'lobby-join').click();
  await scanBoth(lobby.page, 'lobby with form errors', findings, () =>
    expect(tid(lobby.page, 'form-errors')).toHaveCount(2),
  );

  await lobby.page.goto(`${server.url}/r/not*a*room?heartbeatMs=1`);
  await expect(tid(lobby.page, 'url-error')).toBeVisible();
  await scanBoth(lobby.page, 'error page', findings);

  await lobby.page.goto(`${server.url}/r/${uniqueRoom()}`);
  await expect(tid(lobby.page, 'gate-name')).toBeVisible();
  await scanBoth(lobby.page, 'name prompt', findings);

  const room = uniqueRoom();
  const p1 = await openPlayer(browser, server, room, 'Ann', TIMING, {
    colorScheme: 'dark',
    viewport: DESKTOP,
  });
  players.push(p1);
  await expect(p1.page.locator('html')).toHaveAttribute('data-theme', 'dark');
  await expectLeader([p1], 1);
  await scanBoth(p1.page, 'room, alone', findings);

  const p2 = await openPlayer(browser, server, room, 'Bob', {}, { colorScheme: 'light', viewport: DESKTOP });
  players.push(p2);
  await expect(p2.page.locator('html')).toHaveAttribute('data-theme', 'light');
  await expectLeader([p1, p2], 1);
  await expectMesh([p1, p2]);
  // The invite card open, with its QR code.
  await tid(p1.page, 'share-toggle').click();
  await tid(p1.page, 'toggle-qr').click();
  await scanBoth(p1.page, 'room, with others (leader, invite and QR open)', findings, () =>
    expect(tid(p1.page, 'qr').locator('img')).toBeVisible(),
  );
  await scanBoth(p2.page, 'room, with others (follower)', findings);

  await advanceAll([p1, p2], 1);
  await expect(tid(p1.page, 'history-entry')).toHaveCount(1);
  await scanBoth(p1.page, 'room, after an advance', findings);
  // A player reached through the server only: its badge (`relayed`) was under 4.5:1 in the light scheme.
  await tid(p2.page, 'chaos-cut-1').click();
  const relayedRow = p2.page.locator('[data-testid="peer"][data-peer-id="1"]');
  await expect(relayedRow).toHaveAttribute('data-state', 'relayed', { timeout: 10_000 });
  await scanBoth(p2.page, 'room, a player reached through the server', findings, () =>
    expect(relayedRow).toHaveAttribute('data-state', 'relayed'),
  );

  await tid(p2.page, 'chaos-crash').click();
  await expect(tid(p1.page, 'quorum')).toBeVisible({ timeout: 10_000 });
  await scanBoth(p1.page, 'room, no quorum', findings, () => expect(tid(p1.page, 'quorum')).toBeVisible());
  await scanBoth(p2.page, 'room, crashed tab', findings);
  // Done with that room: its tabs (one of them out of quorum, electing) would only slow down the scans below.
  await Promise.all([p1, p2].map((p) => p.context.close()));

  const locked = uniqueRoom();
  const owner = await openPage(browser, 'dark', `${server.url}/r/${locked}?name=Ann#k=right-password`);
  players.push(owner);
  await expect(tid(owner.page, 'encrypted')).toBeVisible();
  const eve = await openPage(browser, 'light', `${server.url}/r/${locked}?name=Eve#k=wrong-password`);
  players.push(eve);
  await expect(tid(eve.page, 'session-error')).toContainText('wrong password');
  await expect(tid(eve.page, 'password-input')).toBeVisible();
  await scanBoth(eve.page, 'password prompt', findings);

  // A player that sent an invalid message (through the opt-in test hook), on the owner's page at the
  // Remove button's confirm step; then the page of the player the owner removed.
  const liar = await openPage(
    browser,
    'dark',
    `${server.url}/r/${locked}?name=Liar&testHooks=1#k=right-password`,
  );
  players.push(liar);
  await expect(tid(liar.page, 'self-id')).toHaveText('2');
  await expectLeader([owner, liar], 1);
  // A stage committed by both: the liar is one of the agreed players, whose invalid messages count.
  await advanceAll([owner, liar], 1);
  const liarRow = owner.page.locator('[data-testid="peer"][data-peer-id="2"]');
  await expect(liarRow.getByTestId('peer-strikes')).toHaveText('0');
  const sent = await liar.page.evaluate(() =>
    (window as unknown as { lockstepTest: { send(to: number, m: unknown): boolean } }).lockstepTest.send(1, {
      t: 'history',
      entries: [],
    }),
  );
  expect(sent).toBe(true);
  await expect
    .poll(async () => Number(await liarRow.getByTestId('peer-strikes').textContent()), { timeout: 20_000 })
    .toBeGreaterThan(0);
  const remove = liarRow.getByTestId('remove-player');
  // The confirm step lasts 8 s: each scheme's scan gets a fresh one (Escape backs out of the one before).
  await scanBoth(
    owner.page,
    'room, owner: a player with strikes, Remove at its confirm step',
    findings,
    async () => {
      if ((await remove.getAttribute('data-confirm')) === 'true') await remove.press('Escape');
      await expect(remove).toHaveAttribute('data-confirm', 'false');
      await remove.click();
      await expect(remove).toHaveAttribute('data-confirm', 'true');
      await expect(liarRow.getByTestId('remove-cancel')).toBeVisible();
    },
  );
  await remove.press('Escape');
  await expect(remove).toHaveAttribute('data-confirm', 'false');
  await remove.click();
  await expect(remove).toHaveAttribute('data-confirm', 'true');
  await remove.click();
  await expect(tid(liar.page, 'session-error')).toContainText(
    'You were removed from this room by its owner',
    {
      timeout: 20_000,
    },
  );
  await scanBoth(liar.page, 'removed page', findings);
  // Both were agreed players: without the one removed, the owner's room of two can never decide again. It
  // says so, and offers its owner a new room with the same settings and password.
  await expect(tid(owner.page, 'room-lost')).toBeVisible({ timeout: 20_000 });
  await scanBoth(owner.page, 'room that cannot go on', findings);
  await tid(owner.page, 'next-room').click();
  await expect(owner.page).toHaveURL(/\/r\/[\w-]{21}\?name=Ann$/);
  expect(owner.page.url()).not.toContain(locked);
  await expect(tid(owner.page, 'self-id')).toHaveText('1');
  await expect(tid(owner.page, 'encrypted')).toBeVisible();

  report(findings);
}

test('axe finds no violation in any page state, light and dark schemes', async ({
  browser,
  server,
  players,
}) => {
  test.setTimeout(420_000);
  await scanEveryState(browser, server, players);
});
