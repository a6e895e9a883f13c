import { describe, expect, test } from 'vitest';
import { LIMITS } from '../protocol/limits.ts';
import { utf8Bytes } from '../protocol/messages.ts';
import { settled, until } from '../sim/scenarios.ts';
import { appliedOps, applyOps } from './app.ts';
import { GENESIS, seal } from './chain.ts';
import {
  type CoreEvent,
  type Envelope,
  type Message,
  type Persisted,
  Player,
  parseMessage,
  type Roster,
  seededRng,
} from './index.ts';

const timing = { heartbeatTicks: 2, timeoutTicks: 8, answerTicks: 2 };

/** A player of a room of `members`; with `persisted`, a page that reloaded from that saved state. */
function player(self: number, members: number[], persisted?: Persisted) {
  const roster: Roster = { version: 1, members };
  return new Player({
    self,
    timing,
    rng: seededRng(self),
    roster,
    ...(persisted ? { persisted } : {}),
    proposals: { client: `c${self}`, next: 1, pending: [] },
  });
}

/** Delivers among `ps` until quiet; every frame is checked against the wire contract and the frame cap. */
/** What a test does to a message on its way: undefined delivers it, null drops it. */
type Filter = (from: number, e: Envelope) => null | undefined;

function pump(
  ps: Player[],
  rounds = 40,
  events = new Map<number, CoreEvent[]>(),
  filter?: Filter,
): Map<number, CoreEvent[]> {
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
      if (filter?.(from, e) === null) continue;
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
    // The log names the liar for that client ID now, and an honest leader takes its numbers from nobody
    // else: 'next' moves to a fresh session of player 3 at once, and applies there, while the liar stays.
    pump(ps, 30);
    const mine = () => appliedOps(ps[0]!.entries).filter((a) => a.op.by === 3);
    expect(values(ps[0]!)).toEqual(['forged', 'next']);
    expect(mine().map((a) => [a.op.seq, a.op.data])).toEqual([[1, 'next']]);
    expect(mine()[0]!.op.c).not.toBe('c3');
    expect(ps[2]!.proposals()!.pending).toEqual([]);
    // The old session's copy, which the leader held, is gone: the liar's removal does not apply it again.
    ps[0]!.expel(2);
    ps[2]!.expel(2);
    pump([ps[0]!, ps[2]!], 60);
    expect(values(ps[0]!)).toEqual(['forged', 'next']);
  });

  test('a leader drops values of a session the log gives to another live player at once, not when it leaves', () => {
    // As above: the log gives 3's client ID to 2, and 3 moves 'next' to a fresh session, where it applies.
    const ps = [player(1, [1, 2, 3]), player(2, [1, 2, 3]), player(3, [1, 2, 3])];
    const [p1, , p3] = ps as [Player, Player, Player];
    pump(ps);
    p3.propose('real');
    p3.propose('next');
    p3.ready(); // lost
    p1.step(2, { t: 'op', c: 'c3', ops: [{ seq: 1, data: 'forged' }] });
    pump(ps, 40);
    expect(values(p1)).toEqual(['forged', 'next']);
    // 2 leaves the server; while the leader's entry removing it is out, an old op of 3's under the old
    // session reaches it (hostile seed 302). Kept, it would go in once 2 is gone, under the old session.
    for (const p of [p1, p3]) p.setRoster({ version: 2, members: [1, 3] });
    const out = (events: Map<number, CoreEvent[]>) =>
      events.get(1)!.some((e) => e.kind === 'propose' && e.entry.kind === 'members');
    for (let r = 0; r < 40 && !out(pump([p1, p3], 1)); r++);
    p1.step(3, { t: 'op', c: 'c3', ops: [{ seq: 2, data: 'next' }] });
    pump([p1, p3], 60);
    expect(p1.entries.at(-1)!.members).toEqual([1, 3]);
    expect(values(p1)).toEqual(['forged', 'next']);
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
    // The error says which: too big, or no JSON at all.
    expect(p.propose('x'.repeat(LIMITS.app.dataBytes))).toMatchObject({
      ok: false,
      code: 'too_large',
      error: `the value is ${LIMITS.app.dataBytes + 2} bytes as JSON; at most ${LIMITS.app.dataBytes} fit`,
    });
    const notJson = { ok: false, code: 'bad_argument', error: expect.stringContaining('is not JSON') };
    expect(p.propose(undefined)).toMatchObject(notJson);
    expect(p.propose(() => 1)).toMatchObject(notJson);
    expect(p.propose(10n)).toMatchObject(notJson);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(p.propose(cyclic)).toMatchObject(notJson);
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

/** An app's fold: every value so far, from the base's state on (its own numbers seed the dedupe). */
function fold(p: Player, upTo = p.length): unknown[] {
  const out = [...((p.base?.state as unknown[]) ?? [])];
  const last = new Map((p.base?.app ?? []).map(([c, seq]) => [c, seq]));
  for (const e of p.entries)
    if (e.index <= upTo && e.kind === 'app') for (const op of applyOps(last, e)) out.push(op.data);
  return out;
}

describe('snapshots', () => {
  function room(n: number, values: number) {
    const ids = Array.from({ length: n }, (_, i) => i + 1);
    const ps = ids.map((id) => player(id, ids));
    pump(ps);
    for (let i = 0; i < values; i++) ps[i % n]!.propose(`v${i}`);
    pump(ps, 200);
    return ps;
  }

  test('compacting keeps the state, the stage and the numbers; a reload resumes from the base', () => {
    const ps = room(3, 40);
    ps[0]!.setDone(true);
    ps[1]!.setDone(true);
    ps[2]!.setDone(true);
    pump(ps);
    for (let i = 0; i < 5; i++) ps[1]!.propose(`w${i}`);
    pump(ps);
    const p = ps[1]!;
    const before = fold(p);
    const length = p.length;
    const at = length - 3;
    expect(p.compact(at, fold(p, at))).toEqual({ ok: true });
    expect(p.base!.entry.index).toBe(at);
    expect(p.entries).toHaveLength(3);
    expect(p.length).toBe(length);
    expect(fold(p)).toEqual(before);
    expect(p.stage).toBe(1);
    expect(p.view().history.map((e) => e.stage)).toEqual([1]);
    // The numbers survive the base: a retry of a value it covers does not apply again.
    ps[0]!.step(2, { t: 'op', c: 'c2', ops: [{ seq: 1, data: 'retry' }] });
    const reloaded = new Player({
      self: 2,
      timing,
      rng: seededRng(9),
      roster: { version: 1, members: [1, 2, 3] },
      persisted: p.persisted(),
      proposals: p.proposals()!,
    });
    expect(reloaded.base).toEqual(p.base);
    expect(reloaded.length).toBe(length);
    ps[1] = reloaded;
    reloaded.propose('after');
    pump(ps);
    expect(fold(reloaded)).toEqual([...before, 'after']);
    expect(fold(ps[0]!)).toEqual([...before, 'after']);
  });

  test('refuses an index outside the log, and state that is not JSON or too large', () => {
    const [p] = room(1, 5);
    const n = p!.length;
    for (const bad of [0, -1, 1.5, n + 1, Number.NaN])
      expect(p!.compact(bad, []), String(bad)).toMatchObject({ ok: false, code: 'bad_argument' });
    expect(p!.compact(n, 'x'.repeat(LIMITS.snapshot.stateBytes))).toMatchObject({ code: 'too_large' });
    expect(p!.compact(n, () => 1)).toMatchObject({ code: 'bad_argument' });
    expect(p!.compact(n - 1, [])).toEqual({ ok: true });
    expect(p!.compact(n - 1, [])).toMatchObject({ ok: false, code: 'bad_argument' });
    expect(p!.compact(n, () => 1)).toMatchObject({ error: expect.stringContaining('state is not JSON') });
    p!.compact(n, []);
    // Nothing committed since: said so, not as an empty range.
    expect(p!.compact(n, [])).toMatchObject({
      code: 'bad_argument',
      error: `nothing new to snapshot: the log has no committed entry after ${n}`,
    });
  });

  test('a late joiner takes the base in parts that fit a frame, then the entries after it', () => {
    const ps = room(3, 30);
    // A large state, with characters JSON escapes and characters of three and four bytes.
    const state = [...fold(ps[0]!), '"\\中😀'.repeat(4_000)];
    for (const p of ps) expect(p.compact(p.length, state)).toEqual({ ok: true });
    for (let i = 0; i < 4; i++) ps[2]!.propose(`late${i}`);
    pump(ps);
    const late = player(4, [1, 2, 3, 4]);
    for (const p of ps) p.setRoster({ version: 2, members: [1, 2, 3, 4] });
    const events = pump([...ps, late], 200);
    expect(events.get(4)!.filter((e) => e.kind === 'snapshot')).toHaveLength(1);
    expect(late.length).toBe(ps[0]!.length);
    expect(fold(late)).toEqual(fold(ps[0]!));
    expect(late.view().initialized).toBe(true);
    // It votes now: a value proposed after it joined commits everywhere.
    late.propose('from 4');
    pump([...ps, late]);
    expect(fold(ps[0]!).at(-1)).toBe('from 4');
    expect(fold(late)).toEqual(fold(ps[0]!));
  });

  test('a value committed inside a base it caught up from settles as ours, at or before the base', () => {
    const ps = room(3, 0);
    const slow = ps[2]!;
    const value = slow.propose('mine');
    expect(value.ok).toBe(true);
    // Its offer reaches the leader, then it hears nothing more until the room compacted past the commit.
    const offer = slow.ready().messages.filter((e) => e.to === 1);
    for (const e of offer) ps[0]!.step(3, e.msg);
    pump(ps.slice(0, 2));
    for (let i = 0; i < 10; i++) ps[0]!.propose(`x${i}`);
    pump(ps.slice(0, 2), 80);
    for (const p of ps.slice(0, 2)) expect(p.compact(p.length, fold(p))).toEqual({ ok: true });
    const events = pump(ps, 200);
    const settled = events.get(3)!.filter((e) => e.kind === 'proposed');
    expect(settled).toEqual([{ kind: 'proposed', id: 1, seq: 1, index: ps[0]!.base!.entry.index, n: -1 }]);
    expect(slow.proposals()!.pending).toEqual([]);
    expect(fold(slow)).toEqual(fold(ps[0]!));
  });

  test('a snapshot nobody asked for, or from a peer we do not catch up from, changes nothing', () => {
    const ps = room(3, 10);
    const src = ps[0]!;
    src.compact(src.length, fold(src));
    const base = src.base!;
    const data = JSON.stringify({ ...base, state: ['forged'] });
    const forged: Message = {
      t: 'snapshot',
      index: base.entry.index,
      hash: base.entry.hash,
      part: 0,
      parts: 1,
      data,
    };
    const victim = player(4, [1, 2, 3, 4]);
    victim.step(3, forged);
    expect(victim.length).toBe(0);
    expect(victim.view().peers.find((p) => p.id === 3)!.strikes).toBe(1);
    // Asked, but of a follower while it has no leader: not its authority.
    victim.step(3, { t: 'hb', term: 1, leader: 0, stage: 0, index: 99, done: false, init: true, hash: 'zz' });
    expect(victim.ready().messages.some((e) => e.to === 3 && e.msg.t === 'sync')).toBe(true);
    victim.step(3, forged);
    expect(victim.length).toBe(0);
    expect(victim.base).toBe(null);
  });

  test('a base whose sender the owner removes is taken again from the leader, state and all', () => {
    const ps = room(3, 10);
    for (const p of ps) expect(p.compact(p.length, fold(p))).toEqual({ ok: true });
    const [leader, liar, victim] = ps as [Player, Player, Player];
    // 3 caught up from 2 (then its authority): the room's entry, with a state that is not the room's.
    const reload = (via?: number[]) =>
      player(3, [1, 2, 3], {
        ...victim.persisted(),
        base: { ...victim.base!, state: ['forged'], ...(via ? { via } : {}) },
      });
    const fromLiar = reload([2]);
    const own = reload();
    const run = (v: Player) => {
      const others = [leader, v];
      pump(others, 20);
      expect(fold(v)).toEqual(['forged']);
      for (const p of others) p.expel(liar.self);
      return pump(others, 40).get(3) ?? [];
    };
    // What the page would write: the repair keeps the base's index and hash, and must be stored all the same.
    let stored: Persisted | null = null;
    const ready = fromLiar.ready.bind(fromLiar);
    fromLiar.ready = () => {
      const r = ready();
      if (r.persist) stored = r.persist;
      return r;
    };
    const at = fromLiar.base!.entry.index;
    const events = run(fromLiar);
    expect((stored as Persisted | null)?.base?.state).toEqual(leader.base!.state);
    expect(fold(fromLiar)).toEqual(fold(leader));
    // Now 1's word: its own compaction, handed on by 1.
    expect(fromLiar.base).toEqual({ ...leader.base, via: [1] });
    // The library folds afresh: the log changed under what it delivered.
    expect(events).toContainEqual({ kind: 'forked', index: at, leader: 1 });
    expect(fromLiar.stage).toBe(leader.stage);
    expect(fromLiar.view().stateFromRemoved).toEqual([]);
    // A base of our own making stays: no removed player's word is in it.
    run(own);
    expect(fold(own)).toEqual(['forged']);
    expect(own.view().stateFromRemoved).toEqual([]);
    // Where nobody else holds a base, the state stays, flagged: 1 never compacted, and no hash covers a state.
    const bare = player(1, [1, 2, 3], { ...leader.persisted(), base: undefined, history: [] });
    expect(bare.base).toBe(null);
    const alone = reload([2]);
    pump([bare, alone], 10);
    alone.expel(2);
    pump([bare, alone], 40);
    expect(fold(alone)).toEqual(['forged']);
    expect(alone.view().stateFromRemoved).toEqual([2]);
  });

  test('a tainted base asks a leader that does not answer ever less often, and is repaired once it does', () => {
    const ps = room(3, 10);
    for (const p of ps) expect(p.compact(p.length, fold(p))).toEqual({ ok: true });
    const [leader, liar, victim] = ps as [Player, Player, Player];
    const tainted = player(3, [1, 2, 3], {
      ...victim.persisted(),
      base: { ...victim.base!, state: ['forged'], via: [2] },
    });
    const others = [leader, tainted];
    pump(others, 20);
    for (const p of others) p.expel(liar.self);
    // Every ask for the leader's base (a sync from before entry 1) is lost on the way.
    let asks = 0;
    const lost: Filter = (from, e) => {
      if (from === 3 && e.to === 1 && e.msg.t === 'sync' && e.msg.index === 0) {
        asks++;
        return null;
      }
      return undefined;
    };
    const timeouts = 40;
    pump(others, timeouts * timing.timeoutTicks, new Map(), lost);
    // After 1, 2 and 4 timeouts, then every 4: about 11 in 40, where one a timeout made 40.
    expect(asks).toBeGreaterThanOrEqual(8);
    expect(asks).toBeLessThanOrEqual(14);
    expect(fold(tainted)).toEqual(['forged']);
    // The next ask gets through, within 4 timeouts.
    pump(others, 5 * timing.timeoutTicks);
    expect(fold(tainted)).toEqual(fold(leader));
    expect(tainted.view().stateFromRemoved).toEqual([]);
  });

  test('a base that breaks the rules is refused, from the leader too', () => {
    const ps = room(2, 4);
    for (const p of ps) p.setDone(true);
    pump(ps);
    const leader = ps[0]!;
    leader.compact(leader.length, fold(leader));
    const base = leader.base!;
    // A forged base claiming stage 1 with no stage entry to show for it: not lawful.
    const bad = { ...base, stages: [] };
    const run = (b: typeof base) => {
      const f = player(3, [1, 2, 3]);
      f.tick();
      f.step(1, {
        t: 'hb',
        term: leader.currentTerm,
        leader: 1,
        stage: 1,
        index: base.entry.index,
        done: false,
        init: true,
        hash: base.entry.hash,
      });
      f.ready();
      f.step(1, {
        t: 'snapshot',
        index: b.entry.index,
        hash: b.entry.hash,
        part: 0,
        parts: 1,
        data: JSON.stringify(b),
      });
      return f;
    };
    expect(run(bad).base).toBe(null);
    // A page session's earlier runs come in [player, number] pairs, at most LIMITS.app.earlierRuns of them.
    const runs = (n: number) => Array.from({ length: 2 * n }, (_, i) => i + 1);
    const withRuns = (extra: number[]) =>
      ({ ...base, app: [['cx', 9, 1, 9, ...extra]] }) as unknown as typeof base;
    expect(run(withRuns([3, 1])).base!.app).toEqual([['cx', 9, 1, 9, 3, 1]]);
    expect(run(withRuns([3])).base).toBe(null);
    expect(run(withRuns(runs(LIMITS.app.earlierRuns + 1))).base).toBe(null);
    // Kept with its sender named: its state is 1's word.
    expect(run(base).base).toEqual({ ...base, via: [1] });
    // A list padded with IDs the room never issued cannot push its sender out: the padding goes.
    expect(run({ ...base, via: Array.from({ length: 1000 }, (_, i) => i + 5) }).base!.via).toEqual([1]);
  });

  test('an older base whose entries pass through our own later base is the same chain: taken on, no fork', () => {
    const ps = room(3, 6);
    const [p1, , p3] = ps as [Player, Player, Player];
    const length = p1.length;
    // The leader compacted early; player 3 later, past it.
    expect(p1.compact(length - 3, fold(p1, length - 3))).toEqual({ ok: true });
    expect(p3.compact(length, fold(p3))).toEqual({ ok: true });
    // The room moves on to stage 1 and more values while nothing of the log reaches 3.
    const log = new Set(['accept', 'advance', 'history', 'snapshot']);
    const deaf: Filter = (_from, e) => (e.to === 3 && log.has(e.msg.t) ? null : undefined);
    for (const p of ps) p.setDone(true);
    pump(ps, 60, undefined, deaf);
    for (let i = 0; i < 3; i++) p1.propose(`late${i}`);
    pump(ps, 60, undefined, deaf);
    expect(p1.view().stage).toBe(1);
    expect(p3.view().stage).toBe(0);
    // The leader's base, below 3's own, reaches it first (an answer to an older ask).
    const base = p1.base!;
    p3.step(1, {
      t: 'snapshot',
      index: base.entry.index,
      hash: base.entry.hash,
      part: 0,
      parts: 1,
      data: JSON.stringify(base),
    });
    // Only the entries that follow the leader's base reach 3 (not the ones its own ask for, after its base).
    const after = base.entry.index + 1;
    const fromBase: Filter = (_from, e) =>
      e.to === 3 && e.msg.t === 'history' && e.msg.entries[0]?.index !== after ? null : undefined;
    const events = pump(ps, 200, undefined, fromBase).get(3)!;
    expect(events.filter((e) => e.kind === 'forked')).toEqual([]);
    expect(p3.length).toBe(p1.length);
    expect(p3.view().stage).toBe(1);
    expect(fold(p3)).toEqual(fold(p1));
  });

  test('a player whose forked log ends at the room’s base is sent the base, and repaired', () => {
    const ps = room(3, 6);
    const old = ps[2]!.persisted();
    const tip = old.history.at(-1)!;
    const length = ps[2]!.length;
    // A liar fed player 3 one entry the room never had; the room went on and compacted right there.
    const forged = seal(tip.hash, {
      index: length + 1,
      kind: 'app',
      stage: tip.stage,
      term: tip.term,
      done: [],
      members: tip.members,
      ops: [{ by: 1, c: 'forged', seq: 1, data: 'forged' }],
    });
    const p3 = player(3, [1, 2, 3], { ...old, history: [...old.history, forged] });
    for (let i = 0; i < 6; i++) ps[0]!.propose(`r${i}`);
    pump(ps.slice(0, 2), 80);
    for (const p of ps.slice(0, 2)) expect(p.compact(length + 1, fold(p, length + 1))).toEqual({ ok: true });
    ps[2] = p3;
    pump(ps, 200);
    expect(p3.length).toBe(ps[0]!.length);
    expect(fold(p3)).toEqual(fold(ps[0]!));
  });

  test('a base on a fork above the leader’s whole, never compacted log is seen by its stages, and repaired', () => {
    // A liar's fork from the first entry, at stage 2, is the room's log: player 2 leads it, and its one voter,
    // slot 1, is player 3 (the same tab under a new ID). 3 holds a base past all of that log on another chain,
    // at stage 0: no hash of the leader's is at an index 3 still holds, and the leader has no base to send.
    const s1 = seal(GENESIS, { index: 1, kind: 'stage', stage: 1, term: 5, done: [1], members: [1] });
    const s2 = seal(s1.hash, { index: 2, kind: 'stage', stage: 2, term: 5, done: [1], members: [1] });
    const m3 = seal('other', { index: 3, kind: 'members', stage: 0, term: 4, done: [], members: [1, 2] });
    const saved = { term: 5, promised: 0, done: false, accepted: null, initialized: true };
    const leader = player(2, [2, 3], { ...saved, history: [s1, s2] });
    const p3 = new Player({
      self: 3,
      timing,
      rng: seededRng(3),
      roster: { version: 1, members: [2, 3] },
      was: 1,
      persisted: { ...saved, history: [], base: { entry: m3, stages: [], names: [], app: [], state: [] } },
    });
    pump([leader, p3], 120);
    expect(leader.view().role).toBe('leader');
    // 3's base says it was at stage 0 at entry 1, where the leader's log is at stage 1: a fork, repaired.
    expect(p3.view().stage).toBe(2);
    expect(p3.base).toBe(null);
    expect(p3.entries[1]!.hash).toBe(s2.hash);
    // And its vote lets the leader commit again.
    expect(leader.length).toBeGreaterThan(2);
    expect(p3.entries.at(-1)!.hash).toBe(leader.entries.at(-1)!.hash);
  });

  test('a base that comes before the promise making its sender our authority waits for that promise', () => {
    const ps = room(3, 4);
    const old = ps[0]!.persisted();
    // Player 1 sleeps; 2 and 3 go on and compact past everything it holds.
    for (let i = 0; i < 6; i++) ps[1]!.propose(`r${i}`);
    pump(ps.slice(1), 120);
    for (const p of ps.slice(1)) expect(p.compact(p.length, fold(p))).toEqual({ ok: true });
    const back = player(1, [1, 2, 3], old);
    ps[0] = back;
    // Its sync is answered before any promise reaches it (the reports are late), so the base is early.
    let snapshots = 0;
    pump(ps, 200, undefined, (_from, e) => {
      if (e.to !== 1) return undefined;
      if (e.msg.t === 'snapshot') snapshots++;
      return e.msg.t === 'report' && snapshots === 0 ? null : undefined;
    });
    expect(back.base?.entry.index).toBe(ps[1]!.base!.entry.index);
    expect(fold(back)).toEqual(fold(ps[1]!));
    expect(ps.map((p) => p.currentLeader)).toEqual([1, 1, 1]);
    // The early base was taken when the promise came: nobody had to send it again (a sender repeats a base
    // to a peer only after two timeouts, about as long as a candidacy lasts, so the two can keep missing).
    expect(snapshots).toBe(1);
  });

  test('a fork past what one message of large entries carries is still found, and repaired', () => {
    const ps = room(3, 0);
    const big = (i: number) => `${i}:${'x'.repeat(900)}`;
    for (let i = 0; i < 20; i++) ps[i % 3]!.propose(big(i));
    pump(ps, 200);
    const old = ps[2]!.persisted();
    const tip = old.history.at(-1)!;
    // A liar fed player 3 one entry the room never had at the end of its log; the room went on without it.
    const forged = seal(tip.hash, {
      index: tip.index + 1,
      kind: 'app',
      stage: tip.stage,
      term: tip.term,
      done: [],
      members: tip.members,
      ops: [{ by: 1, c: 'forged', seq: 1, data: big(-1) }],
    });
    for (let i = 0; i < 3; i++) ps[0]!.propose(big(100 + i));
    pump(ps.slice(0, 2), 80);
    ps[2] = player(3, [1, 2, 3], { ...old, history: [...old.history, forged] });
    // The chunk that ends at its tip starts 64 entries back: cut to fit one message, it stops short of it.
    expect(forged.index).toBeGreaterThan(LIMITS.historyBytes / 900);
    pump(ps, 120);
    expect(ps[2]!.length).toBe(ps[0]!.length);
    expect(fold(ps[2]!)).toEqual(fold(ps[0]!));
  });

  /**
   * Player 2 of 3 commits 'a', then proposes 'b'; the leader (1) shows 2 alone an entry of its own that takes
   * 2's next number with another value.
   */
  function numberTaken() {
    const ps = room(3, 0);
    const p2 = ps[1]!;
    p2.propose('a');
    pump(ps, 40);
    p2.propose('b');
    takeNext(ps, 2);
    return { ps, p2 };
  }

  test('a number a lying leader took from us on a fork since cut does not hold our later values back', () => {
    // The leader lies to player 2 alone, and 2's own value for that number never reaches it.
    const { ps, p2 } = numberTaken();
    const events = new Map<number, CoreEvent[]>();
    events.set(2, p2.ready().events);
    expect(events.get(2)!.some((e) => e.kind === 'superseded')).toBe(true);
    // The room goes on without that entry, and 2 takes the room's log, cutting the liar's.
    ps[0]!.propose('x');
    pump(ps, 80, events, (from, e) => (from === 2 && e.msg.t === 'op' ? null : undefined));
    expect(p2.entries.at(-1)!.hash).toBe(ps[0]!.entries.at(-1)!.hash);
    // Number 2 of 2's session is free again and nothing will fill it: its next value must still go in.
    p2.propose('c');
    pump(ps, 80, events);
    expect(fold(ps[0]!)).toEqual(['a', 'x', 'c']);
    const settled = events.get(2)!.filter((e) => e.kind === 'proposed' || e.kind === 'superseded');
    expect(settled.map((e) => [e.kind, 'id' in e ? e.id : 0])).toEqual([
      ['superseded', 2],
      ['proposed', 3],
    ]);
  });

  test('a number a lying leader showed us taken, which the room gave our own value, moves nothing', () => {
    // The leader shows 2 alone the taken number, and commits 2's real value for it.
    const { ps, p2 } = numberTaken();
    p2.propose('e');
    pump(ps, 120);
    expect(p2.entries.at(-1)!.hash).toBe(ps[0]!.entries.at(-1)!.hash);
    // Each value once: had 2 moved its session, 'e' would have gone in under both.
    expect(fold(ps[0]!)).toEqual(['a', 'b', 'e']);
  });

  test('a number we skipped because a lying leader’s fork used it, since cut, does not hold our values back', () => {
    // The leader shows 2 alone an entry taking 2's next number, in 2's own name, before 2 proposes again: 2
    // numbers 'b' past it.
    const ps = room(3, 0);
    const p2 = ps[1]!;
    p2.propose('a');
    pump(ps, 40);
    takeNext(ps, 2);
    p2.propose('b');
    expect(p2.proposals()!.pending.map(([seq]) => seq)).toEqual([3]);
    // The room goes on without that entry, and 2 takes the room's log: number 2 is free, and no value of
    // 2's holds it, so 'b' could never apply under that session.
    ps[0]!.propose('x');
    pump(ps, 120);
    expect(p2.entries.at(-1)!.hash).toBe(ps[0]!.entries.at(-1)!.hash);
    expect(fold(ps[0]!)).toEqual(['a', 'x', 'b']);
    expect(p2.proposals()!.pending).toEqual([]);
  });

  test('a moved value that commits under its old session does not hold the new session’s later ones back', () => {
    // 2 commits 'a', then numbers 'b', 'c', 'd' 2 to 4; their op to the leader is lost.
    const ps = room(3, 0);
    const p2 = ps[1]!;
    p2.propose('a');
    pump(ps, 40);
    for (const v of ['b', 'c', 'd']) p2.propose(v);
    p2.ready();
    // The leader shows 2 alone an entry giving number 2 of 2's session to player 3: 2 moves 'c' and 'd' to
    // a new session, as 1 and 2.
    takeNext(ps, 3);
    // The room's log takes 'b' and 'c' under the old session (the leader had them after all), not 'd'.
    ps[0]!.step(2, {
      t: 'op',
      c: 'c2',
      ops: [
        { seq: 2, data: 'b' },
        { seq: 3, data: 'c' },
      ],
    });
    pump(ps, 40, undefined, (from, e) => (from === 2 && e.msg.t === 'op' ? null : undefined));
    expect(p2.entries.at(-1)!.hash).toBe(ps[0]!.entries.at(-1)!.hash);
    // 'c' settled as committed there: number 1 of the new session is one nothing will fill, and 'd' waits
    // behind it unless 2 moves it again.
    pump(ps, 120);
    expect(fold(ps[0]!)).toEqual(['a', 'b', 'c', 'd']);
    expect(p2.proposals()!.pending).toEqual([]);
  });

  test('a base far past any log is refused, so no liar can leave the room without an index to commit at', () => {
    const ps = room(3, 4);
    const leader = ps[0]!;
    const far = seal('zzz', { ...leader.entries.at(-1)!, index: Number.MAX_SAFE_INTEGER });
    const base = { entry: far, stages: [], names: [], app: [], state: ['forged'] };
    const f = player(4, [1, 2, 3, 4]);
    f.tick();
    f.step(1, {
      t: 'hb',
      term: leader.currentTerm,
      leader: 1,
      stage: 0,
      index: far.index,
      done: false,
      init: true,
      hash: far.hash,
    });
    expect(f.ready().messages.some((e) => e.msg.t === 'sync')).toBe(true);
    f.step(1, {
      t: 'snapshot',
      index: far.index,
      hash: far.hash,
      part: 0,
      parts: 1,
      data: JSON.stringify(base),
    });
    expect(f.base).toBe(null);
  });

  test('a value committed under an ID we had before settles as ours from a base past a later run of ours', () => {
    const ps = room(3, 0);
    const [p1, p2, p3] = ps as [Player, Player, Player];
    p3.propose('under 3');
    // Its offer reaches the leader and commits; p3 hears no more of it.
    for (const e of p3.ready().messages.filter((e) => e.to === 1)) p1.step(3, e.msg);
    pump([p1, p2], 60);
    expect(values(p1)).toEqual(['under 3']);
    // The tab continues its slot as 4 (its session ended), keeping its state and its page session's values.
    const p4 = new Player({
      self: 4,
      timing,
      rng: seededRng(4),
      roster: { version: 2, members: [1, 2, 4] },
      persisted: p3.persisted(),
      was: 3,
      proposals: p3.proposals()!,
    });
    for (const p of [p1, p2]) p.setRoster({ version: 2, members: [1, 2, 4] });
    p4.propose('under 4');
    // Nothing of the log reaches 4 until the room compacted past both values: it catches up from the base.
    const logKinds = new Set(['accept', 'advance', 'history', 'snapshot']);
    const quiet: Filter = (_from, e) => (e.to === 4 && logKinds.has(e.msg.t) ? null : undefined);
    pump([p1, p2, p4], 200, undefined, quiet);
    expect(values(p1)).toEqual(['under 3', 'under 4']);
    for (const p of [p1, p2]) expect(p.compact(p.length, fold(p))).toEqual({ ok: true });
    // Entries the leader still has on their way to 4 (retries) are dropped too, until 4 holds the base.
    const entries = new Set(['accept', 'advance', 'history']);
    const toBase: Filter = (_from, e) => (e.to === 4 && !p4.base && entries.has(e.msg.t) ? null : undefined);
    const told = pump([p1, p2, p4], 200, undefined, toBase)
      .get(4)!
      .filter((e) => e.kind === 'proposed' || e.kind === 'superseded')
      .map((e) => [e.kind, e.seq]);
    expect(told).toEqual([
      ['proposed', 1],
      ['proposed', 2],
    ]);
    expect(p4.proposals()!.pending).toEqual([]);
  });

  test('a value whose number another player took before the base is not reported committed from it', () => {
    const ps = room(5, 0);
    const [p1, p2, p3, p4, p5] = ps as [Player, Player, Player, Player, Player];
    p3.propose('real1');
    p3.propose('real2');
    const offer = p3.ready().messages.filter((e) => e.to === 1 && e.msg.t === 'op');
    // Player 2 learned p3's client ID and races its first number; then p3's offer lands.
    p1.step(2, { t: 'op', c: 'c3', ops: [{ seq: 1, data: 'forged' }] });
    for (const e of offer) p1.step(3, e.msg);
    pump([p1, p2, p4, p5], 60);
    for (const p of [p1, p4, p5]) p.expel(2);
    pump([p1, p4, p5], 100);
    const lead = [p1, p4, p5].find((p) => p.currentRole === 'leader')!;
    lead.step(3, { t: 'op', c: 'c3', ops: [{ seq: 2, data: 'real2' }] });
    pump([p1, p4, p5], 100);
    expect(values(p1)).toEqual(['forged', 'real2']);
    for (const p of [p1, p4, p5]) p.compact(p.length, fold(p));
    p3.expel(2);
    const told = pump([p1, p3, p4, p5], 200)
      .get(3)!
      .filter((e) => e.kind === 'proposed' || e.kind === 'superseded')
      .map((e) => [e.kind, e.seq]);
    expect(told).toEqual([
      ['superseded', 1],
      ['proposed', 2],
    ]);
  });

  test('parts from a peer we do not catch up from cannot break the leader’s snapshot off', () => {
    const ps = room(3, 30);
    const state = [...fold(ps[0]!), 'x'.repeat(20_000)];
    for (const p of ps) p.compact(p.length, state);
    const late = player(4, [1, 2, 3, 4, 5]);
    for (const p of ps) p.setRoster({ version: 2, members: [1, 2, 3, 4, 5] });
    late.tick();
    // A liar (5) claims a longer log, so the late joiner asks it too; it then sends stray first parts.
    late.step(5, { t: 'hb', term: 1, leader: 0, stage: 0, index: 999, done: false, init: true, hash: 'abc' });
    const junk: Message = { t: 'snapshot', index: 1, hash: 'a', part: 0, parts: 2, data: 'x' };
    pump([...ps, late], 300, new Map(), (_from, e) => {
      if (e.to === 4 && e.msg.t === 'snapshot' && e.msg.part === 1) late.step(5, junk);
      return undefined;
    });
    expect(late.length).toBe(ps[0]!.length);
    expect(fold(late)).toEqual(fold(ps[0]!));
  });
});

/** The leader (1) shows player 2 alone an entry giving number 2 of 2's session to `by`. */
function takeNext(ps: Player[], by: number) {
  const p2 = ps[1]!;
  const tip = p2.entries.at(-1)!;
  const term = ps[0]!.currentTerm;
  const forged = seal(tip.hash, {
    index: tip.index + 1,
    kind: 'app',
    stage: tip.stage,
    term,
    done: [],
    members: tip.members,
    ops: [{ by, c: 'c2', seq: 2, data: 'forged' }],
  });
  p2.step(1, { t: 'accept', term, entry: forged });
  p2.step(1, { t: 'advance', term, entry: forged });
}

describe('a value moved off a taken session', () => {
  test('that commits under its old session leaves no hole while its new copy may still fill that number', () => {
    const timing = { heartbeatTicks: 2, timeoutTicks: 8, answerTicks: 2 };
    const ids = [1, 2, 3];
    const ps = ids.map(
      (id) =>
        new Player({
          self: id,
          timing,
          rng: seededRng(id),
          roster: { version: 1, members: ids },
          proposals: { client: `c${id}`, next: 1, pending: [] },
        }),
    );
    const byId = new Map(ps.map((p) => [p.self, p]));
    const deliver = (from: number, e: Envelope) => byId.get(e.to)?.step(from, e.msg);
    const pump = (rounds: number, pass = (_from: number, _e: Envelope) => true) => {
      for (let r = 0; r < rounds; r++) {
        const out: [number, Envelope][] = [];
        for (const p of ps) {
          p.tick();
          for (const e of p.ready().messages) out.push([p.self, e]);
        }
        for (const [from, e] of out) if (pass(from, e)) deliver(from, e);
      }
    };
    const values = (p: Player) => {
      const last = new Map<string, number>();
      return p.entries.flatMap((e) => (e.kind === 'app' ? applyOps(last, e).map((op) => op.data) : []));
    };
    const [p1, p2] = ps as [Player, Player];
    pump(40);
    p2.propose('a');
    pump(40);
    for (const v of ['b', 'c', 'd']) p2.propose(v);
    p2.ready(); // their op to the leader is lost
    // The liar (3) shows p2 an entry taking its session's next number, as if from the leader: p2 moves b, c, d.
    takeNext(ps, 3);
    const moved = p2.ready().messages.filter((e) => e.msg.t === 'op');
    // The leader had the old session's b and c after all; the moved values' op reaches it just after.
    p1.step(2, {
      t: 'op',
      c: 'c2',
      ops: [
        { seq: 2, data: 'b' },
        { seq: 3, data: 'c' },
      ],
    });
    let sent = false;
    pump(60, (from, e) => {
      if (!sent && from === 1 && e.msg.t === 'accept') {
        for (const m of moved) deliver(2, m);
        sent = true;
      }
      return !(from === 2 && e.msg.t === 'op' && !sent);
    });
    pump(120);
    expect(p2.proposals()?.pending).toEqual([]);
    // c twice is the residual docs/protocol.md admits (a leader holding the old copy); d must go in once.
    expect(values(p1).filter((v) => v === 'd')).toEqual(['d']);
  });
});
