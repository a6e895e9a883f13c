// `npm run nemesis -- --minutes M --seed S`: Jepsen-style runs of real headless players under real network
// and process faults (end-to-end, but not Playwright). `--ci`: the short fixed-seed run `npm test` makes.

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { KINDS } from './nemeses.ts';
import { stateDir } from './procs.ts';
import { live, type PhaseResult, type RunOptions, runPhase } from './runner.ts';
import { cleanLeftovers, stale, unavailable, World } from './world.ts';

const USAGE = `usage: npm run nemesis -- [--minutes M] [--seed S] [--players N] [--setup memory|redis] [--ci]
  --minutes M   fault time in all, split 60/40 between a memory-store node and two Redis nodes (default 5)
  --seed S      the schedule's seed, 0-4294967295 (default: random; printed either way)
  --players N   players, 3-9 (default 5)
  --setup X     only the memory-store setup, or only the Redis one (default: both)
  --ci          the short run of npm test: each fault kind once, shortest holds, seed 17 unless given;
                the two setups run at once, each in a process and network of its own`;

function fail(msg: string): never {
  process.stderr.write(`nemesis: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

function num(raw: string | undefined, flag: string, min: number, max: number, dflt: number): number {
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || n < min || n > max)
    fail(`${flag} must be from ${min} to ${max}, got "${raw}"`);
  return n;
}

let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: {
      minutes: { type: 'string' },
      seed: { type: 'string' },
      players: { type: 'string' },
      ci: { type: 'boolean' },
      setup: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (err) {
  fail((err as Error).message);
}
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
const ci = values.ci === true;
const minutes = num(str('minutes'), '--minutes', 0.5, 600, 5);
const seed = num(str('seed'), '--seed', 0, 2 ** 32 - 1, ci ? 17 : Math.floor(Math.random() * 2 ** 32));
if (!Number.isInteger(seed)) fail('--seed must be a whole number');
const players = num(str('players'), '--players', 3, 9, 5);
if (!Number.isInteger(players)) fail('--players must be a whole number');
const say = (text: string) => process.stdout.write(`${text}\n`);
const only = str('setup');
if (only !== undefined && only !== 'memory' && only !== 'redis')
  fail(`--setup must be memory or redis, got "${only}"`);

const why = unavailable();
if (why) {
  say(`nemesis: SKIPPED, network namespaces cannot be made here: ${why}`);
  say('nemesis: 0 passed, 0 failed, 1 skipped');
  process.exit(0);
}

const hasRedis = (process.env.PATH ?? '').split(':').some((d) => existsSync(path.join(d, 'redis-server')));
if (only === 'redis' && !hasRedis) fail('--setup redis needs redis-server');

// Whatever a run that died uncleanly left: namespaces, links, nft tables, then its root-namespace daemons.
const removed = cleanLeftovers();
try {
  for (const f of readdirSync(stateDir)) {
    const tag = f.replace(/\.pids$/, '');
    if (!stale(tag)) continue;
    for (const pid of readFileSync(path.join(stateDir, f), 'utf8').split('\n').filter(Boolean)) {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (cmd.includes('nemesis') || cmd.includes('redis-server')) {
          process.kill(Number(pid), 'SIGKILL');
          removed.push(`process ${pid}`);
        }
      } catch {
        // Gone already.
      }
    }
    rmSync(path.join(stateDir, f), { force: true });
  }
} catch {
  // No state directory: nothing left over.
}
if (removed.length) say(`nemesis: removed leftovers of an earlier run: ${removed.join(', ')}`);

/** The faults injected, by kind; with `all`, the kinds none of them was. */
function sayKinds(counts: Record<string, number>, all = true): void {
  say(`  faults by kind: ${KINDS.map((k) => `${k} ${counts[k] ?? 0}`).join(', ')}`);
  const missing = KINDS.filter((k) => !counts[k]);
  if (all && missing.length) say(`  kinds not injected: ${missing.join(', ')}`);
}

/** What a one-setup child prints last for the parent (--ci), which sums the fault kinds of both. */
const COUNTS = 'nemesis-counts ';

// --ci runs the setups at once, each in a process (and so a network and daemons) of its own: most of a
// setup's time is faults held and heals awaited, not CPU.
if (ci && only === undefined && hasRedis) {
  const self = process.argv[1] as string;
  const counts: Record<string, number> = {};
  const codes = await Promise.all(
    (['memory', 'redis'] as const).map(
      (setup) =>
        new Promise<number>((resolve) => {
          const child = spawn(
            process.execPath,
            [
              ...process.execArgv,
              self,
              '--ci',
              '--seed',
              String(seed),
              '--players',
              String(players),
              '--setup',
              setup,
            ],
            { stdio: ['ignore', 'pipe', 'pipe'] },
          );
          for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
            process.once(sig, () => child.kill('SIGTERM'));
          const relay = (out: NodeJS.WriteStream) => {
            let rest = '';
            return (d: Buffer) => {
              const lines = (rest + d.toString()).split('\n');
              rest = lines.pop() ?? '';
              for (const line of lines) {
                if (line.startsWith(COUNTS)) {
                  for (const [k, c] of Object.entries(
                    JSON.parse(line.slice(COUNTS.length)) as Record<string, number>,
                  ))
                    counts[k] = (counts[k] ?? 0) + c;
                } else out.write(`[${setup}] ${line}\n`);
              }
            };
          };
          child.stdout.on('data', relay(process.stdout));
          child.stderr.on('data', relay(process.stderr));
          child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
        }),
    ),
  );
  say(`\nnemesis (seed ${seed}): memory exited ${codes[0]}, redis exited ${codes[1]}`);
  sayKinds(counts);
  process.exit(codes.some((c) => c !== 0) ? 1 : 0);
}

const world = new World(players);
let cleaned = false;
const cleanup = () => {
  if (cleaned) return;
  cleaned = true;
  for (const d of live.daemons) d.killNow();
  const gone = world.down();
  rmSync(path.join(stateDir, `${world.tag}.pids`), { force: true });
  if (gone.length) say(`nemesis: cleaned up ${gone.length} namespaces/links/tables`);
};
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    say(`nemesis: ${sig}, cleaning up`);
    cleanup();
    process.exit(130);
  });
}
process.on('uncaughtException', (err) => {
  process.stderr.write(`nemesis: crashed: ${err.stack ?? err}\n`);
  cleanup();
  process.exit(1);
});
process.on('unhandledRejection', (err) => {
  process.stderr.write(`nemesis: crashed: ${(err as Error)?.stack ?? err}\n`);
  cleanup();
  process.exit(1);
});

const totalMs = minutes * 60_000;
const both: RunOptions['phases'] = hasRedis
  ? [
      { setup: 'memory', ms: Math.round(totalMs * 0.6) },
      // ci: the memory setup covers every kind but one; the Redis one adds its node kill and a server cut.
      {
        setup: 'redis',
        ms: Math.round(totalMs * 0.4),
        ...(ci ? { kinds: ['redis-node-kill', 'server-cut'] } : {}),
      },
    ]
  : [{ setup: 'memory', ms: totalMs }];
const phases = only === undefined ? both : both.filter((ph) => ph.setup === only);
const replay = `npm run nemesis -- ${ci ? '--ci' : `--minutes ${minutes}`} --seed ${seed}${players !== 5 ? ` --players ${players}` : ''}${only ? ` --setup ${only}` : ''}`;
const outDir = path.join(tmpdir(), 'lockstep-nemesis', `run-${seed}-${Date.now()}`);
say(
  `nemesis: seed ${seed}, ${players} players, ${ci ? 'ci (each kind once)' : `${minutes} min of faults`}; history in ${outDir}`,
);
if (!hasRedis) say('nemesis: redis-server not found: the Redis setup (redis-node-kill) is SKIPPED');

world.up();
say(
  `nemesis: bridge ${world.bridge} ${world.serverIp}/24, players ${world.ips.join(' ')} in namespaces ${world.namespaces.join(' ')}`,
);
const opts: RunOptions = { seed, phases, quick: ci, outDir, say };
const results: PhaseResult[] = [];
for (const ph of phases) results.push(await runPhase(world, opts, ph));
cleanup();

const counts: Record<string, number> = {};
for (const r of results) for (const [k, c] of Object.entries(r.counts)) counts[k] = (counts[k] ?? 0) + c;
const violations = results.flatMap((r) => r.violations.map((v) => ({ ...v, setup: r.setup })));
say('');
say(`nemesis summary (seed ${seed})`);
for (const r of results) {
  say(
    `  ${r.setup}: ${(r.faultMs / 60_000).toFixed(1)} min of faults, agreed ${r.agreedAfterMs === null ? 'NOT' : `${r.agreedAfterMs} ms`} after the final heal, ${r.violations.length} violations`,
  );
  for (const l of r.links) say(`    links ${l}`);
  for (const c of r.nativeCrashes)
    say(`    native WebRTC crash (the harness's @roamhq/wrtc, not counted): ${c}`);
}
sayKinds(counts, only === undefined);
// A one-setup child of --ci hands its counts to the parent, which sums both setups' kinds.
if (only !== undefined && ci) say(`${COUNTS}${JSON.stringify(counts)}`);
for (const v of violations) {
  say(`\nVIOLATION ${v.rule} (${v.setup}): ${v.message}`);
  for (const p of v.proof) say(`  ${p}`);
}
say(`\nviolations: ${violations.length}`);
if (violations.length) say(`replay: ${replay}`);
process.exit(violations.length ? 1 : 0);
