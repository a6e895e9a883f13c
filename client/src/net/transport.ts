// The peer connection behind a small interface, so the mesh can be tested with a fake transport.

import type { IceServer } from '../protocol/signaling.ts';

export interface LinkEvents {
  /** Local SDP or ICE candidate to forward to the peer through signaling. */
  signal(data: unknown): void;
  /** The data channel opened. */
  open(): void;
  /** ICE found a working pair: what is left (DTLS, the data channel) only needs time, which load stretches. */
  progress?(): void;
  data(text: string): void;
  /** The link is gone (closed or failed). A hint only: a killed tab never sends one. */
  close(reason: string): void;
}

export interface PeerLink {
  /** False when the channel is not open or the send failed. */
  send(text: string): boolean;
  signal(data: unknown): void;
  destroy(): void;
}

export interface LinkOptions {
  initiator: boolean;
  /** The player at the far end (decorators such as chaos.ts key on it). */
  peer: number;
  iceServers: IceServer[];
}

export type LinkFactory = (opts: LinkOptions, events: LinkEvents) => PeerLink;
