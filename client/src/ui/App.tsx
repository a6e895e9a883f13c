import { PageHeader } from './common.tsx';
import { Lobby } from './Lobby.tsx';
import { useRoute } from './nav.ts';
import { NameGate } from './Room.tsx';

export function App() {
  const route = useRoute();
  if (route.kind === 'lobby') return <Lobby />;
  if (route.kind === 'invalid') {
    return (
      <main className="page narrow">
        <PageHeader />
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
