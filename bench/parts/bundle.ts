// The client's JavaScript, gzipped at level 9, as users download it: the whole app, and the library's
// client entry alone (bench/bare: joinRoom and its dependencies, no React, no UI).

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Part } from '../lib/context.ts';
import { round } from '../lib/stats.ts';

export interface BundleResult {
  bundleGzipKb: number;
  libGzipKb: number;
}

function gzippedKb(dir: string): number {
  let bytes = 0;
  for (const f of readdirSync(dir))
    if (f.endsWith('.js')) bytes += gzipSync(readFileSync(join(dir, f)), { level: 9 }).length;
  return round(bytes / 1024);
}

export const bundle: Part<BundleResult> = {
  name: 'bundle',
  async run(ctx) {
    return {
      bundleGzipKb: gzippedKb(join(await ctx.appDir(), 'assets')),
      libGzipKb: gzippedKb(join(await ctx.bareDir(), 'assets')),
    };
  },
};
