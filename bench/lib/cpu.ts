// CPU time of a process tree from /proc (Linux): what a browser spent on a piece of work, which load from the
// rest of a shared machine stretches far less than the wall time.

import { readdirSync, readFileSync } from 'node:fs';
import { median } from './stats.ts';

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** pid → CPU ms (user + system) of every live descendant of `root` whose command line matches `match`. */
export function treeCpu(root: number, match: RegExp): Map<number, number> {
  const parent = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      // The command name (field 2) may hold spaces and parentheses: fields count from the last ')'.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(d), Number(f[1]));
      if (match.test(readFileSync(`/proc/${d}/cmdline`, 'utf8')))
        cpu.set(Number(d), (Number(f[11]) + Number(f[12])) * TICK_MS);
    } catch {
      // Gone since the listing.
    }
  }
  const under = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === root) return true;
    return false;
  };
  return new Map([...cpu].filter(([pid]) => under(pid)));
}

/**
 * CPU ms the tree spent between two `treeCpu` readings. Processes that started in between count whole, unless
 * `known`: then only those of the first reading count (a steady state, not the startup of a spare renderer).
 */
export function cpuSince(before: Map<number, number>, after: Map<number, number>, known = false): number {
  let ms = 0;
  for (const [pid, t] of after) if (!known || before.has(pid)) ms += t - (before.get(pid) ?? 0);
  return ms;
}

/** Where a browser's CPU went, by the threads that did it (Chromium's thread names, on Linux). */
export interface CpuSplit {
  /** Renderers' main threads: script, style, layout, paint. */
  main: number;
  /** Renderers' thread pools: rasterizing tiles in software (and V8's background work). */
  raster: number;
  /** Renderers' compositor threads. */
  compositor: number;
  /** The GPU process (compositing the frames of every tab, in software here). */
  gpu: number;
  /** Everything else: the browser process, the network service, WebRTC's and IPC's threads. */
  other: number;
}

const KINDS: [keyof CpuSplit, RegExp, RegExp][] = [
  ['main', /--type=renderer/, /^(chromium|chrome)$/],
  ['raster', /--type=renderer/, /^ThreadPoolForeg/],
  ['compositor', /--type=renderer/, /^Compositor$/],
  ['gpu', /--type=gpu-process/, /./],
];

/** `pid/tid` → [kind, CPU ms] for every thread of the live descendants of `root` whose command line matches. */
export function threadCpu(root: number, match: RegExp): Map<string, [keyof CpuSplit, number]> {
  const out = new Map<string, [keyof CpuSplit, number]>();
  for (const pid of treeCpu(root, match).keys()) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const kind = KINDS.find(([, p, t]) => p.test(cmd) && t.test(name))?.[0] ?? 'other';
        out.set(`${pid}/${tid}`, [kind, (Number(f[11]) + Number(f[12])) * TICK_MS]);
      }
    } catch {
      // Gone since the listing.
    }
  }
  return out;
}

/** CPU ms by kind between two `threadCpu` readings (threads that started in between count whole; `known`: as cpuSince). */
export function splitSince(
  before: Map<string, [keyof CpuSplit, number]>,
  after: Map<string, [keyof CpuSplit, number]>,
  known = false,
): CpuSplit {
  const split: CpuSplit = { main: 0, raster: 0, compositor: 0, gpu: 0, other: 0 };
  // With `known`, a process must predate the window; its new threads count (a pool grows).
  const pids = new Set([...before.keys()].map((id) => id.split('/')[0]));
  for (const [id, [kind, ms]] of after)
    if (!known || pids.has(id.split('/')[0])) split[kind] += ms - (before.get(id)?.[1] ?? 0);
  return split;
}

/** Medians of each kind of thread's CPU, e.g. `main 7940 · raster 2410 · compositor 980 · gpu 1150 · other 7160`. */
export function splitText(splits: CpuSplit[]): string {
  const kinds = ['main', 'raster', 'compositor', 'gpu', 'other'] as const;
  return kinds.map((k) => `${k} ${Math.round(median(splits.map((s) => s[k])))}`).join(' · ');
}
