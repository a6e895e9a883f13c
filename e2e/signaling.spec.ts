import {
  advanceAll,
  expect,
  expectMesh,
  expectStage,
  freePort,
  openPlayer,
  openPlayers,
  ServerProcess,
  TIMING,
  test,
  textOf,
  tid,
  uniqueRoom,
} from './helpers.ts';

test('signaling killed and restarted mid-game: stages advance while down, a newcomer joins after', async ({
  browser,
  players,
}) => {
  const server = new ServerProcess(await freePort(), { GRACE_MS: '5000' });
  await server.start();
  const context = await browser.newContext();
  try {
    const room = uniqueRoom();
    players.push(
      ...(await openPlayers(browser, server, room, 3, { ...TIMING, stages: ['A', 'B', 'C', 'D'] })),
    );
    await expectMesh(players);
    // A lobby loaded before the server went: its new room says within seconds that the server is out of
    // reach, not after the join's 30 s, and gets in once the server is back.
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    await tid(page, 'lobby-name').fill('Dee');
    await server.kill();
    for (const p of players) await expect(tid(p.page, 'signaling')).toContainText('offline');
    await tid(page, 'lobby-create').click();
    await expect(tid(page, 'join-retry')).toContainText('Cannot reach the server yet', { timeout: 10_000 });
    // The mesh does not need the server: heartbeats, DONE and ADVANCE all go peer to peer.
    await advanceAll(players, 1);
    for (const p of players) await expect(tid(p.page, 'stage-name')).toHaveText('B');
    await server.start();
    await expect(tid(page, 'self-id')).toHaveText('1', { timeout: 20_000 });
    await expect(tid(page, 'join-retry')).toHaveCount(0);
    await page.close();
    for (const p of players)
      await expect(tid(p.page, 'signaling')).toContainText('connected', { timeout: 20_000 });
    const newcomer = await openPlayer(browser, server, room, 'late');
    players.push(newcomer);
    await expectStage(players, 1, 20_000);
    await expect(tid(newcomer.page, 'stage-name')).toHaveText('B');
    await expect(newcomer.page.getByTestId('history-entry')).toHaveCount(1);
    // One leader that all four agree on, and the game goes on with the newcomer.
    await expect
      .poll(async () => new Set(await Promise.all(players.map((p) => textOf(p.page, 'leader-id')))).size, {
        timeout: 20_000,
      })
      .toBe(1);
    expect(await textOf(newcomer.page, 'leader-id')).toMatch(/^\d+$/);
    await advanceAll(players, 2);
  } finally {
    await context.close();
    await server.kill();
  }
});
