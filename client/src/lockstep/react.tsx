// lockstep/react: a hook over a Room's snapshot, and the election devtools as a drop-in component.

import { Component, lazy, type ReactNode, Suspense, useMemo, useRef, useSyncExternalStore } from 'react';
import { throttled } from '../store/perFrame.ts';
import type { Room, RoomSnapshot } from './types.ts';

// A chunk of their own, fetched on first render: a page shows its own state before the devtools' code.
const Panels = lazy(() => import('./panels.tsx').then((m) => ({ default: m.DevtoolsPanels })));

const identity = <T,>(x: T) => x;

/**
 * The room's snapshot, or the part `selector` picks; re-renders only when that part changes (by
 * `isEqual`, default Object.is). A selector that builds a new object each time needs an `isEqual`.
 */
export function useRoom<T = RoomSnapshot>(
  room: Room,
  selector: (snapshot: RoomSnapshot) => T = identity as (s: RoomSnapshot) => T,
  isEqual: (a: T, b: T) => boolean = Object.is,
): T {
  const cache = useRef<{ snap: RoomSnapshot; selector: unknown; value: T } | null>(null);
  const read = () => {
    const snap = room.getSnapshot();
    const c = cache.current;
    if (c && c.snap === snap && c.selector === selector) return c.value;
    const value = selector(snap);
    const kept = c && isEqual(c.value, value) ? c.value : value;
    cache.current = { snap, selector, value: kept };
    return kept;
  };
  // Told of changes at most once a frame and a few times a second: a forming room changes far more often.
  const subscribe = useMemo(() => throttled(room.subscribe), [room]);
  return useSyncExternalStore(subscribe, read, read);
}

export interface LockstepDevtoolsProps {
  room: Room;
  /** The chaos controls, for a room joined with `chaos: true` (default: shown when it was). */
  chaos?: boolean;
  /** The event log (default true). */
  log?: boolean;
}

/**
 * The election visualizer (a ring of players with messages in flight, pause and step), the terms timeline,
 * the chaos controls and the event log, as this player sees them. Styled by the app's class names
 * (`card`, `viz`, …).
 */
export function LockstepDevtools(props: LockstepDevtoolsProps) {
  return (
    <LoadFailed>
      <Suspense fallback={null}>
        <Panels {...props} />
      </Suspense>
    </LoadFailed>
  );
}

/** A chunk that fails to load (offline, or a redeploy removed it) costs the devtools, not the page. */
class LoadFailed extends Component<{ children: ReactNode }, { failed: boolean }> {
  override state = { failed: false };

  static getDerivedStateFromError() {
    return { failed: true };
  }

  override render() {
    if (!this.state.failed) return this.props.children;
    return (
      <p className="card" role="status" data-testid="devtools-failed">
        The devtools could not load. Reload the page to try again.
      </p>
    );
  }
}
