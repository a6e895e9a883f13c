import {
  advanceAll,
  expect,
  expectLeader,
  expectMesh,
  expectStage,
  openPlayer,
  openPlayers,
  pressDone,
  snap,
  TIMING,
  test,
  textOf,
  tid,
  uniqueRoom,
} from './helpers.ts';

const peer = (page: import('@playwright/test').Page, id: number) =>
  page.locator(`[data-testid="peer"][data-peer-id="${id}"]`);

test('a cut link is relayed through the server and there is still one leader', async ({
  browser,
  server,
  players,
}) => {
  const room = uniqueRoom();
  players.push(...(await openPlayers(browser, server, room, 3, TIMING)));
  await expectLeader(players, 1);
  await expectMesh(players);
  const [p1, p2, p3] = players as [(typeof players)[0], (typeof players)[0], (typeof players)[0]];
  const term = await textOf(p1.page, 'term');
  await tid(p2.page, 'chaos-cut-1').click();
  // Both ends notice the dead direct path and switch to the relay.
  await expect(peer(p2.page, 1)).toHaveAttribute('data-state', 'relayed');
  await expect(peer(p1.page, 2)).toHaveAttribute('data-state', 'relayed');
  await expect(peer(p2.page, 3)).toHaveAttribute('data-state', 'direct');
  await snap(p2.page, 'chaos-cut-link');
  // Hold the cut for several timeouts: nobody suspects anybody, so no second leader and no new term.
  await p2.page.waitForTimeout(3 * TIMING.timeoutMs);
  await expectLeader(players, 1);
  for (const p of players) await expect(tid(p.page, 'term')).toHaveText(term);
  await expect(peer(p2.page, 1)).toHaveAttribute('data-state', 'relayed');
  // DONE and ADVANCE between 1 and 2 also cross the relay.
  await advanceAll([p2, p3, p1], 1);
  const stats = await textOf(p2.page, 'net-stats');
  expect(Number(/relayed (\d+)/.exec(stats)?.[1])).toBeGreaterThan(0);
  // Healing the cut goes back to the direct channel.
  await tid(p2.page, 'chaos-cut-1').click();
  await expect(peer(p2.page, 1)).toHaveAttribute('data-state', 'direct');
  await expect(peer(p1.page, 2)).toHaveAttribute('data-state', 'direct');

  // A newcomer that never hears player 2 (crashed) waits to open its devtools, and its button opens them at
  // once: well before the wait's 10 s bound.
  await tid(p2.page, 'chaos-crash').click();
  const p4 = await openPlayer(browser, server, room, 'p4');
  players.push(p4);
  await expect(tid(p4.page, 'devtools-waiting')).toBeVisible();
  await tid(p4.page, 'devtools-open').press('Enter');
  await expect(tid(p4.page, 'visualizer')).toBeVisible({ timeout: 3_000 });
  await expect(tid(p4.page, 'devtools-waiting')).toHaveCount(0);
  // Keyboard focus went with the button to what replaced it.
  await expect(p4.page.getByRole('region', { name: 'Election devtools' })).toBeFocused();
});

test('a minority side shows the quorum banner and does not advance', async ({ browser, server, players }) => {
  players.push(...(await openPlayers(browser, server, uniqueRoom(), 5, TIMING)));
  await expectLeader(players, 1);
  await expectMesh(players);
  const minority = players.slice(0, 2);
  const majority = players.slice(2);
  for (const p of majority) await tid(p.page, 'chaos-crash').click();
  for (const p of minority) {
    await expect(tid(p.page, 'quorum')).toBeVisible({ timeout: 10_000 });
    await expect(tid(p.page, 'quorum')).toContainText(
      'waiting for players 3, 4 and 5: 3 of 5 agreed members needed',
    );
  }
  await snap(minority[0]!.page, 'minority-quorum-banner');
  for (const p of minority) await pressDone(p);
  // Everyone it can reach is done, yet a minority must not commit: give it several timeouts to misbehave.
  await minority[0]!.page.waitForTimeout(2 * TIMING.timeoutMs);
  await expectStage(minority, 0);
  for (const p of majority) await tid(p.page, 'chaos-recover').click();
  for (const p of players) await expect(tid(p.page, 'quorum')).toHaveCount(0, { timeout: 10_000 });
  await expectLeader(players, 1);
  // The minority's Done survived; the rest finish the stage.
  for (const [i, p] of majority.entries()) await pressDone(p, i === majority.length - 1);
  await expectStage(players, 1);
});
