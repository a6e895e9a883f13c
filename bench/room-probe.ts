// Diagnostic (not part of `npm run bench`): a room of `total` players, `lead` headless players alone in
// their processes (IDs 1..lead), then `tabs` browser tabs, then the rest headless in `procs` processes.
// Prints the leader/term spread for 10 s, then SIGKILLs player 1 and prints every view change after it.
//   npx tsx bench/room-probe.ts [total=32] [procs=3] [tabs=2] [lead=3]
// With lead=0 the tabs take the lowest IDs, so a tab leads (and nothing is crashed).

import {
  currentLeader,
  directCount,
  launch,
  openPage,
  readSelfId,
  roomUrl,
  startServer,
  type Tab,
  until,
} from '../e2e/kit.ts';
import { BotProcess } from './lib/bots.ts';

const [total = 32, procsN = 3, tabsN = 2, lead = 3] = process.argv.slice(2).map(Number);
if (
  ![total, procsN, tabsN, lead].every((n) => Number.isInteger(n) && n >= 0) ||
  procsN < 1 ||
  lead + tabsN > total
) {
  console.error('usage: npx tsx bench/room-probe.ts [total=32] [procs=3] [tabs=2] [lead=3]');
  process.exit(2);
}
const server = await startServer({ GRACE_MS: '2000', RESTART_HOLD_MS: '0' });
const room = `probe-${Date.now().toString(36)}`;
const procs: BotProcess[] = [];
const browser = tabsN ? await launch() : null;
const tabs: Tab[] = [];
const t0 = Date.now();
const timing = ['--heartbeat-ms', '250', '--timeout-ms', '1500'];
const joined = () => procs.flatMap((p) => p.lines.filter((l) => l.event === 'joined'));
try {
  for (let i = 0; i < lead; i++) {
    procs.push(
      new BotProcess({ url: server.url, room, name: `lead${i + 1}`, count: 1, statsMs: 5000, extra: timing }),
    );
    await until(() => joined().length === i + 1, 30_000, 'a lead join');
  }
  for (let i = 0; i < tabsN; i++) {
    const url = roomUrl(server, room, `t${i + 1}`, { heartbeatMs: 250, timeoutMs: 1500 });
    tabs.push(await readSelfId(await openPage(browser!, url, `t${i + 1}`)));
  }
  const rest = total - tabsN - lead;
  for (let i = 0; i < procsN; i++) {
    const count = Math.floor(rest / procsN) + (i < rest % procsN ? 1 : 0);
    procs.push(
      new BotProcess({ url: server.url, room, name: `b${i + 1}`, count, statsMs: 5000, extra: timing }),
    );
  }
  await until(() => joined().length === total - tabsN, 120_000, 'joins');
  console.log(`all joined in ${Date.now() - t0} ms`);
  for (let k = 0; k < 2; k++) {
    await new Promise((r) => setTimeout(r, 5000));
    const count = new Map<string, number>();
    for (const p of procs)
      for (const v of p.views().values()) {
        const key = `L${v.leader}/t${v.term}/${v.role}`;
        count.set(key, (count.get(key) ?? 0) + 1);
      }
    const tl = await Promise.all(
      tabs.map(async (t) => `tab${t.id}:L${await currentLeader(t)}/direct ${await directCount(t)}`),
    );
    console.log(
      `${Math.round((Date.now() - t0) / 1000)}s`,
      tl.join(' '),
      [...count].map(([a, n]) => `${n}×${a}`).join(' '),
    );
  }
  // Crash player 1 (SIGKILL: no goodbye) when it is headless, and print every view change after it.
  if (lead > 0) {
    const from = procs.map((p) => p.lines.length);
    const t1 = Date.now();
    await procs[0]!.stop('SIGKILL');
    await new Promise((r) => setTimeout(r, 12_000));
    const tl = await Promise.all(tabs.map(async (t) => `tab${t.id}:L${await currentLeader(t)}`));
    console.log('after crash:', tl.join(' '));
    for (const [i, p] of procs.entries()) {
      if (i === 0) continue;
      const byName = new Map<string, string[]>();
      for (const l of p.lines.slice(from[i])) {
        if (l.event !== 'view') continue;
        byName.set(l.name, [
          ...(byName.get(l.name) ?? []),
          `${l.t - t1}:${l.role?.[0]}${l.term}/L${l.leader}`,
        ]);
      }
      for (const [n, v] of byName) console.log(n.padEnd(8), v.join(' '));
    }
  }
} finally {
  await Promise.all(procs.map((p) => p.stop()));
  await browser?.close();
  await server.kill();
}
process.exit(0);
