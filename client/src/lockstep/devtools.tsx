// The election visualizer and the terms timeline, over any room's store: the app's room page and
// <LockstepDevtools room={room} /> both render these.

import {
  createContext,
  type KeyboardEvent,
  useCallback,
  useContext,
  useEffect,
  useId,
  useRef,
  useState,
} from 'react';
import { useStore } from 'zustand';
import { shallow } from 'zustand/shallow';
import type { View } from '../core/index.ts';
import { TICK_MS } from '../net/session.ts';
import { perFrame, untilBeat } from '../store/perFrame.ts';
import { type PeerRow, peerRows, stageName } from '../store/selectors.ts';
import type { AppState, AppStore, Flight } from '../store/store.ts';

/** The store the devtools read; the app provides its own, LockstepDevtools a room's. */
export const DevtoolsStore = createContext<AppStore | null>(null);

function useDevStore(): AppStore {
  const store = useContext(DevtoolsStore);
  if (!store) throw new Error('lockstep devtools: render inside <LockstepDevtools room={room} />');
  return store;
}

/** Each store as React sees it: at most one new state per animation frame, as the app's own hooks. */
const shown = new WeakMap<AppStore, AppStore>();

function shownOf(store: AppStore): AppStore {
  let view = shown.get(store);
  if (!view) {
    view = perFrame(store);
    shown.set(store, view);
  }
  return view;
}

export function useDev<T>(selector: (s: AppState) => T): T {
  return useStore(shownOf(useDevStore()), selector);
}

/**
 * Like useDev, for figures that change faster than anyone reads them (counters): a new value at most every
 * `ms`, on the page clock's whole multiples of `ms` (so a change after a quiet spell waits for the next one),
 * the last one always shown. `selector` is read on each update; it need not be stable.
 */
export function useDevEvery<T>(ms: number, selector: (s: AppState) => T): T {
  const store = shownOf(useDevStore());
  const [value, setValue] = useState(() => selector(store.getState()));
  const read = useRef(selector);
  read.current = selector;
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    const take = () => {
      timer = null;
      const next = read.current(store.getState());
      setValue((prev) => (shallow(prev, next) ? prev : next));
    };
    take();
    const off = store.subscribe(() => {
      if (timer !== null) return;
      // On the clock's next whole `ms`, as the other once-a-second figures: one frame shows them all.
      timer = setTimeout(take, untilBeat(ms));
    });
    return () => {
      off();
      if (timer !== null) clearTimeout(timer);
    };
  }, [ms, store]);
  return value;
}

export function fmtT(ms: number): string {
  return `+${(ms / 1000).toFixed(3)}s`;
}

/** How long one message takes to cross the ring on screen (display only). */
const FLIGHT_MS = 450;
/** Frame period while something happens: any message but a heartbeat, a timer running down, a role change. */
const FRAME_MS = 66;
/**
 * Frame period in the steady state, when only heartbeats move: often enough to show that they flow. A frame costs
 * the tab a paint and the browser a composite (in software here, by the ring's area): eight tabs drawing 15 fps
 * on two cores starved the signaling server for seconds at a time, and at 4 fps the ring was still over a third
 * of a resting room's CPU (docs/benchmarks.md, "At rest").
 */
const IDLE_FRAME_MS = 1_000;
/** How long the visualizer stays at the idle rate after its timer fired late. */
const BUSY_BACKOFF_MS = 2_000;
/**
 * The caption and the words under the ring change at most this often while playing: text re-set 15 times a
 * second cannot be read, and each change costs React and layout a render (the words list every frame while a
 * mesh forms).
 */
const TEXT_MS = 500;
const FRAMES_KEPT = 180;
/** Messages listed in words under the ring (heartbeats left out). */
const WORDS_KEPT = 5;

interface Frame {
  at: number;
  sinceStart: number;
  view: View;
  rows: PeerRow[];
  flights: Flight[];
  /** The last few messages other than heartbeats, in words. */
  recent: string[];
  stageName: string;
}

/** `prefers-reduced-motion: reduce`: the ring shows state, and no message flies across it. One live query. */
const motionQuery =
  typeof window === 'undefined' ? undefined : window.matchMedia?.('(prefers-reduced-motion: reduce)');
function reducedMotion(): boolean {
  return motionQuery?.matches ?? false;
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

function snapshot(store: AppStore): Frame | null {
  const s = store.getState();
  const live = s.probe.read();
  const view = live?.view ?? s.view;
  if (!view) return null;
  const at = performance.now();
  const start = s.session.startedAt;
  const recent = s.flights
    .since(at - 120_000)
    .filter((f) => f.type !== 'hb')
    .slice(-WORDS_KEPT)
    .reverse()
    .map((f) => `${fmtT(f.at - start)} ${inWords(f)}`);
  return {
    at,
    sinceStart: at - start,
    view,
    rows: peerRows(view, s.roster, live?.net ?? s.net),
    flights: reducedMotion() ? [] : s.flights.since(at - FLIGHT_MS),
    recent,
    stageName: stageName(s.session.settings?.stages, view.stage),
  };
}

function inWords(f: Flight): string {
  const what = f.dir === 'out' ? `sent ${f.type} to ${f.peer}` : `received ${f.type} from ${f.peer}`;
  if (f.via === 'dropped') return `dropped ${f.type} to ${f.peer}`;
  return f.via === 'relay' ? `${what} (relayed)` : what;
}

/** The frame as text: the canvas's alternative. */
function frameWords(f: Frame): { summary: string; recent: string[] } {
  const v = f.view;
  return {
    summary: `Term ${v.term} · ${v.leader ? `leader ${v.leader}` : 'no leader'} · stage ${v.stage} (${f.stageName}) · you are ${v.self}, ${v.role} · ${v.live.length} of ${v.members.length} live`,
    recent: f.recent,
  };
}

/** The election from this tab's point of view, in the spirit of RaftScope. */
export function Visualizer() {
  // Two devtools on one page must not share their headings' ids.
  const ids = useId();
  const store = useDevStore();
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const captionRef = useRef<HTMLElement>(null);
  const frames = useRef<Frame[]>([]);
  const [hasFrame, setHasFrame] = useState(false);
  const [paused, setPaused] = useState(false);
  const [cursor, setCursor] = useState(-1);
  const [words, setWords] = useState<{ summary: string; recent: string[] } | null>(null);
  const figureRef = useRef<HTMLElement>(null);
  const wordsKey = useRef('');
  const textAt = useRef(Number.NEGATIVE_INFINITY);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  const onScreen = useRef(true);
  const unparkRef = useRef<(() => void) | null>(null);

  // Frames go straight to the canvas, not through React: re-rendering an SVG ring at 15 fps cost each tab
  // more CPU than everything else in the room together. A hidden tab draws nothing.
  const show = useCallback((index: number, isPaused: boolean) => {
    const list = frames.current;
    const frame = list[index];
    const canvas = canvasRef.current;
    if (!frame || !canvas) return;
    // Off screen the ring is not drawn; its label and words stay current for a screen reader.
    if (onScreen.current) drawRing(canvas, frame);
    const label = describeView(frame);
    if (canvas.getAttribute('aria-label') !== label) canvas.setAttribute('aria-label', label);
    // Set only on a change: every set is a DOM mutation, even to the same value.
    const figure = figureRef.current;
    const flights = String(frame.flights.length);
    const motion = reducedMotion() ? 'reduced' : 'full';
    if (figure?.getAttribute('data-flights') !== flights) figure?.setAttribute('data-flights', flights);
    if (figure?.getAttribute('data-motion') !== motion) figure?.setAttribute('data-motion', motion);
    // Text at a readable pace while playing; a paused or stepped frame shows its own at once.
    const t = performance.now();
    if (!isPaused && t - textAt.current < TEXT_MS) return;
    textAt.current = t;
    // React renders only when the words change: most frames move nothing but heartbeats.
    const next = frameWords(frame);
    const key = `${next.summary}\n${next.recent.join('\n')}`;
    if (key !== wordsKey.current) {
      wordsKey.current = key;
      setWords(next);
    }
    const caption = captionRef.current;
    if (caption) {
      caption.textContent = `${
        isPaused
          ? `paused at ${fmtT(frame.sinceStart)} (frame ${index + 1}/${list.length})`
          : fmtT(frame.sinceStart)
      } · tick ${frame.view.now}`;
    }
  }, []);

  useEffect(() => {
    let timer = 0;
    let drawn = Number.NEGATIVE_INFINITY;
    let lastKey = '';
    // A timer, not a requestAnimationFrame loop: asking for every display frame made Chromium run a main
    // frame ~50 times a second in every tab even when nothing was drawn (a trace of 8 forming tabs: 560
    // frames and 5.2 s of main thread per tab in 10 s; with the timer 170 frames and 2.5 s).
    let due = performance.now();
    let busyUntil = Number.NEGATIVE_INFINITY;
    // A still ring sleeps to its next idle frame, or until a peer's timer starts to run down, and a message
    // or a published change wakes it: polling at the frame rate to find nothing new was a resting tab's
    // steadiest work (docs/benchmarks.md, "At rest"). Paused or hidden, it is parked: only showing it again
    // wakes it.
    let asleep = false;
    let parked = false;
    let ran = Number.NEGATIVE_INFINITY;
    const schedule = (wait: number) => {
      clearTimeout(timer);
      due = performance.now() + wait;
      timer = window.setTimeout(loop, wait);
    };
    const loop = () => {
      const t = performance.now();
      ran = t;
      asleep = false;
      // A timer this late means the page (or the machine) has no time to spare: draw at the idle rate for a
      // while, so the animation does not starve the protocol it shows (8 tabs forming a mesh on 2 cores). A
      // parked loop's timers are late by design (a hidden tab's fire once a second).
      if (!parked && t - due > FRAME_MS) busyUntil = t + BUSY_BACKOFF_MS;
      // Idle frames fall on the page clock's whole seconds, with the other once-a-second figures (untilBeat).
      const beat = untilBeat(IDLE_FRAME_MS, t);
      parked = pausedRef.current || document.hidden;
      if (parked) return schedule(beat);
      const f = snapshot(store);
      if (!f) {
        asleep = true;
        return schedule(beat);
      }
      const key = activityKey(f);
      const still = key === lastKey && !isActive(f);
      // Scrolled out of view, or short of time, frames come at the idle rate, and the ring is not drawn (show).
      const slow = still || !onScreen.current || t < busyUntil;
      asleep = still && onScreen.current && t >= busyUntil;
      schedule(frameWait(f.view, slow, asleep, beat));
      if (slow && Math.floor(t / IDLE_FRAME_MS) === Math.floor(drawn / IDLE_FRAME_MS)) return;
      lastKey = key;
      drawn = t;
      const list = frames.current;
      if (list.length >= FRAMES_KEPT) list.splice(0, list.length - FRAMES_KEPT + 1);
      list.push(f);
      setHasFrame(true);
      show(list.length - 1, false);
    };
    // At most one run a frame however many messages wake it: a burst (or reduced motion, where a message
    // never makes the ring busy) would otherwise run it at the message rate.
    const wake = () => {
      if (!asleep) return;
      asleep = false;
      schedule(Math.max(0, ran + FRAME_MS - performance.now()));
    };
    const unpark = () => {
      if (!parked) return;
      parked = false;
      schedule(0);
    };
    unparkRef.current = unpark;
    let flights = store.getState().flights;
    let offMove = flights.onMove(wake);
    const offStore = store.subscribe((s) => {
      // A new session brings a new flight log.
      if (s.flights !== flights) {
        offMove();
        flights = s.flights;
        offMove = flights.onMove(wake);
      }
      wake();
    });
    timer = window.setTimeout(loop, 0);
    const figure = figureRef.current;
    const io =
      figure && typeof IntersectionObserver === 'function'
        ? new IntersectionObserver(([e]) => {
            onScreen.current = e?.isIntersecting ?? true;
            if (onScreen.current && !pausedRef.current && frames.current.length > 0) {
              show(frames.current.length - 1, false);
              schedule(0);
            }
          })
        : null;
    if (figure) io?.observe(figure);
    const onVisible = () => {
      if (!document.hidden) unpark();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      clearTimeout(timer);
      io?.disconnect();
      offMove();
      offStore();
      document.removeEventListener('visibilitychange', onVisible);
      unparkRef.current = null;
    };
  }, [show, store]);

  const count = () => frames.current.length;
  useEffect(() => {
    if (paused) show(Math.max(0, Math.min(cursor, frames.current.length - 1)), true);
    else unparkRef.current?.();
  }, [paused, cursor, show]);

  const togglePause = () => {
    if (!paused) setCursor(count() - 1);
    setPaused((p) => !p);
  };
  const step = (d: number) => {
    if (!paused) {
      setPaused(true);
      setCursor(Math.max(0, count() - 1 + Math.min(0, d)));
      return;
    }
    setCursor((c) => Math.max(0, Math.min(count() - 1, c + d)));
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
    <section className="card viz-card" aria-labelledby={`${ids}-viz`}>
      <div className="viz-head">
        <h2 id={`${ids}-viz`}>Election</h2>
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
      <figure ref={figureRef} className="viz" aria-label="Election visualizer" data-testid="visualizer">
        <canvas ref={canvasRef} className="ring" role="img" hidden={!hasFrame} data-testid="viz-ring" />
        {hasFrame ? (
          <figcaption ref={captionRef} className="small muted mono" />
        ) : (
          <div className="viz-empty">waiting for the core…</div>
        )}
        {words && (
          <div className="viz-words small" data-testid="viz-text">
            <p>{words.summary}</p>
            {words.recent.length === 0 ? (
              <p className="muted">No message but heartbeats lately.</p>
            ) : (
              <ol aria-label="Last messages, newest first" className="mono">
                {words.recent.map((w, i) => (
                  // biome-ignore lint/suspicious/noArrayIndexKey: the list is replaced whole, newest first.
                  <li key={i}>{w}</li>
                ))}
              </ol>
            )}
          </div>
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

/** What changes in a frame apart from heartbeats moving: a change to it is drawn at once. */
function activityKey(f: Frame): string {
  const v = f.view;
  return `${v.role} ${v.term} ${v.leader} ${v.stage} ${v.live.join(',')} ${f.rows.map((r) => `${r.state}${r.done ? 'd' : ''}${r.term}`).join(',')}`;
}

function isActive(f: Frame): boolean {
  // A drained timer (a peer never heard, or long gone) holds still: only one running down moves.
  return (
    f.flights.some((x) => x.type !== 'hb') ||
    f.view.peers.some((p) => {
      const left = timerLeft(f.view, p.silentTicks);
      return left > 0 && left < 1;
    })
  );
}

/**
 * The wait before the ring's next frame: the frame rate while something moves; else the next idle frame, and a
 * still ring on screen (`asleep`) wakes sooner when a peer's timer starts to run down, which no message
 * announces. `beat`: until the next idle frame.
 */
export function frameWait(view: View, slow: boolean, asleep: boolean, beat: number): number {
  if (!slow) return Math.min(FRAME_MS, beat);
  return asleep ? Math.min(beat, Math.max(FRAME_MS, untilDrain(view))) : beat;
}

/** How long until the first peer's timer starts to run down (timerLeft below 1), if none has yet. */
export function untilDrain(view: View): number {
  const limit = 2 * view.timing.heartbeatTicks;
  let ticks = Number.POSITIVE_INFINITY;
  for (const p of view.peers)
    if (p.silentTicks >= 0 && p.silentTicks <= limit) ticks = Math.min(ticks, limit + 1 - p.silentTicks);
  return ticks * TICK_MS;
}

/**
 * The fraction of a peer's timeout left. It stays full while heartbeats arrive on time and drains only after a
 * missed one, so a healthy room holds still and a silent peer stands out.
 */
export function timerLeft(view: View, silentTicks: number): number {
  if (silentTicks < 0) return 0;
  const { heartbeatTicks } = view.timing;
  const late = silentTicks - 2 * heartbeatTicks;
  return late <= 0 ? 1 : Math.max(0, 1 - late / (view.suspectTicks - 2 * heartbeatTicks));
}

const SIZE = 340;
const C = SIZE / 2;
const R = 120;
const NODE = 22;

const UI_VARS = [
  'surface',
  'text',
  'muted',
  'border',
  'accent',
  'leader',
  'candidate',
  'follower',
  'down',
  'danger',
] as const;
type Palette = Record<(typeof UI_VARS)[number], string> & { font: string; types: Record<string, string> };
let palette: { theme: string | null; colors: Palette } | null = null;

/** The theme's colours, read from the CSS variables once per theme. */
function colors(canvas: HTMLCanvasElement): Palette {
  const theme = document.documentElement.getAttribute('data-theme');
  if (palette?.theme === theme) return palette.colors;
  const cs = getComputedStyle(canvas);
  const read = (name: string) => cs.getPropertyValue(name).trim() || '#888';
  const ui = Object.fromEntries(UI_VARS.map((v) => [v, read(`--${v}`)])) as Record<
    (typeof UI_VARS)[number],
    string
  >;
  // TYPE_COLOR holds `var(--c-…)` for the legend's CSS; the canvas needs the values.
  const types = Object.fromEntries(Object.entries(TYPE_COLOR).map(([t, css]) => [t, read(css.slice(4, -1))]));
  const out: Palette = { ...ui, font: cs.fontFamily || 'sans-serif', types };
  palette = { theme, colors: out };
  return out;
}

function drawRing(canvas: HTMLCanvasElement, frame: Frame): void {
  const dpr = window.devicePixelRatio || 1;
  const px = Math.round(SIZE * dpr);
  if (canvas.width !== px) {
    canvas.width = px;
    canvas.height = px;
  }
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const k = colors(canvas);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, SIZE, SIZE);
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';

  const { view, rows, flights, at } = frame;
  const n = Math.max(rows.length, 1);
  const pos = new Map<number, { x: number; y: number }>();
  rows.forEach((r, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / n;
    pos.set(r.id, { x: C + R * Math.cos(a), y: C + R * Math.sin(a) });
  });

  ctx.setLineDash([3, 5]);
  ctx.strokeStyle = k.border;
  ctx.lineWidth = 1;
  circle(ctx, C, C, R);
  ctx.stroke();
  ctx.setLineDash([]);

  for (const f of flights) {
    const self = pos.get(view.self);
    const peer = pos.get(f.peer);
    if (!self || !peer) continue;
    const [a, b] = f.dir === 'out' ? [self, peer] : [peer, self];
    const t = Math.max(0, Math.min(1, (at - f.at) / FLIGHT_MS));
    const len = Math.hypot(b.x - a.x, b.y - a.y) || 1;
    const ux = (b.x - a.x) / len;
    const uy = (b.y - a.y) / len;
    const sx = a.x + ux * NODE;
    const sy = a.y + uy * NODE;
    const x = sx + (b.x - ux * NODE - sx) * t;
    const y = sy + (b.y - uy * NODE - sy) * t;
    const color = k.types[f.type] ?? k.muted;
    const major = f.type !== 'hb';
    if (major) {
      ctx.globalAlpha = 0.55;
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(sx, sy);
      ctx.lineTo(x, y);
      ctx.stroke();
      ctx.globalAlpha = 1;
    }
    if (f.via === 'dropped') {
      ctx.fillStyle = k.danger;
      ctx.font = `800 14px ${k.font}`;
      ctx.fillText('×', sx, sy);
      continue;
    }
    ctx.fillStyle = color;
    circle(ctx, x, y, major ? 5 : 3);
    ctx.fill();
    if (f.via === 'relay') {
      // Relayed through the server: an outlined dot, like the players list's "relayed".
      ctx.setLineDash([2, 2]);
      ctx.strokeStyle = k.text;
      ctx.lineWidth = 1;
      ctx.stroke();
      ctx.setLineDash([]);
    }
    if (major && t < 0.85) {
      ctx.font = `700 10px ${k.font}`;
      ctx.textAlign = 'left';
      ctx.fillText(f.type, x + 7, y - 6);
      ctx.textAlign = 'center';
    }
  }

  const recentCoordinator = new Set(
    flights.filter((f) => f.dir === 'in' && f.type === 'coordinator').map((f) => f.peer),
  );
  for (const r of rows) {
    const p = pos.get(r.id);
    if (!p) continue;
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
    const frac = r.state === 'self' ? 1 : pv ? timerLeft(view, pv.silentTicks) : 0;

    ctx.lineWidth = 4;
    ctx.strokeStyle = k.border;
    circle(ctx, p.x, p.y, NODE + 6);
    ctx.stroke();
    if (frac > 0) {
      ctx.strokeStyle = role === 'leader' ? k.leader : role === 'suspected' ? k.danger : k.accent;
      ctx.lineCap = 'round';
      ctx.beginPath();
      ctx.arc(p.x, p.y, NODE + 6, -Math.PI / 2, -Math.PI / 2 + 2 * Math.PI * frac);
      ctx.stroke();
      ctx.lineCap = 'butt';
    }

    const offline = role === 'offline';
    ctx.fillStyle =
      role === 'leader'
        ? k.leader
        : role === 'candidate'
          ? k.candidate
          : role === 'suspected'
            ? k.down
            : offline
              ? k.surface
              : k.follower;
    ctx.strokeStyle = offline ? k.down : r.state === 'self' ? k.text : k.surface;
    ctx.lineWidth = 3;
    if (offline) ctx.setLineDash([4, 3]);
    circle(ctx, p.x, p.y, NODE);
    ctx.fill();
    ctx.stroke();
    ctx.setLineDash([]);

    ctx.fillStyle = offline ? k.muted : '#fff';
    ctx.font = `800 15px ${k.font}`;
    ctx.fillText(String(r.id), p.x, p.y + 1);
    if (r.isLeader) {
      ctx.fillStyle = k.leader;
      ctx.font = `18px ${k.font}`;
      ctx.fillText('♛', p.x, p.y - NODE - 16);
    }
    ctx.fillStyle = k.muted;
    ctx.font = `600 11px ${k.font}`;
    ctx.fillText(
      r.state === 'self' ? `you · t${view.term}` : `t${r.term}${r.done ? ' ✓' : ''}`,
      p.x,
      p.y + NODE + 16,
    );
  }

  ctx.fillStyle = k.text;
  ctx.font = `750 16px ${k.font}`;
  ctx.fillText(`term ${view.term}`, C, C - 10);
  ctx.fillStyle = k.muted;
  ctx.font = `11px ${k.font}`;
  ctx.fillText(`${view.leader ? `leader ${view.leader}` : 'no leader'} · stage ${view.stage}`, C, C + 12);
}

function circle(ctx: CanvasRenderingContext2D, x: number, y: number, r: number): void {
  ctx.beginPath();
  ctx.arc(x, y, r, 0, 2 * Math.PI);
}

function describeView(f: Frame): string {
  const view = f.view;
  return `Player ${view.self} is ${view.role} in term ${view.term}; leader ${view.leader || 'none'}; stage ${view.stage} (${f.stageName}); ${view.live.length} of ${view.members.length} live.`;
}

/** Terms and leaders over time, as this tab saw them. */
export function Timeline() {
  const ids = useId();
  const timeline = useDev((s) => s.timeline);
  const [now, setNow] = useState(() => performance.now());
  const startedAt = useDev((s) => s.session.startedAt);
  useEffect(() => {
    // Once a second, on the beat (untilBeat): 1.7 % of the 60 s bar, and each step is a paint.
    let h = 0;
    const tick = () => {
      setNow(performance.now());
      h = window.setTimeout(tick, untilBeat(1000));
    };
    h = window.setTimeout(tick, untilBeat(1000));
    return () => window.clearTimeout(h);
  }, []);
  if (timeline.length === 0) return null;
  const end = Math.max(now - startedAt, timeline[timeline.length - 1]!.at + 1);
  const start = Math.max(0, end - 60_000);
  const span = end - start;
  const segs = timeline.map((t, i) => ({ ...t, to: timeline[i + 1]?.at ?? end })).filter((s) => s.to > start);
  return (
    <section className="card" aria-labelledby={`${ids}-tl`}>
      <h2 id={`${ids}-tl`}>
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

/** A pastel per leader, light enough for the dark label text in either theme. */
function hue(id: number): string {
  return `hsl(${(id * 67) % 360} 70% 80%)`;
}
