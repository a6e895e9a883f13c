// Mesh formation: 8 tabs opened at once into a new room, from the last tab's load to every tab showing 7 peers
// direct and the lowest ID as leader (the kit's in-page observer). The app, bench/raw (bare simple-peer over
// the same signaling server) and bench/bare (the library without React) take turns in the same run; the goal
// is app ÷ raw, and bare splits it into the room page's part and the protocol's. With `--baseline DIR`, a
// prebuilt client (another commit's build) takes a turn too, for before/after.

import type { Browser } from '@playwright/test';
import {
  closePlayer,
  currentLeader,
  directCount,
  loadedAt,
  meshAt,
  openPage,
  type Player,
  readSelfId,
  roomUrl,
  type ServerProcess,
  uniqueRoom,
  until,
} from '../../e2e/kit.ts';
import { type Context, log, type Part, TIMING } from '../lib/context.ts';
import { type CpuSplit, cpuSince, splitSince, splitText, threadCpu, treeCpu } from '../lib/cpu.ts';
import { type Dist, dist, median, round } from '../lib/stats.ts';

export interface MeshResult {
  meshFormationMs: Dist;
  rawMeshFormationMs: Dist;
  /** App median ÷ raw simple-peer median, same run (goal ≤ 1.25). */
  meshFormationRatio: number;
  /** Chromium's CPU time (all its processes) from opening the tabs to the full mesh: what formation costs. */
  meshFormationCpuMs: Dist;
  rawMeshFormationCpuMs: Dist;
  /** Formations past their bound, left out of the figures above (they would be slower still). */
  meshFormationsPastBound: string;
  /** DOM updates (MutationObserver callbacks) per tab from load to the full mesh, median tab. */
  meshFormationDomUpdates: Dist;
  /** Where the app's formation CPU went, medians by thread kind (ms): what to make cheaper. */
  meshFormationCpuSplit: string;
  rawMeshFormationCpuSplit: string;
  /**
   * The bare library (`bench/bare`: the same Session, Mesh and core without React) in the same turns: the
   * app ÷ bare ratio is what the room page adds, bare ÷ raw what the protocol adds (references, no goal).
   */
  bareMeshFormationMs: Dist;
  meshFormationAppVsBare: number;
  meshFormationBareVsRaw: number;
  bareMeshFormationCpuMs: Dist;
  bareMeshFormationCpuSplit: string;
  baselineMeshFormationDomUpdates?: Dist;
  baselineMeshFormationMs?: Dist;
  baselineMeshFormationCpuMs?: Dist;
}

const TABS = 8;
const CHROMIUM = /chromium|chrome/;
// DOM updates a tab makes, counted as MutationObserver callbacks (one per batch of changes, ~ one per render):
// how often the page changes what the user sees, which load on the machine does not change much.
const COUNT_UPDATES = `window.__updates = 0; new MutationObserver(() => { window.__updates++; }).observe(document, {
  subtree: true, childList: true, characterData: true, attributes: true });`;

/**
 * `n` tabs opened at once into `room`, each in its own context, watched for a full mesh (`meshAt`). If one fails
 * to open, the others are closed before the error is thrown: tabs left running would load every later step.
 */
export async function openTabs(
  browser: Browser,
  server: ServerProcess,
  room: string,
  n: number,
  init?: string,
): Promise<Player[]> {
  const opened = await Promise.allSettled(
    Array.from({ length: n }, (_, i) =>
      openPage(browser, roomUrl(server, room, `m${i + 1}`, TIMING), `m${i + 1}`, {
        meshWant: n - 1,
        gotoMs: 120_000,
        ...(init ? { init } : {}),
      }),
    ),
  );
  const tabs = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = opened.find((r) => r.status === 'rejected');
  if (!failed) return tabs;
  await Promise.all(tabs.map(closePlayer));
  throw failed.reason;
}

/** Until every tab shows the others direct and the lowest ID leading; a failure says what each tab showed. */
export async function untilMeshed(tabs: Player[], tag: string): Promise<void> {
  await until(
    async () => (await Promise.all(tabs.map(meshAt))).every((t) => t !== null),
    60_000,
    `${tabs.length} ${tag} tabs in a full mesh`,
    250, // the tabs record their own time; faster polling only loads what is measured
  ).catch(async (err: Error) => {
    const seen = await Promise.all(
      tabs.map(async (t) => `${await currentLeader(t)}/${await directCount(t)}`),
    );
    throw new Error(`${err.message} (leader/direct per tab: ${seen.join(' ')})`);
  });
}

/** One formation of `TABS` tabs served by `server`: wall ms, and Chromium's CPU ms. */
export async function formMesh(
  browser: Browser,
  server: ServerProcess,
  tag: string,
): Promise<{ ms: number; cpuMs: number; split: CpuSplit; updates: number }> {
  const room = uniqueRoom(tag);
  const cpu0 = treeCpu(process.pid, CHROMIUM);
  const threads0 = threadCpu(process.pid, CHROMIUM);
  const tabs = await openTabs(browser, server, room, TABS, COUNT_UPDATES);
  try {
    await Promise.all(tabs.map((t) => readSelfId(t, 60_000)));
    const lastLoad = Math.max(...(await Promise.all(tabs.map(loadedAt))));
    await untilMeshed(tabs, tag);
    const cpuMs = cpuSince(cpu0, treeCpu(process.pid, CHROMIUM));
    const split = splitSince(threads0, threadCpu(process.pid, CHROMIUM));
    const done = Math.max(...((await Promise.all(tabs.map(meshAt))) as number[]));
    const updates = await Promise.all(
      tabs.map((t) => t.page.evaluate(() => (window as unknown as { __updates: number }).__updates)),
    );
    return { ms: done - lastLoad, cpuMs, split, updates: median(updates) };
  } finally {
    await Promise.all(tabs.map(closePlayer));
  }
}

/**
 * The builds that take turns in a part: the app, the pages to compare it with (`others`, tag and directory),
 * and with `--baseline` a prebuilt client; each with its samples.
 */
export async function turns(ctx: Context, others: [tag: string, dir: string][]) {
  const kind = (tag: string, server: ServerProcess) => ({
    tag,
    server,
    ms: [] as number[],
    cpu: [] as number[],
    up: [] as number[],
    splits: [] as CpuSplit[],
    failed: 0,
  });
  const kinds = [kind('app', await ctx.server())];
  for (const [tag, dir] of others) kinds.push(kind(tag, await ctx.serve(dir)));
  if (ctx.baselineDir) kinds.push(kind('baseline', await ctx.serve(ctx.baselineDir)));
  return kinds;
}

export const mesh: Part<MeshResult> = {
  name: 'mesh',
  async run(ctx) {
    const browser = await ctx.browser();
    // The bare library between them says how much of the gap is the room page and how much the protocol.
    const kinds = await turns(ctx, [
      ['raw', await ctx.rawDir()],
      ['bare', await ctx.bareDir()],
    ]);
    // The browser's first formation of a run was its slowest in 6 of 9 runs (2026-12-02), and it was always
    // the app's: one formation of each kind first, left out of the figures.
    for (const k of kinds) {
      const f = await formMesh(browser, k.server, `${k.tag}-warmup`).catch((err: Error) => err);
      log(
        `mesh formation, ${TABS} ${k.tag} tabs, warm-up (left out): ${f instanceof Error ? `FAILED: ${f.message}` : `${Math.round(f.ms)} ms`}`,
      );
    }
    // Interleaved, each kind first in turn, so load from the rest of the machine falls on each alike.
    for (let rep = 0; rep < ctx.n.meshReps; rep++) {
      for (const k of rep % 2 === 0 ? kinds : [...kinds].reverse()) {
        // One formation past its bound is logged and counted; the part fails only if a kind has no sample.
        const f = await formMesh(browser, k.server, k.tag).catch((err: Error) => {
          log(`mesh formation, ${TABS} ${k.tag} tabs FAILED: ${err.message}`);
          k.failed++;
          return null;
        });
        if (!f) continue;
        k.ms.push(f.ms);
        k.cpu.push(f.cpuMs);
        k.up.push(f.updates);
        k.splits.push(f.split);
        log(
          `mesh formation, ${TABS} ${k.tag} tabs: ${Math.round(f.ms)} ms, Chromium CPU ${f.cpuMs} ms (${splitText([f.split])}), ${f.updates} DOM updates a tab`,
        );
      }
    }
    for (const k of kinds)
      if (k.ms.length === 0) throw new Error(`no ${k.tag} formation within its bound (${k.failed} tried)`);
    const [app, raw, bare, base] = kinds.map((k) => ({
      ms: dist(k.ms),
      cpu: dist(k.cpu),
      up: dist(k.up),
      split: splitText(k.splits),
    }));
    return {
      meshFormationMs: app!.ms,
      rawMeshFormationMs: raw!.ms,
      meshFormationRatio: round(app!.ms.median / raw!.ms.median, 2),
      bareMeshFormationMs: bare!.ms,
      meshFormationAppVsBare: round(app!.ms.median / bare!.ms.median, 2),
      meshFormationBareVsRaw: round(bare!.ms.median / raw!.ms.median, 2),
      meshFormationCpuMs: app!.cpu,
      rawMeshFormationCpuMs: raw!.cpu,
      bareMeshFormationCpuMs: bare!.cpu,
      meshFormationDomUpdates: app!.up,
      meshFormationCpuSplit: app!.split,
      rawMeshFormationCpuSplit: raw!.split,
      bareMeshFormationCpuSplit: bare!.split,
      meshFormationsPastBound: kinds.map((k) => `${k.tag} ${k.failed}`).join(', '),
      ...(base
        ? {
            baselineMeshFormationMs: base.ms,
            baselineMeshFormationCpuMs: base.cpu,
            baselineMeshFormationDomUpdates: base.up,
          }
        : {}),
    };
  },
};
