// When a room counts as formed, and what waits for it: the election devtools open once it has stayed formed, and
// its hooks see its churn less often while links to its players are still being made. Both leave the CPU to the
// handshakes under way.

import { FORMING_SHOWN_EVERY_MS, fanOut, pageNow, SHOWN_EVERY_MS, throttled } from '../store/perFrame.ts';
import { seenAtOnce } from './snapshot.ts';
import type { Room, RoomSnapshot } from './types.ts';

/** The devtools wait at most this long for the room to form. */
export const DEVTOOLS_WAIT_MS = 10_000;

/**
 * Every player we know of is reached directly (or is away, or gone), and there is a leader. A roster player
 * never heard shows as offline, but its link is still to come.
 */
export function formedOf(s: RoomSnapshot): boolean {
  if (s.status !== 'joined') return true;
  return (
    s.leaderId !== null &&
    s.players.every(
      (p) =>
        p.state !== 'relayed' &&
        p.state !== 'suspected' &&
        !(p.state === 'offline' && p.lastHeardMs === null && !p.removed),
    )
  );
}

/**
 * How long the room must have stayed formed before the devtools open. Once this tab has every link, the others
 * may still be building theirs (8 tabs at once on 2 cores: the first formed 2–3 s before the last), and the
 * panels' chunk, mount and ring take the CPU their handshakes need (docs/benchmarks.md, 2026-12-04).
 */
export const DEVTOOLS_SETTLE_MS = 2_000;

/**
 * Calls `open` once, when `room` has stayed formed for DEVTOOLS_SETTLE_MS, or DEVTOOLS_WAIT_MS from now
 * whatever it does. Returns what stops the watch.
 */
export function whenSettled(
  room: Pick<Room, 'getSnapshot' | 'subscribe'>,
  open: () => void,
  timers: { setTimeout: typeof setTimeout; clearTimeout: typeof clearTimeout } = globalThis,
): () => void {
  let settle: ReturnType<typeof setTimeout> | null = null;
  let done = false;
  const fire = () => {
    if (done) return;
    stop();
    open();
  };
  const check = () => {
    const snap = room.getSnapshot();
    // A room that has ended has no handshakes left to spare.
    if (snap.status !== 'joined') return fire();
    const formed = formedOf(snap);
    if (formed && settle === null) settle = timers.setTimeout(fire, DEVTOOLS_SETTLE_MS);
    else if (!formed && settle !== null) {
      timers.clearTimeout(settle);
      settle = null;
    }
  };
  let off: (() => void) | null = null;
  let cap: ReturnType<typeof setTimeout> | null = null;
  function stop() {
    if (done) return;
    done = true;
    off?.();
    if (cap !== null) timers.clearTimeout(cap);
    if (settle !== null) timers.clearTimeout(settle);
  }
  off = room.subscribe(check);
  // A room that tells its listener as it subscribes may have opened them already.
  if (done) {
    off();
    return stop;
  }
  cap = timers.setTimeout(fire, DEVTOOLS_WAIT_MS);
  check();
  return stop;
}

/**
 * A player listed this long and still not reached directly no longer counts as forming: a player whose WebRTC is
 * blocked stays relayed for good.
 */
export const FORMING_MAX_MS = DEVTOOLS_WAIT_MS;

/**
 * Whether a room is forming links: a player it lists has never been reached directly (nor shown away), and
 * was first listed under FORMING_MAX_MS ago. A player reached once and cut or relayed later does not count;
 * a newcomer does.
 */
export function formingOf(now: () => number): (s: RoomSnapshot) => boolean {
  const reached = new Set<number>();
  let listedAt = new Map<number, number>();
  return (s) => {
    if (s.status !== 'joined') return false;
    const t = now();
    let forming = false;
    // Only the players listed now are kept: a server that lists new IDs in every roster cannot grow it.
    const waiting = new Map<number, number>();
    for (const p of s.players) {
      if (p.state === 'self' || p.removed || reached.has(p.id)) continue;
      if (p.state === 'direct' || p.state === 'away') {
        reached.add(p.id);
        continue;
      }
      const at = listedAt.get(p.id) ?? t;
      waiting.set(p.id, at);
      if (t - at < FORMING_MAX_MS) forming = true;
    }
    listedAt = waiting;
    return forming;
  };
}

const shown = new WeakMap<object, (listener: () => void) => () => void>();

/**
 * A room's changes as its hooks are told them: at most once a frame and a few times a second, a new leader,
 * stage or Done count at the next frame all the same. While the room is forming links (formingOf), the window
 * is the longer FORMING_SHOWN_EVERY_MS (every link that opens is a change), and its end shows at once. One
 * throttle per room, shared by all its hooks, so they render in the same frame.
 */
export function shownChanges(
  room: Pick<Room, 'getSnapshot' | 'subscribe'>,
): (listener: () => void) => () => void {
  let subscribe = shown.get(room);
  if (!subscribe) {
    const forming = formingOf(pageNow);
    const isForming = () => forming(room.getSnapshot());
    subscribe = fanOut(
      throttled(
        (l) => room.subscribe(l),
        () => (isForming() ? FORMING_SHOWN_EVERY_MS : SHOWN_EVERY_MS),
        undefined,
        () => `${seenAtOnce(room.getSnapshot())}|${isForming()}`,
      ),
    );
    shown.set(room, subscribe);
  }
  return subscribe;
}
