// The agreed log's app entries (room.propose), in one room of 8 headless players (the tab's Session on wrtc)
// in this process, in three steps:
// 1. propose-to-commit latency: sequential proposals from the followers, each from `session.propose()` to that
//    proposer's `proposed` event; beside it the data channel's RTT from the mesh's own ping/pong, same window;
// 2. sustained throughput: all 8 keep their window of pending values (LIMITS.app.pending) full; values
//    committed per second, counted at one follower from its `commit` events;
// 3. catch-up without a snapshot: once the room committed `logValues` values, a 9th player joins; the time
//    from its start to its core holding as many log entries as the leader's. Nobody has compacted yet: the
//    whole log goes, as history chunks;
// 4. catch-up with a snapshot: then all 9 compact (`Session.compact`) at their last committed index, each
//    with what a game would fold those values into (per-proposer counts and scores, the last 100 values), and
//    a 10th player joins; the time from its start to its core holding the leader's last index. It gets the
//    base as a `snapshot` and only the entries after it as history.

import type { CoreEvent } from '../../client/src/core/index.ts';
import { HeadlessPlayer } from '../../client/src/net/headless.ts';
import type { CommittedLog } from '../../client/src/net/session.ts';
import { LIMITS } from '../../client/src/protocol/limits.ts';
import { until } from '../../e2e/kit.ts';
import { log, type Part, sleep, TIMING } from '../lib/context.ts';
import { rttSampler } from '../lib/rtt.ts';
import { type Dist, dist, round } from '../lib/stats.ts';

/** The last committed entry's hash (the base's when none follows it). */
const tipOf = (c: CommittedLog) => c.entries.at(-1)?.hash ?? c.base?.entry.hash;

/** App values in a log's entries (after its base, if any). */
const valuesIn = (c: CommittedLog) => c.entries.reduce((s, e) => s + (e.ops?.length ?? 0), 0);

const utf8Bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v));

/** How many of the last values a game's state keeps. */
const RECENT = 100;

/**
 * What a game would fold the log's values into (its own state at the last index): per proposer, how many
 * values and a score (the sum of their numbers), and the last RECENT values as they came. A few KB of JSON.
 */
function gameState(c: CommittedLog) {
  if (c.base) throw new Error('gameState folds a whole log: this one was compacted already');
  const players: Record<string, { values: number; score: number }> = {};
  const recent: { by: number; seq: number; data: unknown }[] = [];
  let values = 0;
  for (const e of c.entries) {
    for (const op of e.ops ?? []) {
      values++;
      const p = players[op.by] ?? { values: 0, score: 0 };
      players[op.by] = p;
      p.values++;
      const d = op.data as { n?: unknown; k?: unknown } | null;
      const n = typeof d?.n === 'number' ? d.n : typeof d?.k === 'number' ? d.k : 0;
      p.score += n;
      recent.push({ by: op.by, seq: op.seq, data: op.data });
      if (recent.length > RECENT) recent.shift();
    }
  }
  return { index: c.length, values, players, recent };
}

export interface LogResult {
  logProposeMs: Dist;
  logProposeP50Ms: number;
  logProposeP99Ms: number;
  logRttMs: Dist;
  logRttP99Ms: number;
  /** logProposeP99Ms ÷ logRttP99Ms. */
  logProposeRatio: number;
  logValuesPerSec: number;
  /** Values per app entry during the throughput window (the leader's batching). */
  logValuesPerEntry: number;
  /** The leader's log when the newcomer joined: entries, and the app values in them. */
  logCatchUpEntries: number;
  logCatchUpValues: number;
  /** From the newcomer's start to its core holding as many entries as the leader (no snapshot: the whole log). */
  logCatchUpNoSnapshotMs: number;
  /** The part of that before the server had let it join. */
  logCatchUpJoinMs: number;
  /** Sync requests the newcomer sent while catching up: each answer is one history message. */
  logCatchUpSyncs: number;
  /** The app state each player compacted with (UTF-8 bytes of its JSON). */
  logSnapshotBytes: number;
  /** The whole base a late joiner is sent (state, stages, names, page sessions), UTF-8 bytes of JSON. */
  logSnapshotBaseBytes: number;
  /** From the 10th player's start to its core holding the leader's last index (a snapshot, then the rest). */
  logCatchUpSnapshotMs: number;
  /** logCatchUpSnapshotMs ÷ logCatchUpNoSnapshotMs. */
  logCatchUpSnapshotRatio: number;
  /** The part of logCatchUpSnapshotMs before the server had let it join. */
  logCatchUpSnapshotJoinMs: number;
  /** The entries after the base the 10th player fetched as history, and the app values in them. */
  logCatchUpSnapshotEntries: number;
  logCatchUpSnapshotValues: number;
  /** Sync requests the 10th player sent while catching up. */
  logCatchUpSnapshotSyncs: number;
}

const uniq = (p: string) => `${p}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

/** What the bench hears from one player's core. */
class Tap {
  proposed = 0;
  superseded = 0;
  /** Values in the app entries this player's core committed, and how many entries. */
  values = 0;
  entries = 0;
  /** Called (and cleared) on our next `proposed` event, with its time. */
  onProposed: ((at: number) => void) | null = null;
  /** Called after every batch of events that settled proposals of ours. */
  onSettled: (() => void) | null = null;

  constructor(readonly player: HeadlessPlayer) {
    player.coreEvents.add((events) => this.hear(events));
  }

  private hear(events: readonly CoreEvent[]): void {
    const at = performance.now();
    let settled = false;
    for (const e of events) {
      if (e.kind === 'commit') {
        this.entries++;
        this.values += e.entry.ops?.length ?? 0;
      } else if (e.kind === 'proposed') {
        this.proposed++;
        settled = true;
        const f = this.onProposed;
        this.onProposed = null;
        f?.(at);
      } else if (e.kind === 'superseded') {
        this.superseded++;
        settled = true;
      }
    }
    if (settled) this.onSettled?.();
  }

  /** The time of this player's next `proposed` event; rejects after `ms`. */
  nextProposed(ms: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.onProposed = null;
        reject(new Error(`no proposed event within ${ms} ms`));
      }, ms);
      this.onProposed = (at) => {
        clearTimeout(t);
        resolve(at);
      };
    });
  }
}

function fullMesh(players: HeadlessPlayer[]): boolean {
  const n = players.length;
  return players.every((p) => {
    const v = p.view;
    const links = p.session.mesh.info();
    return (
      v?.leader === 1 &&
      v.agreed.length === n &&
      v.initialized &&
      links.length === n - 1 &&
      links.every((l) => l.link === 'open')
    );
  });
}

/**
 * Keeps every player's window of pending values full (topped up after each batch of its settled
 * proposals) until stopped. `sent` counts the values handed to propose.
 */
class Flood {
  /** Refusals by code (the window is kept below the limit, so any is a finding). */
  readonly refused = new Map<string, number>();
  /** Values handed to propose, per player. */
  private readonly sent: number[];
  /** Proposals each player had settled before the flood. */
  private readonly before: number[];
  private on = true;
  private readonly queued = new Set<number>();

  constructor(private readonly taps: Tap[]) {
    this.sent = taps.map(() => 0);
    this.before = taps.map((t) => t.proposed + t.superseded);
    taps.forEach((tap, i) => {
      tap.onSettled = () => this.later(i);
      this.fill(i);
    });
  }

  /** Not from inside the core's event callback: the session is still draining. */
  private later(i: number): void {
    if (!this.on || this.queued.has(i)) return;
    this.queued.add(i);
    setImmediate(() => {
      this.queued.delete(i);
      this.fill(i);
    });
  }

  private fill(i: number): void {
    const tap = this.taps[i]!;
    while (this.on) {
      const n = this.sent[i]!;
      if (n - this.settled(i) >= LIMITS.app.pending) return;
      const r = tap.player.session.propose({ p: i + 1, n: n + 1 });
      if (!r.ok) {
        this.refused.set(r.code, (this.refused.get(r.code) ?? 0) + 1);
        return;
      }
      this.sent[i] = n + 1;
    }
  }

  /** Values handed to propose and not yet settled, over all players. */
  pending(): number {
    return this.taps.reduce((s, _, i) => s + this.sent[i]! - this.settled(i), 0);
  }

  private settled(i: number): number {
    const t = this.taps[i]!;
    return t.proposed + t.superseded - this.before[i]!;
  }

  stop(): void {
    this.on = false;
    for (const t of this.taps) t.onSettled = null;
  }
}

export const logPart: Part<LogResult> = {
  name: 'log',
  async run(ctx) {
    const { url } = await ctx.server();
    const { logProposals: PROPOSALS, logFloodMs: FLOOD_MS, logValues: VALUES } = ctx.n;
    const room = uniq('log');
    // Steps 1–3 within about 110 s of the server being up, however slow each step is: the fill to VALUES
    // stops early (and says so) so the catch-up keeps its bound. Step 4 has 30 s more.
    const end = performance.now() + 110_000;
    const left = () => end - performance.now();
    const players: HeadlessPlayer[] = [];
    const make = (i: number) => new HeadlessPlayer({ url, room, name: `l${i + 1}`, settings: { ...TIMING } });
    try {
      for (let i = 0; i < 8; i++) {
        const p = make(i);
        players.push(p);
        p.start();
        await until(() => p.store.getState().session.phase === 'joined', 20_000, 'a headless join');
      }
      await until(() => fullMesh(players), 30_000, '8 headless players in a full mesh with leader 1');
      // The links' handshakes are still settling right after the mesh forms (as advance's first round).
      await sleep(1_000);
      const taps = players.map((p) => new Tap(p));
      const observer = taps[7]!;

      // 1. Latency: one proposal at a time, from the followers in turn.
      const latency: number[] = [];
      const rtt: number[] = [];
      const stopRtt = rttSampler(players, rtt);
      try {
        for (let k = 0; k < PROPOSALS && left() > 85_000; k++) {
          await sleep(Math.random() * 10);
          const tap = taps[1 + (k % 7)]!;
          const settled = tap.proposed + tap.superseded;
          const t0 = performance.now();
          const done = tap.nextProposed(5_000);
          const r = tap.player.session.propose({ k });
          if (!r.ok) throw new Error(`propose ${k} from l${2 + (k % 7)} refused: ${r.code} (${r.error})`);
          const at = await done.catch((err: Error) => {
            throw new Error(
              `proposal ${k} from l${2 + (k % 7)}: ${err.message} (settled before ${settled}, now ${tap.proposed} proposed, ${tap.superseded} superseded)`,
            );
          });
          latency.push(at - t0);
        }
      } finally {
        stopRtt();
      }
      const lat = dist(latency);
      const r = dist(rtt);
      log(`log: propose→commit ${lat.median} / ${lat.p99} ms, RTT p99 ${r.p99} ms (${r.n} samples)`);

      // 2. Throughput: everyone keeps its window full; values committed at one follower per second.
      const flood = new Flood(taps);
      let perSec = Number.NaN;
      let perEntry = Number.NaN;
      try {
        await sleep(500);
        const v0 = observer.values;
        const e0 = observer.entries;
        const t0 = performance.now();
        await sleep(FLOOD_MS);
        const secs = (performance.now() - t0) / 1000;
        perSec = round((observer.values - v0) / secs);
        perEntry = round((observer.values - v0) / Math.max(1, observer.entries - e0));
        log(
          `log: ${perSec} values/s over ${round(secs)} s, ${perEntry} a log entry (${observer.values} so far)`,
        );
        // Then on until the room holds VALUES values, within a bound.
        const fillMs = Math.max(0, Math.min(60_000, left() - 40_000));
        const filled = await until(() => observer.values >= VALUES, fillMs, `${VALUES} values`, 50).then(
          () => true,
          () => false,
        );
        if (!filled) log(`log: only ${observer.values} of ${VALUES} values within ${round(fillMs / 1000)} s`);
      } finally {
        flood.stop();
      }
      await until(() => flood.pending() === 0, 5_000, 'the last pending values to commit').catch(
        (err: Error) => log(`log: ${err.message} (${flood.pending()} still pending)`),
      );
      if (flood.refused.size > 0) log(`log: propose refused ${JSON.stringify([...flood.refused])}`);
      const superseded = taps.reduce((s, t) => s + t.superseded, 0);
      if (superseded > 0) log(`log: ${superseded} proposals superseded`);

      // 3. Catch-up: a 9th player joins the quiet room.
      await sleep(500);
      const leader = players[0]!;
      const entries = leader.session.committed().length;
      const values = observer.values;
      const late = make(8);
      players.push(late);
      const { ms: catchUp, joinMs: joinedMs } = await catchUpOf(
        late,
        leader,
        Math.max(1_000, Math.min(45_000, left())),
        `the 9th player to catch up on ${entries} entries`,
      );
      if (tipOf(late.session.committed()) !== tipOf(leader.session.committed()))
        throw new Error('the 9th player holds another log');
      const syncs = late.sent.get('sync') ?? 0;
      const lateLog = late.session.committed();
      log(
        `log: a 9th player caught up on ${entries} entries (${values} values) in ${round(catchUp)} ms (joined after ${round(joinedMs)} ms; ${syncs} sync requests; it fetched ${lateLog.entries.length} entries, ${valuesIn(lateLog)} values)`,
      );

      // 4. Catch-up from a snapshot: everyone compacts at its last index, then a 10th player joins.
      const room9 = players.slice();
      await until(
        () => room9.every((p) => p.session.committed().length === leader.session.committed().length),
        5_000,
        "every player at the leader's last index",
      );
      let json: string | null = null;
      for (const p of room9) {
        const c = p.session.committed();
        const state = gameState(c);
        // One log, so one state: each player folds its own, as an app would.
        const j = JSON.stringify(state);
        if (json !== null && j !== json) throw new Error(`${p.opts.name} folds another state than l1`);
        json = j;
        const r = p.session.compact(c.length, state);
        if (!r.ok) throw new Error(`${p.opts.name} could not compact at ${c.length}: ${r.code} (${r.error})`);
      }
      const stateBytes = Buffer.byteLength(json ?? '');
      const base = leader.session.committed().base;
      if (!base) throw new Error('the leader holds no base after compacting');
      const baseBytes = utf8Bytes(base);
      const late2 = make(9);
      players.push(late2);
      let installed = Number.NaN;
      late2.coreEvents.add((events) => {
        for (const e of events) if (e.kind === 'snapshot') installed = e.index;
      });
      const { ms: snapCatchUp, joinMs: joined2Ms } = await catchUpOf(
        late2,
        leader,
        30_000,
        `the 10th player to catch up from a snapshot at ${base.entry.index}`,
      );
      const late2Log = late2.session.committed();
      if (tipOf(late2Log) !== tipOf(leader.session.committed()))
        throw new Error('the 10th player holds another log');
      if (Number.isNaN(installed)) throw new Error('the 10th player caught up without a snapshot');
      const syncs2 = late2.sent.get('sync') ?? 0;
      log(
        `log: all 9 compacted at ${base.entry.index} (state ${stateBytes} bytes, base ${baseBytes}); a 10th player caught up from a snapshot at ${installed} in ${round(snapCatchUp)} ms (joined after ${round(joined2Ms)} ms; ${syncs2} sync requests; it fetched ${late2Log.entries.length} entries, ${valuesIn(late2Log)} values after the base) against ${round(catchUp)} ms without`,
      );
      return {
        logProposeMs: lat,
        logProposeP50Ms: lat.median,
        logProposeP99Ms: lat.p99,
        logRttMs: r,
        logRttP99Ms: r.p99,
        logProposeRatio: round(lat.p99 / r.p99, 2),
        logValuesPerSec: perSec,
        logValuesPerEntry: perEntry,
        logCatchUpEntries: entries,
        logCatchUpValues: values,
        logCatchUpNoSnapshotMs: round(catchUp),
        logCatchUpJoinMs: round(joinedMs),
        logCatchUpSyncs: syncs,
        logSnapshotBytes: stateBytes,
        logSnapshotBaseBytes: baseBytes,
        logCatchUpSnapshotMs: round(snapCatchUp),
        logCatchUpSnapshotRatio: round(snapCatchUp / catchUp, 2),
        logCatchUpSnapshotJoinMs: round(joined2Ms),
        logCatchUpSnapshotEntries: late2Log.entries.length,
        logCatchUpSnapshotValues: valuesIn(late2Log),
        logCatchUpSnapshotSyncs: syncs2,
      };
    } finally {
      await Promise.race([Promise.allSettled(players.map((p) => p.leave())), sleep(3_000)]);
      for (const p of players) p.dispose();
    }
  },
};

/** Starts `late` and times it until its log reaches `leader`'s last index, and the part before it joined. */
async function catchUpOf(
  late: HeadlessPlayer,
  leader: HeadlessPlayer,
  timeoutMs: number,
  what: string,
): Promise<{ ms: number; joinMs: number }> {
  const t0 = performance.now();
  let joinedAt = Number.NaN;
  late.start();
  await until(
    () => {
      if (Number.isNaN(joinedAt) && late.store.getState().session.phase === 'joined')
        joinedAt = performance.now();
      const n = late.session.committed().length;
      return n > 0 && n >= leader.session.committed().length;
    },
    timeoutMs,
    what,
    5,
  );
  return { ms: performance.now() - t0, joinMs: joinedAt - t0 };
}
