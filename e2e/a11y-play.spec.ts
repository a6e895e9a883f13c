import { fileURLToPath } from 'node:url';
import type { Locator, Page } from '@playwright/test';
import {
  advanceAll,
  axeViolations,
  expect,
  expectLeader,
  expectMesh,
  expectStage,
  openPlayer,
  openPlayers,
  type Player,
  snap,
  TIMING,
  test,
  textOf,
  tid,
  uniqueRoom,
} from './helpers.ts';

/** The focused element shows a focus ring: an outline or (text fields) a box shadow. */
async function expectFocusVisible(target: Locator): Promise<void> {
  const ring = await target.evaluate((el) => {
    const cs = getComputedStyle(el);
    const outline = cs.outlineStyle !== 'none' && Number.parseFloat(cs.outlineWidth) > 0;
    return el === document.activeElement && (outline || cs.boxShadow !== 'none');
  });
  expect(ring, 'focused element has a visible focus ring').toBe(true);
}

/** Presses Tab (or Shift+Tab) until `target` has the focus; fails if it never gets it. */
async function tabTo(page: Page, target: Locator, back = false, max = 120): Promise<void> {
  await expect(target).toBeVisible();
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
    if (await target.evaluate((el) => el === document.activeElement)) {
      await expectFocusVisible(target);
      return;
    }
  }
  throw new Error(`${back ? 'Shift+Tab' : 'Tab'} never reached ${target}`);
}

/**
 * Tabs once through the whole page: on to its end from wherever the focus is, then from the top round to the
 * end again. Every stop must come later in the document than the one before (the focus order is the reading
 * order) and show a focus ring. Returns a name for each stop.
 */
async function tabCycle(page: Page): Promise<string[]> {
  expect(await page.locator('[tabindex]:not([tabindex="0"]):not([tabindex="-1"])').count()).toBe(0);
  await page.evaluate(() => {
    (window as unknown as { __prevFocus?: Element }).__prevFocus = undefined;
  });
  const stops: string[] = [];
  let recording = false;
  for (let i = 0; i < 400; i++) {
    await page.keyboard.press('Tab');
    const step = await page.evaluate(() => {
      const w = window as unknown as { __prevFocus?: Element };
      const cur = document.activeElement;
      const prev = w.__prevFocus;
      if (!cur || cur === document.body) {
        w.__prevFocus = undefined;
        return { wrapped: true, first: false, ring: false, name: '' };
      }
      w.__prevFocus = cur;
      const forward =
        !prev?.isConnected || (prev.compareDocumentPosition(cur) & Node.DOCUMENT_POSITION_FOLLOWING) !== 0;
      const cs = getComputedStyle(cur);
      return {
        // Back at the top without passing the body: this stop is the page's first.
        wrapped: !forward,
        first: !forward,
        ring:
          (cs.outlineStyle !== 'none' && Number.parseFloat(cs.outlineWidth) > 0) || cs.boxShadow !== 'none',
        name:
          cur.getAttribute('data-testid') ??
          `${cur.tagName.toLowerCase()}:${(cur.getAttribute('aria-label') ?? cur.textContent ?? '').trim().slice(0, 30)}`,
      };
    });
    if (step.wrapped) {
      if (recording) break;
      recording = true;
      if (!step.first) continue;
    }
    if (!recording) continue;
    expect(step.ring, `focus ring on ${step.name}`).toBe(true);
    stops.push(step.name);
  }
  expect(recording, 'the Tab cycle came round to the top').toBe(true);
  return stops;
}

test('keyboard only: two players join, mark done, undo, share, step the visualizer and use every chaos control', async ({
  browser,
  server,
  players,
}) => {
  test.setTimeout(240_000);
  const open = async (name: string) => {
    const context = await browser.newContext({ permissions: ['clipboard-read', 'clipboard-write'] });
    const page = await context.newPage();
    page.on('pageerror', (err) => console.error(`[${name}] page error: ${err.message}`));
    const p: Player = { name, context, page };
    players.push(p);
    await page.goto(`${server.url}/`);
    return p;
  };
  const key = (p: Player, k: string) => p.page.keyboard.press(k);

  // Ann creates a room from the lobby.
  const ann = await open('Ann');
  await tabTo(ann.page, tid(ann.page, 'lobby-name'));
  await ann.page.keyboard.type('Ann');
  await tabTo(ann.page, tid(ann.page, 'lobby-create'));
  await key(ann, 'Enter');
  await expect(tid(ann.page, 'self-id')).toHaveText('1');
  await expectLeader([ann], 1);

  // She copies the link and opens the QR code.
  await tabTo(ann.page, tid(ann.page, 'share-toggle'));
  await key(ann, 'Enter');
  await tabTo(ann.page, tid(ann.page, 'copy-link'));
  await key(ann, 'Enter');
  // The button says "Copied" for 1.5 s only; the clipboard is what counts.
  const roomLink = await tid(ann.page, 'room-link').inputValue();
  expect(roomLink).toMatch(/\/r\/[\w-]+$/);
  await expect.poll(() => ann.page.evaluate(() => navigator.clipboard.readText())).toBe(roomLink);
  const link = roomLink;
  await tabTo(ann.page, tid(ann.page, 'toggle-qr'));
  await key(ann, 'Enter');
  await expect(tid(ann.page, 'qr').locator('img')).toBeVisible();

  // Bob pastes it into the lobby's join form.
  const bob = await open('Bob');
  await tabTo(bob.page, tid(bob.page, 'lobby-name'));
  await bob.page.keyboard.type('Bob');
  await tabTo(bob.page, tid(bob.page, 'lobby-room'));
  await bob.page.keyboard.type(link);
  await key(bob, 'Enter');
  await expect(tid(bob.page, 'self-id')).toHaveText('2');
  await expectLeader([ann, bob], 1);
  await expectMesh([ann, bob]);
  // The devtools mount once the room has stayed formed for 2 s: a fast machine gets here sooner.
  await expect(tid(ann.page, 'devtools-waiting')).toHaveCount(0);
  await expect(tid(ann.page, 'chaos-crash')).toBeVisible();

  // The whole room page in one Tab cycle: reading order, a focus ring everywhere, every control reachable.
  const stops = await tabCycle(ann.page);
  const chaosControls = await ann.page
    .getByTestId('chaos')
    .locator('button, input, select, textarea, a[href]')
    .evaluateAll((els) => els.map((e) => e.getAttribute('data-testid') ?? e.textContent ?? '?'));
  expect(chaosControls.length).toBeGreaterThanOrEqual(5);
  for (const c of [
    'theme-toggle',
    'leave',
    'done-button',
    'copy-link',
    'toggle-qr',
    'viz-step-back',
    'viz-pause',
    'viz-step',
    'event-log',
    ...chaosControls,
  ]) {
    expect(stops, `Tab reaches ${c}`).toContain(c);
  }
  expect(stops.indexOf('done-button')).toBeLessThan(stops.indexOf('viz-pause'));
  expect(stops.indexOf('viz-pause')).toBeLessThan(stops.indexOf('chaos-crash'));

  // Done, undo, Done again (Space), then Bob's Done (Enter) advances the room.
  await tabTo(ann.page, tid(ann.page, 'done-button'));
  await key(ann, 'Space');
  await expect(tid(ann.page, 'done-button')).toHaveAttribute('aria-pressed', 'true');
  await key(ann, 'Space');
  await expect(tid(ann.page, 'done-button')).toHaveAttribute('aria-pressed', 'false');
  await key(ann, 'Space');
  await expect(tid(ann.page, 'done-button')).toHaveAttribute('aria-pressed', 'true');
  await expect(tid(ann.page, 'done-count')).toHaveText('1/2');
  await expectStage([ann, bob], 0);
  await tabTo(bob.page, tid(bob.page, 'done-button'));
  await key(bob, 'Enter');
  await expectStage([ann, bob], 1);
  await expect(tid(ann.page, 'history-entry')).toHaveCount(1);
  for (const p of [ann, bob]) await expect(tid(p.page, 'announcer')).toContainText('Advanced to stage 1');

  // Pause, step back (arrow key), step forward (button), play (P).
  const frame = async () => {
    const m = /frame (\d+)\//.exec(
      await ann.page.locator('[data-testid="visualizer"] figcaption').innerText(),
    );
    return m ? Number(m[1]) : null;
  };
  await tabTo(ann.page, tid(ann.page, 'viz-pause'));
  await key(ann, 'Enter');
  await expect(tid(ann.page, 'viz-pause')).toHaveAttribute('aria-pressed', 'true');
  await expect.poll(frame).not.toBeNull();
  const paused = (await frame()) as number;
  expect(paused).toBeGreaterThan(2);
  await key(ann, 'ArrowLeft');
  await expect.poll(frame).toBe(paused - 1);
  await tabTo(ann.page, tid(ann.page, 'viz-step-back'), true);
  await key(ann, 'Enter');
  await expect.poll(frame).toBe(paused - 2);
  await tabTo(ann.page, tid(ann.page, 'viz-step'));
  await key(ann, 'Enter');
  await expect.poll(frame).toBe(paused - 1);
  await key(ann, 'p');
  await expect(tid(ann.page, 'viz-pause')).toHaveAttribute('aria-pressed', 'false');

  // Every chaos control: crash and recover, cut and heal the link to Bob, set and clear a latency.
  await tabTo(ann.page, tid(ann.page, 'chaos-crash'));
  await key(ann, 'Enter');
  await expect(tid(ann.page, 'chaos-crash')).toHaveAttribute('aria-pressed', 'true');
  await tabTo(ann.page, tid(ann.page, 'chaos-recover'));
  await key(ann, 'Enter');
  await expect(tid(ann.page, 'chaos-crash')).toHaveAttribute('aria-pressed', 'false');
  await tabTo(ann.page, tid(ann.page, 'chaos-cut-2'));
  await key(ann, 'Enter');
  await expect(tid(ann.page, 'chaos-cut-2')).toHaveAttribute('aria-pressed', 'true');
  await expect(ann.page.locator('[data-testid="peer"][data-peer-id="2"]')).toHaveAttribute(
    'data-state',
    'relayed',
  );
  await key(ann, 'Enter');
  await expect(tid(ann.page, 'chaos-cut-2')).toHaveAttribute('aria-pressed', 'false');
  await tabTo(ann.page, tid(ann.page, 'chaos-latency'));
  await key(ann, 'ControlOrMeta+a');
  await ann.page.keyboard.type('4o');
  await key(ann, 'Enter');
  await expect(tid(ann.page, 'chaos-latency-problem')).toHaveText(
    'Latency is a whole number of milliseconds, 0 to 5000.',
  );
  await expect(tid(ann.page, 'chaos-latency')).toHaveAttribute('aria-invalid', 'true');
  await expect(tid(ann.page, 'chaos-latency-clear')).toHaveCount(0);
  await key(ann, 'ControlOrMeta+a');
  await ann.page.keyboard.type('40');
  await key(ann, 'Enter');
  await expect(tid(ann.page, 'chaos-latency-clear')).toHaveText('Clear (40 ms)');
  await expect(tid(ann.page, 'chaos-latency-problem')).toHaveCount(0);
  await tabTo(ann.page, tid(ann.page, 'chaos-latency-clear'));
  await key(ann, 'Enter');
  await expect(tid(ann.page, 'chaos-latency-clear')).toHaveCount(0);
  await expect(tid(ann.page, 'net-stats')).toBeVisible();
  await expectLeader([ann, bob], 1);
});

test('the live region announces advances, leader changes and the quorum, and not heartbeats', async ({
  browser,
  server,
  players,
}) => {
  test.setTimeout(240_000);
  players.push(...(await openPlayers(browser, server, uniqueRoom(), 3, TIMING)));
  const [p1, p2, p3] = players as [Player, Player, Player];
  await expectLeader(players, 1);
  await expectMesh(players);
  const region = (p: Player) => tid(p.page, 'announcer');
  await expect(region(p2)).toHaveAttribute('aria-live', 'polite');

  // A steady room: heartbeats flow, nothing is said.
  const before = await textOf(p2.page, 'announcer');
  await p2.page.waitForTimeout(3_000);
  expect(await textOf(p2.page, 'announcer')).toBe(before);

  await advanceAll(players, 1);
  for (const p of players) await expect(region(p)).toContainText('Advanced to stage 1: Round 1.');

  await tid(p1.page, 'chaos-crash').click();
  await expectLeader([p2, p3], 2);
  await expect(region(p2)).toContainText('You (player 2) are now the leader.');
  await expect(region(p3)).toContainText('Player 2 is now the leader.');

  await tid(p3.page, 'chaos-crash').click();
  await expect(tid(p2.page, 'quorum')).toBeVisible();
  await expect(region(p2)).toContainText(
    /Quorum lost: waiting for players? .+: 2 of 3 agreed members needed\. This side cannot advance until 2 players are reachable\./,
  );
  // Ten timeouts without a majority: the banner offers what can go on if nobody comes back.
  await expect(tid(p2.page, 'next-room')).toBeVisible({ timeout: 30_000 });
  await expect(tid(p2.page, 'quorum')).toContainText(
    'If they are not coming back, only a new room can go on: start one with this room’s settings, then invite the others.',
  );
  await tid(p3.page, 'chaos-recover').click();
  await expect(tid(p2.page, 'quorum')).toHaveCount(0);
  await expect(tid(p2.page, 'next-room')).toHaveCount(0);
  await expect(region(p2)).toContainText('Quorum regained');
});

test('with reduced motion the visualizer shows state in words and flies no messages', async ({
  browser,
  server,
  players,
}) => {
  test.setTimeout(180_000);
  const room = uniqueRoom();
  const full = await openPlayer(browser, server, room, 'Full', TIMING);
  players.push(full);
  const still = await openPlayer(browser, server, room, 'Still', {}, { reducedMotion: 'reduce' });
  players.push(still);
  await expectLeader(players, 1);
  await expectMesh(players);
  const viz = (p: Player) => tid(p.page, 'visualizer');
  await expect(viz(full)).toHaveAttribute('data-motion', 'full');
  await expect(viz(still)).toHaveAttribute('data-motion', 'reduced');

  // Sample both rings inside their pages for 3 s while heartbeats flow both ways.
  const sample = (p: Player) =>
    p.page.evaluate(
      () =>
        new Promise<number>((resolve) => {
          const el = document.querySelector('[data-testid="visualizer"]');
          let most = 0;
          const h = window.setInterval(() => {
            most = Math.max(most, Number(el?.getAttribute('data-flights') ?? 0));
          }, 50);
          window.setTimeout(() => {
            window.clearInterval(h);
            resolve(most);
          }, 3_000);
        }),
    );
  const [mostFull, mostStill] = await Promise.all([sample(full), sample(still)]);
  expect(mostFull, 'heartbeats fly on the animated ring').toBeGreaterThan(0);
  expect(mostStill, 'nothing flies on the reduced-motion ring').toBe(0);

  // The state is still there, in the ring's label and in words.
  await expect(tid(still.page, 'viz-ring')).toBeVisible();
  await expect(tid(still.page, 'viz-ring')).toHaveAttribute('aria-label', /leader 1; stage 0 \(Lobby\)/);
  await expect(tid(still.page, 'viz-text')).toContainText(/Term \d+ · leader 1 · stage 0 \(Lobby\)/);
  await advanceAll(players, 1);
  await expect(tid(still.page, 'viz-text')).toContainText('stage 1 (Round 1)');
  await expect(tid(still.page, 'viz-text')).toContainText('received advance from 1');
  await expect(tid(full.page, 'viz-text')).toContainText('sent advance to 2');
});

test('a 390 px phone: every control is at least 44 × 44 px and nothing scrolls sideways', async ({
  browser,
  server,
  players,
}) => {
  test.setTimeout(180_000);
  const phone = {
    viewport: { width: 390, height: 844 },
    isMobile: true,
    hasTouch: true,
    deviceScaleFactor: 2,
  };
  const check = async (page: Page, what: string) => {
    const small = await page
      .locator('a[href], button, input, textarea, select, summary, [tabindex]:not([tabindex="-1"])')
      .evaluateAll((els) =>
        els
          .map((e) => ({ e, r: e.getBoundingClientRect() }))
          .filter(({ r }) => r.width > 0 && r.height > 0)
          .filter(({ r }) => r.width < 43.5 || r.height < 43.5)
          .map(
            ({ e, r }) =>
              `${e.getAttribute('data-testid') ?? e.tagName.toLowerCase()} ${Math.round(r.width)}×${Math.round(r.height)}`,
          ),
      );
    expect(small, `controls under 44 × 44 px: ${what}`).toEqual([]);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, `horizontal overflow: ${what}`).toBeLessThanOrEqual(0);
  };

  const room = uniqueRoom();
  const p1 = await openPlayer(browser, server, room, 'Ann', TIMING, phone);
  players.push(p1);
  const p2 = await openPlayer(browser, server, room, 'Bob', {}, phone);
  players.push(p2);
  await expectLeader(players, 1);
  await expectMesh(players);
  await tid(p1.page, 'chaos-latency-apply').click();
  await expect(tid(p1.page, 'chaos-latency-clear')).toBeVisible();
  await pressDoneOnly(p2);
  await tid(p1.page, 'share-toggle').click();
  await tid(p1.page, 'toggle-qr').click();
  await expect(tid(p1.page, 'qr').locator('img')).toBeVisible();
  await check(p1.page, 'room');
  await check(p2.page, 'room (Done)');
  // One column, the brand's word hidden: every rule axe runs by default (a11y.spec scans the desktop layout).
  const violations = await axeViolations(p1.page);
  expect(
    violations.map((v) => `${v.id} (${v.nodes.map((n) => n.target.join(' ')).join(' | ')})`),
    'axe violations at 390 px',
  ).toEqual([]);
  const shot = await snap(p1.page, 'room-390');
  if (process.env.DOCS_SCREENSHOTS) {
    await p1.page.screenshot({
      path: fileURLToPath(new URL('../docs/room-390.png', import.meta.url)),
      fullPage: true,
    });
  }
  expect(shot).toBeTruthy();

  await p2.page.goto(`${server.url}/`);
  await expect(tid(p2.page, 'lobby-create')).toBeVisible();
  await check(p2.page, 'lobby');
  await p2.page.goto(`${server.url}/r/not*a*room`);
  await expect(tid(p2.page, 'url-error')).toBeVisible();
  await check(p2.page, 'error page');
  await p2.page.goto(`${server.url}/r/${room}`);
  await expect(tid(p2.page, 'gate-name')).toBeVisible();
  await check(p2.page, 'name prompt');
});

async function pressDoneOnly(p: Player): Promise<void> {
  await tid(p.page, 'done-button').click();
  await expect(tid(p.page, 'done-button')).toHaveAttribute('aria-pressed', 'true');
}
