// A room at rest: 5 tabs formed and settled, nothing happening but heartbeats. What Chromium spends on it per tab,
// the app against bench/bare (the same joinRoom, Session and heartbeats without the UI), taking turns in one run.
// The ratio is what the UI costs over the protocol under it: on a laptop or a phone, battery. With `--baseline DIR`,
// a prebuilt client takes a third turn.

import type { Browser } from '@playwright/test';
import { closePlayer, readSelfId, type ServerProcess, uniqueRoom } from '../../e2e/kit.ts';
import { log, type Part, sleep } from '../lib/context.ts';
import { type CpuSplit, cpuSince, splitSince, splitText, threadCpu, treeCpu } from '../lib/cpu.ts';
import { type Dist, dist, round } from '../lib/stats.ts';
import { openTabs, turns, untilMeshed } from './mesh.ts';

export interface RestResult {
  /** Chromium's CPU (all its processes) per tab per second of a settled room of the app. */
  restCpuMsPerTabSec: Dist;
  /** The same for bench/bare. */
  bareRestCpuMsPerTabSec: Dist;
  /** App median ÷ bare median, same run (goal ≤ 2: the UI at rest costs no more than the protocol). */
  restCpuRatio: number;
  /** Rooms that did not form within their bound, by kind, left out of the figures. */
  restRoomsFailed: string;
  /** Where the app's CPU at rest went, medians by thread kind (ms over the window, all tabs). */
  restCpuSplit: string;
  bareRestCpuSplit: string;
  /** With `--baseline DIR`: the same for that prebuilt client (another commit's build), for before/after. */
  baselineRestCpuMsPerTabSec?: Dist;
  baselineRestCpuSplit?: string;
}

const TABS = 5;
const SETTLE_MS = 3_000;
const WINDOW_MS = 10_000;
const CHROMIUM = /chromium|chrome/;

async function atRest(
  browser: Browser,
  server: ServerProcess,
  tag: string,
): Promise<{ ms: number; split: CpuSplit }> {
  const tabs = await openTabs(browser, server, uniqueRoom(tag), TABS);
  try {
    await Promise.all(tabs.map((t) => readSelfId(t, 60_000)));
    await untilMeshed(tabs, tag);
    await sleep(SETTLE_MS);
    const cpu0 = treeCpu(process.pid, CHROMIUM);
    const threads0 = threadCpu(process.pid, CHROMIUM);
    await sleep(WINDOW_MS);
    // Only the processes of the settled room: a spare renderer Chromium starts meanwhile is not its cost.
    const ms = cpuSince(cpu0, treeCpu(process.pid, CHROMIUM), true);
    return {
      ms: ms / TABS / (WINDOW_MS / 1000),
      split: splitSince(threads0, threadCpu(process.pid, CHROMIUM), true),
    };
  } finally {
    await Promise.all(tabs.map(closePlayer));
  }
}

export const rest: Part<RestResult> = {
  name: 'rest',
  async run(ctx) {
    const browser = await ctx.browser();
    const kinds = await turns(ctx, [['bare', await ctx.bareDir()]]);
    for (let rep = 0; rep < ctx.n.meshReps; rep++) {
      for (const k of rep % 2 === 0 ? kinds : [...kinds].reverse()) {
        // A room that did not form is logged and counted; the part fails only if a kind has no sample.
        const r = await atRest(browser, k.server, k.tag).catch((err: Error) => {
          log(`at rest, ${TABS} ${k.tag} tabs FAILED: ${err.message}`);
          k.failed++;
          return null;
        });
        if (!r) continue;
        k.ms.push(r.ms);
        k.splits.push(r.split);
        log(
          `at rest, ${TABS} ${k.tag} tabs: ${Math.round(r.ms)} ms of CPU per tab per second (${splitText([r.split])})`,
        );
      }
    }
    for (const k of kinds)
      if (k.ms.length === 0) throw new Error(`no ${k.tag} room at rest measured (${k.failed} tried)`);
    const [app, bare, base] = kinds.map((k) => ({ ms: dist(k.ms), split: splitText(k.splits) }));
    return {
      ...(base ? { baselineRestCpuMsPerTabSec: base.ms, baselineRestCpuSplit: base.split } : {}),
      restCpuMsPerTabSec: app!.ms,
      bareRestCpuMsPerTabSec: bare!.ms,
      restCpuRatio: round(app!.ms.median / bare!.ms.median, 2),
      restRoomsFailed: kinds.map((k) => `${k.tag} ${k.failed}`).join(', '),
      restCpuSplit: app!.split,
      bareRestCpuSplit: bare!.split,
    };
  },
};
