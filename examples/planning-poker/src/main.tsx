// Planning poker: everyone picks a card and is Done; once all are Done, the room advances to Reveal
// together and every card shows. Lockstep is the ready barrier, and its agreed log holds the cards
// (votes.ts): committed hidden while voting, opened at Reveal, the same for everyone.

import { joinRoom, LockstepError, type PlayerId, type Room } from 'lockstep';
import { useRoom } from 'lockstep/react';
import { useEffect, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { CARDS, commitment, fold, newSalt, noVotes, shown, toState, type Vote, type Votes } from './votes';

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
  return <Poker room={room} />;
}

/**
 * Values between snapshots at most: a player proposing junk without end (anyone may) would otherwise fill the
 * log (the library refuses proposals past 20,000 entries since a snapshot) and nobody could vote.
 */
const SNAPSHOT_EVERY = 100;

/** The votes as the log folds them: the replay first, then each new commit; a snapshot now and then. */
function useVotes(room: Room): Votes {
  const [votes, setVotes] = useState(noVotes);
  useEffect(() => {
    let v = noVotes();
    let since = 0;
    setVotes(v);
    return room.onEntry<Vote>((item) => {
      v = fold(v, item);
      setVotes(v);
      since = item.kind === 'app' ? since + 1 : item.kind === 'snapshot' ? 0 : since;
      if (item.kind !== 'app' || since < SNAPSHOT_EVERY) return;
      since = 0;
      const at = item.index;
      const state = toState(v);
      // On a microtask: room.snapshot refuses an entry still being delivered.
      queueMicrotask(() => {
        try {
          room.snapshot(at, state);
        } catch (e) {
          console.warn(`planning poker: no snapshot at ${at}: ${message(e)}`);
        }
      });
    });
  }, [room]);
  return votes;
}

/**
 * This tab's cards and salts by commitment, kept in `sessionStorage`: a reload still opens the card its player
 * committed to. By commitment, not one slot: a commitment the log took late (a retried pick) still opens.
 */
function picked(room: string): Record<string, { card: number; salt: string }> {
  try {
    const v = JSON.parse(sessionStorage.getItem(`poker:${room}`) ?? '{}');
    return typeof v === 'object' && v !== null ? v : {};
  } catch {
    return {};
  }
}

function Poker({ room }: { room: Room }) {
  const snap = useRoom(room);
  const { selfId, leaderId, stage, players, done } = snap;
  const votes = useVotes(room);
  const [cards, setCards] = useState<Map<PlayerId, number | 'mismatch'>>(new Map());
  const [problem, setProblem] = useState<string | null>(null);
  const picking = useRef(false);
  const opening = useRef(false);
  // Bumped a second after an opening failed (a failover, say): the effect below tries again.
  const [retry, setRetry] = useState(0);
  const revealed = stage.index === 1;
  const mine = votes.commits.get(selfId);
  const myCard = mine === undefined ? undefined : picked(snap.room)[mine]?.card;

  useEffect(() => {
    let live = true;
    shown(votes).then((c) => live && setCards(c));
    return () => {
      live = false;
    };
  }, [votes]);
  // Committed, and still voting: Done (again, after a reload that came back before the Done went out).
  useEffect(() => {
    if (mine !== undefined && !revealed && !done && snap.status === 'joined') room.setDone(true);
  }, [room, mine, revealed, done, snap.status]);
  // At Reveal, open the card we committed to, until the log has it.
  // biome-ignore lint/correctness/useExhaustiveDependencies: retry is what makes it try again
  useEffect(() => {
    const p = mine === undefined ? undefined : picked(snap.room)[mine];
    if (!revealed || !p || votes.opens.has(selfId) || opening.current || snap.status !== 'joined') return;
    opening.current = true;
    room
      .propose<Vote>({ t: 'open', card: p.card, salt: p.salt })
      .catch((e: unknown) => {
        setProblem(message(e));
        setTimeout(() => setRetry((n) => n + 1), 1_000);
      })
      .finally(() => {
        opening.current = false;
      });
  }, [room, revealed, mine, votes, selfId, snap.room, snap.status, retry]);

  const pick = async (card: number) => {
    if (picking.current) return;
    picking.current = true;
    setProblem(null);
    try {
      const salt = newSalt();
      const h = await commitment(card, salt);
      // Kept before it is proposed: a reload while it commits must still be able to open it.
      sessionStorage.setItem(
        `poker:${snap.room}`,
        JSON.stringify({ ...picked(snap.room), [h]: { card, salt } }),
      );
      await room.propose<Vote>({ t: 'commit', h });
    } catch (e) {
      setProblem(message(e));
    } finally {
      picking.current = false;
    }
  };

  // Whoever made the room chose its stages: with others than these, Reveal would never come (or not show).
  if (snap.settings.stages.join('\n') !== 'Vote\nReveal')
    return (
      <main>
        <p role="alert" data-testid="ended">
          This room was made with other stages ({snap.settings.stages.join(', ')}): open a room of another
          name.
        </p>
      </main>
    );
  // The room is over for this tab (removed, replaced by a copy of it, a server of another version…).
  if (snap.status !== 'joined')
    return (
      <main>
        <p role="alert" data-testid="ended">
          {snap.error ?? `This tab left the room (${snap.status}).`}{' '}
          <button type="button" onClick={() => location.reload()}>
            Reload
          </button>
        </p>
      </main>
    );
  return (
    <main>
      <h1>
        Planning poker: <span data-testid="stage">{stage.name}</span>
      </h1>
      <p>
        You are <span data-testid="me">{selfId}</span>; leader{' '}
        <span data-testid="leader">{leaderId ?? ''}</span>
        {myCard !== undefined && `; your card: ${myCard}`}
      </p>
      {!revealed && (
        <p>
          {CARDS.map((c) => (
            <button
              key={c}
              type="button"
              disabled={mine !== undefined}
              onClick={() => void pick(c)}
              data-testid={`card-${c}`}
            >
              {c}
            </button>
          ))}
        </p>
      )}
      {problem && <p role="alert">{problem}</p>}
      <ul>
        {players.map((p) => {
          const card = cards.get(p.id);
          return (
            // Names are anyone's to choose, so each shows with its ID.
            <li key={p.id} data-testid="player" data-state={p.state}>
              {p.name} #{p.id} ({p.state}){p.done ? ' ✓' : ''}
              {revealed && (
                <span data-testid={`vote-${p.id}`}>
                  {card === 'mismatch'
                    ? '✗ not the card it committed to'
                    : (card ?? (votes.commits.has(p.id) ? '…' : '—'))}
                </span>
              )}
            </li>
          );
        })}
      </ul>
    </main>
  );
}

const root = document.getElementById('root');
if (root) createRoot(root).render(<App />);
