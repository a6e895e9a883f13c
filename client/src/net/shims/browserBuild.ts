// How a browser build bundles simple-peer from its source (`simple-peer` → index.js) instead of the prebuilt
// simplepeer.min.js, whose browserify bundle carried its own Buffer, process, events, readable-stream, debug and
// randombytes (24.7 KB gz of the page). What Node and npm gave it comes from this folder instead:
// - `events` (not installed as a package) as a small emitter, which only our Duplex imports;
// - `debug` as a no-op (its output is never enabled) and `randombytes` as crypto.getRandomValues;
// - `readable-stream` as a Duplex of what simple-peer touches, and `buffer` as the two calls it makes. The
//   packages themselves were another 18 KB gz, and readable-stream also needed `process.nextTick`.
// No global `process` or `Buffer` is made: other code on a page reads one as "this is Node".
// Every Vite build of a page that imports the library uses it: vite.config.ts (the app, `npm run dev`, whose
// optimizer takes the aliases too) and the bench's pages (configFile: false). The published lib
// (`--mode lib`) leaves simple-peer external.

import { fileURLToPath } from 'node:url';
import type { UserConfig } from 'vite';

const shim = (file: string) => fileURLToPath(new URL(file, import.meta.url));

export const browserSimplePeer = {
  resolve: {
    alias: [
      { find: /^debug$/, replacement: shim('./debug.cjs') },
      { find: /^randombytes$/, replacement: shim('./randombytes.cjs') },
      { find: /^readable-stream$/, replacement: shim('./readable-stream.cjs') },
      { find: /^buffer\/?$/, replacement: shim('./buffer.cjs') },
    ],
  },
} satisfies UserConfig;
