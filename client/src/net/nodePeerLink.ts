// Node's transport: the CJS simple-peer package (as Node runs it, without the browser build's shims) on @roamhq/wrtc.
// Node-only: never imported by the browser build.

import wrtc from '@roamhq/wrtc';
import SimplePeer from 'simple-peer';
import { linkFromSimplePeer } from './simplePeerAdapter.ts';
import type { LinkFactory, LinkOptions } from './transport.ts';

export const createNodePeer = ({ initiator, iceServers }: LinkOptions): SimplePeer.Instance =>
  new SimplePeer({ initiator, trickle: true, config: { iceServers }, wrtc });

export const nodePeerFactory: LinkFactory = (opts, events) =>
  linkFromSimplePeer(createNodePeer(opts), events);
