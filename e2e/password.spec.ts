import type { Browser } from '@playwright/test';
import { io } from 'socket.io-client';
import { deriveRoomKeys } from '../client/src/net/crypto.ts';
import { PROTOCOL_VERSION } from '../client/src/protocol/limits.ts';
import { expect, expectLeader, expectMesh, type Player, snap, test, tid } from './helpers.ts';
import { startServer } from './kit.ts';

/** A player in its own context whose signaling websocket frames (both ways) are recorded. */
async function newPlayer(browser: Browser, name: string, url: string) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`[${name}] page error: ${err.message}`));
  const frames: string[] = [];
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => frames.push(String(f.payload)));
    ws.on('framereceived', (f) => frames.push(String(f.payload)));
  });
  await page.goto(url);
  return { player: { name, context, page } satisfies Player, frames };
}

test('a password room: the creator and a #k= link agree on a leader, a wrong password is refused', async ({
  browser,
  players,
}) => {
  // Its own server with the default grace: Bob's tab leaves the room three times (a reload, a stale link, the
  // room again), which on a loaded machine took longer than the suite's 3 s, and the test is about passwords.
  const server = await startServer({ GRACE_MS: '15000', RESTART_HOLD_MS: '0' });
  try {
    const password = 'open sesame & more';

    // The creator sets the password in the lobby.
    const ann = await newPlayer(browser, 'Ann', `${server.url}/`);
    players.push(ann.player);
    await tid(ann.player.page, 'lobby-name').fill('Ann');
    await tid(ann.player.page, 'lobby-password').fill(password);
    await tid(ann.player.page, 'lobby-create').click();
    await expect(tid(ann.player.page, 'self-id')).toHaveText('1');
    await expect(tid(ann.player.page, 'encrypted')).toBeVisible();
    const link = await tid(ann.player.page, 'room-link').inputValue();
    expect(link).toContain(`#k=${encodeURIComponent(password)}`);
    // The address bar no longer shows the password once joined.
    await expect.poll(() => ann.player.page.url()).not.toContain('k=');
    const room = /\/r\/([^#?]+)/.exec(link)?.[1] ?? '';

    // A friend opens the shared link (no name in it: the page asks for one, and keeps the fragment).
    const bob = await newPlayer(browser, 'Bob', link);
    players.push(bob.player);
    await tid(bob.player.page, 'gate-name').fill('Bob');
    await tid(bob.player.page, 'gate-join').click();
    await expect(tid(bob.player.page, 'self-id')).toHaveText('2');
    await expectLeader([ann.player, bob.player], 1);
    await expectMesh([ann.player, bob.player]);

    // Real SDP and ICE went through the server, which only ever carried ciphertext.
    for (const { frames } of [ann, bob]) {
      const text = frames.join('\n');
      expect(frames.filter((f) => f.includes('"signal"')).length).toBeGreaterThan(1);
      expect(text).toContain('e2.');
      for (const leak of ['v=0', 'a=candidate', 'candidate:', 'ice-ufrag', password]) {
        expect(text).not.toContain(leak);
      }
    }

    // A wrong password is refused with a visible error and never appears among the players.
    const mallory = await newPlayer(browser, 'Mallory', `${server.url}/r/${room}?name=Mallory#k=guess-guess`);
    players.push(mallory.player);
    await expect(tid(mallory.player.page, 'session-error')).toContainText('wrong password');
    await expect(tid(mallory.player.page, 'self-id')).toHaveCount(0);
    await snap(mallory.player.page, 'password-refused');
    for (const p of [ann.player, bob.player]) {
      await expect(p.page.getByTestId('peer')).toHaveCount(2);
      await expect(p.page.getByTestId('peer').filter({ hasText: 'Mallory' })).toHaveCount(0);
      await expect(tid(p.page, 'decrypt-errors')).toHaveText('0');
    }

    // Retrying with the right password gets in, as ID 3: the refused attempt spent no ID.
    await tid(mallory.player.page, 'password-input').fill(password);
    await tid(mallory.player.page, 'password-join').click();
    await expect(tid(mallory.player.page, 'self-id')).toHaveText('3');
    await expectLeader([ann.player, bob.player, mallory.player], 1);
    await snap(ann.player.page, 'password-room');

    // A reload (the fragment is gone from the address bar) gets back in with the same ID.
    await bob.player.page.reload();
    await expect(tid(bob.player.page, 'self-id')).toHaveText('2');
    await expectLeader([ann.player, bob.player, mallory.player], 1);

    // A stale link with a wrong password, opened in Bob's tab, is refused, and costs him neither his seat nor
    // the password his tab kept: the room's address without one gets him back in.
    const bobUrl = bob.player.page.url();
    await bob.player.page.goto('about:blank');
    await bob.player.page.goto(`${bobUrl.split('#')[0]}#k=guess-guess`);
    await expect(tid(bob.player.page, 'session-error')).toContainText('wrong password');
    await bob.player.page.goto('about:blank');
    await bob.player.page.goto(bobUrl.split('#')[0]!);
    await expect(tid(bob.player.page, 'self-id')).toHaveText('2');
    await expectLeader([ann.player, bob.player, mallory.player], 1);

    // Someone holding the verifier but not the key (what the server knows) gets in, but what it sends
    // does not decrypt: Ann drops it and counts it.
    const { verifier } = await deriveRoomKeys(password, room);
    const insider = io(server.url, { transports: ['websocket'], forceNew: true, reconnection: false });
    try {
      const joined = await insider
        .timeout(5_000)
        .emitWithAck('join', { v: PROTOCOL_VERSION, room, name: 'Insider', verifier });
      expect(joined).toMatchObject({ ok: true });
      await insider
        .timeout(5_000)
        .emitWithAck('relay', { frames: [{ to: 1, data: '{"k":"core","m":{"t":"LEAVE"}}' }] });
      await insider.timeout(5_000).emitWithAck('signal', { to: 1, data: { type: 'offer', sdp: 'v=0' } });
      await expect(tid(ann.player.page, 'decrypt-errors')).toHaveText('2');
      await expect(tid(ann.player.page, 'event-log')).toContainText('rejected a relay payload from 4');
      await expect(tid(bob.player.page, 'decrypt-errors')).toHaveText('0');
    } finally {
      insider.disconnect();
    }
  } finally {
    await server.kill();
  }
});
