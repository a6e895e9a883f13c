import { describe, expect, test } from 'vitest';
import { convergesLate, runSchedule } from './schedule.ts';

// Seeds that once broke an invariant while the protocol was built, each named for what it found.
// They replay exactly: `npm run simulate -- --schedules 1 --seed S --transcript`. The fault mix grew with
// issue 11 (server cuts, freezes, late rosters, server restarts, duplicate tabs), so these seeds now draw
// other schedules than the ones that found their bugs: they stay as extra coverage, not as replays. The
// first five were found under the current mix, and replay their bugs.
const REGRESSIONS: Record<string, number> = {
  'a base vouched for by a leaver’s last word and our own accepted entry was refused': 20_262_853,
  'a leader with a stale roster re-added the old name of a slot it had just renamed': 20_262_012,
  'same class, ten voters': 20_262_571,
  'a leaver took what it knew of an earlier leaver with it, and its last word named no slot': 20_262_122,
  'a rename pointed an older name of the slot at the new one, so nobody took the newest for the heir': 6550,
  'same class: terms churned past 100': 4818,
  'a candidate heartbeat read as an established leader (two leaders, term 1)': 143,
  'the room emptied and a newcomer started it afresh': 183,
  'a proposal and a catch-up both applied the same stage': 1828,
  'acks became a majority when the membership shrank, but nobody re-counted': 1452,
  'a newcomer waited on the stage of a peer that had left': 2322,
  'newcomers formed a majority without the member holding the state': 2986,
  'a newcomer learned from a stale restarted player': 1715,
  'a stale "newcomer" flag let two leaders share a term': 6263,
  'departures shrank the membership below the majority that held stages 2-3': 5899,
  'departures before any stage let a second leader reuse term 2': 1673,
  'same class, found at 9 peers': 9156,
  'same class, found at 5 peers': 8056,
  'partition with a one-way cut and restarts': 2623,
  'a tab continuing a slot caught up from a base and kept claiming the slot by its older name': 20261824,
};

// Found by `npm run simulate -- --schedules 10000 --seed 1 --peers N`, and replayed with `--peers N`.
/**
 * Found with main threads stalling (`npm run simulate -- --stalls`). Seed 2974 (4 peers), which found values
 * reported superseded, needed stalls longer than the server lets pass unnoticed; its fix is pinned in app.test.
 */
const REGRESSIONS_STALLS: Record<string, [seed: number, peers: number]> = {
  'an older base whose entries passed through our own later base was taken as a fork (a reset)': [106800, 3],
  'the same, at 5 peers': [102631, 5],
};

const REGRESSIONS_AT: Record<string, [seed: number, peers: number]> = {
  'a leaver dropped by the server before its last word arrived: the word was ignored': [4939, 2],
  'a newcomer heard a leaver before its log could place the slot, and the slot never retired': [2078, 2],
  'a tab that joined with an empty log deferred to a stale newcomer that could never win': [1375, 2],
  'a tab that accepted the entry renaming it, then crashed, could not count its own vote': [5010, 2],
  'a new leader caught up from a promise that crashed before it answered': [7073, 5],
  'a leader that left counted out of the term it led: two leaders in term 6 (safety)': [4500, 5],
  'a member in its own right was also taken for another slot’s new name, and counted twice': [779, 5],
  'followers took their leader for a stale newcomer when its heartbeat trailed its entry': [381, 5],
  'a newcomer in a quiet room nobody led was sent a base it would not take from a follower': [4897, 2],
  'a page session’s values, committed two IDs back, were reported superseded by a base': [9796, 3],
  'a follower behind the entry renaming its peer could not place the peer by its new name': [2189, 2],
  'a follower behind a rename, at 4 peers': [1584, 4],
  'followers two renames behind the leader could not place it, and never caught up': [1216, 5],
  'a leaver’s last word, held only by a player that could not place it, was never passed on': [2345, 2],
  'the last holder of a slot left unheard under a later name: the room rightly waits': [8030, 2],
  'voters left with entries nobody else holds: the room rightly waits, and says for whom': [1844, 3],
  'voters left with entries nobody else holds, at 4 peers': [1039, 4],
  'found with the renames above, at 3 peers': [4897, 3],
  'found with the renames above, at 5 peers': [3360, 5],
  'a voter that slept through the entries saying it votes answered elections it could never win': [9054, 4],
  'players deferred to a lower voter behind them that did not know it votes': [6570, 4],
  'a tab two IDs on named its slot by a name the room’s log had renamed': [7769, 3],
};

// Hostile schedules (a liar, then its removal) that once ended unconverged, replayed with `--hostile`.
const HOSTILE_AT: Record<string, [seed: number, peers: number]> = {
  'a player holding a liar’s base past the room’s stage refused the room’s base and stayed forked': [1291, 4],
  'a player a liar took past the room’s stage refused the leader’s base behind it, sent again and again': [
    8491, 3,
  ],
  'the same, with the proposer’s values waiting on the player that refused the base': [1541, 3],
  'the same, with nothing past the leader’s base at first: the held base asks again with each snapshot': [
    6910, 3,
  ],
  'a lying leader wrote another player’s value under a proposer’s page session: its values waited for good': [
    9110, 5,
  ],
  'the same, where the proposer led: its values went in under the old session too, and applied twice': [
    9209, 4,
  ],
  'a new leader catching up from a forked log as long as its own never asked again after one lost answer': [
    1850, 5,
  ],
  'a player a liar took past the room’s stage never clicked Done on the stage it had left: the leader waited for it':
    [7583, 6],
  'a held base whose holder had moved to our own chain swallowed every history it sent': [5534, 6],
  'a player whose own base sat on a liar’s fork past the leader’s whole log never asked for the room’s': [
    4519, 5,
  ],
  'a lying leader committed a voter nobody is: with the liar removed, the live players were no majority': [
    929, 3,
  ],
  'a liar’s last word carried a made-up voter as its accepted value: the next leader waited for that voter': [
    9047, 5,
  ],
  'a player back from a silence climbed a step a beat to terms the liar had pumped while it was away': [
    5342, 3,
  ],
  'the same, in a room of four': [9747, 4],
  'a candidate’s snapshot came before the promise that made its sender the one to take it from, every time': [
    7708, 4,
  ],
  'the chunk showing where two logs part was cut to fit one message, short of the fork, and asked again and again':
    [700, 3],
  'a lying leader took a proposer’s next number on a fork since cut: its later values waited behind the gap':
    [1734, 4],
  'a voter left with its last word on a liar’s fork: the others waited for its slot for good': [2994, 3],
  'a voter left on a liar’s fork, in a room of four': [3281, 4],
  'a voter left on a liar’s fork, and another left too, in a room of four': [3449, 4],
  'a liar’s base past the end of a never-compacted leader’s log, at a stage the room had passed, showed no fork':
    [110, 3],
  'a sitting leader caught up to a late promise on a liar’s fork whose membership it was no majority of': [
    853, 3,
  ],
  'a proposer numbered past a number a liar’s entries used, since cut: its values waited behind the gap': [
    1369, 6,
  ],
  // With the fix, 6621 and 7740 then end rightly waiting (the liar, leading, later commits voters the live
  // players are no majority of), once the values that waited are decided; app.test.ts states both holes
  // without a liar's luck.
  'the same, where the liar wrote that number in the proposer’s own name': [6621, 3],
  'a moved value committed under its old session: the new session’s later values waited behind its number': [
    7740, 3,
  ],
  'a new leader’s catch-up source, following it, took the leader’s own forked base and cut the log it promised':
    [7289, 9],
  'the only voter of a liar’s fork the room took held a base past that fork’s whole log, on another chain: no hash showed the fork':
    [5354, 4],
  'a forked player’s promise held every candidacy back, then the liar’s word that the new leader’s own slot retired kept it from counting its vote':
    [7525, 4],
  'a new leader’s catch-up source took the leader’s shorter forked log and cut what it had promised: nobody held it':
    [2182, 9],
  'a newcomer heard a second peer only after its rejoin window closed, and climbed to the liar’s terms two steps a beat':
    [9187, 3],
  'a liar’s base, at the stage of the leader’s never-compacted log but on another chain, showed its fork only past the first chunk':
    [2158, 8],
  'a leader kept a proposer’s values under a session the log gave another live player, and took them once that player left: the proposer had moved them, and they applied twice':
    [302, 8],
  'a new leader’s base covered the tip of the forked promise it caught up to: no hash showed the fork, and it led on':
    [20262294, 6],
  'a newcomer a liar had taken to stage 1 at #1 promised: the new leader, checking below its base, took that entry':
    [1733, 5],
  'a newcomer a liar took to stage 1 at #1 asked again and again: each chunk, cut to fit, ended before the room’s stage':
    [20261726, 9],
  'a newcomer a liar took to stage 1 at #1, passed over as it should be, was the lowest live ID: the end check wanted it to lead':
    [20262801, 3],
};

describe('pinned hostile seeds', () => {
  for (const [name, [seed, peers]] of Object.entries(HOSTILE_AT)) {
    test(`seed ${seed} at ${peers} peers: ${name}`, () => {
      const r = runSchedule({ seed, minPeers: peers, maxPeers: peers, hostile: true });
      expect([...r.violations, ...r.unconverged]).toEqual([]);
    });
  }
  test('seed 919: a player back to one peer whose term the liar pumped climbs to it, late but by itself', () => {
    const r = runSchedule({ seed: 919, hostile: true });
    expect(r.violations).toEqual([]);
    expect(r.unconverged).not.toEqual([]);
    expect(convergesLate({ seed: 919, hostile: true })).toBe(3);
  });
});

describe('pinned regression seeds', () => {
  for (const [name, seed] of Object.entries(REGRESSIONS)) {
    test(`seed ${seed}: ${name}`, () => {
      expect(runSchedule({ seed }).violations).toEqual([]);
    });
  }
  for (const [name, [seed, peers]] of Object.entries(REGRESSIONS_AT)) {
    test(`seed ${seed} at ${peers} peers: ${name}`, () => {
      expect(runSchedule({ seed, minPeers: peers, maxPeers: peers }).violations).toEqual([]);
    });
  }
  for (const [name, [seed, peers]] of Object.entries(REGRESSIONS_STALLS)) {
    test(`seed ${seed} at ${peers} peers, with stalls: ${name}`, () => {
      expect(runSchedule({ seed, minPeers: peers, maxPeers: peers, stalls: true }).violations).toEqual([]);
    });
  }
});

// npm test's share of the randomized sweep; `npm run simulate -- --schedules 10000` runs the long one.
test('2,000 random fault schedules keep every invariant', () => {
  const base = Number(process.env.SIM_SEED ?? 20_261_123);
  const failed: string[] = [];
  let advances = 0;
  for (let i = 0; i < 2000; i++) {
    // Half with stalling main threads, each from a stream of its own: the other half replays as before.
    const r = runSchedule({ seed: base + i, stalls: i % 2 === 1 });
    advances += r.advances;
    if (r.violations.length > 0) failed.push(`seed ${r.seed}: ${r.violations[0]}`);
  }
  expect(failed).toEqual([]);
  // The schedules must exercise the protocol, not idle: stages advance in most of them.
  expect(advances).toBeGreaterThan(2000);
}, 180_000);
