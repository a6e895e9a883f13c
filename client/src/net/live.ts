// The browser wiring: the one Session of this tab, with real sockets, peers, timers and storage.

import { appStore } from '../store/index.ts';
import { initialState } from '../store/store.ts';
import { Session, type SessionParams } from './session.ts';
import { SocketSignaling } from './signaling.ts';
import { simplePeerFactory } from './simplePeerLink.ts';

let current: { key: string; session: Session } | null = null;

function safeSessionStorage(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

function random(): number {
  const a = new Uint32Array(1);
  crypto.getRandomValues(a);
  return a[0]! / 2 ** 32;
}

export function openSession(params: SessionParams): Session {
  const key = JSON.stringify([params.room, params.name]);
  if (current?.key === key) return current.session;
  closeSession();
  appStore.setState(initialState());
  const session = new Session(params, {
    signaling: new SocketSignaling(),
    factory: simplePeerFactory,
    store: appStore,
    now: () => performance.now(),
    storage: safeSessionStorage(),
    setInterval: (fn, ms) => window.setInterval(fn, ms),
    clearInterval: (h) => window.clearInterval(h as number),
    setTimeout: (fn, ms) => window.setTimeout(fn, ms),
    random,
  });
  current = { key, session };
  session.start();
  return session;
}

export function currentSession(): Session | null {
  return current?.session ?? null;
}

export function closeSession(): void {
  current?.session.stop();
  current = null;
}

/** A closing or reloading tab says goodbye first; it does not leave, so a reload resumes its ID. */
export function installPageHide(): void {
  window.addEventListener('pagehide', () => current?.session.goodbye());
}
