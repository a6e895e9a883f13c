// Mesh formation: 8 tabs opened at once into a new room, from the last tab's load to every tab showing 7 peers
// direct and the lowest ID as leader (the kit's in-page observer). The app and bench/raw (bare simple-peer over
// the same signaling server) take turns in the same run; the goal is their ratio. With `--baseline DIR`, a
// prebuilt client (another commit's build) takes a third turn, for before/after.

import type { Browser } from '@playwright/test';
import {
  closePlayer,
  loadedAt,
  meshAt,
  openPage,
  readSelfId,
  roomUrl,
  type ServerProcess,
  uniqueRoom,
  until,
} from '../../e2e/kit.ts';
import { log, type Part, TIMING } from '../lib/context.ts';
import { type Dist, dist, round } from '../lib/stats.ts';

export interface MeshResult {
  meshFormationMs: Dist;
  rawMeshFormationMs: Dist;
  /** App median ÷ raw simple-peer median, same run (goal ≤ 1.25). */
  meshFormationRatio: number;
  baselineMeshFormationMs?: Dist;
}

const TABS = 8;

/** One formation of `TABS` tabs served by `server`, in ms. */
export async function formMesh(browser: Browser, server: ServerProcess, tag: string): Promise<number> {
  const room = uniqueRoom(tag);
  const tabs = await Promise.all(
    Array.from({ length: TABS }, (_, i) =>
      openPage(browser, roomUrl(server, room, `m${i + 1}`, TIMING), `m${i + 1}`, { meshWant: TABS - 1 }),
    ),
  );
  try {
    await Promise.all(tabs.map((t) => readSelfId(t, 60_000)));
    const lastLoad = Math.max(...(await Promise.all(tabs.map(loadedAt))));
    await until(
      async () => (await Promise.all(tabs.map(meshAt))).every((t) => t !== null),
      30_000,
      `${TABS} ${tag} tabs in a full mesh`,
      250, // the tabs record their own time; faster polling only loads what is measured
    );
    const done = Math.max(...((await Promise.all(tabs.map(meshAt))) as number[]));
    return done - lastLoad;
  } finally {
    await Promise.all(tabs.map(closePlayer));
  }
}

export const mesh: Part<MeshResult> = {
  name: 'mesh',
  async run(ctx) {
    const browser = await ctx.browser();
    const kinds: [string, ServerProcess, number[]][] = [
      ['app', await ctx.server(), []],
      ['raw', await ctx.serve(await ctx.rawDir()), []],
    ];
    if (ctx.baselineDir) kinds.push(['baseline', await ctx.serve(ctx.baselineDir), []]);
    // Interleaved, so load from the rest of the machine falls on each alike.
    for (let rep = 0; rep < ctx.n.meshReps; rep++) {
      for (const [tag, server, samples] of kinds) {
        const ms = await formMesh(browser, server, tag);
        samples.push(ms);
        log(`mesh formation, ${TABS} ${tag} tabs: ${Math.round(ms)} ms`);
      }
    }
    const [app, raw, base] = kinds.map(([, , s]) => dist(s));
    return {
      meshFormationMs: app!,
      rawMeshFormationMs: raw!,
      meshFormationRatio: round(app!.median / raw!.median, 2),
      ...(base ? { baselineMeshFormationMs: base } : {}),
    };
  },
};
