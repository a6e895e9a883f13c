import { io } from 'socket.io-client';
import { PROTOCOL_VERSION } from '../client/src/protocol/limits.ts';
import { expect, openPlayer, test, tid, uniqueRoom } from './helpers.ts';

test('a tab whose room runs a newer protocol stops and offers a reload, which resumes the same player', async ({
  browser,
  server,
  players,
}) => {
  const room = uniqueRoom('version');
  const ann = await openPlayer(browser, server, room, 'Ann');
  players.push(ann);
  await expect(tid(ann.page, 'self-id')).toHaveText('1');

  // A peer of the next build: it joins through this server and pings Ann with its version.
  const newer = io(server.url, { transports: ['websocket'], forceNew: true, reconnection: false });
  try {
    const joined = await newer
      .timeout(5_000)
      .emitWithAck('join', { v: PROTOCOL_VERSION, room, name: 'Next' });
    expect(joined).toMatchObject({ ok: true, id: 2 });
    const ping = JSON.stringify({ k: 'ping', t: 0, v: PROTOCOL_VERSION + 1 });
    await newer.timeout(5_000).emitWithAck('relay', { to: 1, data: ping });

    await expect(tid(ann.page, 'session-error')).toContainText('This page is out of date');
    await expect(tid(ann.page, 'session-error')).toContainText('reload the page to rejoin');
  } finally {
    newer.disconnect();
  }
  // The reload keeps the saved state: the same player, back in the room.
  await tid(ann.page, 'reload').click();
  await expect(tid(ann.page, 'self-id')).toHaveText('1');
  await expect(tid(ann.page, 'leader-id')).toHaveText('1');

  // A page of an older build is refused at the join with the same advice.
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
