import SimplePeer from 'simple-peer/simplepeer.min.js';
import { linkFromSimplePeer } from './simplePeerAdapter.ts';
import type { LinkFactory } from './transport.ts';

/** The real transport: one simple-peer connection with one ordered, reliable data channel. */
export const simplePeerFactory: LinkFactory = ({ initiator, iceServers }, events) =>
  linkFromSimplePeer(new SimplePeer({ initiator, trickle: true, config: { iceServers } }), events);
