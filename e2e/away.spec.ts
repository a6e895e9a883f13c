// A player whose tab is really hidden shows as `away` to the others, and `direct` again when it comes back.
// Playwright keeps the pages it drives visible (its focus emulation), even over connectOverCDP, so Bob's
// Chromium is launched here with a debugging port and driven over raw CDP: bringing a second tab of his window
// to the front hides his room tab, as a user switching tabs does. Ann, a Playwright page, is the observer.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { expect, expectLeader, openPlayer, roomUrl, test, tid, uniqueRoom } from './helpers.ts';
import { chromiumArgs, chromiumExecutable, freePort } from './kit.ts';

/** A Chromium of our own and its first tab, over the DevTools protocol, with nothing that keeps tabs visible. */
async function cdpChromium() {
  const port = await freePort();
  const profile = mkdtempSync(join(tmpdir(), 'lockstep-away-'));
  const proc: ChildProcess = spawn(
    chromiumExecutable,
    [
      ...chromiumArgs,
      '--headless=new',
      `--remote-debugging-port=${port}`,
      '--remote-debugging-address=127.0.0.1',
      `--user-data-dir=${profile}`,
      'about:blank',
    ],
    { stdio: 'ignore' },
  );
  let endpoint: string | undefined;
  for (let i = 0; i < 100 && !endpoint; i++) {
    try {
      endpoint = (
        (await (await fetch(`http://127.0.0.1:${port}/json/version`)).json()) as {
          webSocketDebuggerUrl: string;
        }
      ).webSocketDebuggerUrl;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  if (!endpoint) {
    proc.kill('SIGKILL');
    throw new Error('Chromium with a debugging port did not answer');
  }
  const ws = new WebSocket(endpoint);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let next = 0;
  const pending = new Map<number, (m: { result?: unknown; error?: { message: string } }) => void>();
  ws.on('message', (data) => {
    const m = JSON.parse(String(data));
    pending.get(m.id)?.(m);
    pending.delete(m.id);
  });
  // biome-ignore lint/suspicious/noExplicitAny: CDP results are untyped here
  const send = (method: string, params: object = {}, sessionId?: string): Promise<any> =>
    new Promise((resolve, reject) => {
      const id = ++next;
      pending.set(id, (m) =>
        m.error ? reject(new Error(`${method}: ${m.error.message}`)) : resolve(m.result),
      );
      ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  const { targetInfos } = await send('Target.getTargets');
  const tab = (targetInfos as { type: string; targetId: string }[]).find((t) => t.type === 'page')!.targetId;
  const { sessionId } = await send('Target.attachToTarget', { targetId: tab, flatten: true });
  await send('Runtime.enable', {}, sessionId);
  return {
    goto: (url: string) => send('Page.navigate', { url }, sessionId),
    /** An expression's value in the room tab. */
    read: async (expression: string): Promise<unknown> =>
      (await send('Runtime.evaluate', { expression, returnByValue: true }, sessionId)).result.value,
    /** Opens a second tab in the same window and brings it to the front. */
    hide: async () => {
      const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
      await send('Target.activateTarget', { targetId });
    },
    show: () => send('Target.activateTarget', { targetId: tab }),
    // Never throws: it runs in a finally, where it would hide the test's own failure.
    close: async () => {
      const exited = new Promise((r) => proc.once('exit', r));
      await send('Browser.close').catch(() => {});
      ws.close();
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      try {
        rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
      } catch (e) {
        console.warn(`away: left ${profile}: ${String(e)}`);
      }
    },
  };
}

test('a hidden tab shows as away to the others within a second, and direct again when shown', async ({
  browser,
  server,
  players,
}) => {
  const room = uniqueRoom('away');
  const ann = await openPlayer(browser, server, room, 'Ann');
  players.push(ann);
  const bob = await cdpChromium();
  try {
    await bob.goto(roomUrl(server, room, 'Bob'));
    const bobSays = (id: string) =>
      bob.read(`document.querySelector('[data-testid="${id}"]')?.textContent?.trim() ?? null`);
    await expect.poll(() => bobSays('self-id'), { timeout: 20_000 }).toBe('2');
    await expectLeader([ann], 1);
    await expect.poll(() => bobSays('leader-id')).toBe('1');
    const bobRow = ann.page.locator('[data-testid="peer"][data-peer-id="2"]');
    await expect(bobRow).toHaveAttribute('data-state', 'direct', { timeout: 20_000 });
    expect(await bob.read('document.visibilityState')).toBe('visible');

    await bob.hide();
    await expect.poll(() => bob.read('document.visibilityState')).toBe('hidden');
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

    await bob.show();
    await expect.poll(() => bob.read('document.visibilityState')).toBe('visible');
    await expect(bobRow).toHaveAttribute('data-state', 'direct', { timeout: 5_000 });
    await expect(tid(ann.page, 'pending')).not.toContainText('away');
  } finally {
    await bob.close();
  }
});
