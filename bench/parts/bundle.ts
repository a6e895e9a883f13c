// The client's JavaScript, gzipped at level 9, as users download it.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Part } from '../lib/context.ts';
import { round } from '../lib/stats.ts';

export interface BundleResult {
  bundleGzipKb: number;
}

export const bundle: Part<BundleResult> = {
  name: 'bundle',
  async run(ctx) {
    const dir = join(await ctx.appDir(), 'assets');
    let bytes = 0;
    for (const f of readdirSync(dir))
      if (f.endsWith('.js')) bytes += gzipSync(readFileSync(join(dir, f)), { level: 9 }).length;
    return { bundleGzipKb: round(bytes / 1024) };
  },
};
