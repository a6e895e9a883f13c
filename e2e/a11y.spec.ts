import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import AxeBuilder from '@axe-core/playwright';
import type { Browser, Page } from '@playwright/test';
import {
  advanceAll,
  expect,
  expectLeader,
  expectMesh,
  openPlayer,
  type Player,
  type ServerProcess,
  test,
  tid,
  uniqueRoom,
} from './helpers.ts';

type Scheme = 'light' | 'dark';

interface Finding {
  state: string;
  violations: { id: string; impact: string | null | undefined; nodes: number; targets: string[] }[];
}

/** Every rule axe runs by default (WCAG 2.x A and AA, best practices), and any violation of any impact fails. */
async function scan(page: Page, state: string, scheme: Scheme, findings: Finding[]): Promise<void> {
  await expect(page.locator('html')).toHaveAttribute('data-theme', scheme);
  const result = await new AxeBuilder({ page }).analyze();
  const violations = result.violations.map((v) => ({
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

function report(scheme: Scheme, findings: Finding[]): void {
  const dir = fileURLToPath(new URL('../test-results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}a11y-${scheme}.json`, `${JSON.stringify(findings, null, 2)}\n`);
  for (const f of findings) {
    const summary =
      f.violations.length === 0
        ? 'no violations'
        : f.violations.map((v) => `${v.impact} ${v.id} ×${v.nodes}`).join(', ');
    console.log(`[axe ${scheme}] ${f.state}: ${summary}`);
  }
}

async function openPage(browser: Browser, scheme: Scheme, url: string): Promise<Player> {
  const context = await browser.newContext({ colorScheme: scheme });
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`[${url}] page error: ${err.message}`));
  await page.goto(url);
  return { name: url, context, page };
}

async function scanEveryState(browser: Browser, server: ServerProcess, players: Player[], scheme: Scheme) {
  const findings: Finding[] = [];
  const ctx = { colorScheme: scheme } as const;

  const lobby = await openPage(browser, scheme, `${server.url}/`);
  players.push(lobby);
  await expect(tid(lobby.page, 'lobby-create')).toBeVisible();
  await scan(lobby.page, 'lobby', scheme, findings);
  // The lobby's own form errors.
  await tid(lobby.page, 'lobby-name').fill('');
  await tid(lobby.page, 'lobby-create').click();
  await tid(lobby.page, 'lobby-join').click();
  await expect(lobby.page.locator('.form-errors')).toHaveCount(2);
  await scan(lobby.page, 'lobby with form errors', scheme, findings);

  await lobby.page.goto(`${server.url}/r/not*a*room?heartbeatMs=1`);
  await expect(tid(lobby.page, 'url-error')).toBeVisible();
  await scan(lobby.page, 'error page', scheme, findings);

  await lobby.page.goto(`${server.url}/r/${uniqueRoom()}`);
  await expect(tid(lobby.page, 'gate-name')).toBeVisible();
  await scan(lobby.page, 'name prompt', scheme, findings);

  const room = uniqueRoom();
  const timing = { heartbeatMs: 250, timeoutMs: 1500 };
  const p1 = await openPlayer(browser, server, room, 'Ann', timing, ctx);
  players.push(p1);
  await expectLeader([p1], 1);
  await scan(p1.page, 'room, alone', scheme, findings);

  const p2 = await openPlayer(browser, server, room, 'Bob', {}, ctx);
  players.push(p2);
  await expectLeader([p1, p2], 1);
  await expectMesh([p1, p2]);
  // The invite card open, with its QR code.
  await p1.page.locator('.share-card summary').click();
  await tid(p1.page, 'toggle-qr').click();
  await expect(tid(p1.page, 'qr').locator('img')).toBeVisible();
  await scan(p1.page, 'room, with others (leader, invite and QR open)', scheme, findings);
  await scan(p2.page, 'room, with others (follower)', scheme, findings);

  await advanceAll([p1, p2], 1);
  await expect(tid(p1.page, 'history-entry')).toHaveCount(1);
  await scan(p1.page, 'room, after an advance', scheme, findings);

  await tid(p2.page, 'chaos-crash').click();
  await expect(tid(p1.page, 'quorum')).toBeVisible({ timeout: 10_000 });
  await scan(p1.page, 'room, no quorum', scheme, findings);
  await scan(p2.page, 'room, crashed tab', scheme, findings);

  const locked = uniqueRoom();
  const owner = await openPage(browser, scheme, `${server.url}/r/${locked}?name=Ann#k=right`);
  players.push(owner);
  await expect(tid(owner.page, 'encrypted')).toBeVisible();
  const eve = await openPage(browser, scheme, `${server.url}/r/${locked}?name=Eve#k=wrong`);
  players.push(eve);
  await expect(tid(eve.page, 'session-error')).toContainText('wrong password');
  await expect(tid(eve.page, 'password-input')).toBeVisible();
  await scan(eve.page, 'password prompt', scheme, findings);

  report(scheme, findings);
}

for (const scheme of ['light', 'dark'] as const) {
  test(`axe finds no violation in any page state, ${scheme} scheme`, async ({ browser, server, players }) => {
    test.setTimeout(420_000);
    await scanEveryState(browser, server, players, scheme);
  });
}
