import type { Id, MessageType } from '../core/index.ts';
import { SimNetwork } from './network.ts';

/** The classic cases, each a readable script over a fresh network; transcripts.test.ts pins their logs. */

export interface Scenario {
  net: SimNetwork;
  /** Ticks from the fault to every survivor following the new leader, when the scenario measures one. */
  failoverTicks?: number;
  /** Messages of the election itself (ELECTION, ANSWER, COORDINATOR, REPORT, REJECT) in that window. */
  electionMessages?: number;
  /** What each player showed while partitioned. */
  during?: Record<Id, { stage: number; blocked: string | null }>;
}

export const ELECTION_TYPES: MessageType[] = ['election', 'answer', 'coordinator', 'report', 'reject'];

export function settled(n: number, seed = 7, transcript = true): SimNetwork {
  const net = new SimNetwork({ seed, transcript });
  for (let i = 0; i < n; i++) net.join();
  net.run(3 * net.timing.timeoutTicks);
  return net;
}

/** Runs until every running member follows `leader`; returns the ticks it took (or -1 past `limit`). */
export function until(net: SimNetwork, leader: Id, limit = 20 * net.timing.timeoutTicks): number {
  const start = net.now;
  while (net.now - start < limit) {
    if (net.live().every((p) => p.currentLeader === leader) && net.player(leader)?.currentRole === 'leader') {
      return net.now - start;
    }
    net.run(1);
  }
  return -1;
}

/** Runs `fault`, then until every running member follows `leader`: the ticks and election messages it took. */
export function measured(net: SimNetwork, leader: Id, fault: () => void): Scenario {
  const before = net.messagesSent(ELECTION_TYPES);
  fault();
  const failoverTicks = until(net, leader);
  return { net, failoverTicks, electionMessages: net.messagesSent(ELECTION_TYPES) - before };
}

export function leaderCrashes(n = 5, transcript = true): Scenario {
  const net = settled(n, 7, transcript);
  const s = measured(net, 2, () => net.crash(1));
  net.run(net.timing.timeoutTicks);
  return s;
}

export function leaderSaysGoodbye(n = 5): Scenario {
  const net = settled(n);
  const s = measured(net, 2, () => net.leave(1));
  net.run(net.timing.timeoutTicks);
  return s;
}

export function lowerIdRecovers(): Scenario {
  const net = settled(4);
  net.crash(1);
  until(net, 2);
  const s = measured(net, 1, () => net.restart(1));
  net.run(net.timing.timeoutTicks);
  return s;
}

export function partitionThreeTwo(): Scenario {
  const net = settled(5);
  for (const p of net.live()) net.click(p.self, true);
  net.run(net.timing.timeoutTicks);
  net.partition([1, 2], [3, 4, 5]);
  net.run(2 * net.timing.timeoutTicks);
  for (const p of net.live()) net.click(p.self, true);
  net.run(3 * net.timing.timeoutTicks);
  const during = Object.fromEntries(
    net.live().map((p) => [p.self, { stage: p.stage, blocked: p.view().blocked }]),
  );
  net.heal();
  net.run(4 * net.timing.timeoutTicks);
  return { net, during };
}

export function cutBetweenTwo(): Scenario {
  const net = settled(3);
  net.cut(1, 2);
  net.run(6 * net.timing.timeoutTicks);
  for (const p of net.live()) net.click(p.self, true);
  net.run(3 * net.timing.timeoutTicks);
  return { net };
}

export function twoElectionsAtOnce(): Scenario {
  // 1 dies while 2 is cut off from 3 and 4: 2 and 3 both see no leader at the same moment.
  const net = settled(4);
  net.cut(2, 3);
  net.cut(2, 4);
  net.crash(1);
  net.run(3 * net.timing.timeoutTicks);
  net.heal();
  until(net, 2);
  net.run(net.timing.timeoutTicks);
  return { net };
}

export function leaderDiesBeforeAdvance(): Scenario {
  const net = settled(3);
  net.click(1, true);
  net.click(2, true);
  net.run(net.timing.timeoutTicks);
  // 3's DONE is the last one the leader needs; the leader then dies before its ACCEPT leaves.
  net.cut(1, 2, true);
  net.cut(1, 3, true);
  net.click(3, true);
  net.run(2);
  net.crash(1);
  net.heal();
  until(net, 2);
  net.run(3 * net.timing.timeoutTicks);
  return { net };
}

/** Stages each running tab holds, by ID. */
function stages(net: SimNetwork): Record<Id, number> {
  return Object.fromEntries(net.running().map((p) => [p.self, p.stage]));
}

function clickAll(net: SimNetwork): void {
  for (const p of net.running()) if (!p.isDone) net.click(p.self, true);
}

/**
 * Issue case 1: 3, 4 and 5 lose the server but keep their mesh, cut from 1 and 2, past grace. The server
 * expires them, so 1 and 2 see a roster of two: no vote. Only the agreed majority advances; after healing,
 * 3, 4 and 5 come back under new IDs that continue their slots, and everyone agrees.
 */
export function serverExpiresPlayingTabs(): Scenario & { sides: Record<Id, number> } {
  const net = settled(5);
  for (const id of [3, 4, 5]) net.cutServer(id);
  net.partition([1, 2], [3, 4, 5]);
  net.run(net.graceTicks + net.timing.timeoutTicks);
  clickAll(net);
  net.run(4 * net.timing.timeoutTicks);
  const sides = stages(net);
  net.heal();
  for (const id of [3, 4, 5]) net.reconnect(id);
  net.run(6 * net.timing.timeoutTicks);
  return { net, sides };
}

/**
 * Issue case 2: player 3 holds a stale roster {1, 2, 3} (it lost the server) while 4 to 7 join and become
 * agreed voters; then {1, 2, 3} | {4..7}. The three must not advance on their old view of the room.
 */
export function staleRoster(): Scenario & { sides: Record<Id, number> } {
  const net = settled(3);
  net.cutServer(3);
  for (let i = 0; i < 4; i++) net.join();
  net.run(4 * net.timing.timeoutTicks);
  net.partition([1, 2, 3], [4, 5, 6, 7]);
  net.run(2 * net.timing.timeoutTicks);
  clickAll(net);
  net.run(4 * net.timing.timeoutTicks);
  const sides = stages(net);
  net.heal();
  net.reconnect(3);
  net.run(6 * net.timing.timeoutTicks);
  return { net, sides };
}

/**
 * Issue case 3: 2 and 3 sleep past their grace (a closed lid); 1 is left alone and must not go on alone.
 * The sleepers wake, come back under new IDs that carry their logs, and nobody's log forks.
 */
export function sleepersReturn(): Scenario & { sides: Record<Id, number> } {
  const net = settled(3);
  net.freeze(2);
  net.freeze(3);
  net.run(net.graceTicks + net.timing.timeoutTicks);
  clickAll(net);
  net.run(4 * net.timing.timeoutTicks);
  const sides = stages(net);
  net.thaw(2);
  net.thaw(3);
  net.run(6 * net.timing.timeoutTicks);
  return { net, sides };
}

/** Issue case 4: the server restarts with its memory store; every tab continues its slot under a new ID. */
export function serverRestarts(): Scenario {
  const net = settled(4);
  clickAll(net);
  net.run(2 * net.timing.timeoutTicks);
  net.restartServer();
  net.run(net.timing.timeoutTicks);
  for (const id of net.offlineIds()) {
    net.reconnect(id);
    net.run(2);
  }
  net.run(6 * net.timing.timeoutTicks);
  return { net };
}
