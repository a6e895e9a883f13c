// One simple-peer instance as a PeerLink. Shared by the browser build (simplepeer.min.js) and Node
// (the CJS package with @roamhq/wrtc), which differ only in how the SimplePeer object is made.

import type SimplePeer from 'simple-peer';
import type { LinkEvents, PeerLink } from './transport.ts';

const decoder = new TextDecoder();

export function linkFromSimplePeer(peer: SimplePeer.Instance, events: LinkEvents): PeerLink {
  let gone = false;
  const close = (reason: string) => {
    if (gone) return;
    gone = true;
    events.close(reason);
  };
  peer.on('signal', (data) => events.signal(data));
  peer.on('connect', () => events.open());
  peer.on('data', (data: unknown) => {
    if (typeof data === 'string') events.data(data);
    else if (data instanceof Uint8Array) events.data(decoder.decode(data));
  });
  peer.on('close', () => close('closed'));
  peer.on('error', (err: Error & { code?: string }) => close(err.code ?? err.message));
  return {
    send(text) {
      if (gone || !peer.connected) return false;
      try {
        peer.send(text);
        return true;
      } catch {
        return false;
      }
    },
    signal(data) {
      if (gone) return;
      try {
        peer.signal(data as SimplePeer.SignalData);
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
