import { nanoid } from 'nanoid';
import { type FormEvent, type KeyboardEvent, useEffect, useId, useMemo, useState } from 'react';
import * as v from 'valibot';
import { useShallow } from 'zustand/react/shallow';
import { DevtoolsStore, Timeline, Visualizer } from '../lockstep/devtools.tsx';
import { passwordProblem } from '../net/crypto.ts';
import { closeSession, currentSession, openSession, savedPassword, savePassword } from '../net/live.ts';
import { LIMITS } from '../protocol/limits.ts';
import type { RoomSettings } from '../protocol/signaling.ts';
import { nameSchema } from '../protocol/signaling.ts';
import { appStore, doneCount, peerRows, stageName, useApp } from '../store/index.ts';
import { passwordFragment, type Route, roomPath } from '../store/route.ts';
import { Announcer } from './Announcer.tsx';
import { ChaosPanel } from './ChaosPanel.tsx';
import { fmtAgo, fmtT, Logo, PageHeader, ShareLink, ThemeToggle } from './common.tsx';
import { navigate } from './nav.ts';

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
    // The fragment (a password) stays with the link.
    navigate(`${roomPath(route.room, { name: n })}${window.location.hash}`, true);
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
            maxLength={LIMITS.name.max}
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
  useEffect(() => {
    // Kept per tab, so a reload gets back in after the fragment has left the address bar.
    if (password !== undefined) savePassword(room, password);
    openSession({ room, name, settings }, password);
  }, [room, name, settings, password]);
  useEffect(() => () => closeSession(), []);
  const session = useApp(useShallow((s) => s.session));
  const refused = useApp((s) => s.security.passwordRefused);
  useEffect(() => {
    if (refused) savePassword(room, undefined);
  }, [refused, room]);
  // Once joined, the address bar drops spent creation settings and the password (out of history and
  // screen shares); the share link below still carries it.
  useEffect(() => {
    const { search, hash } = window.location;
    if (session.phase === 'joined' && (search.includes('stages=') || hash.includes('k='))) {
      window.history.replaceState(null, '', roomPath(room, { name }));
    }
  }, [session.phase, room, name]);
  const link = `${window.location.origin}${roomPath(room)}${password === undefined ? '' : passwordFragment(password)}`;

  return (
    <main className="page room">
      <header className="topbar">
        <a className="brand" href="/">
          <Logo /> <span className="hide-sm">Lockstep</span>
        </a>
        <div className="topbar-mid">
          <span className="mono room-id" title={room}>
            {room}
          </span>
          <SignalPill />
          <SealedPill />
        </div>
        <div className="topbar-end">
          <ThemeToggle />
          <button
            type="button"
            className="btn ghost"
            onClick={async () => {
              await currentSession()?.leave();
              closeSession();
              navigate('/');
            }}
            data-testid="leave"
          >
            Leave room
          </button>
        </div>
      </header>
      {session.phase === 'failed' ||
      session.phase === 'replaced' ||
      session.phase === 'left' ||
      session.phase === 'removed' ||
      session.phase === 'outdated' ? (
        <section className="card error-card" role="alert" data-testid="session-error">
          <h1>
            {session.phase === 'left'
              ? 'You left the room'
              : session.phase === 'removed'
                ? 'Removed from the room'
                : session.phase === 'outdated'
                  ? 'This page is out of date'
                  : 'Cannot join this room'}
          </h1>
          {session.error && <p>{session.error}</p>}
          {refused && <PasswordRetry room={room} name={name} password={password} error={session.error} />}
          {session.phase === 'outdated' ? (
            <button
              type="button"
              className="btn primary"
              onClick={() => location.reload()}
              data-testid="reload"
            >
              Reload
            </button>
          ) : (
            <a className="btn primary" href="/">
              Back to the lobby
            </a>
          )}
        </section>
      ) : session.phase !== 'joined' ? (
        <section className="card joining" aria-live="polite">
          <div className="spinner" aria-hidden="true" />
          <p>Joining as {name}…</p>
        </section>
      ) : (
        <RoomBody link={link} />
      )}
    </main>
  );
}

/** Password rooms: signaling is end-to-end encrypted; counts payloads that failed to decrypt. */
function SealedPill() {
  const { sealed, decryptErrors } = useApp(useShallow((s) => s.security));
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
}: {
  room: string;
  name: string;
  password: string | undefined;
  error: string | null | undefined;
}) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const id = useId();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const problem = passwordProblem(value);
    if (problem) {
      setError(problem);
      return;
    }
    // Closed first: the same password again would otherwise find the failed session still open.
    closeSession();
    navigate(`${roomPath(room, { name })}${passwordFragment(value)}`, true);
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
          onClick={() => {
            closeSession();
            navigate(`${roomPath(nanoid(21), { name })}${passwordFragment(password)}`, true);
          }}
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

function SignalPill() {
  const { signaling, detail } = useApp(
    useShallow((s) => ({ signaling: s.session.signaling, detail: s.session.signalingDetail })),
  );
  const label =
    signaling === 'up' ? 'server connected' : signaling === 'down' ? 'server offline' : 'connecting';
  return (
    <span className={`pill sig-${signaling}`} title={detail || label} data-testid="signaling">
      <span className="dot" aria-hidden="true" />
      {label}
    </span>
  );
}

function RoomBody({ link }: { link: string }) {
  return (
    <div className="room-grid">
      <Announcer />
      <div className="col">
        <StagePanel />
        <PlayersPanel />
        <HistoryPanel />
        <details className="card share-card">
          <summary>Invite players</summary>
          <ShareLink link={link} compact />
        </details>
      </div>
      <div className="col">
        <DevtoolsStore value={appStore}>
          <Visualizer />
          <Timeline />
        </DevtoolsStore>
        <ChaosPanel />
        <EventLog />
      </div>
    </div>
  );
}

function StagePanel() {
  const { view, settings, roster, offline, awayIds } = useApp(
    useShallow((s) => ({
      view: s.view,
      settings: s.session.settings,
      roster: s.roster,
      offline: s.session.signaling === 'down',
      // A string, so a publish that changes nobody's away flag does not re-render.
      awayIds: s.net
        .filter((n) => n.away && s.view?.live.includes(n.id))
        .map((n) => n.id)
        .join(),
    })),
  );
  if (!view) return null;
  const away = new Set(awayIds.split(',').map(Number));
  const count = doneCount(view);
  const names = settings?.stages;
  const last = (names?.length ?? 1) - 1;
  const final = view.stage >= last;
  const rosterNames = new Map(roster?.members.map((m) => [m.id, m.name]) ?? []);
  return (
    <section className="card stage-card" aria-labelledby="stage-h">
      {!view.quorum.ok && (
        <div className="banner danger" data-testid="quorum">
          <strong>No quorum.</strong>{' '}
          {view.blocked ?? `no quorum: ${view.quorum.live} of ${view.quorum.members}`} — this side cannot
          advance until a majority ({view.quorum.needed}) is reachable.
        </div>
      )}
      {view.quorum.ok && view.blocked && (
        <div className="banner warn" role="status" data-testid="blocked">
          {view.blocked}
        </div>
      )}
      {offline && (
        <div className="banner warn" role="status" data-testid="server-offline">
          {view.quorum.ok
            ? 'Server offline: playing on over the mesh, with a majority of the agreed players.'
            : 'Server offline: waiting, so two halves of the room can never both go on.'}
        </div>
      )}
      <div className="stage-head">
        <div>
          <p className="eyebrow" id="stage-h">
            Stage <span data-testid="stage">{view.stage}</span>
            <span className="muted"> of {last}</span>
          </p>
          <h1 className="stage-name" data-testid="stage-name">
            {stageName(names, view.stage)}
          </h1>
        </div>
        <div className="ids">
          <div>
            <span className="label">You</span>
            <span className="mono big" data-testid="self-id">
              {view.self}
            </span>
          </div>
          <div>
            <span className="label">Leader</span>
            <span className="mono big">
              {view.leader ? '♛ ' : ''}
              <span data-testid="leader-id">{view.leader || ''}</span>
              {!view.leader && <span className="muted small">none</span>}
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
      <StageProgress stage={view.stage} names={names ?? []} />
      <div className="done-row">
        <button
          type="button"
          className={`btn done-btn ${view.done ? 'on' : ''}`}
          aria-pressed={view.done}
          disabled={final || view.locked}
          onClick={() => currentSession()?.setDone(!view.done)}
          data-testid="done-button"
        >
          <span className="check" aria-hidden="true">
            {view.done ? '✓' : ''}
          </span>
          {final ? 'Final stage' : view.done ? (view.locked ? 'Done (locked)' : 'Done — undo') : 'Mark done'}
        </button>
        <div className="done-count">
          <span className="mono big" data-testid="done-count">
            {count.k}/{count.n}
          </span>
          <span className="muted small">
            {count.fromLeader ? 'done, as the leader reports' : 'no leader report'}
          </span>
        </div>
      </div>
      {count.pending.length > 0 && (
        <p className="pending" data-testid="pending">
          Waiting for:{' '}
          {count.pending.map((id) => (
            <span key={id} className="chip">
              {rosterNames.get(id) ?? 'player'} <span className="mono muted">{id}</span>
              {away.has(id) && <span className="muted"> (away: tab hidden)</span>}
            </span>
          ))}
        </p>
      )}
    </section>
  );
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

function PlayersPanel() {
  const { view, roster, net, owner } = useApp(
    useShallow((s) => ({ view: s.view, roster: s.roster, net: s.net, owner: s.session.owner })),
  );
  const rows = useMemo(() => peerRows(view, roster, net), [view, roster, net]);
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
              {r.done && <span className="chip ok">done</span>}
              {r.removed && <span className="chip bad">removed</span>}
              <span title="last heard">{r.state === 'self' ? '—' : fmtAgo(r.lastHeardMs)}</span>
              <span title="round-trip time">{r.rtt === null ? '' : `${Math.round(r.rtt)} ms`}</span>
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
              {owner && r.state !== 'self' && !r.removed && <RemoveButton id={r.id} name={r.name} />}
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** Owner only: two steps, so one stray click or key press removes nobody. */
function RemoveButton({ id, name }: { id: number; name: string }) {
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
    const res = await currentSession()?.removePlayer(id);
    setBusy(false);
    setConfirming(false);
    if (res && !res.ok) setError(res.error);
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

function HistoryPanel() {
  const { view, settings } = useApp(useShallow((s) => ({ view: s.view, settings: s.session.settings })));
  if (!view) return null;
  return (
    <section className="card" aria-labelledby="history-h">
      <h2 id="history-h">History</h2>
      {view.history.length === 0 ? (
        <p className="muted small">No stage completed yet.</p>
      ) : (
        <ol className="history" data-testid="history">
          {view.history.map((e) => (
            <li key={e.stage} data-testid="history-entry">
              <span className="mono">→ {e.stage}</span> {stageName(settings?.stages, e.stage)}
              <span className="muted small">
                {' '}
                term {e.term} · done by {e.done.join(', ')}
              </span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

function EventLog() {
  const log = useApp((s) => s.log);
  const shown = log.slice(-120).reverse();
  return (
    <section className="card" aria-labelledby="log-h">
      <h2 id="log-h">Event log</h2>
      {/* It scrolls, so a keyboard must reach it; not live: heartbeats and the like would flood a screen reader. */}
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region has to take focus to be scrolled by keyboard. */}
      <ol className="log mono small" tabIndex={0} aria-labelledby="log-h" data-testid="event-log">
        {shown.map((e) => (
          <li key={e.seq} className={`k-${e.kind}`}>
            <time title={new Date(e.wall).toLocaleTimeString()}>{fmtT(e.at)}</time>
            <span className="kind">{e.kind}</span>
            <span>{e.text}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}
