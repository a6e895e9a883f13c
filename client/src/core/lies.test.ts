// One lying member against honest players: each lie the issue lists, and the honest state after it.

import { describe, expect, test } from 'vitest';
import { seal, tipHash } from './chain.ts';
import { type Entry, type Envelope, type Message, type Persisted, Player, seededRng } from './index.ts';
import { REJOIN_STEP, TERM_STEP } from './player.ts';

const timing = { heartbeatTicks: 2, timeoutTicks: 8, answerTicks: 2 };
const LAST = 3;
const LIAR = 3;

/**
 * Players 1 to 4, all agreed voters, at stage 1; from here on the liar (3 unless given, 1 is the leader) only
 * says what a test makes it say. `drop` loses the frames it matches; `proposed` collects the entries proposed.
 * `proposer`, if given, may propose app values.
 */
function room(liar = LIAR, proposer = 0) {
  const ps = [1, 2, 3, 4].map(
    (self) =>
      new Player({
        self,
        timing,
        rng: seededRng(self),
        roster: { version: 1, members: [1, 2, 3, 4] },
        lastStage: LAST,
        ...(self === proposer ? { proposals: { client: `c${self}`, next: 1, pending: [] } } : {}),
      }),
  );
  let liarSpeaks = true;
  const byId = new Map(ps.map((p) => [p.self, p]));
  const honest = ps.filter((p) => p.self !== liar);
  const proposed: Entry[] = [];
  const net = { drop: (_from: number, _to: number, _m: Message) => false };
  const pump = (rounds = 40) => {
    for (let r = 0; r < rounds; r++) {
      const out: [number, Envelope][] = [];
      for (const p of ps) {
        if (p.self === liar && !liarSpeaks) {
          p.ready();
          continue;
        }
        p.tick();
        const ready = p.ready();
        for (const ev of ready.events) if (ev.kind === 'propose') proposed.push(ev.entry);
        for (const e of ready.messages) out.push([p.self, e]);
      }
      for (const [from, e] of out)
        if ((e.to !== liar || liarSpeaks) && !net.drop(from, e.to, e.msg)) byId.get(e.to)?.step(from, e.msg);
    }
  };
  pump();
  for (const p of ps) p.setDone(true);
  pump();
  expect(ps.map((p) => p.view().stage)).toEqual([1, 1, 1, 1]);
  expect(ps.map((p) => p.view().voters)).toEqual(ps.map(() => [1, 2, 3, 4]));
  liarSpeaks = false;
  /** The liar's words, straight into one honest player's step(). */
  const lie = (to: number, msg: Message) => {
    const p = byId.get(to)!;
    p.step(liar, msg);
    p.ready();
  };
  const lieToAll = (msg: Message | ((p: Player) => Message)) => {
    for (const p of honest) lie(p.self, typeof msg === 'function' ? msg(p) : msg);
  };
  const strikes = (p: Player) => p.view().peers.find((x) => x.id === liar)?.strikes ?? 0;
  /** The owner removed the liar: every honest player hears it from the server. */
  const expel = () => {
    for (const p of honest) p.expel(liar);
    pump(80);
  };
  /** `p` hears nobody for a timeout (a freeze, a lost link); `meanwhile` runs each round of it. */
  const silence = (p: Player, rounds = timing.timeoutTicks + 1, meanwhile = () => {}) => {
    net.drop = (_from, to) => to === p.self;
    for (let i = 0; i < rounds; i++) {
      meanwhile();
      pump(1);
    }
    net.drop = () => false;
  };
  /** Everyone honest presses Done: the room must move one stage, with one leader. */
  const advances = () => {
    const before = honest.map((p) => p.view().stage);
    for (const p of honest) p.setDone(true);
    pump(60);
    expect(honest.map((p) => p.view().stage)).toEqual(before.map((s) => s + 1));
    expect(new Set(honest.map((p) => p.view().leader)).size).toBe(1);
  };
  return { ps, byId, honest, pump, lie, lieToAll, strikes, expel, advances, silence, net, proposed };
}

/**
 * The leader (1) goes quiet and `p` runs; the liar, heard meanwhile at our `tip`, answers each candidacy of
 * `p` with a promise reporting `history` (`init`: whether it says it caught up with the room).
 */
function electWithLiarReport(
  r: ReturnType<typeof room>,
  p: Player,
  tip: Entry,
  report: { init: boolean; history: Entry[] },
): void {
  r.net.drop = (from, to) => from === 1 || to === 1;
  for (let i = 0; i < 6 * timing.timeoutTicks && p.currentRole !== 'leader'; i++) {
    const term = p.currentTerm;
    if (p.currentRole === 'candidate')
      r.lie(p.self, { t: 'report', term, done: false, accepted: null, ...report });
    else
      r.lie(p.self, {
        t: 'hb',
        term,
        leader: 0,
        stage: 1,
        index: tip.index,
        done: false,
        init: true,
        hash: tip.hash,
      });
    r.pump(1);
  }
}

/** Players 1 to 3, with the room's roster `members`, for tests that drive them by hand. */
function honestThree(members: number[]): Player[] {
  const roster = { version: 1, members };
  return [1, 2, 3].map((self) => new Player({ self, timing, rng: seededRng(self), roster, lastStage: 5 }));
}

/** A heartbeat claiming a longer log than `p` holds: `p` asks its sender for it. */
function claimsLonger(p: Player): Message {
  return { t: 'hb', term: p.currentTerm, leader: 0, stage: 9, index: 9, done: false, init: true, hash: 'x' };
}

/** A well-formed, hash-chained entry on top of `p`'s log. */
function forged(p: Player, e: Partial<Entry>): Entry {
  const log = p.entries;
  const last = log[log.length - 1]!;
  return seal(tipHash(log), {
    index: log.length + 1,
    kind: 'stage',
    stage: last.stage + 1,
    term: p.currentTerm,
    done: [],
    members: last.members,
    ...e,
  });
}

describe('a lying member', () => {
  test('a term wedge (reject with 2^53 - 1) moves no term out of reach, and the room goes on', () => {
    const r = room();
    const before = r.honest.map((p) => p.currentTerm);
    r.lieToAll({ t: 'reject', term: Number.MAX_SAFE_INTEGER });
    // One step up, and maybe a candidacy on top: the liar disrupts, it does not exhaust.
    r.honest.forEach((p, i) => {
      expect(p.currentTerm).toBeLessThanOrEqual(before[i]! + TERM_STEP + 1);
      expect(r.strikes(p)).toBe(1);
    });
    // Repeating it in the same heartbeat climbs no further.
    r.lieToAll({ t: 'reject', term: Number.MAX_SAFE_INTEGER });
    r.honest.forEach((p, i) => {
      expect(p.currentTerm).toBeLessThanOrEqual(before[i]! + TERM_STEP + 1);
    });
    r.expel();
    r.advances();
    for (const p of r.honest) expect(p.currentTerm + 1).toBeGreaterThan(p.currentTerm);
  });

  test('back from a silence, a player jumps only to a term two peers claim: a liar alone lifts it a step', () => {
    const r = room();
    const p = r.honest[1]!;
    r.silence(p);
    const before = p.currentTerm;
    for (let i = 0; i < 3; i++) r.lie(p.self, { t: 'reject', term: Number.MAX_SAFE_INTEGER });
    expect(p.currentTerm).toBeLessThanOrEqual(before + TERM_STEP + 1);
    expect(r.strikes(p)).toBe(3);
    // While p sleeps again, the liar pumps the others' terms 20 steps ahead of it; then it claims more than
    // that to p. p jumps to the honest peers' term (the second highest claim), not to the liar's.
    let round = 0;
    r.silence(p, 20 * timing.heartbeatTicks, () => {
      // One lie a heartbeat to each of the others.
      if (round++ % timing.heartbeatTicks === 0)
        for (const q of r.honest) if (q !== p) r.lie(q.self, { t: 'reject', term: Number.MAX_SAFE_INTEGER });
    });
    const others = () => r.honest.filter((q) => q !== p).map((q) => q.currentTerm);
    expect(Math.min(...others())).toBeGreaterThan(p.currentTerm + 15 * TERM_STEP);
    r.lie(p.self, { t: 'reject', term: Number.MAX_SAFE_INTEGER });
    r.pump(timing.heartbeatTicks);
    expect(p.currentTerm).toBeGreaterThanOrEqual(Math.min(...others()));
    expect(p.currentTerm).toBeLessThanOrEqual(Math.max(...others()) + TERM_STEP + 1);
    r.expel();
    r.advances();
  });

  test('back from a silence, a liar that left and came back under a new ID does not vouch for itself', () => {
    const r = room();
    const p = r.honest[1]!;
    r.silence(p);
    const before = p.currentTerm;
    r.lie(p.self, { t: 'reject', term: Number.MAX_SAFE_INTEGER });
    // The liar (3) leaves and joins again as 5: 3 is still a voter, but no longer in the roster.
    p.setRoster({ version: 2, members: [1, 2, 4, 5], issued: 5 });
    p.step(5, { t: 'reject', term: Number.MAX_SAFE_INTEGER });
    // A step through each ID, and a candidacy or two.
    expect(p.currentTerm).toBeLessThanOrEqual(before + 2 * TERM_STEP + 4);
  });

  test('a history nobody asked for changes nothing: not to the last stage, not to stage 999', () => {
    const r = room();
    r.lieToAll((p) => ({ t: 'history', entries: [forged(p, {})] }));
    r.lieToAll((p) => ({ t: 'history', entries: [forged(p, { stage: 999 })] }));
    for (const p of r.honest) {
      expect(p.view().stage).toBe(1);
      expect(r.strikes(p)).toBe(2);
    }
    r.expel();
    r.advances();
  });

  test('a history that answers our sync still obeys the rules: no skipped stage, nothing past the last', () => {
    const r = room();
    const p = r.honest[0]!;
    // p asks the liar: it claims a longer log in a heartbeat.
    p.step(LIAR, claimsLonger(p));
    const asked = p.ready().messages.some((m) => m.to === LIAR && m.msg.t === 'sync');
    expect(asked).toBe(true);
    r.lie(p.self, { t: 'history', entries: [forged(p, { stage: 3 })] });
    expect(p.view().stage).toBe(1);
    expect(r.strikes(p)).toBe(1);
    // A lawful next stage from one peer is not enough either: a quorum must say its log ends there.
    p.step(LIAR, claimsLonger(p));
    r.lie(p.self, { t: 'history', entries: [forged(p, {})] });
    expect(p.view().stage).toBe(1);
  });

  test('a late promise to the leader carrying what it proposed this term is no lie; one from a later ballot is', () => {
    const r = room();
    const leader = r.byId.get(1)!;
    const term = leader.currentTerm;
    const report = (ballot: number): Message => ({
      t: 'report',
      term,
      done: false,
      init: true,
      history: [],
      accepted: { ballot, entry: forged(leader, {}) },
    });
    r.lie(1, report(term));
    expect(r.strikes(leader)).toBe(0);
    r.lie(1, report(term + 1));
    expect(r.strikes(leader)).toBe(1);
    r.advances();
  });

  test('a late promise with a higher stage, under a membership our promises are no majority of, is not caught up to', () => {
    // In seed 853 an honest player a liar had forked made this promise: its log named the room's slots by
    // names the room had renamed since. Caught up to, the leader would have had no quorum under it.
    const r = room();
    const leader = r.byId.get(1)!;
    const fork = forged(leader, { stage: 2, members: [5, 6] });
    r.lie(1, {
      t: 'report',
      term: leader.currentTerm,
      done: false,
      init: true,
      history: [fork],
      accepted: null,
    });
    r.advances();
  });

  test('a promise on another chain at a higher stage, under a membership our promises are no majority of, holds no candidacy back', () => {
    // Seed 7525: an honest player a liar had forked reported such a log to every candidacy, and the room
    // never had a leader again. The candidate leads on its own log; the forked player waits to be reached.
    const r = room();
    const p = r.byId.get(2)!;
    // On another chain below our tip: the same length as our log, a stage further, naming slots we cannot place.
    const fork = (q: Player): Entry => {
      const below = q.entries.slice(0, -1);
      return seal(tipHash(below), {
        index: q.entries.length,
        kind: 'stage',
        stage: q.view().stage + 1,
        term: q.currentTerm,
        done: [],
        members: [5, 6],
      });
    };
    // The leader goes quiet, so 2 runs; the liar reports the fork to each of its candidacies.
    r.net.drop = (from, to) => from === 1 || to === 1;
    let led = false;
    for (let i = 0; i < 6 * timing.timeoutTicks && !led; i++) {
      if (p.currentRole === 'candidate')
        r.lie(p.self, {
          t: 'report',
          term: p.currentTerm,
          done: false,
          init: true,
          history: [fork(p)],
          accepted: null,
        });
      r.pump(1);
      led = p.currentRole === 'leader';
    }
    expect(led).toBe(true);
    expect(p.view().stage).toBe(1);
  });

  test('a promise on another chain at a higher stage from a player that never caught up is not led on', () => {
    // Seed 1733: a newcomer a liar had taken to stage 1 at #1 promised, under a membership our promises won.
    // Caught up to, the new leader would have cut the room's log for the liar's entry.
    const r = room(LIAR, 2);
    const p = r.byId.get(2)!;
    const below = p.entries.slice(0, -1);
    const last = p.entries.at(-1)!;
    const fork = seal(tipHash(below), { ...last, stage: 2, term: last.term + 99 });
    electWithLiarReport(r, p, last, { init: false, history: [fork] });
    expect(p.currentRole).toBe('leader');
    // It leads on its own log at once, a late promise of the same changing nothing.
    r.lie(p.self, {
      t: 'report',
      term: p.currentTerm,
      done: false,
      init: false,
      history: [fork],
      accepted: null,
    });
    const before = r.proposed.length;
    p.propose('w');
    r.pump(2);
    expect(r.proposed.length).toBe(before + 1);
    expect(p.view().stage).toBe(1);
  });

  test('a new leader whose base covers the promise it catches up to still takes that log at a higher stage', () => {
    // Seed 20262294: the promise's tip lay below the new leader's base, so no hash was left to compare, and it
    // led on at its own stage while the forked half of the room held the higher one: no quorum on either.
    const r = room(LIAR, 2);
    const p = r.byId.get(2)!;
    const room1 = [...p.entries];
    const at = room1.length;
    // Two app entries past the stage entry, then a base at our tip: the fork's tip (at + 1) lies below it.
    for (let i = 0; i < 2; i++) {
      p.propose(`v${i}`);
      r.pump();
    }
    expect(p.length).toBe(at + 2);
    expect(p.compact(p.length, [])).toEqual({ ok: true });
    // The room's chain to its stage entry, that entry again under another term, and one more stage on it.
    const fork = room1.slice(0, -1);
    const last = room1[at - 1]!;
    fork.push(seal(tipHash(fork), { ...last, term: last.term + 99 }));
    fork.push(seal(tipHash(fork), { ...last, index: at + 1, stage: 2, term: last.term + 99 }));
    // The leader goes quiet, so 2 runs; the liar, heard meanwhile, reports the fork to each candidacy.
    const tip = p.base!.entry;
    electWithLiarReport(r, p, tip, { init: true, history: [fork.at(-1)!] });
    expect(p.currentRole).toBe('leader');
    // It waits for that log rather than leading on its own, and takes it once its holder sends it.
    const before = r.proposed.length;
    p.propose('w');
    r.pump(2);
    expect(r.proposed.length).toBe(before);
    r.lie(p.self, { t: 'history', entries: fork });
    expect(p.view().stage).toBe(2);
  });

  test('a leader whose catch-up source, following it, no longer holds what it promised runs again', () => {
    // Seed 2182: the source took the new leader's shorter forked log whole, and nobody held what the leader
    // waited for while that source lived.
    const r = room();
    const leader = r.byId.get(1)!;
    const ahead = forged(leader, { stage: 2 });
    r.lie(1, {
      t: 'report',
      term: leader.currentTerm,
      done: true,
      init: true,
      history: [ahead],
      accepted: null,
    });
    const term = leader.currentTerm;
    // The liar follows the leader, its log now the leader's own: a heartbeat a round, and Done.
    const follows = (): Message => ({
      t: 'hb',
      term: leader.currentTerm,
      leader: 1,
      stage: leader.view().stage,
      index: leader.entries.length,
      done: true,
      init: true,
      hash: tipHash(leader.entries),
    });
    r.lie(1, follows());
    expect(leader.currentTerm).toBeGreaterThan(term);
    for (const p of r.honest) p.setDone(true);
    // Straight into step(), between rounds: r.lie would drain what the leader sends meanwhile.
    for (let i = 0; i < 60; i++) {
      if (leader.currentRole === 'leader') leader.step(LIAR, follows());
      r.pump(1);
    }
    expect(r.honest.map((p) => p.view().stage)).toEqual([2, 2, 2]);
  });

  test('a lying leader’s word that our own slot retired is not believed: we still count our own vote', () => {
    // Seed 7525: the liar, leading, retired the slot of a player that later led the room. That leader could
    // not count its own acceptance, and waited for a voter that does not vote (one the liar took ahead).
    const r = room(1);
    const p = r.byId.get(2)!;
    const tip = p.entries[p.entries.length - 1]!;
    r.lie(2, {
      t: 'hb',
      term: p.currentTerm,
      leader: 1,
      stage: 1,
      index: p.entries.length,
      done: false,
      init: true,
      hash: tipHash(p.entries),
      retired: [{ id: 2, term: p.currentTerm, index: tip.index, hash: tip.hash, accepted: null }],
    });
    expect((p.persisted().retired ?? []).map((w) => w.id)).toEqual([]);
    r.expel();
    r.advances();
  });

  test('an accept or advance from a player that is not our leader is ignored', () => {
    const r = room();
    r.lieToAll((p) => ({ t: 'accept', term: p.currentTerm, entry: forged(p, {}) }));
    r.lieToAll((p) => ({ t: 'advance', term: p.currentTerm, entry: forged(p, {}) }));
    for (const p of r.honest) {
      expect(p.view().stage).toBe(1);
      expect(p.view().leader).toBe(1);
    }
    r.advances();
  });

  test('different histories for different players fork nobody', () => {
    const r = room();
    const [a, b] = r.honest;
    r.lie(a!.self, { t: 'history', entries: [forged(a!, { done: [1] })] });
    r.lie(b!.self, {
      t: 'history',
      entries: [forged(b!, { kind: 'members', stage: 1, members: [1, 2, 4] })],
    });
    r.lie(a!.self, { t: 'advance', term: a!.currentTerm, entry: forged(a!, { done: [2] }) });
    r.lie(b!.self, { t: 'advance', term: b!.currentTerm, entry: forged(b!, { done: [4] }) });
    expect(a!.entries).toEqual(b!.entries);
    r.advances();
    expect(a!.entries).toEqual(b!.entries);
  });

  test('a lying leader forks an honest player, which then leaves: its last word on the fork retires it', () => {
    const r = room(1);
    const [leaver, p3, p4] = r.honest as [Player, Player, Player];
    // The liar leads: its advance is lawful to each, but the entries differ.
    for (const p of r.honest) {
      const done = p === leaver ? [2] : [1];
      r.lie(p.self, { t: 'advance', term: p.currentTerm, entry: forged(p, { done }) });
    }
    expect(leaver.view().stage).toBe(2);
    expect(tipHash(leaver.entries)).not.toBe(tipHash(p3.entries));
    expect(p3.entries).toEqual(p4.entries);
    leaver.leaveRoom();
    r.pump(2);
    // Voters 1 to 4 less the liar and the leaver: waiting for the leaver's slot would need 3 of 4 for good.
    r.expel();
    for (const p of [p3, p4]) p.setDone(true);
    r.pump(80);
    for (const p of [p3, p4]) {
      expect(p.view().stage).toBe(3);
      expect(p.view().voters).toEqual([3, 4]);
    }
    expect(p3.entries).toEqual(p4.entries);
  });

  test('a promise of a value on another log, at a higher ballot, does not hide a value a quorum may have chosen', () => {
    const r = room();
    const [p2, p4] = [r.byId.get(2)!, r.byId.get(4)!];
    // Leader 1 proposes stage 2; its followers accept, but it hears no vote and sends no commit. Then it leaves.
    r.net.drop = (_from, _to, m) => m.t === 'accepted' || m.t === 'advance';
    for (const p of r.honest) p.setDone(true);
    const leader = r.byId.get(1)!;
    r.lie(1, { t: 'done', term: leader.currentTerm, stage: 1, done: true });
    r.pump(6);
    r.net.drop = () => false;
    const chosen = r.proposed.at(-1)!;
    expect(chosen.stage).toBe(2);
    r.byId.get(1)!.leaveRoom();
    for (let i = 0; i < 40 && p2.currentRole !== 'candidate'; i++) r.pump(1);
    expect(p2.currentRole).toBe('candidate');
    // The liar fences it, so 2 runs again at a term that leaves room for a later ballot than leader 1's.
    r.lie(2, { t: 'reject', term: p2.currentTerm + 5 });
    for (let i = 0; i < 40 && p2.currentRole !== 'candidate'; i++) r.pump(1);
    const term = p2.currentTerm;
    expect(term - 1).toBeGreaterThan(chosen.term);
    // The liar's promise: a later ballot's value for the same index, chained onto a log nobody holds.
    const entry = seal('another-log', { ...chosen, done: [3] });
    const history = p2.entries.slice(-1);
    r.lie(2, { t: 'report', term, done: true, init: true, history, accepted: { ballot: term - 1, entry } });
    r.pump(30);
    for (const p of [p2, p4]) expect(p.entries.find((e) => e.index === chosen.index)).toEqual(chosen);
  });

  test("a forged retirement of an honest voter, and a claim to continue one's slot, change no vote", () => {
    const r = room();
    const p = r.honest[1]!;
    const tip = p.entries[p.entries.length - 1]!;
    r.lieToAll((q) => ({
      t: 'hb',
      term: q.currentTerm,
      leader: 0,
      stage: 1,
      index: q.entries.length,
      done: false,
      init: true,
      hash: tipHash(q.entries),
      retired: [{ id: 2, term: q.currentTerm, index: tip.index, hash: tip.hash, accepted: null }],
    }));
    for (const q of r.honest) expect(q.view().voters).toEqual([1, 2, 3, 4]);
    // The liar's next ID (it would need one from the server) claiming 2's slot while 2 plays: a higher ID
    // than any member is what a rename looks like, so send it as 5 through a roster that lists it.
    for (const q of r.honest) q.setRoster({ version: 2, members: [1, 2, 3, 4, 5] });
    for (const q of r.honest)
      q.step(5, {
        t: 'hb',
        term: q.currentTerm,
        leader: 0,
        stage: 1,
        index: q.entries.length,
        done: false,
        init: true,
        hash: tipHash(q.entries),
        was: 2,
      });
    r.pump(20);
    for (const q of r.honest) expect(q.view().voters).toContain(2);
  });

  test('malformed frames count against their sender', () => {
    const r = room();
    const p = r.honest[0]!;
    p.invalid(LIAR, 'sent a malformed message: term must be an integer');
    p.invalid(LIAR, 'sent a malformed message: t is unknown');
    expect(r.strikes(p)).toBe(2);
    const events = p.ready().events.filter((e) => e.kind === 'misbehaved');
    expect(events).toHaveLength(2);
  });

  test('a removed member is no longer heard, and the leader commits its removal', () => {
    const r = room();
    r.expel();
    for (const p of r.honest) expect(p.view().voters).toEqual([1, 2, 4]);
    r.lieToAll((p) => ({ t: 'history', entries: [forged(p, {})] }));
    for (const p of r.honest) expect(r.strikes(p)).toBe(0);
    r.advances();
  });
});

describe('an honest player far behind', () => {
  test('back from a silence, takes a room term two peers hold far ahead in one jump, and follows it', () => {
    const p = new Player({ self: 3, timing, rng: seededRng(3), roster: { version: 1, members: [1, 2, 3] } });
    // What a liar could pump the others by in 200 heartbeats while this player slept.
    const term = 200 * TERM_STEP + 7;
    const hb = (leader: number): Message => ({
      t: 'hb',
      term,
      leader,
      stage: 0,
      index: 0,
      done: false,
      init: true,
      hash: '0',
    });
    p.step(1, hb(1));
    // One peer's word is not enough: it could be a liar's.
    expect(p.currentTerm).toBeLessThanOrEqual(TERM_STEP);
    p.step(2, hb(1));
    p.step(1, hb(1));
    expect(p.currentLeader).toBe(1);
    expect(p.currentTerm).toBe(term);
  });

  test('back from a silence, jumps at most REJOIN_STEP, however far two peers claim', () => {
    const p = new Player({ self: 3, timing, rng: seededRng(3), roster: { version: 1, members: [1, 2, 3] } });
    const reject: Message = { t: 'reject', term: Number.MAX_SAFE_INTEGER };
    p.tick();
    p.step(1, reject);
    p.step(2, reject);
    expect(p.currentTerm).toBeGreaterThanOrEqual(REJOIN_STEP);
    expect(p.currentTerm).toBeLessThanOrEqual(REJOIN_STEP + TERM_STEP + 1);
  });

  test('back from a silence with one peer, jumps once a second peer is first heard, however late', () => {
    // Seed 9187: a newcomer heard one peer for longer than the window, then a second; it climbed two steps a
    // beat to the term the liar had pumped, and the room waited for it, its lowest ID, to lead.
    const p = new Player({ self: 3, timing, rng: seededRng(3), roster: { version: 1, members: [1, 2, 3] } });
    const term = 200 * TERM_STEP + 7;
    const hb: Message = { t: 'hb', term, leader: 1, stage: 0, index: 0, done: false, init: true, hash: '0' };
    for (let i = 0; i < 2 * timing.timeoutTicks; i++) {
      p.step(1, hb);
      p.tick();
    }
    expect(p.currentTerm).toBeLessThan(term - 100 * TERM_STEP);
    p.step(2, hb);
    p.step(1, hb);
    expect(p.currentTerm).toBe(term);
    expect(p.currentLeader).toBe(1);
  });

  test('climbs to a room term one peer holds more than a step ahead, a step per heartbeat, and follows it', () => {
    const p = new Player({ self: 2, timing, rng: seededRng(2), roster: { version: 1, members: [1, 2] } });
    const term = 5 * TERM_STEP + 7;
    let beats = 0;
    for (; beats < 20 && p.currentLeader !== 1; beats++) {
      p.step(1, { t: 'hb', term, leader: 1, stage: 0, index: 0, done: false, init: true, hash: '0' });
      p.tick();
      p.tick();
    }
    expect(p.currentLeader).toBe(1);
    expect(p.currentTerm).toBe(term);
    expect(beats).toBeGreaterThan(5);
  });
});

describe('a forged base vouched for by the liar and our own accepted entry', () => {
  test('is refused: our vote vouches for the entry we accepted, never for a base its sender made up', () => {
    const ps = honestThree([1, 2, 3]);
    const byId = new Map(ps.map((p) => [p.self, p]));
    const p2 = byId.get(2)!;
    let armed = false;
    let cut = false;
    // Until `cut`: everyone talks. After: the leader 1 and player 2 no longer hear each other, the liar is silent.
    const round = () => {
      const out: [number, Envelope][] = [];
      for (const p of ps) {
        if (cut && p.self === LIAR) {
          p.ready();
          continue;
        }
        p.tick();
        for (const e of p.ready().messages) out.push([p.self, e]);
      }
      for (const [from, e] of out) {
        if (cut && (e.to === LIAR || (from === 1 && e.to === 2) || (from === 2 && e.to === 1))) continue;
        byId.get(e.to)?.step(from, e.msg);
        if (armed && !cut && from === 1 && e.to === 2 && e.msg.t === 'accept') cut = true;
      }
    };
    for (let i = 0; i < 100; i++) round();
    for (const p of ps) p.setDone(true);
    for (let i = 0; i < 100; i++) round();
    expect(p2.view().stage).toBe(1);
    // The next stage is proposed; 2 accepts it, and the leader is cut off before its advance arrives.
    armed = true;
    for (const p of ps) p.setDone(true);
    for (let i = 0; i < 40 && !cut; i++) round();
    expect(cut).toBe(true);
    const x = p2.persisted().accepted!.entry;
    // The liar got the same accept, so it knows the entry's hash: it claims it as its tip, is asked to sync,
    // and answers with a base under that index and hash that says stage 5 and a membership of itself alone.
    p2.step(LIAR, {
      t: 'hb',
      term: p2.currentTerm,
      leader: 0,
      stage: 1,
      index: x.index,
      done: false,
      init: true,
      hash: x.hash,
    });
    const stage = (n: number) => ({
      index: Math.min(n, x.index),
      kind: 'stage' as const,
      stage: n,
      term: 1,
      done: [],
      members: [1, 2, 3],
      hash: `f${n}`,
    });
    const base = {
      entry: { index: x.index, kind: 'stage', stage: 5, term: 1, done: [], members: [LIAR], hash: x.hash },
      stages: [1, 2, 3, 4, 5].map(stage),
      names: [],
      app: [],
      state: { forged: true },
    };
    p2.step(LIAR, {
      t: 'snapshot',
      index: x.index,
      hash: x.hash,
      part: 0,
      parts: 1,
      data: JSON.stringify(base),
    });
    const v = p2.view();
    expect(v.stage).toBeLessThanOrEqual(2);
    expect(v.voters).toEqual([1, 2, 3]);
  });
});

describe("a lying leader's tally", () => {
  test('says a player is stages ahead: the next leader still waits for that player’s own Done', () => {
    const { byId, honest, pump, lie, net, proposed } = room(1);
    // The leader, turned liar, tells 2 in its tally that everyone is at stage 3.
    const p2 = byId.get(2)!;
    lie(2, {
      t: 'hb',
      term: p2.currentTerm,
      leader: 1,
      stage: 1,
      index: p2.entries.at(-1)?.index ?? 0,
      done: false,
      init: true,
      hash: tipHash(p2.entries),
      tally: { stage: 3, done: [], live: [1, 2, 3, 4], members: 4 },
    });
    // Removed (no pump yet, so 2 hears nothing newer of 4); 2 leads next, 4's heartbeats to it are lost for
    // a while, and 2 and 3 press Done.
    for (const p of honest) p.expel(1);
    net.drop = (from, to, m) => from === 4 && to === 2 && m.t === 'hb';
    p2.setDone(true);
    byId.get(3)!.setDone(true);
    pump(3);
    net.drop = () => false;
    pump(30);
    expect(honest.map((p) => p.view().leader)).toEqual([2, 2, 2]);
    expect(proposed.filter((e) => e.kind === 'stage' && e.stage === 2)).toEqual([]);
    expect(honest.map((p) => p.view().stage)).toEqual([1, 1, 1]);
    byId.get(4)!.setDone(true);
    pump(30);
    expect(honest.map((p) => p.view().stage)).toEqual([2, 2, 2]);
  });
});

describe("a lying leader's made-up voter", () => {
  const PHANTOM = 1234;
  /** A members entry on top of `p`'s log that adds `id`. */
  const adds = (p: Player, id: number) =>
    forged(p, { kind: 'members', stage: p.view().stage, members: [...p.view().voters, id] });

  test('gets no vote and is not applied; a voter the roster names is', () => {
    const { honest } = room(1);
    for (const p of honest) {
      const entry = adds(p, PHANTOM);
      p.step(1, { t: 'accept', term: p.currentTerm, entry });
      expect(p.ready().messages.filter((e) => e.msg.t === 'accepted')).toEqual([]);
      const length = p.entries.length;
      p.step(1, { t: 'advance', term: p.currentTerm, entry });
      p.ready();
      expect(p.entries.length).toBe(length);
      expect(p.view().voters).toEqual([1, 2, 3, 4]);
    }
    // A new player the roster may not have named yet is no lie: the same entry is voted for and applied
    // once the roster says the room has issued that ID.
    const p2 = honest[0]!;
    const entry = adds(p2, 5);
    p2.step(1, { t: 'accept', term: p2.currentTerm, entry });
    expect(p2.ready().messages.filter((e) => e.msg.t === 'accepted')).toEqual([]);
    p2.setRoster({ version: 2, members: [1, 2, 3, 4, 5], issued: 5 });
    p2.step(1, { t: 'accept', term: p2.currentTerm, entry });
    expect(
      p2
        .ready()
        .messages.filter((e) => e.msg.t === 'accepted')
        .map((e) => e.to),
    ).toEqual([1]);
    p2.step(1, { t: 'advance', term: p2.currentTerm, entry });
    p2.ready();
    expect(p2.view().voters).toEqual([1, 2, 3, 4, 5]);
    // Not certainly lies, so not counted against the leader.
    expect(p2.view().peers.find((x) => x.id === 1)?.strikes).toBe(0);
  });

  test('in a promise from a liar that then leaves: the leader runs again without it', () => {
    const r = room(3);
    const [p2, p4] = [r.byId.get(2)!, r.byId.get(4)!];
    // The honest leader leaves; 2 runs, and the liar's promise reports a made-up voter as accepted.
    r.byId.get(1)!.leaveRoom();
    for (let i = 0; i < 40 && p2.currentRole !== 'candidate'; i++) r.pump(1);
    expect(p2.currentRole).toBe('candidate');
    const term = p2.currentTerm;
    const history = p2.entries.slice(-1);
    const accepted = { ballot: term - 1, entry: adds(p2, PHANTOM) };
    r.lie(2, { t: 'report', term, done: true, init: true, history, accepted });
    r.pump(10);
    expect(p2.currentRole).toBe('leader');
    for (const p of [p2, p4]) p.setDone(true);
    r.pump(20);
    // It waits for the voter, since a quorum that could place it may have chosen the value.
    expect([p2, p4].map((p) => p.view().stage)).toEqual([1, 1]);
    // The liar leaves, with a last word that says nothing of the value.
    for (const p of [p2, p4])
      r.lie(p.self, {
        t: 'leave',
        term,
        index: p.entries.at(-1)!.index,
        hash: tipHash(p.entries),
        accepted: null,
        entries: [],
      });
    r.pump(80);
    expect([p2, p4].map((p) => p.view().stage)).toEqual([2, 2]);
    for (const p of [p2, p4]) expect(p.view().voters).toEqual([2, 4]);
  });

  test('in its last word is no frozen vote: the next leader does not wait for it', () => {
    const r = room(1);
    // The leader leaves with a final state whose accepted value adds a voter nobody can be.
    r.lieToAll((p) => ({
      t: 'leave',
      term: p.currentTerm,
      index: p.entries.at(-1)?.index ?? 0,
      hash: tipHash(p.entries),
      accepted: { ballot: p.currentTerm + 7, entry: adds(p, PHANTOM) },
      entries: [],
    }));
    r.expel();
    r.advances();
    for (const p of r.honest) expect(p.view().voters).not.toContain(PHANTOM);
  });
});

describe('a base a liar forged past the end of the room’s log', () => {
  test('at a stage the room has passed, is replaced by the whole history of a leader that never compacted', () => {
    // 1, 2 and 3 are honest; 4 is the liar (in the roster, never a voter). It says nothing of its own accord.
    const ps = honestThree([1, 2, 3, 4]);
    const byId = new Map(ps.map((p) => [p.self, p]));
    const p3 = byId.get(3)!;
    let apart = false;
    const round = () => {
      const out: [number, Envelope][] = [];
      for (const p of ps) {
        p.tick();
        for (const e of p.ready().messages) out.push([p.self, e]);
      }
      for (const [from, e] of out)
        if (!apart || (from !== 3 && e.to !== 3)) byId.get(e.to)?.step(from, e.msg);
    };
    for (let i = 0; i < 60; i++) round();
    for (const p of ps) p.setDone(true);
    for (let i = 0; i < 60; i++) round();
    expect(ps.map((p) => p.view().stage)).toEqual([1, 1, 1]);
    // 3 is cut off; 1 and 2, a majority, go on to stage 2 without it.
    apart = true;
    for (let i = 0; i < 30; i++) round();
    for (const p of ps) p.setDone(true);
    for (let i = 0; i < 60; i++) round();
    expect(ps.map((p) => p.view().stage)).toEqual([2, 2, 1]);
    const room = byId.get(1)!;
    expect(room.base).toBeNull();
    // The liar leads 3 (nobody lower is live to it) and answers its sync with a base at stage 1, well past
    // the end of the room's log.
    const term = p3.currentTerm + 5;
    const at = room.length + 6;
    const ops = [{ by: 4, c: 'forged', seq: 1, data: 'lie' }];
    const entry = {
      index: at,
      kind: 'app' as const,
      stage: 1,
      term,
      done: [],
      members: [1, 2, 3],
      ops,
      hash: 'forged',
    };
    p3.step(4, { t: 'hb', term, leader: 4, stage: 1, index: at, done: false, init: true, hash: entry.hash });
    p3.ready();
    expect(p3.currentLeader).toBe(4);
    const base = { entry, stages: p3.view().history, names: [], app: [], state: { forged: true } };
    p3.step(4, { t: 'snapshot', index: at, hash: entry.hash, part: 0, parts: 1, data: JSON.stringify(base) });
    p3.ready();
    expect(p3.base?.entry.index).toBe(at);
    expect(p3.view().stage).toBe(1);
    // The owner removes the liar, and 3 hears the room again: its leader's whole log ends below 3's base, so no
    // hash can disagree, but it reaches stage 2 where 3's log is at stage 1 at most: 3's base is on a fork.
    for (const p of ps) p.expel(4);
    apart = false;
    for (let i = 0; i < 60; i++) round();
    expect(ps.map((p) => p.view().stage)).toEqual([2, 2, 2]);
    expect(p3.base).toBeNull();
    expect(p3.entries.at(-1)?.hash).toBe(room.entries.at(-1)?.hash);
    expect(new Set(ps.map((p) => p.currentLeader))).toEqual(new Set([1]));
  });
});

/** Leader 2's 90 entries, term 5, one voter (slot 1); `stageAt(i)` is entry i's stage, a stage entry where it rises. */
function leaderLog(stageAt: (i: number) => number): Entry[] {
  const log: Entry[] = [];
  for (let i = 1; i <= 90; i++) {
    const stage = stageAt(i);
    const kind = stage > (i === 1 ? 0 : stageAt(i - 1)) ? 'stage' : 'app';
    const ops = kind === 'app' ? { ops: [{ by: 2, c: 'x', seq: i, data: i }] } : {};
    log.push(seal(tipHash(log), { index: i, kind, stage, term: 5, done: [], members: [1], ...ops }));
  }
  return log;
}

/**
 * Leader 2 on `log`, and player 3 (continuing slot 1, the one voter) restored from `persisted`, run for
 * `rounds`: returns both and how many syncs 3 sent.
 */
function leaderAndThree(log: Entry[], persisted: Partial<Persisted>, rounds: number) {
  const saved = { term: 5, promised: 0, done: false, accepted: null, initialized: true };
  const roster = { version: 1, members: [2, 3] };
  const leader = new Player({
    self: 2,
    timing,
    rng: seededRng(2),
    roster,
    persisted: { ...saved, history: log },
  });
  const p3 = new Player({
    self: 3,
    timing,
    rng: seededRng(3),
    roster,
    was: 1,
    persisted: { ...saved, history: [], ...persisted },
  });
  const byId = new Map([leader, p3].map((p) => [p.self, p]));
  let syncs = 0;
  for (let r = 0; r < rounds; r++) {
    const out: [number, Envelope][] = [];
    for (const p of byId.values()) {
      p.tick();
      for (const e of p.ready().messages) out.push([p.self, e]);
    }
    for (const [from, e] of out) {
      if (from === 3 && e.msg.t === 'sync') syncs++;
      byId.get(e.to)?.step(from, e.msg);
    }
  }
  return { leader, p3, syncs };
}

describe("a base on a liar's fork, against a leader's whole uncompacted log", () => {
  /** Leader 2's log with stage entries at `stagesAt`, and player 3 on `base`. */
  function forkedBase(stagesAt: number[], base: (log: Entry[]) => { entry: Entry; stages: Entry[] }) {
    const log = leaderLog((i) => stagesAt.filter((at) => at <= i).length);
    const rounds = 400;
    const { leader, p3, syncs } = leaderAndThree(
      log,
      { base: { ...base(log), names: [], app: [], state: [] } },
      rounds,
    );
    // Without the once-a-heartbeat rule the two chunks asked for each other at message rate: 19,701 here.
    expect(syncs).toBeLessThan(3 * rounds);
    expect(leader.view().role).toBe('leader');
    // The leader's history, walked chunk by chunk from #1, replaces 3's base, and 3's vote commits again.
    expect(p3.base).toBeNull();
    expect(p3.entries[89]!.hash).toBe(log[89]!.hash);
    expect(leader.length).toBeGreaterThan(90);
    expect(p3.entries.at(-1)!.hash).toBe(leader.entries.at(-1)!.hash);
  }

  test('a base past it: the fork shows by stage only past the first chunk', () => {
    // A base at #100 that a liar made, at stage 0; the leader's stages are at 71 and 72, past the first 64.
    forkedBase([71, 72], () => ({
      entry: seal('other', { index: 100, kind: 'members', stage: 0, term: 4, done: [], members: [1, 2] }),
      stages: [],
    }));
  });

  test('a base inside it at the same stage: the fork shows by hash only past the first chunk (seed 2158)', () => {
    // A base at #80 on another chain, at the stage the leader's log has there: only its hash disagrees.
    forkedBase([10], (log) => ({
      entry: seal('other', { index: 80, kind: 'app', stage: 1, term: 4, done: [], members: [1] }),
      stages: [log[9]!],
    }));
  });
});

describe("a liar's fork at a stage the room reaches only past one history chunk", () => {
  test('is held while the rest of the leader’s log is asked for, then replaced by it', () => {
    // Seed 20261726: a newcomer a liar had taken to stage 1 at #1 asked the room's leader again and again, and
    // each answer (from #1 on, cut to fit one message) ended before the room's stage 1: never taken.
    const log = leaderLog((i) => (i >= 71 ? 1 : 0));
    const fork = [seal(tipHash([]), { index: 1, kind: 'stage', stage: 1, term: 4, done: [], members: [1] })];
    const rounds = 200;
    const { leader, p3, syncs } = leaderAndThree(log, { history: fork }, rounds);
    expect(leader.view().role).toBe('leader');
    expect(p3.entries[89]?.hash).toBe(log[89]!.hash);
    expect(p3.entries.at(-1)?.hash).toBe(leader.entries.at(-1)?.hash);
    expect(p3.view().stage).toBe(1);
    // Each answer asks for what follows it once: never two chunks asking for each other at message rate.
    expect(syncs).toBeLessThan(rounds / 4);
  });

  test('is let go when the owner removes the leader that sent it', () => {
    const log = leaderLog((i) => (i >= 71 ? 1 : 0));
    const fork = [seal(tipHash([]), { index: 1, kind: 'stage', stage: 1, term: 4, done: [], members: [1] })];
    // Three rounds in, 3 holds the leader's first chunk (45 entries here) and has asked for the next.
    const { p3 } = leaderAndThree(log, { history: fork }, 3);
    const held = () => (p3 as unknown as { heldFork: { entries: unknown[] } | null }).heldFork;
    expect(held()?.entries.length).toBeGreaterThan(0);
    // Only 2 could extend it: removed, it would be kept for nothing (up to a whole log).
    p3.expel(2);
    expect(held()).toBeNull();
    expect(p3.view().stage).toBe(1);
  });
});
