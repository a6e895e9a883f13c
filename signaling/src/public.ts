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
  if (typeof options !== 'object' || options === null)
    throw new TypeError('createSignalingServer: options must be an object');
  const httpRoutes = options.httpRoutes ?? false;
  // Two handlers for one request: ours would answer the app's routes with a 404.
  if (
    httpRoutes === true &&
    typeof httpServer?.listenerCount === 'function' &&
    httpServer.listenerCount('request') > 0
  )
    throw new TypeError(
      'createSignalingServer: httpRoutes: true answers every request, but this HTTP server already has a request handler (your app)',
    );
  return create(httpServer, { sharedUpgrades: true, ...options, httpRoutes });
}
