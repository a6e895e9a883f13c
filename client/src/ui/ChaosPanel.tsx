import { useId, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { currentChaos } from '../net/live.ts';
import { useApp, useAppEvery } from '../store/index.ts';

const NONE: number[] = [];

/** Fault injection acting on this tab only. */
export function ChaosPanel() {
  const { chaos, self } = useApp(useShallow((s) => ({ chaos: s.chaos, self: s.view?.self ?? 0 })));
  // Every published view holds a new members array: compared by its items, the panel renders on a real change.
  const members = useApp(useShallow((s) => s.view?.members ?? NONE));
  // Counters that move with every message: once a second is as often as they can be read.
  const stats = useAppEvery(1000, (s) => s.stats);
  const [latency, setLatency] = useState(String(chaos.latencyMs || 200));
  const id = useId();
  const peers = members.filter((m) => m !== self);
  return (
    <section className={`card chaos ${chaos.crashed ? 'crashed' : ''}`} aria-labelledby="chaos-h">
      <h2 id="chaos-h">Chaos</h2>
      <div className="chaos-row">
        <button
          type="button"
          className="btn danger"
          aria-pressed={chaos.crashed}
          onClick={() => currentChaos()?.crash()}
          data-testid="chaos-crash"
        >
          Crash (go silent)
        </button>
        <button
          type="button"
          className="btn"
          onClick={() => currentChaos()?.recover()}
          data-testid="chaos-recover"
        >
          Recover
        </button>
        {chaos.crashed && <span className="pill sig-down">silent</span>}
      </div>
      <div className="chaos-row">
        <button
          type="button"
          className={`btn ${chaos.serverCut ? 'danger' : ''}`}
          aria-pressed={chaos.serverCut}
          onClick={() => currentChaos()?.setServerCut(!chaos.serverCut)}
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
              onClick={() => currentChaos()?.setCut(p, !cut)}
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
          currentChaos()?.setLatency(Number(latency));
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
          onChange={(e) => setLatency(e.target.value)}
          data-testid="chaos-latency"
        />
        <button type="submit" className="btn small" data-testid="chaos-latency-apply">
          Apply
        </button>
        {chaos.latencyMs > 0 && (
          <button
            type="button"
            className="btn small ghost"
            onClick={() => currentChaos()?.setLatency(0)}
            data-testid="chaos-latency-clear"
          >
            Clear ({chaos.latencyMs} ms)
          </button>
        )}
      </form>
      <p className="small muted stats" data-testid="net-stats">
        sent direct {stats.sentDirect} · relayed {stats.sentRelay} · dropped {stats.dropped} · bad frames{' '}
        {stats.badFrames} · connections {stats.linksCreated}
      </p>
    </section>
  );
}
