import { type Id, type Rng, randInt, seededRng } from '../core/index.ts';
import { SimNetwork } from './network.ts';

export interface ScheduleOptions {
  seed: number;
  minPeers?: number;
  maxPeers?: number;
  transcript?: boolean;
  /**
   * One player turns liar after the room forms, and the owner removes it before the faults heal: the
   * checks are then the honest players' (SimOptions.hostile) and convergence after the removal.
   */
  hostile?: boolean;
  /** Main threads stall for a while, unnoticed by the server (a busy or throttled tab): a stream of its own. */
  stalls?: boolean;
  /**
   * More timeouts after healing before convergence is checked: how late a room that missed the window
   * converges, if it does (`convergesLate`).
   */
  lateTimeouts?: number;
}

export interface ScheduleResult {
  seed: number;
  peers: number;
  violations: string[];
  advances: number;
  /**
   * Hostile runs only: what kept the honest players from converging after the liar's removal (one leader,
   * one term, one stage, and one click each advances). Kept apart from `violations`, which are the lies'
   * damage no honest player may show (a stage skipped, passed or taken back, a wedged term, a throw).
   */
  unconverged: string[];
  /** The room ended waiting for voters that left while nobody could hear their last word. */
  waited: boolean;
  messages: number;
  ticks: number;
  transcript: string[];
}

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[Math.floor(rng.next() * xs.length)]!;
}

function subset(rng: Rng, xs: Id[]): [Id[], Id[]] {
  const a: Id[] = [];
  const b: Id[] = [];
  for (const x of xs) (rng.next() < 0.5 ? a : b).push(x);
  return [a, b];
}

/**
 * One random fault schedule, fully determined by its seed: a chaos phase (delay, drop, duplication,
 * reordering, partitions, cuts, crashes, closes, restarts, joins, leaves, clicks, tabs that lose the server
 * but keep the mesh, frozen tabs, late rosters, server restarts and duplicated tabs), then healing, quiet,
 * and the end checks.
 */
export function runSchedule(opts: ScheduleOptions): ScheduleResult {
  const rng = seededRng(opts.seed);
  const hostile = opts.hostile ?? false;
  const net = new SimNetwork({
    seed: opts.seed ^ 0x9e3779b9,
    transcript: opts.transcript ?? false,
    hostile,
    // Hostile runs have a last stage, so "nothing past the last" means something.
    ...(hostile ? { lastStage: 4 } : {}),
  });
  const t = net.timing;
  // A liar and one honest player is no room to judge: at least two honest ones.
  const low = Math.max(opts.minPeers ?? 2, hostile ? 3 : 1);
  const peers = randInt(rng, low, Math.max(low, opts.maxPeers ?? 9));
  for (let i = 0; i < peers; i++) net.join();
  net.maxDelay = pick(rng, [1, 2, 4]);
  net.run(randInt(rng, 0, 2 * t.timeoutTicks));

  const chaosTicks = randInt(rng, 10 * t.timeoutTicks, 30 * t.timeoutTicks);
  const end = net.now + chaosTicks;
  let liar = 0;
  let expelAt = Number.POSITIVE_INFINITY;
  if (hostile) {
    net.run(2 * t.timeoutTicks);
    liar = pick(
      rng,
      net.live().map((p) => p.self),
    );
    net.turnLiar(liar);
    net.lieRate = pick(rng, [0.1, 0.5, 1]);
    expelAt = net.now + randInt(rng, 0, chaosTicks);
  }
  const faultRate = pick(rng, [0.02, 0.05, 0.1]);
  const clickRate = pick(rng, [0.05, 0.2, 0.5]);
  // App values from random players throughout, faults and all (a separate stream keeps the faults' own).
  const proposeRng = seededRng(opts.seed ^ 0x5eed);
  const proposeRate = pick(proposeRng, [0.05, 0.2, 0.5]);
  // Apps compact their logs at random committed indices (a third stream, for the same reason).
  const compactRng = seededRng(opts.seed ^ 0xc0ac);
  const compactRate = pick(compactRng, [0, 0.005, 0.02, 0.1]);
  const stallRng = seededRng(opts.seed ^ 0x7e57);
  const stallRate = opts.stalls ? pick(stallRng, [0.01, 0.03, 0.08]) : 0;
  while (net.now < end) {
    // About engine.io's ping timeout (8 s against a 1.5 s timeout): past it a stall is a freeze.
    if (stallRate > 0) net.endStallsOver(5 * t.timeoutTicks);
    if (stallRng.next() < stallRate) {
      const stalled = net.stalledIds();
      const running = net.running().map((p) => p.self);
      if (stalled.length > 0 && stallRng.next() < 0.5) net.unstall(pick(stallRng, stalled));
      else if (running.length > 0) net.stall(pick(stallRng, running));
    }
    if (net.now >= expelAt) {
      net.expel(liar);
      expelAt = Number.POSITIVE_INFINITY;
    }
    const live = net.live().map((p) => p.self);
    if (rng.next() < clickRate && live.length > 0) {
      const id = pick(rng, live);
      const p = net.player(id)!;
      net.click(id, rng.next() < 0.85 ? true : !p.isDone);
    }
    const running = net.running().map((p) => p.self);
    if (proposeRng.next() < proposeRate && running.length > 0) net.propose(pick(proposeRng, running));
    if (compactRng.next() < compactRate && running.length > 0)
      net.compact(pick(compactRng, running), compactRng.next());
    if (rng.next() < faultRate) {
      const all = net.allIds();
      const r = rng.next();
      if (r < 0.12) {
        net.dropRate = pick(rng, [0, 0, 0.05, 0.2, 0.5]);
        net.dupRate = pick(rng, [0, 0, 0.05, 0.2]);
        net.maxDelay = pick(rng, [1, 2, 4, 8]);
      } else if (r < 0.24 && all.length > 1) {
        const [a, b] = subset(rng, all);
        if (a.length && b.length) net.partition(a, b, rng.next() < 0.25);
      } else if (r < 0.32 && all.length > 1) {
        net.cut(pick(rng, all), pick(rng, all), rng.next() < 0.3);
      } else if (r < 0.44) {
        net.heal();
      } else if (r < 0.52 && live.length > 0) {
        net.crash(pick(rng, live), rng.next() < 0.3);
      } else if (r < 0.62) {
        const down = net.crashedIds();
        if (down.length > 0) net.restart(pick(rng, down));
      } else if (r < 0.68) {
        if (net.allIds().length < 12) net.join();
      } else if (r < 0.72 && live.length > 1) {
        const id = pick(rng, live);
        // The last voter leaving ends the room for good (docs/protocol.md, "Leaving"): not a fault.
        if (net.player(id)!.view().voters.length > 1) net.leave(id);
      } else if (r < 0.78 && live.length > 0) {
        net.cutServer(pick(rng, live));
      } else if (r < 0.83) {
        const off = net.offlineIds();
        if (off.length > 0) net.reconnect(pick(rng, off));
      } else if (r < 0.87 && live.length > 0) {
        net.freeze(pick(rng, live));
      } else if (r < 0.91) {
        const frozen = net.frozenIds();
        if (frozen.length > 0) net.thaw(pick(rng, frozen));
      } else if (r < 0.93) {
        net.rosterLag = pick(rng, [0, 4 * t.timeoutTicks, 20 * t.timeoutTicks]);
      } else if (r < 0.94) {
        net.restartServer();
      } else if (r < 0.95 && live.length > 0) {
        if (net.allIds().length < 12) net.duplicate(pick(rng, live));
      } else if (live.length > 0) {
        net.isolate(pick(rng, live));
      }
    }
    net.run(1);
  }

  if (expelAt !== Number.POSITIVE_INFINITY) net.expel(liar);
  // Heal, and let every tab come back at a random moment within grace or after it (then under a new ID
  // that continues its slot): a tab that never returns is a voter lost for good, which no design without
  // storage can tell from one still playing behind a partition, so the room would rightly wait.
  net.heal();
  for (const id of net.stalledIds()) net.unstall(id);
  net.maxDelay = 2;
  const back = net.graceTicks + 2 * t.timeoutTicks;
  const returns = new Map<Id, number>();
  for (const id of [...net.crashedIds(), ...net.offlineIds(), ...net.frozenIds()])
    returns.set(id, net.now + randInt(rng, 1, back));
  while (returns.size > 0) {
    for (const [id, at] of returns) {
      if (net.now < at) continue;
      returns.delete(id);
      if (net.frozenIds().includes(id)) net.thaw(id);
      else if (net.offlineIds().includes(id)) net.reconnect(id);
      else net.restart(id);
    }
    net.run(1);
  }
  if (net.live().length === 0) net.join();
  net.run(net.graceTicks + (3 + (opts.lateTimeouts ?? 0)) * t.timeoutTicks);
  const safety = net.violations.length;
  net.checkConverged();
  // A room with a quorum decides every value a live player still waits for, within one failover of
  // converging (the last election may have just ended): none stays pending.
  const pendingDecided = () => {
    if (net.waiting) return;
    const failed = net.violations.length;
    for (const p of net.live()) {
      const waiting = p.proposals()?.pending.map(([seq]) => seq) ?? [];
      if (waiting.length > 0)
        net.violations.push(`${p.self} still waits for its proposals ${waiting} after healing`);
    }
    if (net.violations.length > failed) net.noteViews();
  };
  // A player a liar took past the room's stage (hostile runs only) waits there, its values with it: the
  // room reaches it a stage per round of clicks, and it counts as done with the stages it has passed
  // (Player.doneOf).
  const furthest = Math.max(...net.live().map((p) => p.stage));
  const held = furthest > (net.first()?.stage ?? furthest);
  if (!net.waiting && net.violations.length === safety) net.run(2 * t.timeoutTicks);
  if (!held) pendingDecided();

  // A Done clicked before a failover is never needed again: everyone not yet done clicks once, and that
  // alone must advance the stage.
  for (let round = 0; net.violations.length === 0 && !net.waiting; round++) {
    const before = net.first()!.stage;
    if (round > 0 && before >= furthest) break;
    const next = Math.min(before + 1, net.lastStage);
    const prior = new Map(net.live().map((p) => [p.self, p.stage]));
    for (const p of net.live()) if (!p.isDone) net.click(p.self, true);
    net.run(3 * t.timeoutTicks);
    const failed = net.violations.length;
    for (const p of net.live()) {
      const expected = Math.max(next, prior.get(p.self) ?? next);
      if (p.stage !== expected)
        net.violations.push(`after one click each, ${p.self} is at stage ${p.stage}, expected ${expected}`);
    }
    if (net.violations.length > failed) net.noteViews();
  }
  if (held && net.violations.length === 0) {
    net.run(2 * t.timeoutTicks);
    // The room has reached the held players: they lead or follow as any other (one that never caught up
    // with the room has caught up now).
    net.checkConverged();
    pendingDecided();
  }
  const unconverged = hostile ? net.violations.splice(safety) : [];
  return {
    seed: opts.seed,
    peers,
    unconverged,
    violations: net.violations,
    advances: net.first()?.stage ?? 0,
    waited: net.waiting,
    messages: net.messagesSent(),
    ticks: net.now,
    transcript: net.transcript,
  };
}

/** The windows `convergesLate` tries, in timeouts past the usual one. */
export const LATE_TIMEOUTS = [3, 10, 30];

/**
 * For a hostile schedule that did not converge in the usual window: the first of LATE_TIMEOUTS after which
 * it does (a room that recovers, slowly), or null (a room that stays stuck).
 */
export function convergesLate(opts: ScheduleOptions): number | null {
  for (const late of LATE_TIMEOUTS) {
    const r = runSchedule({ ...opts, lateTimeouts: late });
    if (r.violations.length === 0 && r.unconverged.length === 0) return late;
  }
  return null;
}
