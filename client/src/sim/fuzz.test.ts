// A member that sends anything at all. The sim's liar (liar.ts) tells the lies we thought of; here fast-check
// takes real messages from the room's own traffic, each kind as likely as any other, and sends them one step
// from valid (mutate.ts: replayed, a field spliced from another message, dropped, or changed, half the time a
// number), their entries half the time sealed onto the target's log as a liar can, between ticks, Done
// presses, proposals and compactions of the honest players. Each frame goes through the wire's JSON and
// parseMessage, as in the driver. After every round, no honest player may have thrown, and each one's log
// runs on from its base by index, hash and one stage a stage entry, its stage has not gone back or past the
// last, and its term can still grow. Once the owner removes the liar, the three agree on a stage and one
// leader and advance together. (Fewer checks than the simulator's: no Done counted unclicked, no quorum at
// proposal, no honest frame refused.)
// How strong it is: a crash planted in onAccept for an entry 4 past the log was found within 300 runs and
// shrunk to two commands; a stage skip allowed by the log's rules was not found in 1,000 (lies.test.ts has it).
// Replays: FUZZ_SEED=S (the seed a failure prints) and FUZZ_RUNS=N for a longer search.

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { GENESIS, hashEntry, tipHash } from '../core/chain.ts';
import { type Entry, type Message, Player, parseMessage, seededRng } from '../core/index.ts';
import { FUZZ_SEED, fuzzed, type Json, nearMiss } from './mutate.ts';

const timing = { heartbeatTicks: 2, timeoutTicks: 8, answerTicks: 2 };
const IDS = [1, 2, 3, 4];
const LIAR = 3;
const LAST = 6;

/** One step of a schedule: indices are taken modulo what exists when it runs, so any value means something. */
type Command =
  | { k: 'pump'; rounds: number }
  | { k: 'done'; who: number }
  | { k: 'propose'; who: number; n: number }
  | { k: 'compact'; who: number; at: number }
  | { k: 'lie'; to: number; pick: number; path: number; op: number; other: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ k: fc.constant('pump' as const), rounds: fc.integer({ min: 1, max: 12 }) }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('done' as const), who: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('propose' as const), who: fc.nat(), n: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('compact' as const), who: fc.nat(), at: fc.nat() }) },
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('lie' as const),
      to: fc.nat(),
      pick: fc.nat(),
      path: fc.nat(),
      op: fc.nat(),
      other: fc.nat(),
    }),
  },
);

/** The hash `p` holds for entry `index` (GENESIS before the first), or its tip's when it holds none. */
function hashAt(p: Player, index: number): string {
  if (index <= 0) return GENESIS;
  const base = p.base?.entry;
  if (base?.index === index) return base.hash;
  return p.entries.find((e) => e.index === index)?.hash ?? tipHash(p.entries);
}

/** Every entry-shaped object in `x`, sealed in order onto `p`'s log (each on the one before it in a list). */
function reseal(x: Json, p: Player, prev: { index: number; hash: string } | null = null): void {
  if (Array.isArray(x)) {
    let last: { index: number; hash: string } | null = null;
    for (const v of x) {
      reseal(v, p, last);
      const e = v as { index?: unknown; hash?: unknown };
      last =
        typeof e?.index === 'number' && typeof e.hash === 'string' ? { index: e.index, hash: e.hash } : null;
    }
    return;
  }
  if (x === null || typeof x !== 'object') return;
  for (const v of Object.values(x)) reseal(v, p);
  const e = x as unknown as Entry;
  if (
    typeof e.index !== 'number' ||
    typeof e.hash !== 'string' ||
    !Array.isArray(e.done) ||
    !Array.isArray(e.members)
  )
    return;
  const before = prev && prev.index === e.index - 1 ? prev.hash : hashAt(p, e.index - 1);
  (x as { hash: string }).hash = hashEntry(before, e);
}

interface Played {
  problems: string[];
  /** The liar's frames that passed parseMessage and were stepped, and those refused as malformed. */
  stepped: number;
  refused: number;
}

function play(commands: Command[]): Played {
  const players = IDS.map(
    (self) =>
      new Player({
        self,
        timing,
        rng: seededRng(self),
        roster: { version: 1, members: IDS },
        lastStage: LAST,
        proposals: { client: `c${self}`, next: 1, pending: [] },
      }),
  );
  const byId = new Map(players.map((p) => [p.self, p]));
  const honest = players.filter((p) => p.self !== LIAR);
  const problems: string[] = [];
  /** What crossed the wire so far, as the wire carries it: the liar's material. */
  const heard: Json[] = [];
  let liarSpeaks = true;
  let stepped = 0;
  let refused = 0;
  const highest = new Map<number, number>();

  const guard = (p: Player, what: string, f: () => void) => {
    try {
      f();
    } catch (e) {
      if (p.self !== LIAR || liarSpeaks) problems.push(`${p.self} threw in ${what}: ${(e as Error).message}`);
    }
  };
  const check = (p: Player) => {
    const base = p.base?.entry;
    let prev = base?.stage ?? 0;
    let hash = base?.hash ?? GENESIS;
    p.entries.forEach((e, i) => {
      if (e.index !== (base?.index ?? 0) + i + 1 || e.stage !== prev + (e.kind === 'stage' ? 1 : 0))
        problems.push(`${p.self} holds entry ${e.index} (${e.kind}, stage ${e.stage}) after stage ${prev}`);
      if (e.hash !== hashEntry(hash, e)) problems.push(`${p.self}'s entry ${e.index} does not chain`);
      prev = e.stage;
      hash = e.hash;
    });
    const was = highest.get(p.self) ?? 0;
    if (p.stage < was) problems.push(`${p.self} went back from stage ${was} to ${p.stage}`);
    if (p.stage > LAST) problems.push(`${p.self} is at stage ${p.stage}, past the last`);
    if (!Number.isSafeInteger(p.currentTerm + 1))
      problems.push(`${p.self}'s term ${p.currentTerm} is wedged`);
    highest.set(p.self, Math.max(was, p.stage));
    p.view();
  };
  const deliver = (from: number, to: number, wire: string, lie = false) => {
    const p = byId.get(to);
    if (!p || (to === LIAR && !liarSpeaks)) return;
    guard(p, 'step', () => {
      const parsed = parseMessage(JSON.parse(wire));
      if (lie && parsed.ok) stepped++;
      else if (lie) refused++;
      if (parsed.ok) p.step(from, parsed.msg);
      else p.invalid(from, parsed.error);
    });
  };
  const drain = (p: Player) => {
    let out: { to: number; msg: Message }[] = [];
    guard(p, 'ready', () => {
      out = p.ready().messages;
    });
    if (p.self === LIAR && !liarSpeaks) return [];
    return out.map((e) => {
      const wire = JSON.stringify(e.msg);
      if (heard.length < 4_000) heard.push(JSON.parse(wire));
      return [p.self, e.to, wire] as const;
    });
  };
  const pump = (rounds: number) => {
    for (let r = 0; r < rounds; r++) {
      const out = players.flatMap((p) => {
        guard(p, 'tick', () => p.tick());
        return drain(p);
      });
      for (const [from, to, wire] of out) deliver(from, to, wire);
      for (const p of honest) guard(p, 'check', () => check(p));
    }
  };
  const someone = (n: number) => honest[n % honest.length]!;

  pump(40);
  for (const p of players) p.setDone(true);
  pump(40);
  for (const c of commands) {
    if (c.k === 'pump') pump(c.rounds);
    else if (c.k === 'done') someone(c.who).setDone(true);
    else if (c.k === 'propose') someone(c.who).propose(`v${c.n % 50}`);
    else if (c.k === 'compact') {
      const p = someone(c.who);
      const first = p.base?.entry.index ?? 0;
      if (p.length > first) p.compact(first + 1 + (c.at % (p.length - first)), { upTo: c.at });
    } else if (heard.length > 0) {
      const target = someone(c.to);
      // One to three lies at a time, each a different near miss.
      for (let k = 0; k <= c.op % 3; k++) {
        const op = c.op + 7 * k;
        const msg = nearMiss(heard, c.pick + k, c.path + k, op, c.other + k);
        // A liar can hash too: half the time its entries are sealed onto the target's own log, so a changed
        // entry chains and reaches the checks past the hash.
        if (Math.floor(op / 10) % 2 === 0) reseal(msg, target);
        deliver(LIAR, target.self, JSON.stringify(msg), true);
      }
    }
  }
  // The owner removes the liar; the honest three must then agree and move on together.
  liarSpeaks = false;
  for (const p of honest) p.expel(LIAR);
  // Rounds are most of a run's cost: wait only as long as it takes, within the same bounds as before.
  const until = (settled: () => boolean, rounds: number) => {
    for (let r = 0; r < rounds && !settled(); r++) pump(1);
  };
  const leaders = () => new Set(honest.map((p) => p.currentLeader));
  until(
    () => new Set(honest.map((p) => p.stage)).size === 1 && leaders().size === 1 && !leaders().has(0),
    120,
  );
  const before = honest.map((p) => p.stage);
  if (Math.max(...before) < LAST) {
    for (const p of honest) p.setDone(true);
    until(() => honest.every((p) => p.stage > Math.max(...before)), 200);
    pump(2 * timing.heartbeatTicks);
    const after = honest.map((p) => p.stage);
    if (new Set(after).size !== 1 || after[0]! <= Math.max(...before))
      problems.push(
        `after the liar's removal the room did not advance together: stages ${before} -> ${after}`,
      );
    const after2 = leaders();
    if (after2.size !== 1 || after2.has(0)) problems.push(`no single leader after: ${[...after2]}`);
  }
  return { problems, stepped, refused };
}

describe('a member that sends anything', () => {
  test('mutated, spliced and replayed messages break no honest player, and the room advances once it is removed', () => {
    fc.assert(
      fc.property(fc.array(command, { minLength: 1, maxLength: 60 }), (commands) => {
        expect(play(commands).problems).toEqual([]);
      }),
      fuzzed(400),
    );
  });

  test('the lies reach the protocol: a third or more pass the schema and are stepped, not just refused', () => {
    // A fuzzer whose every message failed the schema would test only the schema.
    let stepped = 0;
    let refused = 0;
    fc.assert(
      fc.property(fc.array(command, { minLength: 40, maxLength: 60 }), (commands) => {
        const r = play(commands);
        stepped += r.stepped;
        refused += r.refused;
      }),
      { seed: FUZZ_SEED, numRuns: 10 },
    );
    expect(stepped * 2).toBeGreaterThan(refused);
    expect(refused).toBeGreaterThan(0);
  });
});
