// A CDP profile of one tab: its renderer's busiest functions and rendering counters (bench diagnostics).

import type { Player } from '../../e2e/kit.ts';

/** `ms` of one tab: its renderer's busiest functions and its rendering counters, printed. */
export async function profileTab(tab: Player, ms: number): Promise<void> {
  const cdp = await tab.context.newCDPSession(tab.page);
  await cdp.send('Performance.enable');
  const before = (await cdp.send('Performance.getMetrics')).metrics;
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.start');
  await new Promise((r) => setTimeout(r, ms));
  const { profile: p } = await cdp.send('Profiler.stop');
  const after = (await cdp.send('Performance.getMetrics')).metrics;
  const m = (l: typeof before, k: string) => l.find((x) => x.name === k)?.value ?? 0;
  for (const k of [
    'TaskDuration',
    'ScriptDuration',
    'LayoutDuration',
    'RecalcStyleDuration',
    'LayoutCount',
    'RecalcStyleCount',
    'JSHeapUsedSize',
  ])
    console.log(`${k}: ${(m(after, k) - m(before, k)).toFixed(3)} (now ${m(after, k).toFixed(1)})`);
  const self = new Map<string, number>();
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  p.samples?.forEach((s, i) => {
    const n = byId.get(s)!;
    const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').pop()}:${n.callFrame.lineNumber}`;
    self.set(k, (self.get(k) ?? 0) + (p.timeDeltas?.[i] ?? 0));
  });
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25))
    console.log(`${(v / 1000).toFixed(0).padStart(6)} ms ${k}`);
  // Inclusive time (a function counted once per sample however deep it recurs): which caller the work is under.
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const total = new Map<string, number>();
  p.samples?.forEach((s, i) => {
    const seen = new Set<string>();
    for (let id: number | undefined = s; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame;
      seen.add(`${f.functionName || '(anon)'} ${f.url.split('/').pop()}:${f.lineNumber}`);
    }
    for (const k of seen) total.set(k, (total.get(k) ?? 0) + (p.timeDeltas?.[i] ?? 0));
  });
  console.log('inclusive:');
  for (const [k, v] of [...total].sort((a, b) => b[1] - a[1]).slice(0, 45))
    console.log(`${(v / 1000).toFixed(0).padStart(6)} ms ${k}`);
}
