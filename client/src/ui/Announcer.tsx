import { useEffect, useRef, useState } from 'react';
import { shallow } from 'zustand/shallow';
import type { Room } from '../lockstep/index.ts';
import { useRoom } from '../lockstep/react.tsx';

interface Seen {
  stage: number;
  leader: number;
  quorumOk: boolean;
  lost: boolean;
}

interface Line {
  seq: number;
  text: string;
}

const KEPT = 3;

/**
 * A polite live region for what a player must hear: stage advances, a new leader, losing or regaining the
 * quorum. Nothing else (heartbeats, timers, the event log) goes through it. The state when the tab has
 * caught up with the room is not announced; the page says it.
 */
export function Announcer({ room }: { room: Room }) {
  const now = useRoom(
    room,
    (s) =>
      // Announcing starts once the tab has caught up with the room: joining is not losing a quorum.
      s.synced
        ? {
            ready: true as const,
            self: s.selfId,
            stage: s.stage.index,
            stageName: s.stage.name,
            leader: s.leaderId ?? 0,
            quorumOk: s.quorum.ok,
            lost: s.quorum.lost,
            blocked: s.quorum.blocked,
            needed: s.quorum.needed,
          }
        : { ready: false as const },
    shallow,
  );
  const seen = useRef<Seen | null>(null);
  const seq = useRef(0);
  const [lines, setLines] = useState<Line[]>([]);

  useEffect(() => {
    if (!now.ready) return;
    const { self, stage, stageName, leader, quorumOk, lost, blocked, needed } = now;
    const prev = seen.current;
    seen.current = { stage, leader, quorumOk, lost };
    if (!prev) return;
    const said: string[] = [];
    if (stage !== prev.stage) said.push(`Advanced to stage ${stage}: ${stageName}.`);
    // A leader lost mid-election is said only once a new one is known; a bare "no leader" would chatter.
    if (leader && leader !== prev.leader) {
      said.push(
        leader === self
          ? `You (player ${leader}) are now the leader.`
          : `Player ${leader} is now the leader.`,
      );
    }
    if (lost && !prev.lost) said.push(`Quorum lost for good: ${blocked}. Only a new room can go on.`);
    else if (prev.quorumOk && !quorumOk) {
      // The banner's reason: too few live players, or agreed members still out of reach.
      said.push(
        `Quorum lost: ${blocked ?? 'no quorum'}. This side cannot advance until ${needed} players are reachable.`,
      );
    }
    if (!prev.quorumOk && quorumOk) said.push('Quorum regained: the room can advance again.');
    if (said.length === 0) return;
    setLines((l) => [...l, { seq: ++seq.current, text: said.join(' ') }].slice(-KEPT));
  }, [now]);

  return (
    <div className="sr-only" role="status" aria-live="polite" data-testid="announcer">
      {lines.map((l) => (
        <p key={l.seq}>{l.text}</p>
      ))}
    </div>
  );
}
