// Failover in 5 tabs: the leader's renderer crashed (CDP Page.crash) or its tab closed (pagehide sends bye);
// the time is until every survivor's leader-id shows the next lowest ID (the kit's in-page observer).

import type { Browser } from '@playwright/test';
import {
  closePlayer,
  crashPlayer,
  currentLeader,
  directCount,
  firstTimeOf,
  openPage,
  type Player,
  peerStates,
  readSelfId,
  roomUrl,
  type ServerProcess,
  type Tab,
  uniqueRoom,
  until,
} from '../../e2e/kit.ts';
import { log, type Part, TIMING } from '../lib/context.ts';
import { type Dist, dist, round } from '../lib/stats.ts';

export interface FailoverResult {
  crashFailoverMs: Dist;
  /** Crash failover as a multiple of the room's timeout. */
  crashFailoverRatio: Dist;
  /** From the goodbye's effect on the first survivor (its row for the leader leaves `direct`) to the last. */
  closeFailoverMs: Dist;
  /** From page.close() to the last survivor: adds Chromium's and Playwright's time to reach pagehide. */
  closeRequestFailoverMs: Dist;
}

/** A tab of the room, watching its leader-id from the first paint; resolves once it shows its ID. */
export async function openTab(browser: Browser, server: ServerProcess, room: string, name: string) {
  return readSelfId(
    await openPage(browser, roomUrl(server, room, name, TIMING), name, { watch: ['leader-id'] }),
  );
}

/** When `p` first showed `leader` at or after `since`. */
export const leaderShownAt = (p: Player, leader: number, since: number) =>
  firstTimeOf(p, 'leader-id', String(leader), since);

export const toTimeout = (d: Dist): Dist => ({
  median: round(d.median / TIMING.timeoutMs, 3),
  p99: round(d.p99 / TIMING.timeoutMs, 3),
  n: d.n,
});

async function settled(tabs: Tab[], ms = 20_000): Promise<void> {
  const lowest = Math.min(...tabs.map((t) => t.id));
  await until(
    async () => {
      for (const t of tabs) {
        if ((await currentLeader(t)) !== lowest || (await directCount(t)) < tabs.length - 1) return false;
      }
      return true;
    },
    ms,
    `${tabs.length} tabs agreeing on leader ${lowest} over a full mesh`,
  );
}

/** Every tab's players list names exactly the open tabs: the rest left the agreed membership. */
async function onlyOpenTabsListed(tabs: Tab[], ms = 60_000): Promise<void> {
  await until(
    async () => {
      for (const t of tabs) if ((await t.page.getByTestId('peer').count()) !== tabs.length) return false;
      return true;
    },
    ms,
    `players lists of exactly the ${tabs.length} open tabs`,
  );
}

export const failover: Part<FailoverResult> = {
  name: 'failover',
  async run(ctx) {
    const browser = await ctx.browser();
    const server = await ctx.server();
    const room = uniqueRoom('fail');
    const tabs: Tab[] = [];
    const crash: number[] = [];
    const close: number[] = [];
    const closeRequest: number[] = [];
    try {
      for (let i = 0; i < 5; i++) tabs.push(await openTab(browser, server, room, `f${i + 1}`));
      for (let i = 0; i < ctx.n.crashes + ctx.n.closes; i++) {
        const crashing = i < ctx.n.crashes;
        tabs.sort((a, b) => a.id - b.id);
        // Close failover is measured in a room whose agreed members are its open tabs. A tab crashed or
        // closed earlier stays a voter until its grace ends and the leader commits its removal; each one
        // left makes the heir wait for one more of the survivors (with 3 left, for all 4 of them).
        if (!crashing) await onlyOpenTabsListed(tabs);
        await settled(tabs);
        const [leader, ...rest] = tabs as [Tab, ...Tab[]];
        const next = rest[0]!.id;
        let t0: number;
        if (crashing) t0 = await crashPlayer(leader);
        else {
          t0 = Date.now();
          await leader.page.close({ runBeforeUnload: true });
        }
        await until(
          async () => (await Promise.all(rest.map(currentLeader))).every((l) => l === next),
          15_000,
          `leader ${next} after ${crashing ? 'a crash' : 'a close'}`,
        );
        const seen = await Promise.all(rest.map((t) => leaderShownAt(t, next, t0)));
        const ms = Math.max(...seen.map((t) => (t ?? Number.POSITIVE_INFINITY) - t0));
        if (crashing) {
          crash.push(ms);
          log(`crash failover ${leader.id} → ${next}: ${ms} ms`);
        } else {
          // The goodbye's arrival: the first survivor whose row for the leader left `direct` (the core heard
          // the bye, or the closed page's channel closed, whichever came first).
          const gone = await Promise.all(
            rest.map(
              async (t) =>
                (await peerStates(t, leader.id)).find((e) => e.t >= t0 && e.v !== 'direct')?.t ??
                Number.POSITIVE_INFINITY,
            ),
          );
          const byeAt = Math.min(...gone);
          closeRequest.push(ms);
          close.push(t0 + ms - byeAt);
          log(
            `close failover ${leader.id} → ${next}: ${t0 + ms - byeAt} ms from the goodbye, ${ms} ms from page.close(); ` +
              `goodbye seen by ${rest.map((t, k) => `${t.id}@+${gone[k]! - byeAt}`).join(' ')}, ` +
              `leader shown by ${rest.map((t, k) => `${t.id}@+${(seen[k] ?? Number.NaN) - byeAt}`).join(' ')}`,
          );
        }
        await closePlayer(leader);
        tabs.splice(tabs.indexOf(leader), 1);
        tabs.push(await openTab(browser, server, room, `f${i + 6}`));
      }
    } finally {
      await Promise.all(tabs.map(closePlayer));
    }
    const c = dist(crash);
    return {
      crashFailoverMs: c,
      crashFailoverRatio: toTimeout(c),
      closeFailoverMs: dist(close),
      closeRequestFailoverMs: dist(closeRequest),
    };
  },
};
