// The devtools' chaos controls and event log, over a room's store (see devtools.tsx), and all the panels
// together: what <LockstepDevtools> loads.

import { memo, useId, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { type Chaos, parseLatencyMs } from '../net/chaos.ts';
import type { LogEntry } from '../store/store.ts';
import { DevtoolsStore, fmtT, Timeline, useDev, useDevEvery, Visualizer } from './devtools.tsx';
import type { LockstepDevtoolsProps } from './react.tsx';
import { roomInternals } from './room.ts';

const NONE: number[] = [];

/** Fault injection acting on this player only (a room joined with `chaos: true`). */
export function ChaosPanel({ chaos: control }: { chaos: Chaos }) {
  const { chaos, self } = useDev(useShallow((s) => ({ chaos: s.chaos, self: s.view?.self ?? 0 })));
  // Every published view holds a new members array: compared by its items, the panel renders on a real change.
  const members = useDev(useShallow((s) => s.view?.members ?? NONE));
  const [latency, setLatency] = useState(String(chaos.latencyMs || 200));
  const [latencyProblem, setLatencyProblem] = useState('');
  const id = useId();
  const peers = members.filter((m) => m !== self);
  return (
    <section
      className={`card chaos ${chaos.crashed ? 'crashed' : ''}`}
      aria-labelledby={`${id}-h`}
      data-testid="chaos"
    >
      <h2 id={`${id}-h`}>Chaos</h2>
      <div className="chaos-row">
        <button
          type="button"
          className="btn danger"
          aria-pressed={chaos.crashed}
          onClick={() => control.crash()}
          data-testid="chaos-crash"
        >
          Crash (go silent)
        </button>
        <button type="button" className="btn" onClick={() => control.recover()} data-testid="chaos-recover">
          Recover
        </button>
        {chaos.crashed && <span className="pill sig-down">silent</span>}
      </div>
      <div className="chaos-row">
        <button
          type="button"
          className={`btn ${chaos.serverCut ? 'danger' : ''}`}
          aria-pressed={chaos.serverCut}
          onClick={() => control.setServerCut(!chaos.serverCut)}
          data-testid="chaos-server-cut"
        >
          {chaos.serverCut ? 'Reconnect to the server' : 'Lose the server (keep the mesh)'}
        </button>
      </div>
      <fieldset className="chaos-cuts">
        <legend className="small">Cut the direct link to</legend>
        {peers.length === 0 && <span className="muted small">no peers yet</span>}
        {peers.map((p) => {
          const cut = chaos.cut.includes(p);
          return (
            <button
              key={p}
              type="button"
              className={`btn small ${cut ? 'danger' : 'ghost'}`}
              aria-pressed={cut}
              onClick={() => control.setCut(p, !cut)}
              data-testid={`chaos-cut-${p}`}
            >
              {cut ? `✂ ${p}` : p}
            </button>
          );
        })}
      </fieldset>
      <form
        className="chaos-row"
        onSubmit={(e) => {
          e.preventDefault();
          const r = parseLatencyMs(latency);
          setLatencyProblem(r.ok ? '' : r.error);
          if (r.ok) control.setLatency(r.ms);
        }}
      >
        <label htmlFor={id} className="small">
          Outbound latency (ms)
        </label>
        <input
          id={id}
          className="latency"
          inputMode="numeric"
          value={latency}
          onChange={(e) => {
            setLatency(e.target.value);
            setLatencyProblem('');
          }}
          maxLength={12}
          aria-invalid={latencyProblem !== ''}
          aria-describedby={latencyProblem ? `${id}-problem` : undefined}
          data-testid="chaos-latency"
        />
        <button type="submit" className="btn small" data-testid="chaos-latency-apply">
          Apply
        </button>
        {chaos.latencyMs > 0 && (
          <button
            type="button"
            className="btn small ghost"
            onClick={() => control.setLatency(0)}
            data-testid="chaos-latency-clear"
          >
            Clear ({chaos.latencyMs} ms)
          </button>
        )}
        {latencyProblem && (
          <span id={`${id}-problem`} role="alert" className="small" data-testid="chaos-latency-problem">
            {latencyProblem}
          </span>
        )}
      </form>
      <NetStats />
    </section>
  );
}

/** Its own component: the counters change every second, the rest of the chaos panel seldom. */
function NetStats() {
  // Counters that move with every message: once a second is as often as they can be read.
  const stats = useDevEvery(1000, (s) => s.stats);
  return (
    <p className="small muted stats" data-testid="net-stats">
      sent direct {stats.sentDirect} · relayed {stats.sentRelay} · dropped {stats.dropped} · bad frames{' '}
      {stats.badFrames} · connections {stats.linksCreated}
    </p>
  );
}

/** The core's and the driver's events, newest first. */
export function EventLog() {
  const ids = useId();
  const log = useDev((s) => s.log);
  const shown = log.slice(-120).reverse();
  return (
    <section className="card" aria-labelledby={`${ids}-log`}>
      <h2 id={`${ids}-log`}>Event log</h2>
      {/* It scrolls, so a keyboard must reach it; not live: heartbeats and the like would flood a screen reader. */}
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region has to take focus to be scrolled by keyboard. */}
      <ol className="log mono small" tabIndex={0} aria-labelledby={`${ids}-log`} data-testid="event-log">
        {shown.map((e) => (
          <LogRow key={e.seq} entry={e} />
        ))}
      </ol>
    </section>
  );
}

// One formatter for every row: toLocaleTimeString builds a new one per call, and re-rendering 120 rows with it
// was a tenth of a forming tab's script time.
const clock = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });

/** Entries never change, so a row renders once, not on every line the log gains. */
const LogRow = memo(function LogRow({ entry: e }: { entry: LogEntry }) {
  return (
    <li className={`k-${e.kind}`}>
      <time title={clock.format(e.wall)}>{fmtT(e.at)}</time>
      <span className="kind">{e.kind}</span>
      <span>{e.text}</span>
    </li>
  );
});

/** What <LockstepDevtools> renders once its chunk has loaded. */
export function DevtoolsPanels({ room, chaos = true, log = true }: LockstepDevtoolsProps) {
  const internals = roomInternals(room);
  // The boundary around them says so (Contained): an empty box would leave the developer guessing.
  if (!internals)
    throw new Error('this room does not come from this copy of lockstep (two copies bundled, or not a room)');
  return (
    <DevtoolsStore value={internals.store}>
      <Visualizer />
      <Timeline />
      {chaos && internals.chaos && <ChaosPanel chaos={internals.chaos} />}
      {log && <EventLog />}
    </DevtoolsStore>
  );
}
