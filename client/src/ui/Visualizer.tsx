import { type KeyboardEvent, useEffect, useRef, useState } from 'react';
import type { View } from '../core/index.ts';
import { appStore, type Flight, type PeerRow, peerRows, useApp } from '../store/index.ts';
import { fmtT } from './common.tsx';

/** How long one message takes to cross the ring on screen (display only). */
const FLIGHT_MS = 450;
const FRAME_MS = 66;
const FRAMES_KEPT = 180;

interface Frame {
  at: number;
  sinceStart: number;
  view: View;
  rows: PeerRow[];
  flights: Flight[];
}

const TYPE_COLOR: Record<string, string> = {
  hb: 'var(--c-hb)',
  election: 'var(--c-election)',
  answer: 'var(--c-answer)',
  coordinator: 'var(--c-coordinator)',
  report: 'var(--c-report)',
  done: 'var(--c-done)',
  accept: 'var(--c-accept)',
  accepted: 'var(--c-accept)',
  advance: 'var(--c-advance)',
  reject: 'var(--c-reject)',
  sync: 'var(--c-sync)',
  history: 'var(--c-sync)',
  bye: 'var(--c-bye)',
};

const LEGEND = [
  'hb',
  'election',
  'answer',
  'coordinator',
  'report',
  'done',
  'accept',
  'advance',
  'reject',
  'bye',
];

function snapshot(): Frame | null {
  const s = appStore.getState();
  if (!s.view) return null;
  const at = performance.now();
  return {
    at,
    sinceStart: at - s.session.startedAt,
    view: s.view,
    rows: peerRows(s.view, s.roster, s.net),
    flights: s.flights.since(at - FLIGHT_MS),
  };
}

/** The election from this tab's point of view, in the spirit of RaftScope. */
export function Visualizer() {
  const [frames, setFrames] = useState<Frame[]>([]);
  const [paused, setPaused] = useState(false);
  const [cursor, setCursor] = useState(-1);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;

  useEffect(() => {
    const h = window.setInterval(() => {
      if (pausedRef.current) return;
      const f = snapshot();
      if (!f) return;
      setFrames((old) => {
        const next = old.length >= FRAMES_KEPT ? old.slice(old.length - FRAMES_KEPT + 1) : old.slice();
        next.push(f);
        return next;
      });
    }, FRAME_MS);
    return () => window.clearInterval(h);
  }, []);

  const index = paused && cursor >= 0 ? Math.min(cursor, frames.length - 1) : frames.length - 1;
  const frame = frames[index];

  const togglePause = () => {
    if (!paused) setCursor(frames.length - 1);
    setPaused((p) => !p);
  };
  const step = (d: number) => {
    if (!paused) {
      setPaused(true);
      setCursor(Math.max(0, frames.length - 1 + Math.min(0, d)));
      return;
    }
    setCursor((c) => Math.max(0, Math.min(frames.length - 1, c + d)));
  };
  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'p' || e.key === 'k') {
      e.preventDefault();
      togglePause();
    } else if (e.key === 'ArrowLeft') {
      e.preventDefault();
      step(-1);
    } else if (e.key === 'ArrowRight') {
      e.preventDefault();
      step(1);
    }
  };

  return (
    <section className="card viz-card" aria-labelledby="viz-h">
      <div className="viz-head">
        <h2 id="viz-h">Election</h2>
        <div
          className="viz-controls"
          role="toolbar"
          aria-label="Pause and step (P pauses, arrow keys step)"
          onKeyDown={onKey}
        >
          <button
            type="button"
            className="btn small ghost"
            onClick={() => step(-1)}
            aria-label="Step back"
            data-testid="viz-step-back"
          >
            ◀
          </button>
          <button
            type="button"
            className="btn small"
            onClick={togglePause}
            aria-pressed={paused}
            data-testid="viz-pause"
          >
            {paused ? 'Play' : 'Pause'}
          </button>
          <button
            type="button"
            className="btn small ghost"
            onClick={() => step(1)}
            aria-label="Step forward"
            data-testid="viz-step"
          >
            ▶
          </button>
        </div>
      </div>
      <figure className="viz" aria-label="Election visualizer" data-testid="visualizer">
        {frame ? <Ring frame={frame} /> : <div className="viz-empty">waiting for the core…</div>}
        {frame && (
          <figcaption className="small muted mono">
            {paused
              ? `paused at ${fmtT(frame.sinceStart)} (frame ${index + 1}/${frames.length})`
              : fmtT(frame.sinceStart)}
            {' · '}tick {frame.view.now}
          </figcaption>
        )}
      </figure>
      <ul className="legend small" aria-label="Message colours">
        {LEGEND.map((t) => (
          <li key={t}>
            <span className="swatch" style={{ background: TYPE_COLOR[t] }} />
            {t}
          </li>
        ))}
      </ul>
    </section>
  );
}

const SIZE = 340;
const C = SIZE / 2;
const R = 120;
const NODE = 22;

function Ring({ frame }: { frame: Frame }) {
  const { view, rows, flights, at } = frame;
  const n = Math.max(rows.length, 1);
  const pos = new Map<number, { x: number; y: number }>();
  rows.forEach((r, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / n;
    pos.set(r.id, { x: C + R * Math.cos(a), y: C + R * Math.sin(a) });
  });
  const recentCoordinator = new Set(
    flights.filter((f) => f.dir === 'in' && f.type === 'coordinator').map((f) => f.peer),
  );
  const timeoutTicks = view.timing.timeoutTicks;
  const circ = 2 * Math.PI * (NODE + 6);

  return (
    <svg viewBox={`0 0 ${SIZE} ${SIZE}`} className="ring" role="img" aria-label={describeView(view)}>
      <circle cx={C} cy={C} r={R} className="orbit" />
      {flights.map((f) => {
        const self = pos.get(view.self);
        const peer = pos.get(f.peer);
        if (!self || !peer) return null;
        const [a, b] = f.dir === 'out' ? [self, peer] : [peer, self];
        const t = Math.max(0, Math.min(1, (at - f.at) / FLIGHT_MS));
        const dx = b.x - a.x;
        const dy = b.y - a.y;
        const len = Math.hypot(dx, dy) || 1;
        const ux = dx / len;
        const uy = dy / len;
        const sx = a.x + ux * NODE;
        const sy = a.y + uy * NODE;
        const ex = b.x - ux * NODE;
        const ey = b.y - uy * NODE;
        const x = sx + (ex - sx) * t;
        const y = sy + (ey - sy) * t;
        const color = TYPE_COLOR[f.type] ?? 'var(--muted)';
        const major = f.type !== 'hb';
        return (
          <g key={`${f.seq}`} className={`flight ${f.via}`}>
            {major && (
              <line x1={sx} y1={sy} x2={x} y2={y} stroke={color} strokeWidth={2} strokeOpacity={0.55} />
            )}
            {f.via === 'dropped' ? (
              <text x={sx} y={sy} className="drop" textAnchor="middle" dominantBaseline="central">
                ×
              </text>
            ) : (
              <circle
                cx={x}
                cy={y}
                r={major ? 5 : 3}
                fill={color}
                strokeDasharray={f.via === 'relay' ? '2 2' : undefined}
                className={f.via === 'relay' ? 'relayed' : undefined}
              />
            )}
            {major && t < 0.85 && (
              <text x={x + 7} y={y - 6} className="flabel" fill={color}>
                {f.type}
              </text>
            )}
          </g>
        );
      })}
      {rows.map((r) => {
        const p = pos.get(r.id);
        if (!p) return null;
        const role =
          r.state === 'self'
            ? view.role
            : r.isLeader
              ? 'leader'
              : r.state === 'offline' || r.state === 'suspected'
                ? r.state
                : recentCoordinator.has(r.id)
                  ? 'candidate'
                  : 'follower';
        const pv = view.peers.find((q) => q.id === r.id);
        const frac =
          r.state === 'self'
            ? 1
            : !pv || pv.silentTicks < 0
              ? 0
              : Math.max(0, 1 - pv.silentTicks / timeoutTicks);
        return (
          <g key={r.id} className={`node role-${role} ${r.state === 'self' ? 'is-self' : ''}`}>
            <circle cx={p.x} cy={p.y} r={NODE + 6} className="timer-track" />
            <circle
              cx={p.x}
              cy={p.y}
              r={NODE + 6}
              className="timer"
              strokeDasharray={`${frac * circ} ${circ}`}
              transform={`rotate(-90 ${p.x} ${p.y})`}
            />
            <circle cx={p.x} cy={p.y} r={NODE} className="body" />
            <text x={p.x} y={p.y + 1} className="nid" textAnchor="middle" dominantBaseline="central">
              {r.id}
            </text>
            {r.isLeader && (
              <text x={p.x} y={p.y - NODE - 12} className="crown" textAnchor="middle">
                ♛
              </text>
            )}
            <text x={p.x} y={p.y + NODE + 18} className="nterm" textAnchor="middle">
              {r.state === 'self' ? `you · t${view.term}` : `t${r.term}${r.done ? ' ✓' : ''}`}
            </text>
          </g>
        );
      })}
      <text x={C} y={C - 8} className="center-term" textAnchor="middle">
        term {view.term}
      </text>
      <text x={C} y={C + 14} className="center-sub" textAnchor="middle">
        {view.leader ? `leader ${view.leader}` : 'no leader'} · stage {view.stage}
      </text>
    </svg>
  );
}

function describeView(view: View): string {
  return `Player ${view.self} is ${view.role} in term ${view.term}; leader ${view.leader || 'none'}; ${view.live.length} of ${view.members.length} live.`;
}

/** Terms and leaders over time, as this tab saw them. */
export function Timeline() {
  const timeline = useApp((s) => s.timeline);
  const [now, setNow] = useState(() => performance.now());
  const startedAt = useApp((s) => s.session.startedAt);
  useEffect(() => {
    const h = window.setInterval(() => setNow(performance.now()), 500);
    return () => window.clearInterval(h);
  }, []);
  if (timeline.length === 0) return null;
  const end = Math.max(now - startedAt, timeline[timeline.length - 1]!.at + 1);
  const start = Math.max(0, end - 60_000);
  const span = end - start;
  const segs = timeline.map((t, i) => ({ ...t, to: timeline[i + 1]?.at ?? end })).filter((s) => s.to > start);
  return (
    <section className="card" aria-labelledby="tl-h">
      <h2 id="tl-h">
        Terms and leaders <span className="muted small">(last 60 s)</span>
      </h2>
      <div className="timeline" data-testid="timeline">
        {segs.map((s) => {
          const left = ((Math.max(s.at, start) - start) / span) * 100;
          const width = Math.max(0.6, ((s.to - Math.max(s.at, start)) / span) * 100);
          return (
            <div
              key={`${s.at}-${s.term}-${s.leader}`}
              className={`seg ${s.leader ? '' : 'none'}`}
              style={{
                left: `${left}%`,
                width: `${width}%`,
                background: s.leader ? hue(s.leader) : undefined,
              }}
              title={`${fmtT(s.at)} term ${s.term}, ${s.leader ? `leader ${s.leader}` : 'no leader'}`}
            >
              {width > 9 && <span>{s.leader ? `t${s.term} ♛${s.leader}` : `t${s.term}`}</span>}
            </div>
          );
        })}
      </div>
      <ol className="tl-list small mono">
        {timeline
          .slice(-6)
          .reverse()
          .map((t) => (
            <li key={`${t.at}-${t.term}-${t.leader}`}>
              {fmtT(t.at)} term {t.term} — {t.leader ? `leader ${t.leader}` : 'no leader'}
            </li>
          ))}
      </ol>
    </section>
  );
}

function hue(id: number): string {
  return `hsl(${(id * 67) % 360} 65% 55%)`;
}
