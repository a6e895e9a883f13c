import { type FormEvent, useId, useState } from 'react';
import * as v from 'valibot';
import { DEFAULT_STAGES, LIMITS, PASSWORD_MAX, roomPasswordProblem } from '../protocol/limits.ts';
import { nameSchema, validRoomId } from '../protocol/signaling.ts';
import { cleanText } from '../protocol/text.ts';
import { Logo, ThemeToggle } from './common.tsx';
import { navigate } from './nav.ts';
import {
  checkSettings,
  joinStages,
  newRoomPath,
  passwordFragment,
  readPasswordFragment,
  roomPath,
} from './route.ts';

const NAME_KEY = 'lockstep:name';

function savedName(): string {
  try {
    return localStorage.getItem(NAME_KEY) ?? '';
  } catch {
    return '';
  }
}

function rememberName(name: string): void {
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // Not essential.
  }
}

/** Accepts a full room link, a path, or a bare room ID. */
export function roomFromInput(input: string): string | null {
  const text = input.trim();
  if (!text) return null;
  const m = /\/r\/([^/?#\s]+)/.exec(text);
  let id = m ? m[1]! : text;
  try {
    id = decodeURIComponent(id);
  } catch {
    return null;
  }
  return validRoomId(id) ? id : null;
}

function nameError(name: string): string | null {
  const checked = v.safeParse(nameSchema, name);
  if (checked.success) return null;
  return cleanText(name) ? `At most ${LIMITS.name.max} characters.` : 'Enter a name.';
}

export function Lobby() {
  const [name, setName] = useState(savedName);
  const [stages, setStages] = useState(DEFAULT_STAGES.join('\n'));
  const [heartbeatMs, setHeartbeatMs] = useState(String(LIMITS.heartbeatMs.default));
  const [timeoutMs, setTimeoutMs] = useState(String(LIMITS.timeoutMs.default));
  const [joinInput, setJoinInput] = useState('');
  const [password, setPassword] = useState('');
  const [joinPassword, setJoinPassword] = useState('');
  const [createErrors, setCreateErrors] = useState<string[]>([]);
  const [joinErrors, setJoinErrors] = useState<string[]>([]);
  const ids = useId();

  const create = (e: FormEvent) => {
    e.preventDefault();
    const errors: string[] = [];
    const ne = nameError(name);
    if (ne) errors.push(`Name: ${ne}`);
    const stageList = stages
      .split('\n')
      .map(cleanText)
      .filter((s) => s.length > 0);
    const settings = checkSettings({ heartbeatMs, timeoutMs, stages: joinStages(stageList) }, errors);
    // Optional: an empty field makes a room without a password. A new one must resist online guessing.
    const pwProblem = password === '' ? null : roomPasswordProblem(password);
    if (pwProblem) errors.push(`Password: ${pwProblem}.`);
    setCreateErrors(errors);
    if (errors.length > 0 || !settings) return;
    const clean = cleanText(name);
    rememberName(clean);
    navigate(newRoomPath(clean, settings, password === '' ? undefined : password));
  };

  const join = (e: FormEvent) => {
    e.preventDefault();
    const errors: string[] = [];
    const room = roomFromInput(joinInput);
    if (!room) errors.push('Paste a room link or a room ID (letters, digits, "_" and "-").');
    const ne = nameError(name);
    if (ne) errors.push(`Name: ${ne}`);
    // A typed password wins over one carried by a pasted link's #k=.
    const hashAt = joinInput.indexOf('#');
    const fromLink = hashAt < 0 ? undefined : readPasswordFragment(joinInput.slice(hashAt).trim(), errors);
    const pw = joinPassword === '' ? fromLink : joinPassword;
    const pwProblem = pw === undefined ? null : roomPasswordProblem(pw);
    if (pwProblem) errors.push(`Password: ${pwProblem}.`);
    setJoinErrors(errors);
    if (errors.length > 0 || !room) return;
    const clean = cleanText(name);
    rememberName(clean);
    navigate(roomPath(room, { name: clean }) + (pw === undefined ? '' : passwordFragment(pw)));
  };

  return (
    <main className="page narrow lobby">
      <header className="topbar">
        <span className="brand">
          <Logo /> Lockstep
        </span>
        <ThemeToggle />
      </header>
      <section className="hero">
        <h1>Move through stages together.</h1>
        <p className="muted">
          Open a room, share the link, and every tab joins a peer-to-peer mesh. The lowest ID leads; when
          everyone is done, everyone advances. Crash a tab and watch the next one take over.
        </p>
      </section>
      <div className="field">
        <label htmlFor={`${ids}-name`}>Your name</label>
        <input
          id={`${ids}-name`}
          value={name}
          // UTF-16 units, two per emoji: the name rule (nameSchema) counts characters.
          maxLength={LIMITS.name.max * 2}
          autoComplete="nickname"
          placeholder="e.g. Ada"
          onChange={(e) => setName(e.target.value)}
          data-testid="lobby-name"
        />
      </div>
      <div className="lobby-grid">
        <form className="card" onSubmit={create} aria-labelledby={`${ids}-create`}>
          <h2 id={`${ids}-create`}>Create a room</h2>
          <div className="field">
            <label htmlFor={`${ids}-stages`}>Stages, one per line</label>
            <textarea
              id={`${ids}-stages`}
              rows={5}
              value={stages}
              onChange={(e) => setStages(e.target.value)}
              data-testid="lobby-stages"
            />
          </div>
          <div className="field-row">
            <div className="field">
              <label htmlFor={`${ids}-hb`}>Heartbeat (ms)</label>
              <input
                id={`${ids}-hb`}
                inputMode="numeric"
                value={heartbeatMs}
                onChange={(e) => setHeartbeatMs(e.target.value)}
                data-testid="lobby-heartbeat"
              />
            </div>
            <div className="field">
              <label htmlFor={`${ids}-to`}>Timeout (ms)</label>
              <input
                id={`${ids}-to`}
                inputMode="numeric"
                value={timeoutMs}
                onChange={(e) => setTimeoutMs(e.target.value)}
                data-testid="lobby-timeout"
              />
            </div>
          </div>
          <p className="hint">
            A peer silent for the timeout is suspected. The timeout must be at least{' '}
            {LIMITS.timeoutHeartbeats} heartbeats.
          </p>
          <div className="field">
            <label htmlFor={`${ids}-pw`}>Password (optional)</label>
            <input
              id={`${ids}-pw`}
              type="password"
              autoComplete="new-password"
              maxLength={PASSWORD_MAX * 2}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              data-testid="lobby-password"
            />
          </div>
          <p className="hint">
            With a password, only players who know it get in, and the server relays nothing it can read. The
            room link carries it after <span className="mono">#k=</span>, which browsers never send to the
            server.
          </p>
          {/* The alert is a wrapper: a list keeps its own role, so its items stay list items. */}
          <div role="alert">
            {createErrors.length > 0 && (
              <ul className="form-errors" data-testid="form-errors">
                {createErrors.map((e) => (
                  <li key={e}>{e}</li>
                ))}
              </ul>
            )}
          </div>
          <button type="submit" className="btn primary" data-testid="lobby-create">
            Create room
          </button>
        </form>
        <form className="card" onSubmit={join} aria-labelledby={`${ids}-join`}>
          <h2 id={`${ids}-join`}>Join a room</h2>
          <div className="field">
            <label htmlFor={`${ids}-room`}>Room link or ID</label>
            <input
              id={`${ids}-room`}
              className="mono"
              value={joinInput}
              placeholder="https://…/r/… or the room ID"
              onChange={(e) => setJoinInput(e.target.value)}
              data-testid="lobby-room"
            />
          </div>
          <div className="field">
            <label htmlFor={`${ids}-join-pw`}>Password, if the room has one</label>
            <input
              id={`${ids}-join-pw`}
              type="password"
              autoComplete="off"
              maxLength={PASSWORD_MAX * 2}
              value={joinPassword}
              onChange={(e) => setJoinPassword(e.target.value)}
              data-testid="lobby-join-password"
            />
          </div>
          {/* The alert is a wrapper: a list keeps its own role, so its items stay list items. */}
          <div role="alert">
            {joinErrors.length > 0 && (
              <ul className="form-errors" data-testid="form-errors">
                {joinErrors.map((e) => (
                  <li key={e}>{e}</li>
                ))}
              </ul>
            )}
          </div>
          <button type="submit" className="btn" data-testid="lobby-join">
            Join
          </button>
        </form>
      </div>
    </main>
  );
}
