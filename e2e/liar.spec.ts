// A lying player (a page script through the opt-in test hook) sends the term wedge and a forged history.
// The honest tabs keep their stage and a term that can still grow, see the liar's strikes, and the owner
// removes it; the room then advances without it.

import type { Browser } from '@playwright/test';
import { GENESIS, seal } from '../client/src/core/chain.ts';
import type { Entry } from '../client/src/core/types.ts';
import {
  advanceAll,
  expect,
  expectLeader,
  expectStage,
  freePort,
  openPlayer,
  type Player,
  roomUrl,
  ServerProcess,
  selfId,
  test,
  textOf,
  tid,
  uniqueRoom,
} from './helpers.ts';

/** A forged log, well-formed and chained by hash (core/chain.ts), that jumps to the final stage, then past it. */
function forgedHistory(finalStage: number): Entry[] {
  const base = { kind: 'stage' as const, term: 1, done: [1, 2, 3, 4], members: [1, 2, 3, 4] };
  const toFinal = seal(GENESIS, { ...base, index: 1, stage: finalStage });
  const past = seal(toFinal.hash, { ...base, index: 2, stage: 999 });
  return [toFinal, past];
}

const row = (p: Player, id: number) => p.page.locator(`[data-testid="peer"][data-peer-id="${id}"]`);

test('a lying player cannot wedge the term or inject a history; the owner removes it and the room advances', async ({
  browser,
  players,
}) => {
  test.setTimeout(240_000);
  // The default grace (15 s), not the fixture's 3 s: a tab can stall on a busy machine, and a tab that then
  // comes back under a new ID is another test.
  const server = new ServerProcess(await freePort(), { RESTART_HOLD_MS: '0' });
  await server.start();
  try {
    await play(browser, server, players);
  } finally {
    await server.kill();
  }
});

async function play(browser: Browser, server: ServerProcess, players: Player[]): Promise<void> {
  const t0 = Date.now();
  const mark = (what: string) => console.log(`[liar] ${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
  const room = uniqueRoom();
  const stages = ['Lobby', 'Round 1', 'Round 2', 'Round 3', 'Final'];
  const final = stages.length - 1;
  const owner = await openPlayer(browser, server, room, 'Owner', { stages });
  players.push(owner);
  for (const name of ['Bea', 'Cy']) players.push(await openPlayer(browser, server, room, name));

  // The liar opts in to the test hook; nobody else has it.
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`[Liar] page error: ${err.message}`));
  await page.goto(`${roomUrl(server, room, 'Liar')}&testHooks=1`);
  await expect(tid(page, 'self-id')).toHaveText('4');
  const liar: Player = { name: 'Liar', context, page };
  players.push(liar);
  const honest = players.slice(0, 3);
  const everyone = [...honest, liar];
  for (const p of honest) {
    expect(await p.page.evaluate(() => 'lockstepTest' in window)).toBe(false);
  }
  expect(await page.evaluate(() => 'lockstepTest' in window)).toBe(true);

  await expectLeader(everyone, 1, 30_000);
  mark('all four joined, leader 1');
  await advanceAll(everyone, 1);
  mark('stage 1');

  // Only the owner gets Remove buttons, one per other player.
  await expect(tid(owner.page, 'remove-player')).toHaveCount(3);
  for (const p of [...honest.slice(1), liar]) await expect(tid(p.page, 'remove-player')).toHaveCount(0);
  // Every other player's row shows its strikes, all zero so far.
  for (const p of honest) {
    await expect(tid(p.page, 'peer-strikes')).toHaveCount(3);
    await expect(row(p, 4).getByTestId('peer-strikes')).toHaveText('0');
  }

  // (a) The term wedge, and (b) an unsolicited history to the final stage, then to stage 999.
  const history = forgedHistory(final);
  const sent = await page.evaluate(
    ({ entries }) => {
      const hook = (window as unknown as { lockstepTest: { send(to: number, m: unknown): boolean } })
        .lockstepTest;
      const results: boolean[] = [];
      for (const to of [1, 2, 3]) {
        results.push(hook.send(to, { t: 'reject', term: 2 ** 53 - 1 }));
        results.push(hook.send(to, { t: 'history', entries }));
        results.push(hook.send(to, { t: 'history', entries: entries.slice(1) }));
      }
      return results;
    },
    { entries: history },
  );
  expect(sent.every(Boolean)).toBe(true);
  mark('lies sent');

  // The honest tabs see the liar's strikes, keep stage 1, and keep a term that can still grow.
  for (const p of honest) {
    await expect
      .poll(async () => Number(await row(p, 4).getByTestId('peer-strikes').textContent()), {
        timeout: 20_000,
      })
      .toBeGreaterThan(0);
  }
  mark('strikes seen on every honest tab');
  // Long enough for a forged stage or a wedged term to show: several timeouts.
  await page.waitForTimeout(5_000);
  for (const p of honest) {
    await expect(tid(p.page, 'stage')).toHaveText('1');
    const term = Number(await textOf(p.page, 'term'));
    expect(term).toBeLessThan(2 ** 40);
    expect(term + 1).toBeGreaterThan(term);
  }

  // The owner removes the liar: two steps on the same button, which Escape (or Cancel) backs out of.
  const remove = row(owner, 4).getByTestId('remove-player');
  await expect(remove).toHaveAccessibleName('Remove Liar (player 4)');
  mark('stage and term checked');
  await remove.click();
  await expect(remove).toHaveAttribute('data-confirm', 'true');
  await expect(remove).toHaveText('Confirm remove');
  await remove.press('Escape');
  await expect(remove).toHaveAttribute('data-confirm', 'false');
  await expect(row(owner, 4).getByTestId('remove-cancel')).toHaveCount(0);
  const box = await remove.boundingBox();
  expect(box?.height ?? 0).toBeGreaterThanOrEqual(44);
  expect(box?.width ?? 0).toBeGreaterThanOrEqual(44);
  // From the keyboard: Enter, then Enter on "Confirm remove".
  await remove.focus();
  await owner.page.keyboard.press('Enter');
  await expect(remove).toHaveAttribute('data-confirm', 'true');
  await owner.page.keyboard.press('Enter');

  await expect(tid(page, 'session-error')).toContainText('You were removed from this room by its owner', {
    timeout: 20_000,
  });
  mark('liar shows removed');
  // A reload of the removed tab does not join again.
  await page.reload();
  await expect(tid(page, 'session-error')).toContainText('removed from this room');
  await expect(tid(page, 'self-id')).toHaveCount(0);
  for (const p of honest) {
    await expect(row(p, 4)).toHaveCount(0, { timeout: 30_000 });
    await expect(p.page.getByTestId('peer')).toHaveCount(3);
  }
  mark('liar gone from honest lists');

  // The room moves on without it, under one leader: the lowest honest ID (a tab stalled past its grace comes
  // back under a new ID, and an owner keeps its rights then too).
  const ids = await Promise.all(honest.map(selfId));
  expect(ids.slice(1)).toEqual([2, 3]);
  await expectLeader(honest, Math.min(...ids), 30_000);
  await advanceAll(honest, 2);
  mark('stage 2');
  await expectStage(honest, 2);
  const leaders = await Promise.all(honest.map((p) => textOf(p.page, 'leader-id')));
  expect(new Set(leaders).size).toBe(1);
  for (const p of honest) expect(Number(await textOf(p.page, 'term'))).toBeLessThan(2 ** 40);
}
