// The client's JavaScript, gzipped at level 9: what a page load of the app fetches (its entry script and the
// modules it preloads), what it fetches only on demand (e.g. the QR encoder), and the library's client entry
// alone (bench/bare: joinRoom and its dependencies, no React, no UI).

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Part } from '../lib/context.ts';
import { round } from '../lib/stats.ts';

export interface BundleResult {
  /** The app's JavaScript a page load fetches. */
  bundleGzipKb: number;
  /** The app's chunks loaded only when a feature is first used. */
  bundleLazyGzipKb: number;
  /** Every chunk of the app: the measure of bundleGzipKb until 2026-12-01. */
  bundleTotalGzipKb: number;
  libGzipKb: number;
}

const gz = (path: string) => gzipSync(readFileSync(path), { level: 9 }).length;

/** index.html's module script and modulepreload links, and every other .js under assets/. */
function split(dir: string): { initial: number; lazy: number } {
  const html = readFileSync(join(dir, 'index.html'), 'utf8');
  const loaded = new Set(
    [...html.matchAll(/<(?:script[^>]*\bsrc|link[^>]*\bhref)="\/?assets\/([^"]+\.js)"/g)].map((m) => m[1]!),
  );
  if (loaded.size === 0) throw new Error(`no module script in ${dir}/index.html`);
  let initial = 0;
  let lazy = 0;
  const files = readdirSync(join(dir, 'assets'), { recursive: true }).map(String);
  const missing = [...loaded].filter((f) => !files.includes(f));
  // A script the page loads but this count would not find must fail the part, not count as 0.
  if (missing.length > 0) throw new Error(`${dir}/index.html loads ${missing.join(', ')}, not under assets/`);
  for (const f of files)
    if (f.endsWith('.js')) {
      if (loaded.has(f)) initial += gz(join(dir, 'assets', f));
      else lazy += gz(join(dir, 'assets', f));
    }
  if (initial === 0) throw new Error(`${dir}: the scripts a page load fetches count 0 bytes`);
  return { initial, lazy };
}

export const bundle: Part<BundleResult> = {
  name: 'bundle',
  async run(ctx) {
    const app = split(await ctx.appDir());
    const lib = split(await ctx.bareDir());
    return {
      bundleGzipKb: round(app.initial / 1024),
      bundleLazyGzipKb: round(app.lazy / 1024),
      bundleTotalGzipKb: round((app.initial + app.lazy) / 1024),
      libGzipKb: round((lib.initial + lib.lazy) / 1024),
    };
  },
};
