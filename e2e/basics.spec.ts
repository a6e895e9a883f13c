import {
  expect,
  expectLeader,
  expectMesh,
  expectStage,
  openPlayers,
  pressDone,
  snap,
  test,
  tid,
  uniqueRoom,
} from './helpers.ts';

// One room of five tabs for both checks: forming a five-tab mesh is most of either one's time.
test('five tabs agree on the lowest ID as leader, and when all press Done, all advance', async ({
  browser,
  server,
  players,
}) => {
  // The budget of the two tests this one replaces.
  test.setTimeout(180_000);
  await test.step('five tabs agree on the lowest ID as leader', async () => {
    const started = Date.now();
    players.push(
      ...(await openPlayers(browser, server, uniqueRoom(), 5, { stages: ['Warm-up', 'Main', 'End'] })),
    );
    const ids = await Promise.all(
      players.map(async (p) => Number(await tid(p.page, 'self-id').textContent())),
    );
    expect(ids).toEqual([1, 2, 3, 4, 5]);
    await expectLeader(players, 1);
    await expectMesh(players);
    console.log(`five tabs: joined, mesh formed and leader agreed in ${Date.now() - started} ms`);
    for (const p of players) {
      await expect(tid(p.page, 'term')).toHaveText((await tid(players[0]!.page, 'term').textContent()) ?? '');
      await expect(p.page.getByTestId('peer')).toHaveCount(5);
      await expect(tid(p.page, 'quorum')).toHaveCount(0);
      // The creator, named by the server, in everyone's list.
      await expect(p.page.getByTestId('peer-owner')).toHaveCount(1);
      await expect(
        p.page.locator('[data-testid="peer"][data-peer-id="1"] [data-testid="peer-owner"]'),
      ).toHaveCount(1);
    }
    await snap(players[0]!.page, 'room-five-tabs');
  });

  await test.step('when all press Done, all advance', async () => {
    for (const p of players.slice(0, 4)) await pressDone(p);
    await expect(tid(players[0]!.page, 'done-count')).toHaveText('4/5');
    // Not everyone is done yet: nobody moves.
    await expectStage(players, 0);
    await pressDone(players[4]!, true);
    await expectStage(players, 1);
    for (const p of players) {
      await expect(tid(p.page, 'stage-name')).toHaveText('Main');
      await expect(tid(p.page, 'done-button')).toHaveAttribute('aria-pressed', 'false');
      await expect(tid(p.page, 'done-count')).toHaveText('0/5');
    }
  });
});
