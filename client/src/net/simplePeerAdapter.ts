// One simple-peer instance as a PeerLink. Shared by the browser build (from source, client/src/net/shims) and Node
// (the CJS package with @roamhq/wrtc), which differ only in how the SimplePeer object is made.

import type SimplePeer from 'simple-peer';
import type { LinkEvents, PeerLink } from './transport.ts';

const decoder = new TextDecoder();

const isTcpCandidate = (line: string) => /^(?:a=)?candidate:\S+ \d+ tcp /i.test(line);

/**
 * The signal without its ICE-TCP candidates, or null when nothing is left to send. Every TCP candidate
 * pair costs each side a socket that libwebrtc holds until the connection closes: in a mesh of N that is
 * O(N²) sockets (a room of 32 headless players ran out of 20,000 descriptors). UDP-blocked networks get
 * through TURN (over TCP or TLS) instead.
 */
export function withoutTcpCandidates(data: unknown): unknown {
  if (typeof data !== 'object' || data === null) return data;
  const d = data as { candidate?: { candidate?: unknown }; sdp?: unknown };
  const c = d.candidate?.candidate;
  if (typeof c === 'string' && isTcpCandidate(c)) return null;
  if (typeof d.sdp === 'string') {
    const lines = d.sdp.split('\r\n');
    const kept = lines.filter((l) => !isTcpCandidate(l));
    if (kept.length < lines.length) return { ...d, sdp: kept.join('\r\n') };
  }
  return data;
}

export function linkFromSimplePeer(peer: SimplePeer.Instance, events: LinkEvents): PeerLink {
  let gone = false;
  // Ours, not peer.connected: that reads the channel's readyState, which in @roamhq/wrtc is a blocking
  // call into libwebrtc's signaling thread (24 µs idle, a quarter of a send). A channel that is closing
  // before its close event makes send throw, which is caught below.
  let open = false;
  const close = (reason: string) => {
    if (gone) return;
    gone = true;
    events.close(reason);
  };
  peer.on('signal', (data) => {
    const usable = withoutTcpCandidates(data);
    if (usable !== null) events.signal(usable);
  });
  peer.on('connect', () => {
    open = true;
    events.open();
  });
  peer.on('iceStateChange', (state: string) => {
    if (state === 'connected' || state === 'completed') events.progress?.();
  });
  peer.on('data', (data: unknown) => {
    if (typeof data === 'string') events.data(data);
    else if (data instanceof Uint8Array) events.data(decoder.decode(data));
  });
  peer.on('close', () => close('closed'));
  peer.on('error', (err: Error & { code?: string }) => close(err.code ?? err.message));
  return {
    send(text) {
      if (gone || !open) return false;
      try {
        peer.send(text);
        return true;
      } catch {
        return false;
      }
    },
    signal(data) {
      // Dropped on the way in too: an older client may still send them.
      const usable = withoutTcpCandidates(data);
      if (gone || usable === null) return;
      try {
        peer.signal(usable as SimplePeer.SignalData);
      } catch (err) {
        close(`bad signal: ${(err as Error).message}`);
      }
    },
    destroy() {
      gone = true;
      peer.destroy();
    },
  };
}
