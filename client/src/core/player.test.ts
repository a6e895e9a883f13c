import { describe, expect, test } from 'vitest';
import {
  type CoreEvent,
  type Envelope,
  type Message,
  Player,
  parseMessage,
  type Roster,
  seededRng,
  timingFromMs,
} from './index.ts';

const timing = { heartbeatTicks: 2, timeoutTicks: 8, answerTicks: 2 };

function player(
  self: number,
  members: number[],
  extra: Partial<ConstructorParameters<typeof Player>[0]> = {},
) {
  const roster: Roster = { version: 1, members };
  return new Player({ self, timing, rng: seededRng(self), roster, ...extra });
}

/** Delivers every queued message among `ps` until quiet, ticking once per round (a TestSocketPair for N). */
function pump(ps: Player[], rounds = 40): void {
  const byId = new Map(ps.map((p) => [p.self, p]));
  for (let r = 0; r < rounds; r++) {
    const out: [number, Envelope][] = [];
    for (const p of ps) {
      p.tick();
      for (const e of p.ready().messages) out.push([p.self, e]);
    }
    for (const [from, e] of out) byId.get(e.to)?.step(from, e.msg);
  }
}

describe('a lone player', () => {
  test('leads itself, and its Done alone advances the stage', () => {
    const p = player(1, [1]);
    p.tick();
    expect(p.view().role).toBe('leader');
    p.setDone(true);
    const v = p.view();
    expect(v.stage).toBe(1);
    expect(v.done).toBe(false);
    expect(v.history).toMatchObject([
      { index: 1, kind: 'stage', stage: 1, term: 1, done: [1], members: [1] },
    ]);
  });

  test('never advances past the last stage', () => {
    const p = player(1, [1], { lastStage: 1 });
    p.tick();
    p.setDone(true);
    p.setDone(true);
    expect(p.view().stage).toBe(1);
    expect(p.view().done).toBe(false);
  });
});

describe('a room of three', () => {
  test('elects the lowest ID, advances when all three are done, and an undo holds the stage', () => {
    const ps = [1, 2, 3].map((id) => player(id, [1, 2, 3]));
    pump(ps);
    expect(ps.map((p) => p.view().leader)).toEqual([1, 1, 1]);
    ps[0]!.setDone(true);
    ps[1]!.setDone(true);
    pump(ps);
    expect(ps[2]!.view().tally).toMatchObject({ stage: 0, done: [1, 2], live: [1, 2, 3] });
    ps[1]!.setDone(false);
    pump(ps);
    expect(ps[2]!.view().tally).toMatchObject({ stage: 0, done: [1] });
    ps[2]!.setDone(true);
    pump(ps);
    expect(ps.map((p) => p.view().stage)).toEqual([0, 0, 0]);
    ps[1]!.setDone(true);
    pump(ps);
    expect(ps.map((p) => p.view().stage)).toEqual([1, 1, 1]);
  });

  test('a goodbye reaches every peer, and the next ID leads without waiting for a timeout', () => {
    const ps = [1, 2, 3].map((id) => player(id, [1, 2, 3]));
    pump(ps);
    ps[0]!.goodbye();
    const byes = ps[0]!.ready().messages;
    expect(byes.map((e) => [e.to, e.msg.t])).toEqual([
      [2, 'bye'],
      [3, 'bye'],
    ]);
    for (const e of byes) ps[e.to - 1]!.step(1, e.msg);
    pump(ps.slice(1), 3);
    expect(ps[1]!.view().role).toBe('leader');
    expect(ps[2]!.view().leader).toBe(2);
  });

  test('a message that trails a goodbye does not undo it; one a heartbeat later (a reload) does', () => {
    const ps = [1, 2, 3].map((id) => player(id, [1, 2, 3]));
    pump(ps);
    const hb: Message = {
      t: 'hb',
      term: 1,
      leader: 1,
      stage: 0,
      index: 9,
      done: false,
      init: true,
      hash: 'x',
    };
    ps[2]!.step(1, { t: 'bye' });
    // Sent before the goodbye, by a slower path.
    ps[2]!.step(1, hb);
    expect(ps[2]!.view().peers.find((q) => q.id === 1)?.live).toBe(false);
    for (let i = 0; i < timing.heartbeatTicks; i++) ps[2]!.tick();
    ps[2]!.step(1, hb);
    expect(ps[2]!.view().peers.find((q) => q.id === 1)?.live).toBe(true);
  });

  test('a reload keeps stage and Done through the persisted state', () => {
    const ps = [1, 2, 3].map((id) => player(id, [1, 2, 3]));
    pump(ps);
    ps[1]!.setDone(true);
    pump(ps, 3);
    const saved = ps[1]!.persisted();
    const again = player(2, [1, 2, 3], { persisted: saved });
    expect(again.view()).toMatchObject({ stage: 0, done: true, initialized: true });
    ps[1] = again;
    ps[0]!.setDone(true);
    ps[2]!.setDone(true);
    pump(ps);
    expect(ps.map((p) => p.view().stage)).toEqual([1, 1, 1]);
  });

  test('a side without a majority of the agreed voters names whom it waits for and does not advance', () => {
    const ps = [1, 2, 3, 4, 5].map((id) => player(id, [1, 2, 3, 4, 5]));
    pump(ps);
    expect(ps[0]!.view().voters).toEqual([1, 2, 3, 4, 5]);
    // Alone with a roster that says so: the server's roster is no vote.
    const p = player(1, [1], { persisted: ps[0]!.persisted() });
    for (let i = 0; i < 20; i++) p.tick();
    p.setDone(true);
    const v = p.view();
    expect(v.blocked).toBe('waiting for players 2, 3, 4 and 5: 3 of 5 agreed members needed');
    expect(v.quorum).toEqual({ live: 1, members: 5, needed: 3, ok: false, lost: false });
    expect(v.stage).toBe(0);
    expect(v.role).toBe('follower');
    // Removing one of the four still leaves a majority possible; removing three does not, ever.
    p.expel(2);
    expect(p.view().quorum.lost).toBe(false);
    p.expel(3);
    p.expel(5);
    expect(p.view()).toMatchObject({
      quorum: { ok: false, lost: true },
      blocked:
        'players 2, 3 and 5 were removed, and 3 of 5 agreed members are needed: no majority can form again',
    });
  });

  test('a room of two whose other voter was removed cannot go on, and says so', () => {
    const ps = [1, 2].map((id) => player(id, [1, 2]));
    pump(ps);
    expect(ps[1]!.view()).toMatchObject({ voters: [1, 2], quorum: { ok: true, lost: false } });
    const p = player(2, [2], { persisted: ps[1]!.persisted() });
    p.expel(1);
    for (let i = 0; i < 40; i++) p.tick();
    p.setDone(true);
    expect(p.view()).toMatchObject({
      stage: 0,
      quorum: { live: 1, members: 2, needed: 2, ok: false, lost: true },
      blocked: 'player 1 was removed, and 2 of 2 agreed members are needed: no majority can form again',
    });
  });

  test("a follower whose leader's vouches lapse does not flash 'waiting' while its leader still leads", () => {
    const ps = [1, 2, 3, 4, 5].map((id) => player(id, [1, 2, 3, 4, 5]));
    pump(ps, 60);
    expect(ps[4]!.view()).toMatchObject({ leader: 1, voters: [1, 2, 3, 4, 5] });
    // Player 5 keeps hearing its leader, but the tallies that vouch for 2, 3 and 4 go missing.
    for (let r = 0; r < 3 * timing.timeoutTicks; r++) {
      const out: [number, Envelope][] = [];
      for (const p of ps) {
        p.tick();
        for (const e of p.ready().messages) out.push([p.self, e]);
      }
      for (const [from, e] of out) {
        if (e.to === 5 && from !== 1) continue;
        const msg = e.to === 5 && e.msg.t === 'hb' ? { ...e.msg, tally: undefined } : e.msg;
        if (msg.t === 'hb' && msg.tally === undefined) delete msg.tally;
        ps[e.to - 1]!.step(from, msg);
      }
      const v = ps[4]!.view();
      expect(v.quorum.ok).toBe(true);
      expect(v.blocked).toBeNull();
    }
    // The vouches did lapse: on its own count, 5 hears two of five.
    expect(ps[4]!.view()).toMatchObject({ live: [1, 5], leader: 1, role: 'follower' });
  });

  test('a lone leader keeps its leadership, and its term, when a second player joins', () => {
    const a = player(1, [1]);
    a.tick();
    expect(a.view()).toMatchObject({ role: 'leader', term: 1 });
    const b = player(2, [1, 2]);
    a.setRoster({ version: 2, members: [1, 2] });
    const roles: string[] = [];
    for (let r = 0; r < 30; r++) {
      pump([a, b], 1);
      roles.push(a.view().role);
    }
    expect(new Set(roles)).toEqual(new Set(['leader']));
    expect(a.view()).toMatchObject({ term: 1, voters: [1, 2] });
    expect(b.view()).toMatchObject({ leader: 1, term: 1, initialized: true });
  });
});

describe('parseMessage', () => {
  const good: Message[] = [
    { t: 'hb', term: 1, leader: 1, stage: 0, index: 0, done: false, init: true, hash: '0' },
    {
      t: 'hb',
      term: 1,
      leader: 1,
      stage: 0,
      index: 2,
      done: false,
      init: true,
      hash: 'k2x',
      tally: { stage: 0, done: [1], live: [1, 2], members: 2 },
    },
    {
      t: 'hb',
      term: 1,
      leader: 1,
      stage: 0,
      index: 2,
      done: false,
      init: true,
      hash: 'k2x',
      tally: { stage: 0, done: [1], live: [1, 2], silent: [0, 7], members: 2 },
    },
    { t: 'election', term: 3 },
    { t: 'answer', term: 3 },
    { t: 'coordinator', term: 3 },
    { t: 'reject', term: 3 },
    { t: 'report', term: 3, done: true, init: true, history: [], accepted: null },
    { t: 'done', term: 3, stage: 2, done: true },
    {
      t: 'accept',
      term: 3,
      entry: { index: 2, kind: 'stage', stage: 1, term: 3, done: [1, 2], members: [1, 2], hash: 'abc' },
    },
    { t: 'accepted', term: 3, index: 2 },
    {
      t: 'advance',
      term: 3,
      entry: { index: 3, kind: 'members', stage: 1, term: 3, done: [], members: [1, 2], hash: 'abd' },
    },
    { t: 'sync', index: 0, hash: '0' },
    {
      t: 'hb',
      term: 1,
      leader: 0,
      stage: 0,
      index: 0,
      done: false,
      init: true,
      hash: '0',
      was: 3,
      retired: [{ id: 2, term: 1, index: 0, hash: '0', accepted: null }],
    },
    { t: 'leave', term: 2, index: 1, hash: 'z', accepted: null, entries: [] },
    {
      t: 'history',
      entries: [{ index: 1, kind: 'stage', stage: 1, term: 1, done: [1], members: [1], hash: 'q' }],
    },
    { t: 'bye' },
  ];
  test.each(good)('accepts %o unchanged', (m) => {
    expect(parseMessage(JSON.parse(JSON.stringify(m)))).toEqual({ ok: true, msg: m });
  });

  const bad: [string, unknown, RegExp][] = [
    ['null', null, /must be an object/],
    ['an array', [], /must be an object/],
    ['a string', 'hb', /must be an object/],
    ['an unknown type', { t: 'nuke' }, /unknown message type/],
    ['a negative term', { t: 'election', term: -1 }, /term must be an integer/],
    ['a fractional term', { t: 'coordinator', term: 1.5 }, /term must be an integer/],
    ['a string term', { t: 'answer', term: '1' }, /term must be an integer/],
    [
      'a missing done',
      { t: 'hb', term: 1, leader: 1, stage: 0, index: 0, init: true, hash: '0' },
      /done is required/,
    ],
    [
      'tally ages that do not match its live list',
      {
        t: 'hb',
        term: 1,
        leader: 1,
        stage: 0,
        index: 0,
        done: false,
        init: true,
        hash: '0',
        tally: { stage: 0, done: [], live: [1, 2], silent: [0], members: 2 },
      },
      /as long as tally.live/,
    ],
    [
      'a negative tally age',
      {
        t: 'hb',
        term: 1,
        leader: 1,
        stage: 0,
        index: 0,
        done: false,
        init: true,
        hash: '0',
        tally: { stage: 0, done: [], live: [1], silent: [-1], members: 1 },
      },
      /bad age/,
    ],
    [
      'a zero ID',
      {
        t: 'advance',
        term: 1,
        entry: { index: 1, kind: 'stage', stage: 1, term: 1, done: [0], members: [1] },
      },
      /bad ID/,
    ],
    [
      'a stage entry to stage 0',
      {
        t: 'advance',
        term: 1,
        entry: { index: 1, kind: 'stage', stage: 0, term: 1, done: [], members: [], hash: 'a' },
      },
      /stage 1 or later/,
    ],
    [
      'an entry without a hash',
      { t: 'advance', term: 1, entry: { index: 1, kind: 'stage', stage: 1, term: 1, done: [], members: [] } },
      /entry.hash is required/,
    ],
    [
      'a claim to slot 0',
      { t: 'hb', term: 1, leader: 1, stage: 0, index: 0, done: false, init: true, hash: '0', was: 0 },
      /was must be a player ID/,
    ],
    [
      'an unknown entry kind',
      { t: 'advance', term: 1, entry: { index: 1, kind: 'vote', stage: 0, term: 1, done: [], members: [] } },
      /entry.kind/,
    ],
    [
      'too many IDs',
      {
        t: 'advance',
        term: 1,
        entry: { index: 1, kind: 'stage', stage: 1, term: 1, done: Array(1001).fill(1), members: [] },
      },
      /at most 1000/,
    ],
    [
      'too many entries',
      {
        t: 'history',
        entries: Array(65).fill({ index: 1, kind: 'stage', stage: 1, term: 1, done: [], members: [] }),
      },
      /at most 64/,
    ],
    ['a huge term', { t: 'reject', term: 2 ** 60 }, /term must be an integer/],
  ];
  test.each(bad)('rejects %s with a clear error', (_, input, why) => {
    const r = parseMessage(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(why);
  });

  test('drops unknown fields instead of passing them to the core', () => {
    const r = parseMessage({ t: 'bye', evil: { __proto__: 1 } });
    expect(r).toEqual({ ok: true, msg: { t: 'bye' } });
  });
});

describe('timingFromMs', () => {
  test('keeps a timeout at least three heartbeats and the answer bound below a timeout', () => {
    expect(timingFromMs(250, 1500, 10)).toEqual({ heartbeatTicks: 25, timeoutTicks: 150, answerTicks: 10 });
    expect(timingFromMs(1000, 1000, 10)).toEqual({ heartbeatTicks: 100, timeoutTicks: 300, answerTicks: 10 });
    expect(timingFromMs(50, 300, 100)).toEqual({ heartbeatTicks: 1, timeoutTicks: 3, answerTicks: 2 });
  });
});

test('seededRng replays exactly', () => {
  const a = seededRng(42);
  const b = seededRng(42);
  const xs = Array.from({ length: 5 }, () => a.next());
  expect(xs).toEqual(Array.from({ length: 5 }, () => b.next()));
  expect(new Set(xs).size).toBe(5);
  expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
});

/** Players `ids`, all agreed voters after a first pump, and a newcomer `late` that only `reach` can talk to. */
function roomWithNewcomer(ids: number[], late: number, reach: number[]) {
  const ps = ids.map((id) => player(id, ids));
  pump(ps);
  const newcomer = player(late, [...ids, late]);
  const all = [...ps, newcomer];
  const byId = new Map(all.map((p) => [p.self, p]));
  const down = new Set<number>();
  const proposed: number[][] = [];
  const linked = (a: number, b: number) =>
    !down.has(a) && !down.has(b) && (a !== late || reach.includes(b)) && (b !== late || reach.includes(a));
  const run = (rounds: number) => {
    for (let r = 0; r < rounds; r++) {
      const out: [number, Envelope][] = [];
      for (const p of all) {
        if (down.has(p.self)) continue;
        p.tick();
        const ready = p.ready();
        for (const ev of ready.events) if (ev.kind === 'propose') proposed.push(ev.entry.members);
        for (const e of ready.messages) out.push([p.self, e]);
      }
      for (const [from, e] of out) if (linked(from, e.to)) byId.get(e.to)?.step(from, e.msg);
    }
  };
  return { ps, all, run, down, proposed };
}

describe('voters that lost the server', () => {
  test('are not left behind by a newcomer the others can place: one more crash would stall the room', () => {
    // 2 and 3 lost the server; 6 joined, and 1, 4 and 5 can place it (a majority of the voters).
    const { ps, all, run, down, proposed } = roomWithNewcomer([1, 2, 3, 4, 5], 6, [1, 4, 5]);
    for (const p of [ps[0]!, ps[3]!, ps[4]!])
      p.setRoster({ version: 2, members: [1, 2, 3, 4, 5, 6], issued: 6 });
    run(40);
    expect(proposed.filter((m) => m.includes(6))).toEqual([]);
    // 5 crashes: 1 to 4 are still a majority of the five voters, so the room goes on.
    down.add(5);
    run(80);
    for (const p of all) if (!down.has(p.self)) p.setDone(true);
    run(60);
    expect(ps.slice(0, 4).map((p) => p.view().stage)).toEqual([1, 1, 1, 1]);
  });

  test('hold up only the addition of a newcomer they cannot place, not the room', () => {
    // 2 and 3 lost the server before 4 joined: their rosters stop at 3, and no link to 4 can form.
    const { ps, all, run, proposed } = roomWithNewcomer([1, 2, 3], 4, [1]);
    ps[0]!.setRoster({ version: 2, members: [1, 2, 3, 4], issued: 4 });
    run(40);
    expect(proposed.filter((m) => m.includes(4))).toEqual([]);
    for (const p of all) p.setDone(true);
    run(40);
    expect(ps.map((p) => p.view().stage)).toEqual([1, 1, 1]);
    // Back on the server: the roster names 4, and the leader adds it.
    for (const p of ps.slice(1)) p.setRoster({ version: 2, members: [1, 2, 3, 4], issued: 4 });
    run(40);
    expect(ps.map((p) => p.view().voters)).toEqual(ps.map(() => [1, 2, 3, 4]));
  });
});

describe('late heartbeats (a busy machine)', () => {
  // The app's timing: a beat every 25 ticks, a timeout of 150, an ANSWER bound of 10.
  const real = timingFromMs(250, 1500, 10);

  /** Ticks `ps` for `ticks`, holding what 1 sends 2 and handing it over every `every` ticks, in order. */
  function slowLink(ps: Player[], ticks: number, every: number): CoreEvent[] {
    const byId = new Map(ps.map((p) => [p.self, p]));
    const seen: CoreEvent[] = [];
    const held: Message[] = [];
    for (let t = 1; t <= ticks; t++) {
      const out: [number, Envelope][] = [];
      for (const p of ps) {
        p.tick();
        const r = p.ready();
        if (p.self === 2) seen.push(...r.events);
        for (const e of r.messages) out.push([p.self, e]);
      }
      for (const [from, e] of out) {
        if (from === 1 && e.to === 2) held.push(e.msg);
        else byId.get(e.to)?.step(from, e.msg);
      }
      if (t % every === 0) for (const m of held.splice(0)) byId.get(2)?.step(1, m);
    }
    return seen;
  }

  function agreedThree(): Player[] {
    const ps = [1, 2, 3].map((id) => player(id, [1, 2, 3], { timing: real }));
    pump(ps, 400);
    expect(ps.map((p) => p.view().leader)).toEqual([1, 1, 1]);
    return ps;
  }

  function beat(leader: number, extra: Partial<Extract<Message, { t: 'hb' }>> = {}): Message {
    return { t: 'hb', term: 1, leader, stage: 0, index: 0, done: false, init: true, hash: '0', ...extra };
  }

  test('a follower whose leader beats ever later stretches its timeout, and keeps its leader past the room’s', () => {
    const ps = agreedThree();
    const [, two] = ps as [Player, Player, Player];
    const term = two.view().term;
    // 1.2 s between beats (the first gap up to a beat longer, by 1's heartbeat phase), then 1.8 s: past
    // the room's 1.5 s timeout, and ANSWERs as late.
    const events = [...slowLink(ps, 1_200, 120), ...slowLink(ps, 3_600, 180)];
    const v = two.view();
    expect(v.leader).toBe(1);
    expect(v.role).toBe('follower');
    expect(ps.map((p) => p.view().term)).toEqual([term, term, term]);
    expect(v.suspectTicks).toBe(275);
    expect(v.answerTicks).toBe(68);
    // (3 may look silent now and then: the leader's tally, which vouches for it, comes as late.)
    expect(events.filter((e) => (e.kind === 'suspect' && e.peer === 1) || e.kind === 'role')).toEqual([]);
    const stretched = events.flatMap((e) => (e.kind === 'timeout' ? [e.ms] : []));
    expect(stretched.at(-1)).toBe(2750);
    expect(stretched.every((ms) => ms > 1500 && ms <= 3000)).toBe(true);
  });

  test('the stretch is at most twice the room’s timeout, and wears off a beat at a time once beats are on time', () => {
    const p = player(2, [1, 2], { timing: real });
    // Its first beat makes 1 our leader; the gaps count from the second.
    p.step(1, beat(1));
    for (let i = 0; i < 25; i++) p.tick();
    p.step(1, beat(1));
    for (let i = 0; i < 250; i++) p.tick();
    p.step(1, beat(1));
    expect([p.view().suspectTicks, p.view().answerTicks]).toEqual([300, 75]);
    expect(p.ready().events).toContainEqual({ kind: 'timeout', ms: 3000, roomMs: 1500 });
    const seen: number[] = [];
    for (let t = 0; t < 6_000; t++) {
      p.tick();
      if (t % 25 === 0) p.step(1, beat(1));
      const now = p.view().suspectTicks;
      if (seen.at(-1) !== now) seen.push(now);
    }
    expect(seen).toEqual([300, 275, 250, 225, 200, 175, 150]);
    expect([p.view().suspectTicks, p.view().answerTicks]).toEqual([real.timeoutTicks, real.answerTicks]);
  });

  test('an outage, and beats a peer does not send us every heartbeat, stretch nothing', () => {
    const p = player(2, [1, 2, 3], { timing: real });
    const tally = { stage: 0, done: [], live: [1, 2, 3], members: 3 };
    /** Ticks, with our leader (once we have one) beating on time, its tally vouching for 3. */
    const wait = (n: number, leading = true) => {
      for (let i = 1; i <= n; i++) {
        p.tick();
        if (leading && i % 25 === 0) p.step(1, beat(1, { tally }));
      }
    };
    // 3 has no leader yet, so it beats everyone; then it follows 1, whose tally vouches for it, and beats
    // only 1 until 1 is gone. Its next leaderless beat is not late.
    p.step(3, beat(0));
    wait(25, false);
    p.step(3, beat(0));
    p.step(1, beat(1));
    wait(250);
    p.step(3, beat(0));
    // Our leader past two timeouts: an outage (a frozen tab, a partition), which even the longest stretch suspects.
    wait(400, false);
    p.step(1, beat(1));
    // A follower of our leader beats us only now and then (this tally does not vouch for it).
    p.step(3, beat(1));
    for (let i = 1; i <= 250; i++) {
      p.tick();
      if (i % 25 === 0) p.step(1, beat(1));
    }
    p.step(3, beat(1));
    // Our leader back from a crash within two timeouts, with no leader yet: it did not beat us meanwhile.
    wait(250, false);
    p.step(1, beat(0));
    expect([p.view().suspectTicks, p.view().answerTicks]).toEqual([real.timeoutTicks, real.answerTicks]);
    expect(p.ready().events.some((e) => e.kind === 'timeout')).toBe(false);
  });
});

describe('the election', () => {
  test('an ANSWER from a player it did not ask does not hold an elector back', () => {
    // Leader 1 crashes. 2 and 3 still beat but never answer nor announce (they cannot win here); 5 is a
    // liar that only ever sends player 4 an ANSWER. Asked only [2, 3], 4 must still run after two silences.
    const ps = [1, 2, 3, 4].map((id) => player(id, [1, 2, 3, 4, 5]));
    pump(ps);
    expect(ps.every((p) => p.view().leader === 1)).toBe(true);
    const [, p2, p3, p4] = ps as [Player, Player, Player, Player];
    const byId = new Map([p2, p3, p4].map((p) => [p.self, p]));
    const mute = new Set(['answer', 'coordinator']);
    let ran = false;
    for (let tick = 0; tick < 150 && !ran; tick++) {
      const out: [number, Envelope][] = [];
      for (const p of [p2, p3, p4]) {
        p.tick();
        const r = p.ready();
        for (const e of r.messages) out.push([p.self, e]);
        if (p === p4) ran ||= r.events.some((e) => e.kind === 'role' && e.role === 'candidate');
      }
      for (const [from, e] of out) if (from === 4 || !mute.has(e.msg.t)) byId.get(e.to)?.step(from, e.msg);
      p4.step(5, { t: 'answer', term: p4.view().term });
    }
    expect(ran).toBe(true);
  });
});
