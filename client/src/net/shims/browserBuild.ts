// How a browser build bundles simple-peer from its source (`simple-peer` → index.js) instead of the prebuilt
// simplepeer.min.js, whose browserify bundle carried its own Buffer, process, events, readable-stream, debug and
// randombytes (24.7 KB gz of the page). What Node and npm gave it comes from this folder instead:
// - `events` (not installed as a package) as a small emitter, which only our Duplex imports;
// - `debug` as a no-op (its output is never enabled) and `randombytes` as crypto.getRandomValues;
// - `readable-stream` as a Duplex of what simple-peer touches, and `buffer` as the two calls it makes. The
//   packages themselves were another 18 KB gz, and readable-stream also needed `process.nextTick`.
// No global `process` or `Buffer` is made: other code on a page reads one as "this is Node".
// It also leaves out the engine.io transports the client never opens (websocketOnly).
// Every Vite build of a page that imports the library uses it: vite.config.ts (the app, `npm run dev`, whose
// optimizer takes the aliases too) and the bench's pages (configFile: false). The published lib
// (`--mode lib`) leaves simple-peer external.

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin, UserConfig } from 'vite';

const shim = (file: string) => fileURLToPath(new URL(file, import.meta.url));

const TRANSPORTS = '\0lockstep:engine.io-transports:';

/**
 * engine.io-client's transports by name, as its socket looks them up: websocket only. It opens the first one
 * SocketSignaling lists, and no other (tryAllTransports is off, and a websocket is never upgraded), so its
 * polling and WebTransport code (2.1 KB gz) was never run. (Not in `npm run dev`, whose optimizer runs no
 * plugins: there the unused transports stay.)
 */
export const websocketOnly: Plugin = {
  name: 'lockstep:engine.io-websocket-only',
  enforce: 'pre',
  resolveId(source, importer) {
    if (
      source === './transports/index.js' &&
      importer &&
      /[\\/]engine\.io-client[\\/]build[\\/]esm[\\/]/.test(importer)
    )
      return TRANSPORTS + join(dirname(importer), 'transports', 'websocket.js');
    return null;
  },
  load(id) {
    if (!id.startsWith(TRANSPORTS)) return null;
    // A connection that asks for another transport is told why it cannot have one, not `new undefined`.
    return `import { WS } from ${JSON.stringify(id.slice(TRANSPORTS.length))};
const absent = (name) => function () {
  throw new Error(\`this build bundles engine.io's websocket transport only: connect with transports: ['websocket'], not \${name}\`);
};
export const transports = { websocket: WS, polling: absent('polling'), webtransport: absent('webtransport') };
`;
  },
  // The package's index still exports the XHR transport; what its modules do on load (probe XMLHttpRequest
  // twice, listen to pagehide to abort requests) serves only it, so they go when nothing imports it.
  transform(code, id) {
    if (
      /[\\/]engine\.io-client[\\/]build[\\/]esm[\\/](transports[\\/]polling-xhr|contrib[\\/]has-cors)\.js$/.test(
        id,
      )
    )
      return { code, moduleSideEffects: false };
    return null;
  },
};

export const browserSimplePeer = {
  plugins: [websocketOnly],
  resolve: {
    alias: [
      { find: /^debug$/, replacement: shim('./debug.cjs') },
      { find: /^randombytes$/, replacement: shim('./randombytes.cjs') },
      { find: /^readable-stream$/, replacement: shim('./readable-stream.cjs') },
      { find: /^buffer\/?$/, replacement: shim('./buffer.cjs') },
    ],
  },
} satisfies UserConfig;
