// A player whose tab is really hidden shows as `away` to the others, and `direct` again when it comes back.
// Bob's tab is in a Chromium of its own (ownChromium): bringing a second tab of his window to the front hides
// his room tab, as a user switching tabs does. Ann, a Playwright page, is the observer.

import { expect, expectLeader, openPlayer, roomUrl, test, tid, uniqueRoom } from './helpers.ts';
import { readText } from './kit.ts';

test('a hidden tab shows as away to the others within a second, and direct again when shown', async ({
  browser,
  server,
  players,
  own,
}) => {
  // Bob's own Chromium starts and stops inside the test.
  test.setTimeout(120_000);
  const room = uniqueRoom('away');
  const ann = await openPlayer(browser, server, room, 'Ann');
  players.push(ann);
  const tab = await own();
  await tab.goto(roomUrl(server, room, 'Bob'));
  const bobSays = (id: string) => readText(tab, id);
  await expect.poll(() => bobSays('self-id'), { timeout: 20_000 }).toBe('2');
  await expectLeader([ann], 1);
  await expect.poll(() => bobSays('leader-id')).toBe('1');
  const bobRow = ann.page.locator('[data-testid="peer"][data-peer-id="2"]');
  await expect(bobRow).toHaveAttribute('data-state', 'direct', { timeout: 20_000 });
  expect(await tab.read('document.visibilityState')).toBe('visible');

  await tab.hide();
  await expect.poll(() => tab.read('document.visibilityState')).toBe('hidden');
  const hiddenAt = Date.now();
  await expect(bobRow).toHaveAttribute('data-state', 'away', { timeout: 5_000 });
  const awayMs = Date.now() - hiddenAt;
  console.log(`away: Ann saw Bob away ${awayMs} ms after his tab was hidden`);
  // The bound is a second; twice that for a loaded box. The flag goes at once on the change.
  expect(awayMs).toBeLessThan(2_000);
  // Away is live, not gone: Bob still counts, and Ann's Done waits for him with the reason shown.
  await expect(tid(ann.page, 'quorum')).toHaveCount(0);
  await tid(ann.page, 'done-button').click();
  await expect(tid(ann.page, 'done-count')).toHaveText('1/2');
  await expect(tid(ann.page, 'pending')).toContainText('away');
  // Hidden for longer than the failure detector's timeout (1.5 s): still away, never suspected.
  await ann.page.waitForTimeout(3_000);
  await expect(bobRow).toHaveAttribute('data-state', 'away');

  await tab.show();
  await expect.poll(() => tab.read('document.visibilityState')).toBe('visible');
  await expect(bobRow).toHaveAttribute('data-state', 'direct', { timeout: 5_000 });
  await expect(tid(ann.page, 'pending')).toBeVisible();
  await expect(tid(ann.page, 'pending')).not.toContainText('away');
});
