// What the bench's parts share: the run's sizes and timing, and the builds, servers and browser, each made on
// first use and torn down once at the end.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from '@playwright/test';
import { browserSimplePeer } from '../../client/src/net/shims/browserBuild.ts';
import { launch, type ServerProcess, startServer, TIMING } from '../../e2e/kit.ts';

/** The bench's servers serve /metrics to this token: a part that misses a goal can say what the server saw. */
export const BENCH_METRICS_TOKEN = 'lockstep-bench-metrics';

export const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Builds bench/raw or bench/bare into `outDir`, bundling simple-peer as the app's own build does. Without
 * Vite's modulepreload polyfill: these pages load no chunk later, and the library (what `libGzipKb` weighs
 * through bench/bare) does not carry it either; it was 0.3 KB of that figure.
 */
export async function buildBenchPage(page: 'raw' | 'bare', outDir: string): Promise<void> {
  const { build, mergeConfig } = await import('vite');
  await build(
    mergeConfig(browserSimplePeer, {
      configFile: false,
      root: `${root}bench/${page}`,
      logLevel: 'error',
      build: { outDir, emptyOutDir: true, modulePreload: { polyfill: false } },
    }),
  );
}
export { TIMING };

export const sizes = (quick: boolean) => ({
  crashes: quick ? 3 : 10,
  closes: quick ? 1 : 3,
  rounds: quick ? 20 : 100,
  meshReps: quick ? 1 : 3,
  room: quick ? 16 : 32,
  roomCrashes: quick ? 1 : 3,
  sockets: quick ? 1000 : 10_000,
  schedules: quick ? 100 : 600,
  logProposals: quick ? 100 : 300,
  logFloodMs: quick ? 3_000 : 5_000,
  logValues: quick ? 3_000 : 10_000,
});
export type Sizes = ReturnType<typeof sizes>;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const log = (s: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}`);

function once<T>(make: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | null = null;
  return () => {
    p ??= make();
    return p;
  };
}

export class Context {
  private readonly dirs: string[] = [];
  private readonly servers: Promise<ServerProcess>[] = [];
  private browserP: Promise<Browser> | null = null;

  constructor(
    readonly n: Sizes,
    /** A prebuilt client to form meshes with beside this build (`--baseline`), or null. */
    readonly baselineDir: string | null = null,
  ) {}

  private tmp(tag: string): string {
    const d = mkdtempSync(join(tmpdir(), `lockstep-bench-${tag}-`));
    this.dirs.push(d);
    return d;
  }

  /** A private build of the app: e2e runs rebuild dist/client, which must not change under the tabs mid-run. */
  readonly appDir = once(async () => {
    const dir = this.tmp('app');
    execFileSync(
      process.execPath,
      ['node_modules/vite/bin/vite.js', 'build', '--logLevel', 'warn', '--outDir', dir, '--emptyOutDir'],
      { cwd: root, stdio: 'inherit' },
    );
    return dir;
  });

  /** bench/raw: bare simple-peer over the same signaling server, nothing else. */
  readonly rawDir = once(() => this.buildPage('raw'));

  /** bench/bare: the library's joinRoom without React or the app's UI. */
  readonly bareDir = once(() => this.buildPage('bare'));

  private async buildPage(page: 'raw' | 'bare'): Promise<string> {
    const dir = this.tmp(page);
    await buildBenchPage(page, dir);
    return dir;
  }

  /**
   * A signaling server serving `dir` (short grace, as the e2e fixture; newcomers not held after its start);
   * `env` overrides those.
   */
  async serve(dir: string, env: Record<string, string> = {}): Promise<ServerProcess> {
    const p = startServer({
      GRACE_MS: '2000',
      RESTART_HOLD_MS: '0',
      STATIC_DIR: dir,
      METRICS_TOKEN: BENCH_METRICS_TOKEN,
      ...env,
    });
    this.servers.push(p);
    return p;
  }

  readonly server = once(async () => this.serve(await this.appDir()));

  browser(): Promise<Browser> {
    this.browserP ??= launch();
    return this.browserP;
  }

  async close(): Promise<void> {
    if (this.browserP) await (await this.browserP.catch(() => null))?.close();
    await Promise.all(this.servers.map(async (s) => (await s.catch(() => null))?.kill()));
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}

/** One part of the bench: a name and what it measures, typed. */
export interface Part<R> {
  name: string;
  run(ctx: Context): Promise<R>;
}
