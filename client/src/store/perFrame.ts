import type { StoreApi } from 'zustand/vanilla';

/**
 * How often a screen shows a burst of changes: the first change after a quiet spell at the next frame, the
 * rest at most this often. A tab forming a mesh takes dozens of writes a second (a heartbeat, an RTT, a
 * link state each), more than anyone reads; eight such tabs rendering every frame on two cores took CPU
 * from the WebRTC work they were showing (bench: mesh formation).
 */
export const SHOWN_EVERY_MS = 200;

/**
 * The window while a room forms: every link that opens changes a row, an RTT and a count, and eight tabs
 * forming at once on 2 cores spent as much CPU showing it as making it. Two frames a second is as often as a
 * list of players connecting can be followed; a leader, a stage or a Done still shows at the next frame.
 */
export const FORMING_SHOWN_EVERY_MS = 500;

/** The page's clock (ms), or the wall clock where there is no `performance`. */
export const pageNow = (): number => (typeof performance === 'undefined' ? Date.now() : performance.now());

/**
 * `subscribe`, with each listener told at most once per animation frame and at most once per window (`every`:
 * ms, or a function read at each change). A hidden tab gets no frames, so a timer stands in. A change whose
 * `urgent` key differs from the one last shown (a new leader, a stage, the player's own Done) is shown at the
 * next frame all the same: the window is for the churn of figures, and a leader held back by it showed up to
 * 200 ms late in failover (bench: closeFailoverMs). Twice per window at most (a failover's heir shows "no
 * leader", then itself): a key that changes with every write (a lying leader's done count) must not render at
 * the rate the room is written.
 */
export function throttled(
  subscribe: (listener: () => void) => () => void,
  every: number | (() => number) = SHOWN_EVERY_MS,
  fallbackMs = 250,
  urgent?: () => unknown,
): (listener: () => void) => () => void {
  return (listener) => {
    let frame: number | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;
    // What the listener waits for: the end of the window after the last flush, or the next frame.
    let pending: 'window' | 'frame' | null = null;
    let last = Number.NEGATIVE_INFINITY;
    let shownKey = urgent?.();
    // When the last two urgent changes cut a window short.
    let urgentAt: [number, number] = [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY];
    const now = pageNow;
    const windowMs = typeof every === 'number' ? () => every : every;
    const cancel = () => {
      if (frame !== null) cancelAnimationFrame(frame);
      if (timer !== null) clearTimeout(timer);
      frame = timer = null;
      pending = null;
    };
    const flush = () => {
      cancel();
      last = now();
      if (urgent) shownKey = urgent();
      listener();
    };
    const atNextFrame = () => {
      pending = 'frame';
      timer = setTimeout(flush, fallbackMs);
      if (typeof requestAnimationFrame === 'function') frame = requestAnimationFrame(flush);
    };
    const isUrgent = () =>
      urgent !== undefined && now() - urgentAt[0] >= windowMs() && !Object.is(urgent(), shownKey);
    const cutShort = () => {
      urgentAt = [urgentAt[1], now()];
    };
    const unsubscribe = subscribe(() => {
      if (pending === 'frame') return;
      if (pending === 'window') {
        if (isUrgent()) {
          cutShort();
          cancel();
          atNextFrame();
        }
        return;
      }
      const wait = last + windowMs() - now();
      if (wait > 0) {
        if (!isUrgent()) {
          pending = 'window';
          timer = setTimeout(flush, wait);
          return;
        }
        cutShort();
      }
      atNextFrame();
    });
    return () => {
      unsubscribe();
      cancel();
    };
  };
}

/**
 * ms until the page clock's next whole multiple of `every` (always > 0). Figures renewed once a second each on a
 * clock of its own changed the page in separate frames, each a paint and a composite.
 */
export function untilBeat(every: number, now = performance.now()): number {
  // A timer drops its delay's fraction and may fire a little early: 1 ms more lands it past the beat.
  return Math.ceil(every - (now % every)) + 1;
}

/**
 * One `subscribe` for many listeners: a single subscription while any of them listens, and each change told to
 * all of them in one call. Seven components each with a throttled subscription of their own asked for seven
 * animation frames per window; a resting room of 5 tabs then ran about 40 main frames a second in each
 * (docs/benchmarks.md, "At rest").
 */
export function fanOut(
  subscribe: (listener: () => void) => () => void,
): (listener: () => void) => () => void {
  const listeners = new Set<{ listener: () => void }>();
  let stop: (() => void) | null = null;
  const tell = () => {
    for (const l of [...listeners]) {
      // One removed by an earlier one is skipped; one that throws does not keep the news from the rest.
      if (!listeners.has(l)) continue;
      try {
        l.listener();
      } catch (err) {
        setTimeout(() => {
          throw err;
        });
      }
    }
  };
  return (listener) => {
    stop ??= subscribe(tell);
    // Wrapped, so the same function subscribed twice stays subscribed until both leave.
    const entry = { listener };
    listeners.add(entry);
    return () => {
      if (!listeners.delete(entry) || listeners.size > 0 || !stop) return;
      const s = stop;
      stop = null;
      s();
    };
  };
}

/**
 * The store as React sees it: its changes shown as `throttled` tells them, the state as of the last one shown.
 * With nobody subscribed it follows the store itself, and asks for no frame or timer.
 */
export function perFrame<S>(store: StoreApi<S>, everyMs = SHOWN_EVERY_MS, fallbackMs = 250): StoreApi<S> {
  let shown = store.getState();
  let prev = shown;
  let users = 0;
  let stopShowing: (() => void) | null = null;
  const changes = fanOut(throttled(store.subscribe, everyMs, fallbackMs));
  return {
    getState: () => (users > 0 ? shown : store.getState()),
    getInitialState: () => store.getInitialState(),
    setState: store.setState,
    subscribe: (l) => {
      if (users++ === 0) {
        shown = store.getState();
        prev = shown;
        // Subscribed first, so it is told first: every listener then sees the same state as shown.
        stopShowing = changes(() => {
          prev = shown;
          shown = store.getState();
        });
      }
      const off = changes(() => {
        if (shown !== prev) l(shown, prev);
      });
      let gone = false;
      return () => {
        if (gone) return;
        gone = true;
        off();
        if (--users === 0) {
          stopShowing?.();
          stopShowing = null;
        }
      };
    },
  };
}
