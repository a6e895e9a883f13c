// `npm run bench [-- --quick] [-- --check] [-- --only part,…] [-- --baseline DIR]`: every figure of
// docs/benchmarks.md in one run, one part per file in bench/parts. Loopback only; every wait is bounded.
// Writes bench/results/latest.json and appends a row to docs/benchmarks.md; `--only` (for diagnosis) runs the
// named parts and only prints them.

import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { KEYS, type Results } from './keys.ts';
import { Context, log, type Part, root, sizes, TIMING } from './lib/context.ts';
import type { Dist } from './lib/stats.ts';
import { round } from './lib/stats.ts';
import { advance } from './parts/advance.ts';
import { bundle } from './parts/bundle.ts';
import { capacity } from './parts/capacity.ts';
import { failover } from './parts/failover.ts';
import { logPart } from './parts/log.ts';
import { mesh } from './parts/mesh.ts';
import { rest } from './parts/rest.ts';
import { room } from './parts/room.ts';
import { simulator } from './parts/simulator.ts';

// In the order they run: the cheap and the headless first, the browser parts last.
const PARTS: Part<Results>[] = [bundle, simulator, capacity, advance, logPart, mesh, rest, failover, room];
const NAMES = PARTS.map((p) => p.name);
const USAGE = `usage: npm run bench [-- --quick] [-- --check] [-- --only ${NAMES.join(',')}] [-- --baseline DIR]`;

function cli() {
  try {
    const { values } = parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        check: { type: 'boolean', default: false },
        only: { type: 'string' },
        // A prebuilt client (e.g. another commit's `vite build --outDir`) to form meshes with beside this one.
        baseline: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      console.log(USAGE);
      process.exit(0);
    }
    let only: Set<string> | null = null;
    if (values.only !== undefined) {
      const names = values.only.split(',').filter(Boolean);
      const bad = names.filter((n) => !NAMES.includes(n));
      if (names.length === 0 || bad.length > 0)
        throw new Error(`--only takes part names, not "${bad.join(',') || values.only}"`);
      only = new Set(names);
    }
    return { quick: values.quick, check: values.check, only, baseline: values.baseline ?? null };
  } catch (err) {
    console.error(`bench: ${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const args = cli();
  const started = Date.now();
  // Other work on the machine skews every timing here: the load average goes into the row.
  const loadBefore = loadavg()[0]!;
  const ctx = new Context(sizes(args.quick), args.baseline);
  const r: Results = {};
  const errors: string[] = [];
  try {
    for (const part of PARTS) {
      if (args.only && !args.only.has(part.name)) continue;
      log(`${part.name}…`);
      try {
        Object.assign(r, await part.run(ctx));
      } catch (err) {
        errors.push(`${part.name}: ${(err as Error).message}`);
        log(`${part.name} FAILED: ${(err as Error).message}`);
      }
    }
  } finally {
    await ctx.close();
  }

  const goals = KEYS.filter((k) => k.goal && k.key in r).map((k) => ({
    key: k.key,
    goal: k.goal!.text,
    met: k.goal!.ok(r),
  }));
  const out = {
    date: new Date().toISOString(),
    mode: args.quick ? 'quick' : 'full',
    durationS: Math.round((Date.now() - started) / 1000),
    machine: {
      cpus: cpus().length,
      node: process.version,
      loadavg1: [round(loadBefore), round(loadavg()[0]!)],
    },
    timing: TIMING,
    results: r,
    goals,
    errors,
  };
  // A partial run is not a row: its figures would read as a full run's.
  if (args.only === null) {
    mkdirSync(`${root}bench/results`, { recursive: true });
    writeFileSync(`${root}bench/results/latest.json`, `${JSON.stringify(out, null, 2)}\n`);
    const missed = goals.filter((g) => !g.met).map((g) => g.key as string);
    if (errors.length) missed.push(`${errors.length} error(s)`);
    appendRow([out.date.slice(0, 10), `${out.mode}, load ${out.machine.loadavg1.join('→')}`], r, missed);
  }
  console.log(JSON.stringify(r, null, 2));
  for (const g of goals) console.log(`${g.met ? 'met   ' : 'MISSED'} ${g.key} (${g.goal})`);
  for (const e of errors) console.log(`error  ${e}`);
  log(
    `done in ${out.durationS} s${args.only === null ? '; bench/results/latest.json and docs/benchmarks.md updated' : ''}`,
  );
  process.exit(args.check && (errors.length > 0 || goals.some((g) => !g.met)) ? 1 : 0);
}

/** One row of the table; a new header first when the columns differ from the table above. */
function appendRow(lead: string[], r: Results, missed: string[]): void {
  const cols = KEYS.filter((k) => k.row).map((k) => k.key);
  // No samples (NaN) reads as no figure, not as a number.
  const fig = (x: number) => (Number.isFinite(x) ? String(x) : '–');
  const cell = (v: number | Dist | undefined) =>
    v === undefined ? '–' : typeof v === 'object' ? `${fig(v.median)} / ${fig(v.p99)}` : fig(v);
  const header = `| date | mode | ${cols.join(' | ')} | goals missed |`;
  const file = `${root}docs/benchmarks.md`;
  const tables = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('| date |'));
  let text = '';
  if (tables.at(-1) !== header) text += `\n${header}\n|${' --- |'.repeat(cols.length + 3)}\n`;
  const cells = [...lead, ...cols.map((k) => cell(r[k] as number | Dist | undefined))];
  text += `| ${[...cells, missed.length ? missed.join(', ') : 'all met'].join(' | ')} |\n`;
  appendFileSync(file, text);
}

await main();
