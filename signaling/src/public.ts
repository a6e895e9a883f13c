// lockstep/server: the signaling server for an HTTP server you already run (bare http, Express, Fastify).

import type { Server as HttpServer } from 'node:http';
import { createSignalingServer as create, type SignalingOptions, type SignalingServer } from './server.ts';

export type { SignalingOptions, SignalingServer };

/**
 * Attaches Lockstep's signaling (socket.io at `/socket.io/`) to `httpServer`. Other requests and WebSocket
 * upgrades stay your app's. `close()` tells clients to come back later, disconnects them and closes the
 * HTTP server (socket.io's own close does).
 */
export function createSignalingServer(
  httpServer: HttpServer,
  options: SignalingOptions = {},
): SignalingServer {
  return create(httpServer, { httpRoutes: false, sharedUpgrades: true, ...options });
}
