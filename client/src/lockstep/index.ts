// Lockstep's client entry: joinRoom() in a browser or in Node (with WebRTC injected).

import SimplePeer from 'simple-peer';
import { holdIdentity, localStamps, memoryStorage, random, safeSessionStorage } from '../net/platform.ts';
import { SocketSignaling } from '../net/signaling.ts';
import { linkFromSimplePeer } from '../net/simplePeerAdapter.ts';
import type { LinkFactory } from '../net/transport.ts';
import { checkOptions } from './options.ts';
import { type PageHooks, RoomImpl } from './room.ts';
import type { JoinOptions, Room, RtcImplementation } from './types.ts';

export { LockstepError, type LockstepErrorCode } from './errors.ts';
export type * from './types.ts';

type Wrtc = NonNullable<ConstructorParameters<typeof SimplePeer>[0]>['wrtc'];

function rtcFactory(rtc: RtcImplementation | undefined): LinkFactory {
  const wrtc = rtc as Wrtc;
  return ({ initiator, iceServers }, events) =>
    linkFromSimplePeer(
      new SimplePeer({ initiator, trickle: true, config: { iceServers }, ...(wrtc ? { wrtc } : {}) }),
      events,
    );
}

/** The browser's own WebRTC: one factory per page, so its rooms share the page's connection budget (Mesh). */
const pageFactory = rtcFactory(undefined);

/** The browser page's visibility and lifecycle, or undefined outside a page. */
function browserPage(): PageHooks | undefined {
  if (typeof document === 'undefined' || typeof window === 'undefined') return undefined;
  return {
    hidden: () => document.visibilityState === 'hidden',
    on: (event, fn) => {
      if (event === 'visibility') {
        document.addEventListener('visibilitychange', fn);
        return () => document.removeEventListener('visibilitychange', fn);
      }
      if (event === 'resume') {
        // Chrome's Page Lifecycle: a frozen page (background tab on a phone, Memory Saver) gets `resume`.
        document.addEventListener('resume', fn);
        return () => document.removeEventListener('resume', fn);
      }
      if (event === 'pagehide') {
        window.addEventListener('pagehide', fn);
        return () => window.removeEventListener('pagehide', fn);
      }
      const onShow = (e: PageTransitionEvent) => {
        if (e.persisted) fn();
      };
      window.addEventListener('pageshow', onShow);
      return () => window.removeEventListener('pageshow', onShow);
    },
  };
}

/**
 * Joins (or creates) a room. Resolves once this player has an ID and the room's state; rejects with a
 * `LockstepError` (`bad_argument`, `unreachable`, `timeout`, `aborted`, `room_full`, `bad_password`, …).
 */
export async function joinRoom(options: JoinOptions): Promise<Room> {
  const opts = checkOptions(options, true);
  const page = opts.pageLifecycle ? browserPage() : undefined;
  const storage = opts.storage === undefined ? (safeSessionStorage() ?? memoryStorage()) : opts.storage;
  // Only where a tab's storage can be copied into another (a browser): nothing to keep elsewhere.
  const stamps = storage ? localStamps() : null;
  const room = new RoomImpl(
    opts,
    {
      signaling: new SocketSignaling(opts.server),
      factory: opts.rtc ? rtcFactory(opts.rtc) : pageFactory,
      storage,
      now: () => performance.now(),
      setInterval: (fn, ms) => setInterval(fn, ms),
      clearInterval: (h) => clearInterval(h as ReturnType<typeof setInterval>),
      setTimeout: (fn, ms) => setTimeout(fn, ms),
      clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
      random,
      holdIdentity,
      ...(stamps ? { stamps } : {}),
      ...(page ? { page } : {}),
    },
    opts.signal,
  );
  await room.joined;
  return room;
}
