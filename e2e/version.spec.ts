import { io } from 'socket.io-client';
import { PROTOCOL_VERSION } from '../client/src/protocol/limits.ts';
import { expect, openPlayer, test, tid, uniqueRoom } from './helpers.ts';

test('a player claiming a newer protocol is not heard and cannot stop another tab; an older build is refused at the join', async ({
  browser,
  server,
  players,
}) => {
  const room = uniqueRoom('version');
  const ann = await openPlayer(browser, server, room, 'Ann');
  players.push(ann);
  await expect(tid(ann.page, 'self-id')).toHaveText('1');

  // A hostile client joins through this server (so it speaks this server's version) and pings Ann claiming
  // the next one. In a room of two it is all of Ann's peers; still only Ann's own server could stop her.
  const liar = io(server.url, { transports: ['websocket'], forceNew: true, reconnection: false });
  try {
    const joined = await liar.timeout(5_000).emitWithAck('join', { v: PROTOCOL_VERSION, room, name: 'Next' });
    expect(joined).toMatchObject({ ok: true, id: 2 });
    const ping = JSON.stringify({ k: 'ping', t: 0, v: PROTOCOL_VERSION + 1 });
    await liar.timeout(5_000).emitWithAck('relay', { frames: [{ to: 1, data: ping }] });
    await expect(tid(ann.page, 'event-log')).toContainText('player 2 names a newer Lockstep');
    await expect(tid(ann.page, 'session-error')).toHaveCount(0);
    await expect(tid(ann.page, 'leader-id')).toHaveText('1');
  } finally {
    liar.disconnect();
  }
  // Ann goes on: alone again once the liar's session ends, she still advances.
  await tid(ann.page, 'done-button').click();
  await expect(tid(ann.page, 'stage')).toHaveText('1', { timeout: 30_000 });

  // A page of an older build is refused at the join, with the advice to reload.
  const older = io(server.url, { transports: ['websocket'], forceNew: true, reconnection: false });
  try {
    const refused = await older
      .timeout(5_000)
      .emitWithAck('join', { v: PROTOCOL_VERSION - 1, room, name: 'Old' });
    expect(refused).toMatchObject({ ok: false, code: 'outdated' });
    expect(String((refused as { error?: unknown }).error)).toMatch(/reload the page/);
  } finally {
    older.disconnect();
  }
});
