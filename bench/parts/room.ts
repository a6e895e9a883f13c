// A room of 32 (16 with --quick): mostly headless players (bench/peer.ts processes) and two tabs. Time to one
// leader after the last join, heartbeats per peer per second in steady state, and failover after SIGKILLs.

import { closePlayer, currentLeader, loadedAt, type Tab, uniqueRoom, until } from '../../e2e/kit.ts';
import { DEFAULTS } from '../../signaling/src/server.ts';
import { type BotLine, BotProcess } from '../lib/bots.ts';
import { BENCH_METRICS_TOKEN, type Context, log, type Part, sleep, TIMING } from '../lib/context.ts';
import { type Dist, dist, round } from '../lib/stats.ts';
import { leaderShownAt, openTab, toTimeout } from './failover.ts';

export interface RoomResult {
  room32LeaderMs: number;
  room32FailoverMs: Dist;
  room32FailoverRatio: Dist;
  /**
   * Crashes whose failover did not settle within its bound: the first such one ends the crashes (the room is
   * then not the one the next would measure), and it says how the players disagreed. Any one misses the goal.
   */
  room32FailoversUnsettled: string[];
  heartbeatMsgsPerPeerPerSec: Dist;
}

/**
 * 32 players: IDs 1-3 headless, each alone in a process so a SIGKILL crashes exactly one leader; two tabs
 * (IDs 4-5) in the middle of the order; the rest headless in three processes. Tabs as IDs 1-3 made the
 * leader a tab holding 31 links on a box shared with 31 other players, and its stalls churned the term
 * (docs/benchmarks.md); one tab per machine, as real players have, does not starve like that.
 */
async function room32(ctx: Context): Promise<RoomResult> {
  const N = ctx.n;
  const browser = await ctx.browser();
  // The production grace, not the fixture's 2 s: bot processes hold about 9 players each, and one stalled
  // for a few seconds on this box would otherwise return as 9 new players (new IDs, 270 new links), a
  // churn that one stalled device in a real room never causes.
  const server = await ctx.serve(await ctx.appDir(), { GRACE_MS: String(DEFAULTS.graceMs) });
  const room = uniqueRoom('r32');
  const tabs: Tab[] = [];
  const procs: BotProcess[] = [];
  const leads: BotProcess[] = [];
  const crashed = new Set<BotProcess>();
  const TABS = 2;
  const LEADS = N.roomCrashes + 1;
  // The network log shows, when a failover does not settle, which bots stalled or lost the server.
  const botArgs = [
    '--heartbeat-ms',
    String(TIMING.heartbeatMs),
    '--timeout-ms',
    String(TIMING.timeoutMs),
    '--net-log',
  ];
  const bots = N.room - TABS;
  const joined = () => procs.flatMap((p) => p.lines.filter((l) => l.event === 'joined'));
  const joins = (n: number, ms: number, what: string) =>
    until(() => joined().length >= n, ms, what).catch((err: Error) => {
      const why = procs.flatMap((p) => p.lines.filter((l) => l.error).map((l) => `${l.name}: ${l.error}`));
      throw new Error(
        `${err.message} (${joined().length} joined; ${why.join('; ') || procs.map((p) => p.stderr).join(' ')})`,
      );
    });
  try {
    for (let i = 0; i < LEADS; i++) {
      const p = new BotProcess({
        url: server.url,
        room,
        name: `lead${i + 1}`,
        statsMs: 2000,
        extra: botArgs,
      });
      procs.push(p);
      leads.push(p);
      await joins(i + 1, 30_000, `headless player ${i + 1}`);
    }
    for (let i = 0; i < TABS; i++) tabs.push(await openTab(browser, server, room, `t${i + 1}`));
    // Three processes: one event loop holding ten peers' DTLS handshakes falls behind on a loaded machine.
    const rest = bots - LEADS;
    for (let i = 0; i < 3; i++) {
      const count = Math.floor(rest / 3) + (i < rest % 3 ? 1 : 0);
      procs.push(
        new BotProcess({ url: server.url, room, name: `b${i + 1}`, count, statsMs: 2000, extra: botArgs }),
      );
    }
    await joins(bots, 120_000, `${bots} headless joins`);
    const lastJoin = Math.max(...joined().map((l) => l.t), ...(await Promise.all(tabs.map(loadedAt))));
    const alive = () => procs.filter((p) => !crashed.has(p));
    const botViews = () => alive().flatMap((p) => [...p.views().values()]);
    const firstBotSeen = (leader: number, since: number) =>
      alive().flatMap((p) => {
        const first = new Map<string, number>();
        for (const l of p.lines) {
          if (l.event === 'view' && l.leader === leader && l.t >= since && !first.has(l.name))
            first.set(l.name, l.t);
        }
        return [...first];
      });
    // Who disagrees, and how: the views by leader/term/role, and the tabs' leaders.
    const disagreement = async (err: Error): Promise<string> => {
      const count = new Map<string, number>();
      for (const v of botViews()) {
        const k = `leader ${v.leader} term ${v.term} ${v.role}`;
        count.set(k, (count.get(k) ?? 0) + 1);
      }
      const tabLeaders = await Promise.all(tabs.map(currentLeader));
      return `${err.message} (bots: ${[...count].map(([k, n]) => `${n}× ${k}`).join(', ')}; tabs: ${tabLeaders.join(', ')})`;
    };
    const firstBotAt = (leader: number, since: number) => firstBotSeen(leader, since).map(([, t]) => t);
    await until(
      async () =>
        botViews().length === bots &&
        botViews().every((v) => v.leader === 1) &&
        (await Promise.all(tabs.map(currentLeader))).every((l) => l === 1),
      30_000,
      `${N.room} players agreeing on leader 1`,
      250,
    ).catch(async (err: Error) => {
      throw new Error(await disagreement(err));
    });
    const tabFirst = await Promise.all(tabs.map((t) => leaderShownAt(t, 1, 0)));
    const leaderMs = Math.max(0, Math.max(...firstBotAt(1, 0), ...(tabFirst as number[])) - lastJoin);
    log(`room of ${N.room}: one leader ${Math.round(leaderMs)} ms after the last join`);

    // Steady state: heartbeats sent per peer per second, from the stats lines over 6.5 s.
    await sleep(3_000);
    const statsFrom = procs.map((p) => p.lines.length);
    await sleep(6_500);
    const hbRates: number[] = [];
    for (const [i, p] of procs.entries()) {
      const byName = new Map<string, BotLine[]>();
      for (const l of p.lines.slice(statsFrom[i])) {
        if (l.event === 'stats') byName.set(l.name, [...(byName.get(l.name) ?? []), l]);
      }
      for (const ls of byName.values()) {
        const a = ls[0];
        const b = ls[ls.length - 1];
        if (a && b && b.t > a.t) hbRates.push((((b.sent?.hb ?? 0) - (a.sent?.hb ?? 0)) * 1000) / (b.t - a.t));
      }
    }

    const failover: number[] = [];
    const unsettled: string[] = [];
    for (let i = 0; i < N.roomCrashes && unsettled.length === 0; i++) {
      const next = i + 2;
      const t0 = Date.now();
      crashed.add(leads[i]!);
      await leads[i]!.stop('SIGKILL');
      const settled = await until(
        async () =>
          botViews().every((v) => v.leader === next) &&
          (await Promise.all(tabs.map(currentLeader))).every((l) => l === next),
        20_000,
        `leader ${next} in the room of ${N.room}`,
        100,
      ).then(
        () => true,
        async (err: Error) => {
          unsettled.push(`crash ${i + 1}: ${await disagreement(err)}`);
          log(`room of ${N.room}: crash failover ${i + 1} → ${next} did not settle: ${unsettled.at(-1)}`);
          for (const line of await whyUnsettled(alive(), next, t0, server.url)) log(`  ${line}`);
          return false;
        },
      );
      if (!settled) break;
      const tabSeen = await Promise.all(tabs.map((t) => leaderShownAt(t, next, t0)));
      const seen: [string, number][] = [
        ...firstBotSeen(next, t0),
        ...tabs.map((t, k): [string, number] => [`tab ${t.id}`, tabSeen[k]!]),
      ].sort((a, b) => a[1] - b[1]);
      const [slowest, at] = seen.at(-1)!;
      const ms = at - t0;
      failover.push(ms);
      const median = seen[seen.length >> 1]![1] - t0;
      log(
        `room of ${N.room}: crash failover ${i + 1} → ${next}: ${ms} ms (last: ${slowest}; median player ${median} ms)`,
      );
      await sleep(2_000);
    }
    const f = dist(failover);
    return {
      room32LeaderMs: round(leaderMs),
      room32FailoverMs: f,
      room32FailoverRatio: toTimeout(f),
      room32FailoversUnsettled: unsettled,
      heartbeatMsgsPerPeerPerSec: dist(hbRates),
    };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await Promise.all(tabs.map(closePlayer));
    await server.kill();
  }
}

/**
 * Why a failover did not settle: what each player not following `leader` sees (who is live, how long
 * silent, by which route), what the bots' sockets did since the crash (stalls, failed joins, expired
 * sessions; not the rosters), and what the server refused.
 */
async function whyUnsettled(
  procs: BotProcess[],
  leader: number,
  since: number,
  url: string,
): Promise<string[]> {
  const from = procs.map((p) => p.lines.length);
  for (const p of procs) p.signal('SIGUSR2');
  // A starved process answers late.
  const dumped = () => procs.every((p, i) => p.lines.slice(from[i]).some((l) => l.event === 'dump'));
  await until(dumped, 5_000, 'dumps', 100).catch(() => {});
  const out = procs.flatMap((p, i) =>
    p.lines
      .slice(from[i])
      .filter((l) => l.event === 'dump' && l.leader !== leader)
      .map((l) => `stuck: ${JSON.stringify(l)}`),
  );
  for (const p of procs)
    for (const l of p.lines)
      if (l.t >= since && l.event === 'net' && !String(l.text).startsWith('roster '))
        out.push(`${l.name} (${l.id}) +${l.t - since} ms: ${l.text}`);
  try {
    const res = await fetch(`${url}/metrics`, {
      headers: { authorization: `Bearer ${BENCH_METRICS_TOKEN}` },
      signal: AbortSignal.timeout(5_000),
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    for (const l of (await res.text()).split('\n'))
      if (/^lockstep_(rejected|throttled|dropped)/.test(l)) out.push(`server: ${l}`);
  } catch (err) {
    out.push(`server: no metrics (${(err as Error).message})`);
  }
  return out;
}

export const room: Part<RoomResult> = { name: 'room', run: room32 };
