// CPU time of a process tree from /proc (Linux): what a browser spent on a piece of work, which load from the
// rest of a shared machine stretches far less than the wall time.

import { readdirSync, readFileSync } from 'node:fs';

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

/** CPU ms the tree spent between two `treeCpu` readings (processes that started in between count whole). */
export function cpuSince(before: Map<number, number>, after: Map<number, number>): number {
  let ms = 0;
  for (const [pid, t] of after) ms += t - (before.get(pid) ?? 0);
  return ms;
}
