import { describe, expect, test } from 'vitest';
import { LIMITS } from '../protocol/limits.ts';
import { utf8Bytes } from '../protocol/messages.ts';
import { settled, until } from '../sim/scenarios.ts';
import { appliedOps } from './app.ts';
import {
  type CoreEvent,
  type Envelope,
  type Message,
  Player,
  parseMessage,
  type Roster,
  seededRng,
} from './index.ts';

const timing = { heartbeatTicks: 2, timeoutTicks: 8, answerTicks: 2 };

function player(self: number, members: number[]) {
  const roster: Roster = { version: 1, members };
  return new Player({
    self,
    timing,
    rng: seededRng(self),
    roster,
    proposals: { client: `c${self}`, next: 1, pending: [] },
  });
}

/** Delivers among `ps` until quiet; every frame is checked against the wire contract and the frame cap. */
function pump(ps: Player[], rounds = 40, events = new Map<number, CoreEvent[]>()): Map<number, CoreEvent[]> {
  const byId = new Map(ps.map((p) => [p.self, p]));
  for (let r = 0; r < rounds; r++) {
    const out: [number, Envelope][] = [];
    for (const p of ps) {
      p.tick();
      const ready = p.ready();
      events.set(p.self, [...(events.get(p.self) ?? []), ...ready.events]);
      for (const e of ready.messages) out.push([p.self, e]);
    }
    for (const [from, e] of out) {
      const text = JSON.stringify({ k: 'core', m: e.msg });
      // What a sealed relay frame may carry (net/session.ts MAX_APP_FRAME_BYTES), in UTF-8 bytes.
      expect(utf8Bytes(text)).toBeLessThanOrEqual(11_000);
      const parsed = parseMessage(JSON.parse(text).m);
      if (!parsed.ok) throw new Error(`${e.msg.t} from ${from} fails its schema: ${parsed.error}`);
      byId.get(e.to)?.step(from, parsed.msg);
    }
  }
  return events;
}

const values = (p: Player) => appliedOps(p.entries).map((a) => a.op.data);

describe('app values in the agreed log', () => {
  test('a follower’s value is committed once, in one place, named for the channel it came on', () => {
    const ps = [player(1, [1, 2, 3]), player(2, [1, 2, 3]), player(3, [1, 2, 3])];
    pump(ps);
    const r = ps[2]!.propose({ move: 'e4' });
    expect(r).toEqual({ ok: true, id: 1 });
    const events = pump(ps);
    for (const p of ps) expect(values(p)).toEqual([{ move: 'e4' }]);
    const [applied] = appliedOps(ps[0]!.entries);
    expect(applied!.op).toMatchObject({ by: 3, c: 'c3', seq: 1 });
    expect(events.get(3)).toContainEqual({ kind: 'proposed', id: 1, seq: 1, index: applied!.index, n: 0 });
    expect(ps[2]!.proposals()!.pending).toEqual([]);
  });

  test('values from several players share one order with the stages', () => {
    const ps = [player(1, [1, 2, 3]), player(2, [1, 2, 3]), player(3, [1, 2, 3])];
    pump(ps);
    for (let i = 0; i < 5; i++) for (const p of ps) expect(p.propose(`${p.self}:${i}`).ok).toBe(true);
    for (const p of ps) p.setDone(true);
    pump(ps);
    const order = values(ps[0]!);
    expect(order).toHaveLength(15);
    for (const p of ps) expect(values(p)).toEqual(order);
    for (const p of ps) expect(p.entries.map((e) => e.kind)).toEqual(ps[0]!.entries.map((e) => e.kind));
    // Each player's own values apply in the order it proposed them.
    for (const p of ps)
      expect(order.filter((v) => String(v).startsWith(`${p.self}:`))).toEqual(
        [0, 1, 2, 3, 4].map((i) => `${p.self}:${i}`),
      );
    expect(ps[0]!.stage).toBe(1);
  });

  test('a value whose leader died before commit is committed by the next leader, once', () => {
    const net = settled(5, 11, false);
    for (let i = 0; i < 6; i++) net.propose(4);
    net.crash(1);
    expect(until(net, 2)).toBeGreaterThan(0);
    net.run(5 * net.timing.timeoutTicks);
    net.checkConverged();
    expect(net.violations).toEqual([]);
    const applied = values(net.player(2)!);
    expect(applied).toHaveLength(6);
    expect(new Set(applied).size).toBe(6);
    expect(net.player(4)!.proposals()!.pending).toEqual([]);
  });

  test('duplicated and dropped messages commit every value exactly once', () => {
    const net = settled(4, 5, false);
    net.dupRate = 0.3;
    net.dropRate = 0.2;
    net.maxDelay = 4;
    for (let i = 0; i < 40; i++) {
      net.propose(1 + (i % 4));
      net.run(1);
    }
    net.heal();
    net.run(8 * net.timing.timeoutTicks);
    net.checkConverged();
    expect(net.violations).toEqual([]);
    expect(values(net.player(3)!)).toHaveLength(40);
  });

  test('a liar that learned an unannounced client ID can take its first number, never the player’s name', () => {
    // Only a leader sees a client ID before its first value commits; here player 2 is handed it.
    const ps = [player(1, [1, 2, 3]), player(2, [1, 2, 3]), player(3, [1, 2, 3])];
    pump(ps);
    ps[2]!.propose('real');
    ps[2]!.propose('next');
    const queued = ps[2]!.ready().messages;
    ps[0]!.step(2, { t: 'op', c: 'c3', ops: [{ seq: 1, data: 'forged' }] });
    for (const e of queued) ps[0]!.step(3, e.msg);
    const events = pump(ps, 10);
    expect(appliedOps(ps[0]!.entries)[0]!.op).toMatchObject({ by: 2, c: 'c3', data: 'forged' });
    expect(events.get(3)!.some((e) => e.kind === 'superseded' && e.id === 1)).toBe(true);
    // The driver gives it a fresh client ID (Session does so on `superseded`): its values go on under it.
    ps[2]!.rekey('fresh');
    pump(ps);
    const mine = appliedOps(ps[0]!.entries).filter((a) => a.op.by === 3);
    // 'real' was told it never applies; 'next' waited (the old ID is the liar's now) and goes under the new one.
    expect(mine.map((a) => [a.op.c, a.op.data])).toEqual([['fresh', 'next']]);
    expect(ps[2]!.proposals()!.pending).toEqual([]);
  });

  test('a value no leader was offered can be taken back; one a leader may hold cannot', () => {
    const lone = player(2, [1, 2]);
    const a = lone.propose('a');
    const b = lone.propose('b');
    expect(a.ok && b.ok).toBe(true);
    expect(lone.withdraw(1)).toEqual([1, 2]);
    expect(lone.proposals()!.next).toBe(1);

    const ps = [player(1, [1, 2]), player(2, [1, 2])];
    pump(ps);
    ps[1]!.propose('c');
    ps[1]!.ready();
    expect(ps[1]!.withdraw(1)).toEqual([]);
    pump(ps);
    expect(values(ps[0]!)).toEqual(['c']);
  });

  test('refuses values that are not JSON, too large, or past the pending window', () => {
    const p = player(1, [1]);
    p.tick();
    expect(p.propose('x'.repeat(LIMITS.app.dataBytes))).toMatchObject({ ok: false, code: 'too_large' });
    expect(p.propose(undefined)).toMatchObject({ ok: false, code: 'too_large' });
    expect(p.propose(() => 1)).toMatchObject({ ok: false, code: 'too_large' });
    expect(p.propose(10n)).toMatchObject({ ok: false, code: 'too_large' });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(p.propose(cyclic)).toMatchObject({ ok: false, code: 'too_large' });
    const q = player(2, [1, 2]);
    for (let i = 0; i < LIMITS.app.pending; i++) expect(q.propose(i).ok).toBe(true);
    expect(q.propose('one more')).toMatchObject({ ok: false, code: 'rate_limited' });
    expect(
      new Player({ self: 3, timing, rng: seededRng(3), roster: { version: 1, members: [3] } }).propose(1),
    ).toMatchObject({ ok: false, code: 'not_joined' });
  });

  test('a late joiner catches up on large entries in frames under the cap', () => {
    const ps = [player(1, [1, 2]), player(2, [1, 2])];
    pump(ps);
    // Three bytes a character: sizes are counted in bytes, as the relay counts them.
    const big = '中'.repeat(Math.floor((LIMITS.app.dataBytes - 10) / 3));
    for (let i = 0; i < 60; i++) ps[i % 2]!.propose(`${i}${big}`);
    pump(ps, 200);
    expect(values(ps[0]!)).toHaveLength(60);
    const late = player(3, [1, 2, 3]);
    for (const p of ps) p.setRoster({ version: 2, members: [1, 2, 3] });
    pump([...ps, late], 200);
    expect(late.entries.map((e) => e.hash)).toEqual(ps[0]!.entries.map((e) => e.hash));
    expect(values(late)).toEqual(values(ps[0]!));
  });

  test('one sender’s large values do not starve another’s, and a client ID is taken only from its player', () => {
    const ps = [player(1, [1, 2, 3]), player(2, [1, 2, 3]), player(3, [1, 2, 3])];
    pump(ps);
    // Player 2 floods with four page sessions of near-maximal values; player 3 proposes one small value.
    const big = 'b'.repeat(LIMITS.app.dataBytes - 10);
    const flood = () => {
      for (const c of ['f1', 'f2', 'f3', 'f4'])
        ps[0]!.step(2, { t: 'op', c, ops: Array.from({ length: 8 }, (_, i) => ({ seq: i + 1, data: big })) });
    };
    flood();
    ps[2]!.propose('honest');
    pump(ps, 30);
    expect(values(ps[0]!)).toContain('honest');
    // Once the log names player 3 for its client ID, a replay of that ID by player 2 is not taken.
    ps[0]!.step(2, { t: 'op', c: 'c3', ops: [{ seq: 2, data: 'forged' }] });
    ps[2]!.propose('second');
    const events = pump(ps, 30);
    expect(values(ps[0]!)).toContain('second');
    expect(values(ps[0]!)).not.toContain('forged');
    expect(events.get(3)!.filter((e) => e.kind === 'superseded')).toEqual([]);
  });

  test('a leader holds each sender to a budget, so a flood grows the log no faster than it allows', () => {
    const ps = [player(1, [1, 2, 3]), player(2, [1, 2, 3]), player(3, [1, 2, 3])];
    pump(ps);
    const rounds = 400;
    for (let r = 0; r < rounds; r++) {
      // Player 2 keeps four page sessions' windows full, every tick.
      for (const c of ['f1', 'f2', 'f3', 'f4']) {
        const applied = appliedOps(ps[0]!.entries).filter((a) => a.op.c === c).length;
        for (let k = 0; k < LIMITS.app.pending; k += 32)
          ps[0]!.step(2, {
            t: 'op',
            c,
            ops: Array.from({ length: 32 }, (_, i) => ({ seq: applied + k + i + 1, data: r })),
          });
      }
      if (r === 200) ps[2]!.propose('honest');
      pump(ps, 1);
    }
    const flood = appliedOps(ps[0]!.entries).filter((a) => a.op.by === 2).length;
    const { leaderPerSec, leaderBurst } = LIMITS.app;
    // 100 ticks a second (the default): the burst, then leaderPerSec a second.
    expect(flood).toBeLessThanOrEqual(leaderBurst + (rounds * leaderPerSec) / 100 + 1);
    expect(flood).toBeGreaterThan(leaderBurst);
    expect(values(ps[0]!)).toContain('honest');
  });

  test('a value is serialized once; what JSON cannot say again is normalized on arrival', () => {
    const p = player(1, [1]);
    p.tick();
    let calls = 0;
    // A toJSON that answers small, then huge: what is checked is what is kept.
    expect(p.propose({ toJSON: () => (calls++ ? 'x'.repeat(5_000) : 'small') }).ok).toBe(true);
    expect(values(p)).toEqual(['small']);
    const parsed = parseMessage(
      JSON.parse('{"t":"op","c":"abc","ops":[{"seq":1,"data":{"x":1e999,"z":-0}}]}'),
    );
    expect(parsed.ok && parsed.msg.t === 'op' && parsed.msg.ops[0]!.data).toEqual({ x: null, z: 0 });
    expect(Object.is((parsed as { msg: { ops: { data: { z: number } }[] } }).msg.ops[0]!.data.z, 0)).toBe(
      true,
    );
  });

  test('a fork-repair answer never carries more entries than a message may', () => {
    const p = player(1, [1, 2]);
    p.tick();
    for (let i = 0; i < 200; i++) p.setDone(true);
    expect(p.stage).toBe(200);
    p.ready();
    p.step(2, { t: 'sync', index: 120, hash: 'nothere' });
    const sent = p.ready().messages.filter((e) => e.msg.t === 'history');
    expect(sent).toHaveLength(1);
    expect(parseMessage(sent[0]!.msg).ok).toBe(true);
  });

  test('the wire contract refuses malformed app entries and op messages', () => {
    const entry = { index: 1, stage: 0, term: 1, done: [], members: [1], hash: 'a' };
    const op = { by: 1, c: 'abc', seq: 1, data: 1 };
    const bad: [string, unknown][] = [
      ['an app entry without values', { t: 'advance', term: 1, entry: { ...entry, kind: 'app', ops: [] } }],
      [
        'values in a stage entry',
        { t: 'advance', term: 1, entry: { ...entry, kind: 'stage', stage: 1, ops: [op] } },
      ],
      [
        'a bad client ID',
        { t: 'advance', term: 1, entry: { ...entry, kind: 'app', ops: [{ ...op, c: 'A!' }] } },
      ],
      ['proposal number 0', { t: 'op', c: 'abc', ops: [{ seq: 0, data: 1 }] }],
      [
        'a value over the cap',
        { t: 'op', c: 'abc', ops: [{ seq: 1, data: 'z'.repeat(LIMITS.app.dataBytes) }] },
      ],
      [
        'too many values',
        {
          t: 'op',
          c: 'abc',
          ops: Array.from({ length: LIMITS.app.opsPerEntry + 1 }, (_, i) => ({ seq: i + 1, data: i })),
        },
      ],
      [
        'an entry over its character cap',
        {
          t: 'accept',
          term: 1,
          entry: {
            ...entry,
            kind: 'app',
            ops: Array.from({ length: 8 }, () => ({ ...op, data: 'q'.repeat(600) })),
          },
        },
      ],
    ];
    for (const [what, msg] of bad) expect(parseMessage(msg).ok, what).toBe(false);
    const good: Message = { t: 'op', c: 'abc', ops: [{ seq: 1, data: { a: [1, 'b', null] } }] };
    expect(parseMessage(good)).toEqual({ ok: true, msg: good });
  });
});
