// The behaviours every RoomStore must have, run against the memory store and the Redis store alike.

import { describe, expect, it } from 'vitest';
import type { RoomSettings } from '../../client/src/protocol/signaling.ts';
import { type AdmissionLimits, type Clock, type JoinInput, newResumeToken, type RoomStore } from './rooms.ts';

export const settings: RoomSettings = { heartbeatMs: 250, timeoutMs: 1_500, stages: ['Lobby', 'End'] };

export interface StoreFactoryOptions extends Partial<AdmissionLimits> {
  clock: Clock;
  graceMs: number;
  maxMembers: number;
  reopenProtectMs?: number;
}

export function describeRoomStore(
  name: string,
  makeStore: (options: StoreFactoryOptions) => Promise<RoomStore>,
) {
  async function setup(options: Partial<AdmissionLimits> & { reopenProtectMs?: number } = {}) {
    let now = 1_000_000;
    const clock = { now: () => now };
    const store = await makeStore({
      ...options,
      clock,
      graceMs: options.graceMs ?? 1_000,
      maxMembers: options.maxMembers ?? 50,
    });
    const join = async (input: Partial<JoinInput> & { socketId: string }) => {
      const outcome = await store.join({ room: 'r', name: input.socketId, settings, ...input });
      if (!outcome.ok) throw new Error(`${outcome.code}: ${outcome.error}`);
      return outcome;
    };
    return { store, join, advance: (ms: number) => (now += ms), now: () => now };
  }

  describe(name, () => {
    it('caps sessions per address per room, counting grace, and frees a slot when one ends', async () => {
      const { store, join } = await setup({ maxSessionsPerIpPerRoom: 2 });
      await join({ socketId: 'a', ip: '10.0.0.1' });
      await join({ socketId: 'b', ip: '10.0.0.1' });
      await store.disconnect('r', 2, 'b');
      const third = await store.join({ room: 'r', name: 'c', settings, socketId: 'c', ip: '10.0.0.1' });
      expect(third).toMatchObject({ ok: false, code: 'address_limit' });
      // Another address, another room: unaffected.
      await join({ socketId: 'd', ip: '10.0.0.2' });
      await join({ socketId: 'e', ip: '10.0.0.1', room: 'other' });
      await store.leave('r', 1, 'a');
      expect((await join({ socketId: 'f', ip: '10.0.0.1' })).id).toBe(4);
    });

    it('caps the rooms one address holds sessions in, and the rooms in the store', async () => {
      const { store, join } = await setup({ maxRoomsPerIp: 2, maxRooms: 3 });
      await join({ socketId: 'a', ip: '10.0.0.1', room: 'r1' });
      await join({ socketId: 'b', ip: '10.0.0.1', room: 'r2' });
      // A second session in a room it already holds is no new room.
      await join({ socketId: 'b2', ip: '10.0.0.1', room: 'r2' });
      const third = await store.join({ room: 'r3', name: 'c', settings, socketId: 'c', ip: '10.0.0.1' });
      expect(third).toMatchObject({ ok: false, code: 'address_limit' });
      await join({ socketId: 'd', ip: '10.0.0.2', room: 'r3' });
      const fourth = await store.join({ room: 'r4', name: 'e', settings, socketId: 'e', ip: '10.0.0.3' });
      expect(fourth).toMatchObject({ ok: false, code: 'capacity' });
      // Joining an existing room is no new room.
      await join({ socketId: 'f', ip: '10.0.0.3', room: 'r1' });
      await store.leave('r1', 1, 'a');
      await store.leave('r1', 2, 'f');
      expect((await join({ socketId: 'g', ip: '10.0.0.1', room: 'r5' })).id).toBe(1);
    });

    it('bounds the total time a session spends in grace: resuming does not renew it', async () => {
      const { store, join, advance, now } = await setup({ graceMs: 1_000, graceTotalMs: 1_500 });
      const first = await join({ socketId: 'a', ip: '10.0.0.1' });
      await store.disconnect('r', 1, 'a');
      advance(900);
      await join({ socketId: 'b', token: first.token });
      const second = await store.disconnect('r', 1, 'b');
      // 600 ms of the 1,500 are left, not a fresh GRACE_MS.
      expect(second?.members[0]?.graceUntil).toBe(now() + 600);
      advance(600);
      const late = await store.join({ room: 'r', name: 'a', settings, socketId: 'c', token: first.token });
      expect(late).toMatchObject({ ok: false, code: 'bad_token' });
      expect(await store.expire()).toHaveLength(1);
      expect(await store.stats()).toEqual({ rooms: 0, connected: 0, grace: 0 });
    });

    it('hands out IDs 1, 2, 3 per room and never reuses one while the room lives', async () => {
      const { store, join } = await setup();
      expect((await join({ socketId: 'a' })).id).toBe(1);
      expect((await join({ socketId: 'b' })).id).toBe(2);
      expect((await join({ socketId: 'x', room: 'other' })).id).toBe(1);
      await store.leave('r', 2, 'b');
      expect((await join({ socketId: 'c' })).id).toBe(3);
    });

    it('keeps the creator settings for everyone who joins later', async () => {
      const { join } = await setup();
      await join({ socketId: 'a' });
      const later = await join({
        socketId: 'b',
        settings: { heartbeatMs: 100, timeoutMs: 300, stages: ['X'] },
      });
      expect(later.settings).toEqual(settings);
    });

    it('bumps the roster version on every change and lists members in ID order', async () => {
      const { store, join } = await setup();
      const versions = [
        (await join({ socketId: 'a' })).roster.version,
        (await join({ socketId: 'b' })).roster.version,
      ];
      const graced = await store.disconnect('r', 1, 'a');
      versions.push(graced?.version ?? -1);
      const left = await store.leave('r', 2, 'b');
      versions.push(left?.version ?? -1);
      expect(versions).toEqual([...versions].sort((x, y) => x - y));
      expect(new Set(versions).size).toBe(versions.length);
      expect(graced?.members).toEqual([
        { id: 1, name: 'a', state: 'grace', graceUntil: expect.any(Number) },
        { id: 2, name: 'b', state: 'connected' },
      ]);
    });

    it('expires, across rooms, exactly the sessions whose grace is over', async () => {
      const { store, join, advance, now } = await setup({ graceMs: 1_000 });
      for (const room of ['r1', 'r2', 'r3']) {
        await join({ socketId: `${room}a`, room });
        await join({ socketId: `${room}b`, room });
      }
      await store.disconnect('r1', 1, 'r1a');
      advance(500);
      await store.disconnect('r2', 2, 'r2b');
      await store.disconnect('r3', 1, 'r3a');
      await store.leave('r3', 1, 'r3a'); // no-op: a session in grace has no socket to leave with
      expect(await store.nextExpiry()).toBe(now() + 500);
      advance(500);
      const first = await store.expire();
      expect(first.map((r) => [r.room, r.members.map((m) => m.id)])).toEqual([['r1', [2]]]);
      expect(await store.nextExpiry()).toBe(now() + 500);
      advance(500);
      const second = await store.expire();
      expect(second.map((r) => [r.room, r.members.map((m) => m.id)]).sort()).toEqual([
        ['r2', [1]],
        ['r3', [2]],
      ]);
      expect(await store.nextExpiry()).toBeUndefined();
      expect(await store.stats()).toEqual({ rooms: 3, connected: 3, grace: 0 });
    });

    it('resumes the same ID within grace and refuses the token once grace is over', async () => {
      const { store, join, advance, now } = await setup({ graceMs: 1_000 });
      const first = await join({ socketId: 'a' });
      await join({ socketId: 'b' });
      const graced = await store.disconnect('r', 1, 'a');
      expect(graced?.members[0]).toMatchObject({ state: 'grace', graceUntil: now() + 1_000 });
      expect(await store.nextExpiry()).toBe(now() + 1_000);

      advance(999);
      expect(await store.expire()).toEqual([]);
      const resumed = await join({ socketId: 'a2', token: first.token });
      expect(resumed).toMatchObject({ id: 1, resumed: true, token: first.token, changed: true });
      expect(resumed.roster.members[0]).toEqual({ id: 1, name: 'a2', state: 'connected' });
      expect(await store.nextExpiry()).toBeUndefined();

      await store.disconnect('r', 1, 'a2');
      advance(1_000);
      const [expired] = await store.expire();
      expect(expired?.members.map((m) => m.id)).toEqual([2]);
      const late = await store.join({ room: 'r', name: 'a', settings, socketId: 'a3', token: first.token });
      expect(late).toMatchObject({ ok: false, code: 'bad_token' });
      expect((await join({ socketId: 'a3' })).id).toBe(3);
    });

    it('holds a token while its session lives or is in grace, in its own room only', async () => {
      const { store, join, advance } = await setup({ graceMs: 1_000 });
      const first = await join({ socketId: 'a' });
      const second = await join({ socketId: 'b' });
      expect(await store.holdsToken('r', first.token)).toBe(true);
      expect(await store.holdsToken('other', first.token)).toBe(false);
      expect(await store.holdsToken('r', newResumeToken())).toBe(false);
      await store.disconnect('r', 1, 'a');
      expect(await store.holdsToken('r', first.token)).toBe(true);
      advance(1_000);
      await store.expire();
      expect(await store.holdsToken('r', first.token)).toBe(false);
      await store.leave('r', 2, 'b');
      expect(await store.holdsToken('r', second.token)).toBe(false);
    });

    it('refuses a token from another room or a made-up one', async () => {
      const { store, join } = await setup();
      const member = await join({ socketId: 'a' });
      const elsewhere = await store.join({
        room: 'other',
        name: 'a',
        settings,
        socketId: 'b',
        token: member.token,
      });
      expect(elsewhere).toMatchObject({ ok: false, code: 'bad_token' });
      const madeUp = await store.join({
        room: 'r',
        name: 'a',
        settings,
        socketId: 'c',
        token: newResumeToken(),
      });
      expect(madeUp).toMatchObject({ ok: false, code: 'bad_token' });
    });

    it('reports the previous socket when a live session is resumed elsewhere, and ignores it afterwards', async () => {
      const { store, join } = await setup();
      const first = await join({ socketId: 'a' });
      const taken = await join({ socketId: 'a2', token: first.token, name: 'a' });
      expect(taken).toMatchObject({ id: 1, resumed: true, replacedSocketId: 'a', changed: false });
      expect(await store.disconnect('r', 1, 'a')).toBeNull();
      expect(await store.leave('r', 1, 'a')).toBeNull();
      expect(await store.route('r', 1)).toEqual({ id: 1, socketId: 'a2' });
    });

    it('counts members in grace against the cap', async () => {
      const { store, join } = await setup({ maxMembers: 2 });
      await join({ socketId: 'a' });
      await join({ socketId: 'b' });
      await store.disconnect('r', 2, 'b');
      const full = await store.join({ room: 'r', name: 'c', settings, socketId: 'c' });
      expect(full).toMatchObject({ ok: false, code: 'room_full' });
      expect(full.ok ? '' : full.error).toMatch(/2 members/);
    });

    it('forgets a room its players left or said goodbye to: whoever opens it next starts a new one, IDs from 1', async () => {
      const { store, join, advance } = await setup({ graceMs: 500 });
      const first = await join({ socketId: 'a' });
      await join({ socketId: 'b' });
      await store.leave('r', 1, 'a');
      // Its page said goodbye (pagehide), then its grace ran out: it left.
      await store.disconnect('r', 2, 'b', true);
      expect(await store.stats()).toEqual({ rooms: 1, connected: 0, grace: 1 });
      advance(500);
      await store.expire();
      expect(await store.stats()).toEqual({ rooms: 0, connected: 0, grace: 0 });
      // Its players may all be gone for good: a room that waited for its old voters would never start.
      const fresh = await join({
        socketId: 'c',
        settings: { ...settings, stages: ['New'] },
        freshIncarnation: 'fresh1',
      });
      expect(fresh).toMatchObject({ id: 1, settings: { stages: ['New'] }, incarnation: 'fresh1' });
      expect(fresh.incarnation).not.toBe(first.incarnation);
      expect(fresh.roster).toMatchObject({ issued: 1, owner: 1 });
    });

    it('keeps a room whose players vanished without a goodbye for them a while: newcomers wait outside, then a new one', async () => {
      const { store, join, advance } = await setup({ graceMs: 500, reopenProtectMs: 10_000 });
      const first = await join({ socketId: 'a' });
      await join({ socketId: 'b' });
      // One vanishes; the other says goodbye.
      await store.disconnect('r', 1, 'a');
      await store.disconnect('r', 2, 'b', true);
      advance(500);
      await store.expire();
      expect(await store.stats()).toEqual({ rooms: 0, connected: 0, grace: 0 });
      // They may be playing on over the mesh, cut off from us: a newcomer is refused for now (the client
      // retries), and spends nothing. Inside, it would wait for voters who may never come back.
      const held = await store.join({ room: 'r', name: 'c', settings, socketId: 'c' });
      expect(held).toMatchObject({
        ok: false,
        code: 'rate_limited',
        error: expect.stringMatching(/in 10 s$/),
      });
      expect(await store.stats()).toEqual({ rooms: 0, connected: 0, grace: 0 });
      // A tab of the room is back: it goes on, and the newcomer joins it.
      expect(await join({ socketId: 'a2', incarnation: first.incarnation })).toMatchObject({
        id: 3,
        incarnation: first.incarnation,
      });
      expect(await join({ socketId: 'c' })).toMatchObject({ id: 4, incarnation: first.incarnation });
      // Emptied again by leaves, it is kept no longer than it was going to be; then a newcomer opens a new one.
      await store.leave('r', 3, 'a2');
      await store.leave('r', 4, 'c');
      advance(9_000);
      expect(await store.join({ room: 'r', name: 'd', settings, socketId: 'd' })).toMatchObject({
        ok: false,
        error: expect.stringMatching(/in 1 s$/),
      });
      advance(1_000);
      const fresh = await join({ socketId: 'e', freshIncarnation: 'fresh3' });
      expect(fresh).toMatchObject({ id: 1, incarnation: 'fresh3' });
    });

    it('holds a newcomer outside a room whose players are all in grace, until one is back or the room empties', async () => {
      const { store, join, advance } = await setup({ graceMs: 2_000, reopenProtectMs: 0 });
      const first = await join({ socketId: 'a' });
      await join({ socketId: 'b' });
      // Both tabs closed (or reload): nobody live could add a newcomer, and they may be gone for good.
      await store.disconnect('r', 1, 'a', true);
      advance(500);
      await store.disconnect('r', 2, 'b', true);
      const held = await store.join({ room: 'r', name: 'c', settings, socketId: 'c' });
      expect(held).toMatchObject({
        ok: false,
        code: 'rate_limited',
        error: expect.stringMatching(/away.*in 2 s$/),
      });
      expect(await store.stats()).toEqual({ rooms: 1, connected: 0, grace: 2 });
      // A tab of the room (its incarnation) gets in: it carries the room's state.
      const back = await join({ socketId: 'a2', incarnation: first.incarnation });
      expect(back).toMatchObject({ id: 3, incarnation: first.incarnation });
      // With one of them live, newcomers join.
      expect(await join({ socketId: 'c' })).toMatchObject({ id: 4, incarnation: first.incarnation });
      // All away again; once the graces run out the room empties, and (said goodbye) a newcomer opens a new one.
      await store.disconnect('r', 3, 'a2', true);
      await store.disconnect('r', 4, 'c', true);
      expect(await store.join({ room: 'r', name: 'd', settings, socketId: 'd' })).toMatchObject({
        code: 'rate_limited',
      });
      advance(2_000);
      await store.expire();
      expect(await join({ socketId: 'd', freshIncarnation: 'fresh4' })).toMatchObject({
        id: 1,
        incarnation: 'fresh4',
      });
    });

    it('tells a newcomer held outside a room of players away the longest it may wait: a vanished one’s protection too', async () => {
      const { store, join } = await setup({ graceMs: 1_000, reopenProtectMs: 10_000 });
      await join({ socketId: 'a' });
      await store.disconnect('r', 1, 'a');
      expect(await store.join({ room: 'r', name: 'c', settings, socketId: 'c' })).toMatchObject({
        code: 'rate_limited',
        error: expect.stringMatching(/away.*in 11 s$/),
      });
    });

    it('lets a tab of an emptied room’s last incarnation open it again above its IDs; any other claim opens a new one', async () => {
      const { store, join } = await setup();
      const first = await join({ socketId: 'a' });
      await join({ socketId: 'b' });
      await store.leave('r', 1, 'a');
      await store.leave('r', 2, 'b');
      // A tab asleep past grace comes back first: the same room goes on, so its state still counts.
      const back = await join({ socketId: 'c', incarnation: first.incarnation, floor: 2 });
      expect(back).toMatchObject({ id: 3, incarnation: first.incarnation });
      await store.leave('r', 3, 'c');
      // An older incarnation's tab, or a made-up claim: a new room, where its state is dropped (and no floor).
      const stale = await join({
        socketId: 'd',
        incarnation: 'olderIncarnation',
        floor: 50,
        freshIncarnation: 'fresh2',
      });
      expect(stale).toMatchObject({ id: 1, incarnation: 'fresh2', roster: { issued: 1 } });
    });

    it('hands out IDs above the floors of a forgotten room’s returning tabs, so its recreation never repeats one', async () => {
      const { join } = await setup();
      const old = 'oldIncarnation1';
      // Past the IDs the first one back may not have heard of (FORGOTTEN_ID_GAP): a voter may hold 8.
      expect((await join({ socketId: 'a', incarnation: old, floor: 7 })).id).toBe(1008);
      expect((await join({ socketId: 'b' })).id).toBe(1009);
      expect((await join({ socketId: 'c', incarnation: old, floor: 3 })).id).toBe(1010);
      // Another tab of the same room that knew more IDs than the first one back: the gap already covers them.
      expect((await join({ socketId: 'd', incarnation: old, floor: 20 })).id).toBe(1011);
      // A tab's usual floor is what the roster says was issued: no second gap, at this or any rejoin.
      expect((await join({ socketId: 'e', incarnation: old, floor: 1_011 })).id).toBe(1012);
      // One that knows IDs past those we issued skips another gap beyond them.
      expect((await join({ socketId: 'f', incarnation: old, floor: 1_500 })).id).toBe(2501);
    });

    it('takes no floor from a newcomer or another incarnation; a late tab of the recreated room’s still counts', async () => {
      const { join, advance } = await setup({ graceMs: 1_000 });
      const inc = 'oldIncarnation1';
      expect((await join({ socketId: 'a', incarnation: inc, floor: 2 })).id).toBe(1003);
      // A liar's floor near the core's ID ceiling would make every roster's `issued` vouch for nothing.
      expect((await join({ socketId: 'b', floor: 2 ** 30 - 2 })).id).toBe(1004);
      expect((await join({ socketId: 'c', incarnation: 'otherIncarnation', floor: 2 ** 30 - 2 })).id).toBe(
        1005,
      );
      // A tab that slept through the restart knows IDs the first tabs back did not: its own, here.
      advance(60_000);
      expect((await join({ socketId: 'd', incarnation: inc, floor: 9 })).id).toBe(1006);
    });

    it('takes no floor in a room it knows: created by a newcomer, open or emptied', async () => {
      const { store, join } = await setup();
      const first = await join({ socketId: 'a' });
      const inc = first.incarnation;
      // A member knows the incarnation: a second session of its own cannot lift the room's `issued`.
      const liar = await join({ socketId: 'b', incarnation: inc, floor: 2 ** 30 - 2 });
      expect(liar).toMatchObject({ id: 2, roster: { issued: 2 } });
      // Emptied, the store keeps the room's next ID and incarnation: a floor could only add a player's word.
      await store.leave('r', first.id, 'a');
      await store.leave('r', liar.id, 'b');
      expect((await join({ socketId: 'c', incarnation: inc, floor: 50 })).id).toBe(3);
    });

    it('tells every roster the highest ID the room has issued, members gone or not', async () => {
      const { store, join } = await setup();
      expect((await join({ socketId: 'a' })).roster.issued).toBe(1);
      await join({ socketId: 'b' });
      const left = await store.leave('r', 2, 'b');
      // Player 2 is gone, but its ID was issued: a voter named 2 is a real player's, one named 3 is nobody's.
      expect(left).toMatchObject({ members: [{ id: 1 }], issued: 2 });
      expect((await join({ socketId: 'c' })).roster.issued).toBe(3);
      expect((await store.disconnect('r', 3, 'c'))?.issued).toBe(3);
    });

    it('says how far the IDs went in the roster of the leave that empties the room', async () => {
      const { store, join } = await setup();
      await join({ socketId: 'a' });
      await join({ socketId: 'b' });
      await store.leave('r', 2, 'b');
      expect(await store.leave('r', 1, 'a')).toMatchObject({ members: [], issued: 2 });
    });

    it('gives every room an incarnation: a forgotten room takes its first returning tab’s, an emptied one its own for its tabs', async () => {
      const { store, join, advance } = await setup({ graceMs: 500 });
      // A room the store never saw, created by a returning tab: it is the room that tab's state belongs to.
      const back = await join({ socketId: 'a', incarnation: 'oldIncarnation1', floor: 4 });
      expect(back).toMatchObject({ id: 1005, incarnation: 'oldIncarnation1' });
      // Later joiners are told it, whatever they bring.
      expect(await join({ socketId: 'b', incarnation: 'otherIncarnation' })).toMatchObject({
        incarnation: 'oldIncarnation1',
      });
      const resumed = await store.join({ room: 'r', name: 'a', settings, socketId: 'a2', token: back.token });
      expect(resumed).toMatchObject({ ok: true, resumed: true, incarnation: 'oldIncarnation1' });
      // Emptied and reopened by a tab of it: the same room (IDs go on), so the same incarnation.
      await store.leave('r', 1005, 'a2');
      await store.leave('r', 1006, 'b');
      advance(600);
      await store.expire();
      expect(await join({ socketId: 'c', incarnation: 'oldIncarnation1' })).toMatchObject({
        id: 1007,
        incarnation: 'oldIncarnation1',
      });
      // A room nobody brings an incarnation to gets a fresh, unguessable one.
      const other = await store.join({ room: 'elsewhere', name: 'd', settings, socketId: 'd' });
      const again = await store.join({ room: 'third', name: 'e', settings, socketId: 'e' });
      expect(other.ok && again.ok).toBe(true);
      if (other.ok && again.ok) {
        expect(other.incarnation).toMatch(/^[A-Za-z0-9_-]{12}$/);
        expect(other.incarnation).not.toBe(again.incarnation);
      }
    });

    it('keeps a password room’s verifier: a wrong or missing one is refused before any ID is spent', async () => {
      const { store, join } = await setup();
      const right = 'v'.repeat(43);
      const creator = await join({ socketId: 'a', verifier: right });
      const refused = await Promise.all([
        store.join({ room: 'r', name: 'w', settings, socketId: 'w', verifier: 'x'.repeat(43) }),
        store.join({ room: 'r', name: 'n', settings, socketId: 'n' }),
        // A stolen token is no way around the password.
        store.join({ room: 'r', name: 't', settings, socketId: 't', token: creator.token }),
      ]);
      expect(refused.map((r) => (r.ok ? 'ok' : r.code))).toEqual([
        'bad_password',
        'bad_password',
        'bad_password',
      ]);
      expect(refused.map((r) => (r.ok ? '' : r.error))).toEqual([
        'wrong password for this room',
        'this room needs a password',
        'this room needs a password',
      ]);
      expect(await store.route('r', 1)).toEqual({ id: 1, socketId: 'a' });
      expect(await store.stats()).toEqual({ rooms: 1, connected: 1, grace: 0 });
      const second = await join({ socketId: 'b', verifier: right });
      expect(second.id).toBe(2);
      expect(second.roster.members.map((m) => m.id)).toEqual([1, 2]);
      await store.disconnect('r', 1, 'a');
      expect(await join({ socketId: 'a2', token: creator.token, verifier: right })).toMatchObject({
        id: 1,
        resumed: true,
      });
    });

    it('refuses a verifier for a room without a password, and forgets the password with the room', async () => {
      const { store, join } = await setup();
      await join({ socketId: 'a' });
      const extra = await store.join({
        room: 'r',
        name: 'b',
        settings,
        socketId: 'b',
        verifier: 'v'.repeat(43),
      });
      expect(extra).toMatchObject({
        ok: false,
        code: 'bad_password',
        error: expect.stringMatching(/no password/),
      });
      await store.leave('r', 1, 'a');
      const c = await join({ socketId: 'c', verifier: 'v'.repeat(43) });
      await store.leave('r', c.id, 'c');
      // The password went with the room.
      expect((await join({ socketId: 'd' })).ok).toBe(true);
    });

    it('issues an owner token to the creator only, and recognises it again on a join or resume', async () => {
      const { store, join } = await setup();
      const creator = await join({ socketId: 'a' });
      expect(creator.ownerToken).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(creator.ownerToken).not.toBe(creator.token);
      const other = await join({ socketId: 'b' });
      expect(other.ownerToken).toBeUndefined();
      // A guessed token gives nothing; the real one is echoed on resume and on a join under a new ID.
      expect((await join({ socketId: 'c', ownerToken: newResumeToken() })).ownerToken).toBeUndefined();
      await store.disconnect('r', 1, 'a');
      const back = await join({ socketId: 'a2', token: creator.token, ownerToken: creator.ownerToken });
      expect(back).toMatchObject({ id: 1, resumed: true, ownerToken: creator.ownerToken });
      expect((await join({ socketId: 'd', ownerToken: creator.ownerToken })).ownerToken).toBe(
        creator.ownerToken,
      );
      // A room created with a token the client brings (the server forgot the room) keeps it.
      const kept = newResumeToken();
      expect((await join({ socketId: 'e', room: 'fresh', ownerToken: kept })).ownerToken).toBe(kept);
    });

    it('names in the roster the player whose join last proved the owner token, while its session lasts', async () => {
      const { store, join } = await setup();
      const creator = await join({ socketId: 'a' });
      expect(creator.roster.owner).toBe(1);
      const other = await join({ socketId: 'b', ownerToken: newResumeToken() });
      expect(other.roster.owner).toBe(1);
      // In grace it is still the owner; its reload under a new ID (saved state lost) moves the mark.
      expect((await store.disconnect('r', 1, 'a'))?.owner).toBe(1);
      const again = await join({ socketId: 'c', ownerToken: creator.ownerToken });
      expect(again).toMatchObject({ id: 3, roster: { owner: 3 } });
      // Resuming with the token takes it back, and the roster says so in a new version.
      const before = again.roster.version;
      const back = await join({ socketId: 'a2', token: creator.token, ownerToken: creator.ownerToken });
      expect(back.roster.owner).toBe(1);
      expect(back.roster.version).toBeGreaterThan(before);
      expect(back.changed).toBe(true);
      // A resume without the token, or with a guessed one, moves nothing.
      await store.disconnect('r', 3, 'c');
      expect(
        (await join({ socketId: 'c2', token: again.token, ownerToken: newResumeToken() })).roster.owner,
      ).toBe(1);
      // Once its session ends, nobody is named.
      expect((await store.leave('r', 1, 'a2'))?.owner).toBeUndefined();
      expect((await join({ socketId: 'd' })).roster.owner).toBeUndefined();
    });

    it('lets only the owner remove a player: its session ends, its token is barred, its ID listed', async () => {
      const { store, join } = await setup();
      const owner = await join({ socketId: 'a' });
      const ownerToken = owner.ownerToken ?? '';
      const liar = await join({ socketId: 'b' });
      await join({ socketId: 'c' });
      expect(await store.remove('r', 2, 3, liar.token)).toMatchObject({ ok: false, code: 'not_owner' });
      expect(await store.remove('r', 2, 3, newResumeToken())).toMatchObject({ ok: false, code: 'not_owner' });
      expect(await store.remove('other', 1, 2, ownerToken)).toMatchObject({ ok: false, code: 'not_owner' });
      expect(await store.remove('r', 1, 1, ownerToken)).toMatchObject({ ok: false, code: 'bad_request' });
      expect(await store.remove('r', 1, 99, ownerToken)).toMatchObject({ ok: false, code: 'not_in_room' });

      const removed = await store.remove('r', 1, 2, ownerToken);
      expect(removed).toMatchObject({ ok: true, changed: true, socketId: 'b' });
      if (!removed.ok) throw new Error('unreachable');
      expect(removed.roster.members.map((m) => m.id)).toEqual([1, 3]);
      expect(removed.roster.removed).toEqual([2]);
      expect(removed.roster.version).toBeGreaterThan(liar.roster.version);
      expect(await store.route('r', 2)).toBeUndefined();
      const resume = await store.join({ room: 'r', name: 'b', settings, socketId: 'b2', token: liar.token });
      expect(resume).toMatchObject({ ok: false, code: 'removed', error: expect.stringMatching(/removed/) });
      // Again: nothing changes. A later roster still lists it, and so does a newcomer's.
      expect(await store.remove('r', 1, 2, ownerToken)).toMatchObject({ ok: true, changed: false });
      const late = await join({ socketId: 'f' });
      expect(late.roster.removed).toEqual([2]);
      // The honest limit: the same person may come back as a new player (and be removed again).
      expect(late.id).toBe(4);
    });

    it('removes a member in grace, and an ID whose session already ended', async () => {
      const { store, join } = await setup();
      const owner = await join({ socketId: 'a' });
      const ownerToken = owner.ownerToken ?? '';
      const b = await join({ socketId: 'b' });
      await join({ socketId: 'c' });
      await store.disconnect('r', 2, 'b');
      const graced = await store.remove('r', 1, 2, ownerToken);
      expect(graced).toMatchObject({ ok: true, changed: true, socketId: undefined });
      expect(await store.nextExpiry()).toBeUndefined();
      const resume = await store.join({ room: 'r', name: 'b', settings, socketId: 'b2', token: b.token });
      expect(resume).toMatchObject({ ok: false, code: 'removed' });
      await store.leave('r', 3, 'c');
      const gone = await store.remove('r', 1, 3, ownerToken);
      expect(gone).toMatchObject({ ok: true, changed: true, socketId: undefined });
      expect(gone.ok && gone.roster.removed).toEqual([2, 3]);
      expect(gone.ok && gone.roster.members.map((m) => m.id)).toEqual([1]);
    });

    it('routes only to members of the given room', async () => {
      const { store, join } = await setup();
      await join({ socketId: 'a' });
      await join({ socketId: 'x', room: 'other' });
      expect(await store.route('r', 1)).toEqual({ id: 1, socketId: 'a' });
      expect(await store.route('r', 2)).toBeUndefined();
      expect(await store.route('nowhere', 1)).toBeUndefined();
    });
  });
}
