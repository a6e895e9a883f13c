// Planning poker: everyone picks a card (an app message to all) and is Done; once all are Done, the
// room advances to Reveal together and every card shows. Lockstep is the ready barrier.

import { joinRoom, LockstepError, type PlayerId, type Room } from 'lockstep';
import { useRoom } from 'lockstep/react';
import { useEffect, useMemo, useState } from 'react';
import { createRoot } from 'react-dom/client';

const CARDS = [1, 2, 3, 5, 8, 13];

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
      room: q.get('room') ?? 'poker',
      name: q.get('name') ?? 'guest',
      settings: { stages: ['Vote', 'Reveal'] },
      signal: abort.signal,
    }).then(
      (joined) => {
        if (!live) return joined.close();
        joinedRoom = joined;
        setRoom(joined);
      },
      (e: unknown) => {
        if (live) setError(e instanceof LockstepError ? `${e.code}: ${e.message}` : String(e));
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
  return <Poker room={room} />;
}

function Poker({ room }: { room: Room }) {
  const { selfId, leaderId, stage, players } = useRoom(room);
  const [mine, setMine] = useState<number | null>(null);
  const [votes, setVotes] = useState<Record<PlayerId, number>>({});
  const vote = useMemo(
    () =>
      room.channel<number>('vote', {
        parse: (d) => {
          if (typeof d !== 'number' || !CARDS.includes(d)) throw new Error('not a card');
          return d;
        },
      }),
    [room],
  );
  useEffect(() => vote.on((card, from) => setVotes((v) => ({ ...v, [from]: card }))), [vote]);
  // A player who connects after we voted still hears our card.
  useEffect(() => {
    if (mine === null) return;
    vote.send(mine);
    return room.on('players', () => vote.send(mine));
  }, [room, mine, vote]);
  const pick = (card: number) => {
    setMine(card);
    room.setDone(true);
  };
  const revealed = stage.index === 1;
  return (
    <main>
      <h1>
        Planning poker: <span data-testid="stage">{stage.name}</span>
      </h1>
      <p>
        You are <span data-testid="me">{selfId}</span>; leader{' '}
        <span data-testid="leader">{leaderId ?? ''}</span>
      </p>
      {!revealed && (
        <p>
          {CARDS.map((c) => (
            <button
              key={c}
              type="button"
              disabled={mine !== null}
              onClick={() => pick(c)}
              data-testid={`card-${c}`}
            >
              {c}
            </button>
          ))}
        </p>
      )}
      <ul>
        {players.map((p) => (
          <li key={p.id} data-testid="player" data-state={p.state}>
            {p.name} ({p.state}){p.done ? ' ✓' : ''}
            {revealed && <span data-testid={`vote-${p.id}`}>{p.id === selfId ? mine : votes[p.id]}</span>}
          </li>
        ))}
      </ul>
    </main>
  );
}

const root = document.getElementById('root');
if (root) createRoot(root).render(<App />);
