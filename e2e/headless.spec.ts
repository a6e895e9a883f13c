import { BotProcess } from '../bench/lib/bots.ts';
import {
  expect,
  expectLeader,
  expectStage,
  openPlayer,
  pressDone,
  selfId,
  test,
  uniqueRoom,
} from './helpers.ts';

test('two tabs and two headless peers agree on the lowest ID and advance together', async ({
  browser,
  server,
  players,
}) => {
  const room = uniqueRoom();
  // IDs: tab 1, then the bots (2, 3), then tab 4, so the lowest ID is a tab and a bot sits between tabs.
  players.push(await openPlayer(browser, server, room, 'tab-a'));
  expect(await selfId(players[0]!)).toBe(1);
  const bots = new BotProcess({ url: server.url, room, name: 'bot', count: 2, autoDone: true });
  try {
    await bots.waitFor((l) => l.event === 'joined' && l.name === 'bot-2', 30_000);
    players.push(await openPlayer(browser, server, room, 'tab-b'));
    expect(await selfId(players[1]!)).toBe(4);

    await expectLeader(players, 1);
    const agreed = (stage: number) => {
      const v = [...bots.views().values()];
      return v.length === 2 && v.every((l) => l.leader === 1 && l.stage === stage);
    };
    await expect.poll(() => agreed(0), { timeout: 15_000 }).toBe(true);
    expect([...bots.views().values()].map((l) => l.id).sort()).toEqual([2, 3]);

    for (const stage of [1, 2]) {
      // The bots mark Done by themselves; the room advances only once both tabs have too.
      await pressDone(players[0]!);
      await pressDone(players[1]!, true);
      await expectStage(players, stage);
      await expect.poll(() => agreed(stage), { timeout: 10_000 }).toBe(true);
    }
  } finally {
    await bots.stop();
  }
});
