// The browser wiring: the one Session of this tab, with real sockets, peers, timers and storage.

import { appStore } from '../store/index.ts';
import { Chaos } from './chaos.ts';
import { holdIdentity, random, safeSessionStorage } from './platform.ts';
import { SealedSignaling } from './sealedSignaling.ts';
import { Session, type SessionParams } from './session.ts';
import { type SignalingPort, SocketSignaling } from './signaling.ts';
import { simplePeerFactory } from './simplePeerLink.ts';

let current: { key: string; session: Session; chaos: Chaos } | null = null;

const passwordKey = (room: string) => `lockstep:pw:${room}`;

/** The password this tab last used for a room, so a reload (its URL no longer has `#k=`) gets back in. */
export function savedPassword(room: string): string | undefined {
  try {
    return safeSessionStorage()?.getItem(passwordKey(room)) ?? undefined;
  } catch {
    return undefined;
  }
}

export function savePassword(room: string, password: string | undefined): void {
  try {
    if (password === undefined) safeSessionStorage()?.removeItem(passwordKey(room));
    else safeSessionStorage()?.setItem(passwordKey(room), password);
  } catch {
    // Storage disabled: a reload will need the link with #k= again.
  }
}

/** With a password, every signal and relayed frame is sealed (see sealedSignaling.ts). */
function signalingFor(room: string, password: string | undefined): SignalingPort {
  const socket = new SocketSignaling();
  if (password === undefined) return watchJoins(socket);
  const sealed = new SealedSignaling(socket, {
    room,
    password,
    onReject: (from, kind, error) => {
      console.warn(`lockstep: dropped a ${kind} payload from ${from}: ${error}`);
      const at = performance.now() - appStore.getState().session.startedAt;
      appStore.getState().actions.decryptFailed({
        kind: 'bad',
        text: `rejected a ${kind} payload from ${from}: ${error}`,
        at,
      });
    },
  });
  return watchJoins(sealed);
}

/** Notes a bad_password refusal, so the room page can ask for the password. */
function watchJoins(port: SignalingPort): SignalingPort {
  const join: SignalingPort['join'] = async (req) => {
    const res = await port.join(req);
    if (!res.ok && res.code === 'bad_password') {
      appStore.getState().actions.passwordRefused();
    }
    return res;
  };
  return new Proxy(port, {
    get: (target, prop) => {
      if (prop === 'join') return join;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

export function openSession(params: SessionParams, password?: string): Session {
  const key = JSON.stringify([params.room, params.name, password ?? null]);
  if (current?.key === key) return current.session;
  closeSession();
  appStore.getState().actions.reset(params.room, params.name, performance.now(), password !== undefined);
  const chaos = new Chaos({
    delay: (fn, ms) => window.setTimeout(fn, ms),
    store: appStore,
    now: () => performance.now(),
  });
  const session = new Session(params, {
    signaling: chaos.signaling(signalingFor(params.room, password)),
    factory: chaos.factory(simplePeerFactory),
    store: appStore,
    now: () => performance.now(),
    storage: safeSessionStorage(),
    setInterval: (fn, ms) => window.setInterval(fn, ms),
    clearInterval: (h) => window.clearInterval(h as number),
    setTimeout: (fn, ms) => window.setTimeout(fn, ms),
    random,
    holdIdentity,
  });
  current = { key, session, chaos };
  session.setAway(document.visibilityState === 'hidden');
  session.start();
  if (testHooksWanted()) installTestHooks(session);
  return session;
}

/** The test hook's page API (README, "Automation contract"). */
export interface LockstepTestHooks {
  /** This tab's player ID, or null before it has one. */
  self(): number | null;
  /** Sends `message` as a core message to player `to`, unchecked, over the data channel or the relay. */
  send(to: number, message: unknown): boolean;
}

/**
 * Opt-in only, with `testHooks=1` in the page's query: e2e tests play a lying player through it. It grants
 * nothing a player with devtools lacks (any page script of ours could already send anything), and it says so in
 * the event log so nobody runs it unawares.
 */
function testHooksWanted(): boolean {
  try {
    return new URLSearchParams(window.location.search).get('testHooks') === '1';
  } catch {
    return false;
  }
}

function installTestHooks(session: Session): void {
  const hooks: LockstepTestHooks = Object.freeze({
    self: () => appStore.getState().session.selfId,
    send: (to: number, message: unknown) => current?.session === session && session.testSend(to, message),
  });
  (window as unknown as { lockstepTest?: LockstepTestHooks }).lockstepTest = hooks;
  console.warn('lockstep: test hooks are on (testHooks=1): window.lockstepTest can send any core message');
  appStore
    .getState()
    .actions.log([{ kind: 'chaos', text: 'test hooks are on (testHooks=1 in the address)', at: 0 }]);
}

export function currentSession(): Session | null {
  return current?.session ?? null;
}

/** The chaos panel's controls over this tab's links and server connection. */
export function currentChaos(): Chaos | null {
  return current?.chaos ?? null;
}

export function closeSession(): void {
  current?.session.stop();
  current = null;
  if (typeof window !== 'undefined') delete (window as unknown as { lockstepTest?: unknown }).lockstepTest;
}

/** A closing or reloading tab says goodbye first; it does not leave, so a reload resumes its ID. */
export function installPageHide(): void {
  window.addEventListener('pagehide', () => current?.session.goodbye());
  // A background tab shows as away to the others (on its pings, and at once on a change).
  document.addEventListener('visibilitychange', () =>
    current?.session.setAway(document.visibilityState === 'hidden'),
  );
  // Chrome's Page Lifecycle: a frozen page (background tab on a phone, Memory Saver) gets `resume`.
  document.addEventListener('resume', () => current?.session.resume());
  window.addEventListener('pageshow', (e) => {
    if (e.persisted) current?.session.welcomeBack();
  });
}
