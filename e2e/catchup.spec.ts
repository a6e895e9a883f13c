import {
  advanceAll,
  expect,
  expectLeader,
  openPlayer,
  openPlayers,
  snap,
  test,
  tid,
  uniqueRoom,
} from './helpers.ts';

test('a late joiner sees the current stage and the history', async ({ browser, server, players }) => {
  const room = uniqueRoom();
  players.push(
    ...(await openPlayers(browser, server, room, 3, {
      heartbeatMs: 250,
      timeoutMs: 1500,
      stages: ['Intro', 'Build', 'Ship', 'Party'],
    })),
  );
  await expectLeader(players, 1);
  await advanceAll(players, 1);
  await advanceAll(players, 2);
  const late = await openPlayer(browser, server, room, 'late');
  players.push(late);
  await expect(tid(late.page, 'self-id')).toHaveText('4');
  await expect(tid(late.page, 'stage')).toHaveText('2');
  await expect(tid(late.page, 'stage-name')).toHaveText('Ship');
  await expect(late.page.getByTestId('history-entry')).toHaveCount(2);
  await expect(late.page.getByTestId('history-entry').first()).toContainText('Build');
  await expectLeader(players, 1);
  await snap(late.page, 'late-joiner-room');
  await late.page.getByTestId('visualizer').screenshot({ path: 'test-results/screenshots/visualizer.png' });
  await test
    .info()
    .attach('visualizer', { path: 'test-results/screenshots/visualizer.png', contentType: 'image/png' });
  // The newcomer takes part at once.
  await advanceAll(players, 3);
});
