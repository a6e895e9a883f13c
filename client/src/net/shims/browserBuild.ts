// How a browser build bundles simple-peer from its source (`simple-peer` → index.js) instead of the prebuilt
// simplepeer.min.js, whose browserify bundle carried its own Buffer, process, events, readable-stream, debug and
// randombytes (24.7 KB gz of the page). Rolldown bundles and minifies the real `buffer` and `readable-stream`
// with ours; what Node gave them comes from this folder:
// - `events` (not installed as a package) and `process.nextTick` (injected where a module names it: no global
//   `process` is made, which other code on a page would read as "this is Node");
// - `debug` as a no-op (its output is never enabled) and `randombytes` as crypto.getRandomValues;
// - `readable-stream` as its Duplex alone, the one class simple-peer uses.
// Every Vite build of a page that imports the library uses it: vite.config.ts (the app, `npm run dev`) and the
// bench's pages (configFile: false). The published lib (`--mode lib`) leaves simple-peer external.

import { fileURLToPath } from 'node:url';
import type { UserConfig } from 'vite';

const shim = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const transform = { inject: { 'process.nextTick': shim('./nextTick.ts') } };

export const browserSimplePeer = {
  resolve: {
    alias: [
      { find: /^events$/, replacement: shim('./events.cjs') },
      { find: /^debug$/, replacement: shim('./debug.cjs') },
      { find: /^randombytes$/, replacement: shim('./randombytes.cjs') },
      { find: /^readable-stream$/, replacement: shim('./readable-stream.cjs') },
    ],
  },
  build: { rolldownOptions: { transform } },
  // `npm run dev` pre-bundles simple-peer with the optimizer, which takes the aliases but not build's inject.
  optimizeDeps: { rolldownOptions: { transform } },
} satisfies UserConfig;
