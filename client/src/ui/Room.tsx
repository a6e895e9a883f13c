import { nanoid } from 'nanoid';
import {
  type FormEvent,
  type KeyboardEvent,
  type ReactNode,
  useEffect,
  useId,
  useRef,
  useState,
} from 'react';
import * as v from 'valibot';
import { shallow } from 'zustand/shallow';
import {
  type HistoryEntry,
  type JoinOptions,
  type JoinProgress,
  joinRoom,
  LockstepError,
  type Room as LockstepRoom,
  type RoomSettings,
} from '../lockstep/index.ts';
import { LockstepDevtools, useRoom } from '../lockstep/react.tsx';
import { LIMITS, roomPasswordProblem } from '../protocol/limits.ts';
import { nameSchema } from '../protocol/signaling.ts';
import { Announcer } from './Announcer.tsx';
import { fmtAgo, Logo, PageHeader, ShareLink, ThemeToggle } from './common.tsx';
import { navigate } from './nav.ts';
import { keptAfterJoin, newRoomPath, passwordFragment, type Route, roomPath, withName } from './route.ts';

type RoomRoute = Extract<Route, { kind: 'room' }>;

/** A room link without a name asks for one first. */
export function NameGate({ route }: { route: RoomRoute }) {
  const [name, setName] = useState(() => {
    try {
      return localStorage.getItem('lockstep:name') ?? '';
    } catch {
      return '';
    }
  });
  const [error, setError] = useState<string | null>(null);
  const id = useId();
  const password = route.password ?? savedPassword(route.room);
  if (route.name) {
    return <Room room={route.room} name={route.name} settings={route.settings} password={password} />;
  }
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const checked = v.safeParse(nameSchema, name);
    if (!checked.success) {
      setError(`Enter a name of 1–${LIMITS.name.max} characters.`);
      return;
    }
    const n = checked.output;
    try {
      localStorage.setItem('lockstep:name', n);
    } catch {}
    // The fragment (a password) and the creation settings stay with the link.
    navigate(`${roomPath(route.room, withName(window.location.search, n))}${window.location.hash}`, true);
  };
  return (
    <main className="page narrow">
      <PageHeader />
      <form className="card" onSubmit={submit}>
        <h1>Join room</h1>
        <p className="mono muted small">{route.room}</p>
        <div className="field">
          <label htmlFor={id}>Your name</label>
          <input
            id={id}
            value={name}
            // UTF-16 units, two per emoji: the name rule (nameSchema) counts characters.
            maxLength={LIMITS.name.max * 2}
            onChange={(e) => setName(e.target.value)}
            data-testid="gate-name"
          />
        </div>
        {error && (
          <p className="form-errors" role="alert">
            {error}
          </p>
        )}
        <button className="btn primary" type="submit" data-testid="gate-join">
          Join
        </button>
      </form>
    </main>
  );
}

/** Kept per tab, so a reload gets back in after the fragment has left the address bar. */
const passwordKey = (room: string) => `lockstep:pw:${room}`;

function savedPassword(room: string): string | undefined {
  try {
    return sessionStorage.getItem(passwordKey(room)) ?? undefined;
  } catch {
    return undefined;
  }
}

function savePassword(room: string, password: string | undefined): void {
  try {
    if (password === undefined) sessionStorage.removeItem(passwordKey(room));
    else sessionStorage.setItem(passwordKey(room), password);
  } catch {
    // Storage disabled: a reload will need the link with #k= again.
  }
}

/** A server that cannot be reached yet (or a join that timed out) is tried again after this. */
const RETRY_MS = 2_000;

type Joining =
  | { kind: 'joining'; retry: string | null }
  | { kind: 'joined'; room: LockstepRoom }
  | { kind: 'refused'; error: LockstepError };

function joinOptions(
  room: string,
  name: string,
  settings: Partial<RoomSettings> | null,
  password: string | undefined,
  signal: AbortSignal,
  onProgress: (p: JoinProgress) => void,
): JoinOptions {
  return {
    server: window.location.origin,
    room,
    name,
    ...(password === undefined ? {} : { password }),
    ...(settings ? { settings } : {}),
    timeoutMs: 30_000,
    signal,
    onProgress,
    chaos: true,
    testHooks: testHooksWanted(),
  };
}

const joinKey = (room: string, name: string, settings: unknown, password: string | undefined) =>
  JSON.stringify([room, name, settings, password ?? null]);

/** A join started before the first render (`joinEarly`), until the room page takes it up. */
interface EarlyJoin {
  key: string;
  abort: AbortController;
  joining: Promise<LockstepRoom>;
  /** What the join said last, and who hears it next: the page once it takes the join up. */
  progress: JoinProgress | null;
  listener: ((p: JoinProgress) => void) | null;
}
let early: EarlyJoin | null = null;

/**
 * Starts the join of a room link that names its player before React renders: the socket opens and the
 * server answers while the page's first render and paint run, not after them (the room page's effects run
 * after its first paint: 0.4–0.6 s later for 8 tabs loading at once).
 */
export function joinEarly(route: Route): void {
  if (route.kind !== 'room' || !route.name) return;
  const password = route.password ?? savedPassword(route.room);
  const abort = new AbortController();
  const record: Omit<EarlyJoin, 'joining'> = {
    key: joinKey(route.room, route.name, route.settings, password),
    abort,
    progress: null,
    listener: null,
  };
  const onProgress = (p: JoinProgress) => {
    record.progress = p;
    record.listener?.(p);
  };
  const joining = joinRoom(
    joinOptions(route.room, route.name, route.settings, password, abort.signal, onProgress),
  );
  // Whoever takes it up handles its outcome; one taken up for other arguments is left by takeEarly.
  joining.catch(() => {});
  early = Object.assign(record, { joining });
}

/** The early join if it is for these arguments; any other is abandoned. */
function takeEarly(key: string): EarlyJoin | null {
  const e = early;
  early = null;
  if (!e || e.key === key) return e;
  // Left, not closed: a closed player would wait out its grace in the room, beside the page's own join.
  e.abort.abort();
  e.joining.then(
    (r) => r.leave().catch(() => {}),
    () => {},
  );
  return null;
}

/** What a join under way tells the player beyond "joining…", if anything. */
function progressText(p: JoinProgress): string | null {
  if (p.step === 'connecting') return p.detail ? `Cannot reach the server yet (${p.detail})` : null;
  if (p.step === 'joining') return null;
  const reason = p.detail.replace(/^join: /, '');
  return reason.charAt(0).toUpperCase() + reason.slice(1);
}

/** Joins through the library's public API, and tries again while the server cannot be reached. */
function useJoin(room: string, name: string, settings: Partial<RoomSettings> | null, password?: string) {
  const [state, setState] = useState<Joining>({ kind: 'joining', retry: null });
  // Bumped to join again with the same arguments (the same password typed after a refusal).
  const [attempt, setAttempt] = useState(0);
  // Creation settings count only for the first join; the address bar drops them once joined.
  const settingsRef = useRef(settings);
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new attempt joins again with the same arguments.
  useEffect(() => {
    const abort = new AbortController();
    let joined: LockstepRoom | null = null;
    let timer: number | undefined;
    setState({ kind: 'joining', retry: null });
    const onProgress = (p: JoinProgress) => {
      if (abort.signal.aborted) return;
      // A retry's first "connecting" says nothing new: what made it retry stays up until something does.
      const text = progressText(p);
      setState((was) => ({
        kind: 'joining',
        retry: text ?? (p.step === 'connecting' && was.kind === 'joining' ? was.retry : null),
      }));
    };
    const tryJoin = (first: boolean) => {
      const taken = first ? takeEarly(joinKey(room, name, settingsRef.current, password)) : null;
      if (taken) {
        abort.signal.addEventListener('abort', () => taken.abort.abort());
        taken.listener = onProgress;
        if (taken.progress) onProgress(taken.progress);
      }
      const joining =
        taken?.joining ??
        joinRoom(joinOptions(room, name, settingsRef.current, password, abort.signal, onProgress));
      joining.then(
        (r) => {
          if (abort.signal.aborted) return r.close();
          // Kept once it let us in: a wrong one in a stale link must not replace the one that works.
          if (password !== undefined) savePassword(room, password);
          joined = r;
          setState({ kind: 'joined', room: r });
        },
        (e: unknown) => {
          if (abort.signal.aborted) return;
          const error = e instanceof LockstepError ? e : new LockstepError('refused', String(e));
          if (error.code === 'unreachable' || error.code === 'timeout') {
            setState({ kind: 'joining', retry: error.message });
            timer = window.setTimeout(() => tryJoin(false), RETRY_MS);
            return;
          }
          if (error.code === 'bad_password' && savedPassword(room) === password)
            savePassword(room, undefined);
          setState({ kind: 'refused', error });
        },
      );
    };
    tryJoin(true);
    return () => {
      abort.abort();
      window.clearTimeout(timer);
      joined?.close();
    };
  }, [room, name, password, attempt]);
  return { state, again: () => setAttempt((n) => n + 1) };
}

/**
 * Opt-in only, with `testHooks=1` in the page's query: e2e tests play a lying player through it (README,
 * "Automation contract").
 */
function testHooksWanted(): boolean {
  return new URLSearchParams(window.location.search).get('testHooks') === '1';
}

function Room({
  room,
  name,
  settings,
  password,
}: {
  room: string;
  name: string;
  settings: Partial<RoomSettings> | null;
  password: string | undefined;
}) {
  const { state: join, again } = useJoin(room, name, settings, password);
  const link = `${window.location.origin}${roomPath(room)}${password === undefined ? '' : passwordFragment(password)}`;
  const leave = async () => {
    if (join.kind === 'joined') await join.room.leave();
    navigate('/');
  };
  return (
    <main className="page room">
      <header className="topbar">
        {/* The label names the link when a narrow screen hides its word. */}
        <a className="brand" href="/" aria-label="Lockstep">
          <Logo /> <span className="hide-sm">Lockstep</span>
        </a>
        <div className="topbar-mid">
          <span className="mono room-id" title={room}>
            {room}
          </span>
          {join.kind === 'joined' ? (
            <>
              <SignalPill room={join.room} />
              <SealedPill room={join.room} />
            </>
          ) : (
            <span className="pill sig-connecting" data-testid="signaling">
              <span className="dot" aria-hidden="true" />
              connecting
            </span>
          )}
        </div>
        <div className="topbar-end">
          <ThemeToggle />
          <button type="button" className="btn ghost" onClick={leave} data-testid="leave">
            Leave room
          </button>
        </div>
      </header>
      {join.kind === 'refused' ? (
        <Ended status={join.error.code} error={join.error.message}>
          {join.error.code === 'bad_password' && (
            <PasswordRetry
              room={room}
              name={name}
              password={password}
              error={join.error.message}
              again={again}
            />
          )}
        </Ended>
      ) : join.kind === 'joining' ? (
        <section className="card joining" aria-live="polite">
          <div className="spinner" aria-hidden="true" />
          <p>Joining as {name}…</p>
          {join.retry && (
            <p className="muted small" data-testid="join-retry">
              {join.retry}: trying again.
            </p>
          )}
        </section>
      ) : (
        <Joined room={join.room} name={name} link={link} password={password} again={again} />
      )}
    </main>
  );
}

/** The room once joined, until it ends for this player (left, removed, replaced, outdated). */
function Joined({
  room,
  name,
  link,
  password,
  again,
}: {
  room: LockstepRoom;
  name: string;
  link: string;
  password: string | undefined;
  again: () => void;
}) {
  const { status, error, errorCode, roomId } = useRoom(
    room,
    (s) => ({ status: s.status, error: s.error, errorCode: s.errorCode, roomId: s.room }),
    shallow,
  );
  // A rejoin refused for its password (the room was recreated without one, or with another): forget it.
  const refused = errorCode === 'bad_password';
  useEffect(() => {
    if (refused && savedPassword(roomId) === password) savePassword(roomId, undefined);
  }, [refused, roomId, password]);
  // Once joined, the address bar drops spent creation settings and the password (out of history and
  // screen shares); the share link still carries it.
  useEffect(() => {
    const { search, hash } = window.location;
    const kept = keptAfterJoin(search, name);
    if (kept || hash.includes('k=')) {
      window.history.replaceState(null, '', roomPath(roomId, kept ?? withName(search, name)));
    }
  }, [roomId, name]);
  if (status !== 'joined')
    return (
      <Ended status={status} error={error}>
        {refused && (
          <PasswordRetry room={roomId} name={name} password={password} error={error} again={again} />
        )}
      </Ended>
    );
  return <RoomBody room={room} link={link} name={name} password={password} />;
}

function Ended({ status, error, children }: { status: string; error: string | null; children?: ReactNode }) {
  return (
    <section className="card error-card" role="alert" data-testid="session-error">
      <h1>
        {status === 'left'
          ? 'You left the room'
          : status === 'removed'
            ? 'Removed from the room'
            : status === 'outdated'
              ? 'This page is out of date'
              : 'Cannot join this room'}
      </h1>
      {error && <p>{error}</p>}
      {children}
      {status === 'outdated' ? (
        <button type="button" className="btn primary" onClick={() => location.reload()} data-testid="reload">
          Reload
        </button>
      ) : (
        <a className="btn primary" href="/">
          Back to the lobby
        </a>
      )}
    </section>
  );
}

/** Password rooms: signaling is end-to-end encrypted; counts payloads that failed to decrypt. */
function SealedPill({ room }: { room: LockstepRoom }) {
  const { sealed, decryptErrors } = useRoom(
    room,
    (s) => ({ sealed: s.sealed, decryptErrors: s.rejectedPayloads }),
    shallow,
  );
  if (!sealed) return null;
  return (
    <span
      className={`pill ${decryptErrors > 0 ? 'sig-down' : 'sig-up'}`}
      title="Password room: signals and relayed messages are end-to-end encrypted; the server forwards only ciphertext."
      data-testid="encrypted"
    >
      end-to-end encrypted · <span data-testid="decrypt-errors">{decryptErrors}</span> rejected
    </span>
  );
}

/** The server's refusal when a password was given to a room that has none (signaling/src/rooms.ts). */
const NOT_PROTECTED = 'this room has no password';

/**
 * After bad_password: try another password. A link with a password that meets a room without one is
 * not offered a way in without it (someone may have created the room first to catch the players):
 * it says so, and offers a new protected room with the same password instead.
 */
function PasswordRetry({
  room,
  name,
  password,
  error: refusal,
  again,
}: {
  room: string;
  name: string;
  password: string | undefined;
  error: string | null | undefined;
  /** Joins again: the same password typed again changes no address. */
  again: () => void;
}) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const id = useId();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const problem = roomPasswordProblem(value);
    if (problem) {
      setError(problem);
      return;
    }
    // The link's creation settings stay: if the room has ended meanwhile, this join makes it as the link meant.
    navigate(`${roomPath(room, withName(window.location.search, name))}${passwordFragment(value)}`, true);
    again();
  };
  if (password !== undefined && refusal?.startsWith(NOT_PROTECTED)) {
    return (
      <div className="password-retry" data-testid="password-unprotected">
        <p>
          Room <span className="mono">{room}</span> has no password, so it is not the protected room your link
          expected. Someone may have created it first without one. Its players could read what you send.
        </p>
        <button
          className="btn"
          type="button"
          // The link's creation settings (stages, timing) go with it: the new room is the one it meant.
          onClick={() =>
            navigate(
              `${roomPath(nanoid(21), withName(window.location.search, name))}${passwordFragment(password)}`,
              true,
            )
          }
          data-testid="password-new-room"
        >
          Create a new protected room
        </button>
      </div>
    );
  }
  return (
    <form className="password-retry" onSubmit={submit}>
      <div className="field">
        <label htmlFor={id}>Room password</label>
        <input
          id={id}
          type="password"
          autoComplete="off"
          value={value}
          onChange={(e) => setValue(e.target.value)}
          data-testid="password-input"
        />
      </div>
      {error && (
        <p className="form-errors" role="alert">
          {error}
        </p>
      )}
      <button className="btn" type="submit" data-testid="password-join">
        Join with this password
      </button>
    </form>
  );
}

function SignalPill({ room }: { room: LockstepRoom }) {
  const { status: signaling, detail } = useRoom(room, (s) => s.server);
  const label =
    signaling === 'up' ? 'server connected' : signaling === 'down' ? 'server offline' : 'connecting';
  return (
    <span className={`pill sig-${signaling}`} title={detail || label} data-testid="signaling">
      <span className="dot" aria-hidden="true" />
      {label}
    </span>
  );
}

function RoomBody({
  room,
  link,
  name,
  password,
}: {
  room: LockstepRoom;
  link: string;
  name: string;
  password: string | undefined;
}) {
  return (
    <div className="room-grid">
      <Announcer room={room} />
      <div className="col">
        <StagePanel room={room} name={name} password={password} />
        <PlayersPanel room={room} />
        <HistoryPanel room={room} />
        <details className="card share-card">
          <summary data-testid="share-toggle">Invite players</summary>
          <ShareLink link={link} compact />
        </details>
      </div>
      <div className="col">
        <LockstepDevtools room={room} />
      </div>
    </div>
  );
}

/** Rooms waiting this many timeouts for a majority offer a new room: what can go on if nobody comes back. */
const STUCK_TIMEOUTS = 10;

/** Whether `active` has held for `ms` without a break (re-rendering when it has). */
function useHeldFor(active: boolean, ms: number): boolean {
  const [held, setHeld] = useState(false);
  useEffect(() => {
    setHeld(false);
    if (!active) return;
    const t = window.setTimeout(() => setHeld(true), ms);
    return () => window.clearTimeout(t);
  }, [active, ms]);
  return active && held;
}

function StagePanel({
  room,
  name,
  password,
}: {
  room: LockstepRoom;
  name: string;
  password: string | undefined;
}) {
  // The whole snapshot: at rest it is the same object (lastHeardMs in steps, rtt at most once a second), so
  // this renders only when something changed, and a hand-written comparison could only miss a field.
  const snap = useRoom(room);
  const view = {
    ...snap,
    stages: snap.settings.stages,
    offline: snap.server.status === 'down',
    count: snap.doneCount,
  };
  // Only with the server up: cut off from it, this tab cannot tell who is gone, nor open a room.
  const stuck = useHeldFor(
    !view.quorum.ok && !view.quorum.lost && !view.offline,
    STUCK_TIMEOUTS * snap.settings.timeoutMs,
  );
  const newRoom = () => navigate(newRoomPath(name, snap.settings, password));
  const last = view.stages.length - 1;
  const final = view.stage.final;
  const waiting = snap.doneCount.waitingFor.map((id) => {
    const p = snap.players.find((x) => x.id === id);
    // A player the roster does not name yet is "player <id>" in the snapshot; the chip shows the ID anyway.
    return { id, name: !p || p.name === `player ${id}` ? 'player' : p.name, away: p?.state === 'away' };
  });
  return (
    <section className="card stage-card" aria-labelledby="stage-h">
      {view.quorum.lost ? (
        <div className="banner danger" data-testid="room-lost">
          <strong>No quorum, for good.</strong> {view.quorum.blocked}.{' '}
          {!snap.owner ? (
            `Only a new room can go on: ${ownerOf(snap.players)} can start one and invite you.`
          ) : (
            <>
              Only a new room can go on: start one with this room’s settings
              {password === undefined ? '' : ' and password'}, then invite the others.{' '}
              <button
                type="button"
                className="btn"
                // A fresh ID, not one derived from this room: the player just removed could guess that one
                // and make the room first, as its owner.
                onClick={newRoom}
                data-testid="next-room"
              >
                Start a new room
              </button>
            </>
          )}
        </div>
      ) : (
        !view.quorum.ok && (
          <div className="banner danger" data-testid="quorum">
            <strong>No quorum.</strong>{' '}
            {view.quorum.blocked ?? `no quorum: ${view.quorum.live} of ${view.quorum.members}`} — this side
            cannot advance until a majority ({view.quorum.needed}) is reachable.
            {stuck && (
              <>
                {' '}
                If they are not coming back, only a new room can go on: start one with this room’s settings
                {password === undefined ? '' : ' and password'}, then invite the others.{' '}
                <button type="button" className="btn" onClick={newRoom} data-testid="next-room">
                  Start a new room
                </button>
              </>
            )}
          </div>
        )
      )}
      {view.quorum.ok && view.quorum.blocked && (
        <div className="banner warn" role="status" data-testid="blocked">
          {view.quorum.blocked}
        </div>
      )}
      {view.offline && (
        <div className="banner warn" role="status" data-testid="server-offline">
          {view.quorum.ok
            ? 'Server offline: playing on over the mesh, with a majority of the agreed players.'
            : 'Server offline: waiting, so two halves of the room can never both go on.'}
        </div>
      )}
      <div className="stage-head">
        <div>
          <p className="eyebrow" id="stage-h">
            Stage <span data-testid="stage">{view.stage.index}</span>
            <span className="muted"> of {last}</span>
          </p>
          <h1 className="stage-name" data-testid="stage-name">
            {view.stage.name}
          </h1>
        </div>
        <div className="ids">
          <div>
            <span className="label">You</span>
            <span className="mono big" data-testid="self-id">
              {view.selfId}
            </span>
          </div>
          <div>
            <span className="label">Leader</span>
            <span className="mono big">
              {view.leaderId ? '♛ ' : ''}
              <span data-testid="leader-id">{view.leaderId ?? ''}</span>
              {!view.leaderId && <span className="muted small">none</span>}
            </span>
          </div>
          <div>
            <span className="label">Term</span>
            <span className="mono big" data-testid="term">
              {view.term}
            </span>
          </div>
        </div>
      </div>
      <StageProgress stage={view.stage.index} names={view.stages} />
      <div className="done-row">
        <button
          type="button"
          className={`btn done-btn ${view.done ? 'on' : ''}`}
          aria-pressed={view.done}
          disabled={final || view.locked}
          onClick={() => room.setDone(!view.done)}
          data-testid="done-button"
        >
          <span className="check" aria-hidden="true">
            {view.done ? '✓' : ''}
          </span>
          {final ? 'Final stage' : view.done ? (view.locked ? 'Done (locked)' : 'Done — undo') : 'Mark done'}
        </button>
        <div className="done-count">
          <span className="mono big" data-testid="done-count">
            {view.count.done}/{view.count.of}
          </span>
          <span className="muted small">
            {view.count.fromLeader ? 'done, as the leader reports' : 'no leader report'}
          </span>
        </div>
      </div>
      {waiting.length > 0 && (
        <p className="pending" data-testid="pending">
          Waiting for:{' '}
          {waiting.map((p) => (
            <span key={p.id} className="chip">
              {p.name} <span className="mono muted">{p.id}</span>
              {p.away && <span className="muted"> (away: tab hidden)</span>}
            </span>
          ))}
        </p>
      )}
    </section>
  );
}

/** Who the server names the room's owner, for a sentence: "its owner, Ann (player 1)". */
function ownerOf(players: readonly { id: number; name: string; owner: boolean }[]): string {
  const p = players.find((x) => x.owner);
  return p ? `its owner, ${p.name} (player ${p.id}),` : 'its owner';
}

function StageProgress({ stage, names }: { stage: number; names: string[] }) {
  if (names.length === 0 || names.length > 24) return null;
  return (
    <ol className="progress" aria-label="Stages">
      {names
        .map((n, i) => ({ n, i }))
        .map(({ n, i }) => (
          <li key={i} className={i < stage ? 'past' : i === stage ? 'now' : ''} title={n}>
            <span className="sr-only">
              {n}
              {i === stage ? ' (current)' : i < stage ? ' (done)' : ''}
            </span>
          </li>
        ))}
    </ol>
  );
}

function PlayersPanel({ room }: { room: LockstepRoom }) {
  const { rows, owner } = useRoom(room, (s) => ({ rows: s.players, owner: s.owner }), shallow);
  return (
    <section className="card" aria-labelledby="players-h">
      <h2 id="players-h">
        Players <span className="muted small">({rows.length})</span>
      </h2>
      <ul className="players">
        {rows.map((r) => (
          <li
            key={r.id}
            className={`player st-${r.state}`}
            data-testid="peer"
            data-peer-id={r.id}
            data-state={r.state}
          >
            <span className="pid mono">{r.id}</span>
            <span className="pname">
              {r.isLeader && (
                <span className="crown" title="leader">
                  ♛<span className="sr-only"> leader </span>
                </span>
              )}
              {r.name}
              {r.state === 'self' && <span className="muted small"> (you)</span>}
            </span>
            <span className={`state-badge b-${r.state}`}>{r.state}</span>
            <span className="pmeta small muted">
              {r.owner && (
                <span className="chip" data-testid="peer-owner" title="the room's owner: may remove players">
                  owner
                </span>
              )}
              {r.done && <span className="chip ok">done</span>}
              {r.removed && <span className="chip bad">removed</span>}
              <span title="last heard">{r.state === 'self' ? '—' : fmtAgo(r.lastHeardMs)}</span>
              <span title="round-trip time">{r.rttMs === null ? '' : `${r.rttMs} ms`}</span>
              {r.state !== 'self' && (
                <span
                  className={`chip strikes ${r.strikes > 0 ? 'bad' : ''}`}
                  title="invalid or impossible messages this player sent us"
                >
                  {r.strikes > 0 && <span aria-hidden="true">⚠ </span>}
                  <span data-testid="peer-strikes">{r.strikes}</span>
                  <span className={r.strikes > 0 ? '' : 'sr-only'}>
                    {' '}
                    invalid message{r.strikes === 1 ? '' : 's'}
                  </span>
                </span>
              )}
              {owner && r.state !== 'self' && !r.removed && (
                <RemoveButton room={room} id={r.id} name={r.name} />
              )}
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** Owner only: two steps, so one stray click or key press removes nobody. */
function RemoveButton({ room, id, name }: { room: LockstepRoom; id: number; name: string }) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!confirming) return;
    const timer = window.setTimeout(() => setConfirming(false), 8_000);
    return () => window.clearTimeout(timer);
  }, [confirming]);
  const who = `${name} (player ${id})`;
  const click = async () => {
    if (!confirming) {
      setConfirming(true);
      setError(null);
      return;
    }
    setBusy(true);
    try {
      await room.removePlayer(id);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
    setBusy(false);
    setConfirming(false);
  };
  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'Escape') setConfirming(false);
  };
  return (
    <span className="remove-player">
      <button
        type="button"
        className={`btn small remove-btn ${confirming ? 'danger' : 'ghost'}`}
        aria-label={confirming ? `Confirm remove ${who}` : `Remove ${who}`}
        disabled={busy}
        onClick={click}
        onKeyDown={onKey}
        data-testid="remove-player"
        data-confirm={confirming ? 'true' : 'false'}
      >
        {confirming ? 'Confirm remove' : 'Remove'}
      </button>
      {confirming && (
        <button
          type="button"
          className="btn small ghost remove-btn"
          onClick={() => setConfirming(false)}
          onKeyDown={onKey}
          data-testid="remove-cancel"
        >
          Cancel
        </button>
      )}
      {error && (
        <span className="form-errors" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}

function HistoryPanel({ room }: { room: LockstepRoom }) {
  const history = useRoom(room, (s) => s.history, sameHistory);
  return (
    <section className="card" aria-labelledby="history-h">
      <h2 id="history-h">History</h2>
      {history.length === 0 ? (
        <p className="muted small">No stage completed yet.</p>
      ) : (
        <ol className="history" data-testid="history">
          {history.map((e) => (
            <li key={e.stage} data-testid="history-entry">
              <span className="mono">→ {e.stage}</span> {e.name}
              <span className="muted small">
                {' '}
                term {e.term} · done by {e.doneBy.join(', ')}
              </span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

/** A new history array comes with every snapshot; it changed only if its last entry did. */
function sameHistory(a: HistoryEntry[], b: HistoryEntry[]): boolean {
  const x = a[a.length - 1];
  const y = b[b.length - 1];
  return a.length === b.length && x?.stage === y?.stage && x?.term === y?.term;
}
