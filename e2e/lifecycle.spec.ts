// The page lifecycle faults real players cause: a tab frozen past its grace (a phone's background tab,
// Memory Saver) and a duplicated tab (its sessionStorage copied into a second live tab).

import {
  advanceAll,
  expect,
  expectLeader,
  expectMesh,
  expectStage,
  openPlayer,
  openPlayers,
  type Player,
  pressDone,
  roomUrl,
  TIMING,
  test,
  textOf,
  tid,
  uniqueRoom,
  watched,
  watchText,
} from './helpers.ts';
import { readText } from './kit.ts';

test('a follower frozen past its grace comes back without bumping the term, and catches up', async ({
  browser,
  server,
  players,
  own,
}) => {
  // The fixture's server runs with GRACE_MS=3000. Cyd's tab is in a Chromium of its own, which can freeze it.
  test.setTimeout(150_000);
  const room = uniqueRoom('freeze');
  players.push(...(await openPlayers(browser, server, room, 2, TIMING)));
  const [ann, bob] = players as [Player, Player];
  const tab = await own();
  const cydSays = (id: string) => readText(tab, id);
  const cydDone = () => tab.read(`document.querySelector('[data-testid="done-button"]').click()`);
  await tab.goto(roomUrl(server, room, 'Cyd'));
  await expect.poll(() => cydSays('self-id'), { timeout: 20_000 }).toBe('3');
  await expectLeader(players, 1);
  await expect.poll(() => cydSays('leader-id')).toBe('1');
  for (const p of players)
    await expect(p.page.locator('[data-testid="peer"][data-state="direct"]')).toHaveCount(2, {
      timeout: 20_000,
    });
  await pressDone(ann);
  await cydDone();
  await pressDone(bob, true);
  await expectStage(players, 1);
  await expect.poll(() => cydSays('stage')).toBe('1');

  await tab.freeze();
  // Nothing runs in a frozen page, its socket included: the others suspect it, the server expires it, and
  // the two left (a majority of three) go on without it.
  for (const p of players)
    await expect(p.page.locator('[data-testid="peer"][data-peer-id="3"]')).toHaveAttribute(
      'data-state',
      /suspected|offline/,
    );
  await pressDone(ann);
  await pressDone(bob, true);
  await expectStage(players, 2, 30_000);
  const term = await textOf(ann.page, 'term');
  for (const p of players) await watchText(p, 'term');
  // Well past the grace: its session is gone when it wakes.
  await ann.page.waitForTimeout(8_000);

  await tab.resume();
  // It wakes with its old state and its timers overdue. It listens before it acts, so it neither campaigns
  // nor takes a stage back; it catches up to the room's stage under a new ID.
  await expect.poll(() => cydSays('stage'), { timeout: 30_000 }).toBe('2');
  await expect.poll(() => cydSays('self-id')).toMatch(/^(?!3$)\d+$/);
  await expect.poll(() => cydSays('leader-id')).toBe('1');
  await expectLeader(players, 1);
  await ann.page.waitForTimeout(3 * TIMING.timeoutMs);
  if (process.env.DEBUG_E2E) {
    console.log('ANN', ((await ann.page.getByTestId('event-log').textContent()) ?? '').slice(0, 3000));
    console.log(
      'CYD',
      String(await tab.read(`document.querySelector('[data-testid="event-log"]')?.innerText`)).slice(0, 4000),
    );
  }
  for (const p of players) {
    expect(new Set((await watched(p, 'term')).map((e) => e.v)), `${p.name}'s term`).toEqual(new Set([term]));
    await expect(tid(p.page, 'stage')).toHaveText('2');
  }
  // Every stage once in its history: 1, then 2.
  expect(await tab.read(`document.querySelectorAll('[data-testid="history-entry"]').length`)).toBe(2);
  // And it plays on: all three advance together.
  await expect(tid(ann.page, 'peer')).toHaveCount(3, { timeout: 20_000 });
  await pressDone(ann);
  await expect.poll(() => cydSays('done-count'), { timeout: 20_000 }).toMatch(/^1\/3$/);
  await cydDone();
  await pressDone(bob, true);
  await expectStage(players, 3);
  await expect.poll(() => cydSays('stage')).toBe('3');
});

test('a duplicated tab joins as a new player and leaves the original its ID', async ({
  browser,
  server,
  players,
}) => {
  players.push(...(await openPlayers(browser, server, uniqueRoom('dup'), 2, TIMING)));
  const [, bob] = players as [Player, Player];
  await expectLeader(players, 1);
  await expectMesh(players);
  await advanceAll(players, 1);

  // Chrome's "Duplicate" copies the tab's sessionStorage (Bob's ID, token and state) into a new tab of the
  // same browser profile, which also shares Bob's Web Locks.
  const stored = await bob.page.evaluate(() => Object.entries(sessionStorage));
  expect(stored.length).toBeGreaterThan(0);
  const page = await bob.context.newPage();
  await page.addInitScript((entries) => {
    for (const [k, v] of entries) sessionStorage.setItem(k, v);
  }, stored);
  await page.goto(bob.page.url());
  const copy: Player = { name: 'copy', context: bob.context, page };

  await expect(tid(page, 'self-id')).toHaveText('3');
  await expect(tid(bob.page, 'self-id')).toHaveText('2');
  for (const p of [...players, copy]) {
    await expect(p.page.getByTestId('peer')).toHaveCount(3, { timeout: 20_000 });
    await expect(tid(p.page, 'session-error')).toHaveCount(0);
  }
  await expectLeader([...players, copy], 1);
  await expectStage([copy], 1);
  await advanceAll([...players, copy], 2);
});

test('a copy of a tab taken before its player played on, opened once the original closed, joins as a new player', async ({
  browser,
  server,
  players,
}) => {
  players.push(...(await openPlayers(browser, server, uniqueRoom('stale'), 3, TIMING)));
  const [ann, bob, cyd] = players as [Player, Player, Player];
  await expectLeader(players, 1);
  await expectMesh(players);
  await advanceAll(players, 1);
  // A duplicate (or a restored tab) holds Bob's storage as it was at stage 1…
  const stored = await bob.page.evaluate(() => Object.entries(sessionStorage));
  // …while Bob plays on, then closes: what he promised since is not in that copy.
  await advanceAll(players, 2);
  await bob.page.close({ runBeforeUnload: true });
  players.splice(1, 1);
  const page = await bob.context.newPage();
  await page.addInitScript((entries) => {
    for (const [k, v] of entries) sessionStorage.setItem(k, v);
  }, stored);
  await page.goto(roomUrl(server, /\/r\/([^?#]+)/.exec(ann.page.url())![1]!, 'Bob'));
  const copy: Player = { name: 'copy', context: bob.context, page };
  players.push(copy);
  await expect(tid(page, 'self-id')).toHaveText('4');
  await expect(tid(page, 'event-log')).toContainText('older than what that player saved since');
  await expectLeader([ann, cyd, copy], 1);
  await expectStage([copy], 2, 20_000);
  await advanceAll([ann, cyd, copy], 3);
});

test('a room whose tabs all closed opens again as a new room: its next player is player 1 and plays on', async ({
  browser,
  server,
  players,
}) => {
  // The fixture's server runs with GRACE_MS=3000.
  const room = uniqueRoom('reuse');
  const first = await openPlayers(browser, server, room, 2, TIMING);
  await expectLeader(first, 1);
  await advanceAll(first, 1);
  // Closed tabs say goodbye to the server (pagehide): once their grace is over, nobody is left to wait for.
  for (const p of first) await p.page.close({ runBeforeUnload: true });
  await new Promise((resolve) => setTimeout(resolve, 4_500));
  const next = await openPlayer(browser, server, room, 'Next', TIMING);
  players.push(...first, next);
  await expect(tid(next.page, 'self-id')).toHaveText('1');
  await expectLeader([next], 1);
  await expectStage([next], 0);
  await advanceAll([next], 1);
});
