// Tic-tac-toe: every seat claim and every move is a value in the room's agreed log (room.propose), and the
// game is the fold of that log (room.onEntry, game.ts). Each tab hands the library its game when a round
// ends (room.snapshot), and drops the log before it. A reloaded page or a late joiner replays the log from
// the last snapshot and gets the same game; a leader's crash loses no move and applies none twice.

import { joinRoom, LockstepError, type Room } from 'lockstep';
import { useRoom } from 'lockstep/react';
import { useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { type Action, fold, type Game, moveCount, newGame, type Seat } from './game';

const message = (e: unknown) => (e instanceof LockstepError ? `${e.code}: ${e.message}` : String(e));

function App() {
  const [room, setRoom] = useState<Room | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const q = new URLSearchParams(location.search);
    const abort = new AbortController();
    let live = true;
    let joinedRoom: Room | null = null;
    joinRoom({
      server: location.origin,
      room: q.get('room') ?? 'tictactoe',
      name: q.get('name') ?? 'guest',
      settings: { stages: ['Play'] },
      // A move waits out a failover or a reload (the room has no majority meanwhile) rather than fail.
      proposeTimeoutMs: 30_000,
      signal: abort.signal,
    }).then(
      (joined) => {
        if (!live) return joined.close();
        joinedRoom = joined;
        setRoom(joined);
      },
      (e: unknown) => {
        if (live) setError(message(e));
      },
    );
    // Unmounted (or StrictMode's second run): a join left open would stay in the room as a second player.
    return () => {
      live = false;
      abort.abort();
      joinedRoom?.close();
    };
  }, []);
  if (error) return <p data-testid="error">{error}</p>;
  if (!room) return <p>Joining…</p>;
  return <TicTacToe room={room} />;
}

/**
 * App values between snapshots at most, ignored ones too: a spectator proposing junk (anyone may) would
 * otherwise grow the log, and the tabs' storage, until a reload can no longer resume a seated player.
 */
const SNAPSHOT_EVERY = 100;

/** The game as the log folds it, from index 1: the replay first, then each new commit. */
function useGame(room: Room): Game {
  const [game, setGame] = useState(newGame);
  useEffect(() => {
    let g = newGame();
    /** The index of the last item folded into `g`. */
    let at = 0;
    /** App values folded since the log's last snapshot (ours or one we started from). */
    let since = 0;
    let snapshotDue = false;
    setGame(g);
    return room.onEntry<Action, Game>((item) => {
      const over = g.result !== null;
      // A reset (only a lying leader causes one) means the whole log comes again: fold afresh.
      g = item.kind === 'reset' ? newGame() : fold(g, item);
      at = item.kind === 'reset' ? 0 : item.index;
      since = item.kind === 'app' ? since + 1 : 0;
      setGame(g);
      if (item.kind !== 'app' || snapshotDue) return;
      // A move just ended the round, or the log grew long: the game so far replaces the log before it. On a
      // microtask, once the rest of this entry is folded too (room.snapshot refuses an entry being delivered).
      if (!(since >= SNAPSHOT_EVERY || (!over && g.result !== null))) return;
      since = 0;
      snapshotDue = true;
      queueMicrotask(() => {
        snapshotDue = false;
        try {
          room.snapshot(at, g);
        } catch (e) {
          // The room ended, say: the log stays whole, which costs only memory.
          console.warn(`tic-tac-toe: no snapshot at ${at}: ${message(e)}`);
        }
      });
    });
  }, [room]);
  return game;
}

function TicTacToe({ room }: { room: Room }) {
  const { selfId, leaderId, quorum, stateFromRemoved, status: roomStatus, error: ended } = useRoom(room);
  const game = useGame(room);
  const [pending, setPending] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const propose = (a: Action) => {
    setPending((n) => n + 1);
    setError(null);
    room
      .propose(a)
      .catch((e: unknown) => setError(message(e)))
      .finally(() => setPending((n) => n - 1));
  };
  // For tests and the console: anyone can propose anything; the fold is the referee.
  useEffect(() => {
    (window as { tictactoe?: unknown }).tictactoe = { propose: (v: unknown) => room.propose(v) };
  }, [room]);

  const mine: Seat | null = game.seats.X === selfId ? 'X' : game.seats.O === selfId ? 'O' : null;
  const myTurn = mine !== null && game.turn === mine && pending === 0;
  // The room is over for this tab (removed, replaced by a copy of it, a server of another version…): say so,
  // and offer the reload that resumes this player where it can.
  if (roomStatus !== 'joined')
    return (
      <main>
        <h1>Tic-tac-toe</h1>
        <p role="alert" data-testid="ended">
          {ended ?? `This tab left the game (${roomStatus}).`}{' '}
          <button type="button" onClick={() => location.reload()}>
            Reload
          </button>
        </p>
      </main>
    );
  const status = game.result ? (
    game.result.winner ? (
      <>
        <span data-testid="result">{game.result.winner}</span> wins
      </>
    ) : (
      <span data-testid="result">draw</span>
    )
  ) : game.turn ? (
    <>
      <span data-testid="turn">{game.turn}</span> to play
    </>
  ) : (
    'waiting for two players'
  );
  return (
    <main>
      <h1>Tic-tac-toe</h1>
      <p>
        You are player <span data-testid="me">{selfId}</span>, seat{' '}
        <span data-testid="seat">{mine ?? 'spectator'}</span>; leader{' '}
        <span data-testid="leader">{leaderId ?? ''}</span>
      </p>
      {quorum.blocked && <p data-testid="quorum">{quorum.blocked}</p>}
      {stateFromRemoved.length > 0 && (
        // The game this tab started from was handed on by a player the owner removed, and no clean copy
        // came from the leader: no hash covers a snapshot's state, so it may be false.
        <p role="alert" data-testid="state-warning">
          This game came to you through removed player {stateFromRemoved.join(', ')}: its score may be false.
        </p>
      )}
      <p>
        {(['X', 'O'] as const).map((s) => (
          <span key={s}>
            {s}: player <span data-testid={`seat-${s}`}>{game.seats[s] ?? ''}</span>{' '}
            <button
              type="button"
              data-testid={`sit-${s}`}
              disabled={game.seats[s] !== null || mine !== null}
              onClick={() => propose({ t: 'sit', seat: s })}
            >
              Sit as {s}
            </button>{' '}
          </span>
        ))}
      </p>
      <p>
        Round <span data-testid="round">{game.round}</span>: {status}; moves{' '}
        <span data-testid="moves">{moveCount(game)}</span>
      </p>
      <div
        data-testid="board"
        style={{ display: 'grid', gridTemplateColumns: 'repeat(3, 3em)', gap: '0.25em' }}
      >
        {game.board.map((c, i) => (
          <button
            // biome-ignore lint/suspicious/noArrayIndexKey: the cells are fixed
            key={i}
            type="button"
            data-testid={`cell-${i}`}
            aria-label={`cell ${i}: ${c ?? 'empty'}`}
            style={{ height: '3em', fontSize: '1.5em' }}
            disabled={!myTurn || c !== null || game.result !== null}
            onClick={() => propose({ t: 'move', cell: i, id: Math.random().toString(36).slice(2, 10) })}
          >
            {c ?? ''}
          </button>
        ))}
      </div>
      <p>
        Score{' '}
        <span data-testid="score">{`X ${game.score.X} · O ${game.score.O} · draws ${game.score.draws}`}</span>{' '}
        <button
          type="button"
          data-testid="new-round"
          disabled={mine === null || game.result === null}
          onClick={() => propose({ t: 'new-round' })}
        >
          New round
        </button>
      </p>
      <p>
        Waiting for the log: <span data-testid="pending">{pending}</span>
        {error && (
          <>
            {' '}
            <span data-testid="propose-error">{error}</span>
          </>
        )}
      </p>
      <ol data-testid="move-log">
        {game.lines.map((l) => (
          <li
            key={`${l.index}.${l.offset}`}
            data-testid="log-line"
            data-index={l.index}
            data-offset={l.offset}
            data-term={l.term}
            data-by={l.by}
            data-t={l.t}
            data-round={l.round}
            data-seat={l.seat ?? ''}
            data-cell={l.cell ?? ''}
            data-id={l.id ?? ''}
            data-ignored={l.ignored ?? ''}
          >
            {`round ${l.round}, player ${l.by}${l.seat ? ` (${l.seat})` : ''}: ${l.t}`}
            {l.cell !== null && ` cell ${l.cell}`}
            {l.ignored && `, ignored: ${l.ignored}`}
          </li>
        ))}
      </ol>
    </main>
  );
}

const root = document.getElementById('root');
if (root) createRoot(root).render(<App />);
