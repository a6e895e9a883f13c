// examples/planning-poker from a fresh copy, built only against the packed library (npm pack, then an
// install of the tarball), served by its own Node server with lockstep/server attached (e2e/examples.ts).

import { type ChildProcess, spawn } from 'node:child_process';
import { devEnv, expect, reader, test } from './examples.ts';

test('planning poker, built from the npm pack tarball, plays a round in two tabs and a Node bot', async ({
  browser,
  example,
}) => {
  test.setTimeout(300_000);
  let bot: ChildProcess | undefined;
  try {
    const { dir, url } = await example('planning-poker');
    // One after the other, so Ada is player 1.
    const pages = [];
    for (const [i, name] of ['Ada', 'Bob'].entries()) {
      const page = await (await browser.newContext()).newPage();
      await page.goto(`${url}/?room=poker1&name=${name}`);
      await expect(page.getByTestId('me')).toHaveText(String(i + 1));
      pages.push(page);
    }
    const [ada, bob] = pages as [(typeof pages)[0], (typeof pages)[0]];
    // The SDK's Node bot recipe, from the same tarball, with @roamhq/wrtc: player 3, votes 3, is Done.
    const botProc = spawn('node', ['bot.js', url, 'poker1', '3'], { cwd: dir, env: devEnv });
    bot = botProc;
    const botExit = new Promise<number | string | null>((resolve) =>
      botProc.on('exit', (code, signal) => resolve(code ?? signal)),
    );
    const botSaw = reader(botProc, 'bot');
    await botSaw(/joined poker1 as player 3/);
    for (const p of pages) {
      await expect(p.locator('[data-testid="player"][data-state="direct"]')).toHaveCount(2);
      await expect(p.getByTestId('leader')).toHaveText('1');
    }
    await ada.getByTestId('card-5').click();
    await expect(bob.getByTestId('stage')).toHaveText('Vote');
    await bob.getByTestId('card-8').click();
    for (const p of pages) {
      await expect(p.getByTestId('stage')).toHaveText('Reveal');
      await expect(p.getByTestId('vote-1')).toHaveText('5');
      await expect(p.getByTestId('vote-2')).toHaveText('8');
      await expect(p.getByTestId('vote-3')).toHaveText('3');
    }
    await botSaw(/stage 1 \(Reveal\)/);
    // Ctrl-C: the bot leaves for good, and the others count the room without it.
    botProc.kill('SIGINT');
    expect(await botExit).toBe(0);
    for (const p of pages) await expect(p.locator('[data-testid="player"]')).toHaveCount(2);
    for (const p of pages) await p.context().close();
  } finally {
    bot?.kill('SIGKILL');
  }
});
