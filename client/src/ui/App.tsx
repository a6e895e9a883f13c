import { ThemeToggle } from './common.tsx';
import { Lobby } from './Lobby.tsx';
import { useRoute } from './nav.ts';
import { NameGate } from './Room.tsx';

export function App() {
  const route = useRoute();
  if (route.kind === 'lobby') return <Lobby />;
  if (route.kind === 'invalid') {
    return (
      <main className="page narrow">
        <header className="topbar">
          <a className="brand" href="/">
            <Logo /> Lockstep
          </a>
          <ThemeToggle />
        </header>
        <section className="card error-card" role="alert" data-testid="url-error">
          <h1>This link cannot be opened</h1>
          <ul>
            {route.errors.map((e) => (
              <li key={e}>{e}</li>
            ))}
          </ul>
          <a className="btn primary" href="/">
            Go to the lobby
          </a>
        </section>
      </main>
    );
  }
  return <NameGate key={route.room} route={route} />;
}

export function Logo() {
  return (
    <svg className="logo" viewBox="0 0 64 64" aria-hidden="true">
      <circle cx="32" cy="32" r="30" fill="var(--accent)" />
      <path d="M32 14 48 40 16 40Z" fill="none" stroke="#fff" strokeWidth="3" strokeLinejoin="round" />
      <g fill="#fff">
        <circle cx="32" cy="14" r="6" />
        <circle cx="48" cy="40" r="6" />
        <circle cx="16" cy="40" r="6" />
      </g>
    </svg>
  );
}
