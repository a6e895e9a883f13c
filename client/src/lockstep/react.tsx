// lockstep/react: a hook over a Room's snapshot, and the election devtools as a drop-in component.

import {
  Component,
  lazy,
  type ReactNode,
  Suspense,
  useEffect,
  useRef,
  useState,
  useSyncExternalStore,
} from 'react';
import { formedOf, shownChanges, whenSettled } from './formed.ts';
import type { Room, RoomSnapshot } from './types.ts';

/** The devtools' chunk did not arrive (offline, or a redeploy removed it), as opposed to a bug in them. */
class ChunkLoadError extends Error {}

// A chunk of their own, fetched on first render: a page shows its own state before the devtools' code.
const Panels = lazy(() =>
  import('./panels.tsx').then(
    (m) => ({ default: m.DevtoolsPanels }),
    (e: unknown) => {
      throw new ChunkLoadError(e instanceof Error ? e.message : String(e));
    },
  ),
);

export { DEVTOOLS_WAIT_MS } from './formed.ts';

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
  if (typeof room?.getSnapshot !== 'function')
    throw new TypeError('useRoom: room must be a Room from joinRoom');
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
  return useSyncExternalStore(shownChanges(room), read, read);
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
  // Inside the boundary, reading the room too (a plain object for a room fails here, not the page), and a fresh
  // one per room: an error in one room's devtools does not stay for the next.
  return (
    <Contained key={roomKey(props.room)}>
      <Devtools {...props} />
    </Contained>
  );
}

const roomKeys = new WeakMap<object, number>();
let lastRoomKey = 0;
/** A stable key per room object, for remounting the devtools when the room changes. */
function roomKey(room: unknown): number {
  if (typeof room !== 'object' || room === null) return 0;
  const key = roomKeys.get(room) ?? ++lastRoomKey;
  roomKeys.set(room, key);
  return key;
}

function Devtools(props: LockstepDevtoolsProps) {
  const [formed, open] = useFormed(props.room);
  // Opened by the button, which then goes: keyboard focus moves to what replaced it, not to the page's start.
  const opened = useRef(false);
  const panels = useRef<HTMLElement>(null);
  useEffect(() => {
    if (!formed || !opened.current) return;
    // Once: a room formed later (another room given) must not take the focus from where the user is.
    opened.current = false;
    panels.current?.focus();
  }, [formed]);
  return (
    <>
      {formed ? (
        <section ref={panels} tabIndex={-1} className="devtools" aria-label="Election devtools">
          <Suspense fallback={null}>
            <Panels {...props} />
          </Suspense>
        </section>
      ) : (
        <p className="card muted small" data-testid="devtools-waiting">
          The election devtools open once the room has formed.{' '}
          <button
            type="button"
            className="btn small ghost"
            onClick={() => {
              opened.current = true;
              open();
            }}
            data-testid="devtools-open"
          >
            Open now
          </button>
        </p>
      )}
    </>
  );
}

/** True once `whenSettled` says so, or once the user opens them, and from then on (for this room). */
function useFormed(room: Room): [formed: boolean, open: () => void] {
  // A room that has ended, or has formed with others in it when they mount (devtools added later), shows them at
  // once. Its first player, alone for now, waits out the settle: the others may be loading.
  const [formedRoom, setFormedRoom] = useState<Room | null>(() => {
    const s = room.getSnapshot();
    return s.status !== 'joined' || (formedOf(s) && s.players.length > 1) ? room : null;
  });
  const formed = formedRoom === room;
  useEffect(() => (formed ? undefined : whenSettled(room, () => setFormedRoom(room))), [room, formed]);
  return [formed, () => setFormedRoom(room)];
}

/** A devtools chunk that does not load, or a panel that throws, costs the devtools, not the page they sit in. */
class Contained extends Component<{ children: ReactNode }, { error: unknown }> {
  override state: { error: unknown } = { error: null };

  static getDerivedStateFromError(error: unknown) {
    return { error };
  }

  override componentDidCatch(error: unknown) {
    console.error('lockstep devtools:', error);
  }

  override render() {
    const { error } = this.state;
    if (error === null) return this.props.children;
    return (
      <p className="card" role="status" data-testid="devtools-failed">
        {error instanceof ChunkLoadError
          ? 'The devtools could not load. Reload the page to try again.'
          : `The devtools stopped on an error: ${error instanceof Error ? error.message : String(error)}`}
      </p>
    );
  }
}
