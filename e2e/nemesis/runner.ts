// One nemesis run: per server setup (a memory-store node; two nodes sharing Redis), start the players,
// inject seeded faults with healing between them, heal everything, wait for agreement, then judge.

import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { check, type FaultSpan, type Line, nativeCrashes, type Violation } from './checker.ts';
import { coverage, type Fault, KINDS_FOR, type Kind, nextKinds, plan, rngFrom } from './nemeses.ts';
import { type Daemon, freePort, PlayerProc, redisServer, signalingNode } from './procs.ts';
import type { Node, World } from './world.ts';

export type Setup = keyof typeof KINDS_FOR;

export interface RunOptions {
  seed: number;
  /**
   * Per setup, how long to inject faults; quick: each kind of `kinds` (default: all the setup has) once,
   * with the shortest holds.
   */
  phases: { setup: Setup; ms: number; kinds?: Kind[] }[];
  quick: boolean;
  outDir: string;
  say(text: string): void;
}

export interface PhaseResult {
  setup: Setup;
  seed: number;
  faultMs: number;
  counts: Partial<Record<Kind, number>>;
  violations: Violation[];
  /** Players the harness's native WebRTC crashed (not a violation; see checker.ts). */
  nativeCrashes: string[];
  links: string[];
  agreedAfterMs: number | null;
}

const TIMING = { graceMs: 5_000, timeoutMs: 1_500, nodeTtlMs: 3_000 };
export const AGREE_WITHIN_MS = 30_000;
const STAGES = Array.from({ length: 100 }, (_, i) => `s${i}`).join(',');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the exit handlers must end if the run is cut short. */
export const live = { daemons: new Set<Daemon>() };

export async function runPhase(
  world: World,
  o: RunOptions,
  { setup, ms, kinds: only }: RunOptions['phases'][number],
): Promise<PhaseResult> {
  const seed = (o.seed + (setup === 'redis' ? 1 : 0)) >>> 0;
  const rng = rngFrom(seed);
  const t0 = performance.now();
  const now = () => Math.round(performance.now() - t0);
  const stamp = () => `[${(now() / 1000).toFixed(1).padStart(6)} s]`;
  const dir = path.join(o.outDir, setup);
  mkdirSync(dir, { recursive: true });
  const lines: Line[] = [];
  const rec = {
    now,
    line: (l: Line) => {
      lines.push(l);
      appendFileSync(path.join(dir, 'history.jsonl'), `${JSON.stringify(l)}\n`);
    },
  };

  // Servers.
  const env: Record<string, string> = {
    GRACE_MS: String(TIMING.graceMs),
    PING_INTERVAL_MS: '1000',
    PING_TIMEOUT_MS: '1000',
    SHUTDOWN_RECONNECT_MS: '500',
    LOG_LEVEL: 'warn',
  };
  const nodes: Daemon[] = [];
  if (setup === 'redis') {
    const redisPort = await freePort();
    const redis = redisServer(world.tag, redisPort);
    live.daemons.add(redis);
    await redis.start();
    Object.assign(env, {
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      REDIS_PREFIX: `${world.tag}:`,
      NODE_TTL_MS: String(TIMING.nodeTtlMs),
      SWEEP_INTERVAL_MS: '500',
    });
  }
  for (let k = 0; k < (setup === 'redis' ? 2 : 1); k++) {
    const node = signalingNode(world.tag, world.serverIp, await freePort(), env);
    live.daemons.add(node);
    nodes.push(node);
  }
  await Promise.all(nodes.map((n) => n.start()));
  o.say(
    `${stamp()} ${setup}: ${nodes.length} signaling node(s) on ${nodes.map((n) => `${n.host}:${n.port}`).join(', ')}`,
  );

  // Players: as many stages as the phase can use, at a pace that lasts it.
  const room = `nemesis-${seed}-${setup}`;
  const doneMs = o.quick ? 700 : Math.min(8_000, Math.max(400, Math.round(ms / 120)));
  const players = world.ips.map(
    (_, i) =>
      new PlayerProc(
        world,
        i,
        {
          url: `http://${world.serverIp}:${nodes[i % nodes.length]?.port}`,
          room,
          storage: path.join(dir, `p${i + 1}.storage.json`),
          doneMs,
          settings: ['--heartbeat-ms', '250', '--timeout-ms', String(TIMING.timeoutMs), '--stages', STAGES],
        },
        rec,
      ),
  );
  for (const p of players) p.start();
  const n = players.length;
  // Generous: on a loaded 2-core box, five tsx starts alone took 100 s.
  const formed = await until(180_000, () =>
    players.every((p) => p.latest?.event === 'view' && liveOf(p) === n),
  );
  o.say(
    `${stamp()} ${setup}: ${n} players ${formed ? 'formed a full mesh' : 'did NOT form a full mesh in 180 s'} in room ${room}`,
  );
  await linksRound(lines, now, n);
  const links = [`before faults: ${linkSummary(world, lines)}`];
  o.say(`${stamp()} ${setup}: links ${links[0]}`);

  // Faults.
  const faults: FaultSpan[] = [];
  const counts: Partial<Record<Kind, number>> = {};
  const drops = new Map<Fault, [Node, Node][]>();
  const applyDrops = () => world.block([...drops.values()].flat());
  const first = coverage(rng, only ?? KINDS_FOR[setup]);
  const faultStart = now();
  let finalHeal = faultStart;
  while (o.quick ? first.length > 0 : now() - faultStart < ms) {
    const kinds = nextKinds(rng, KINDS_FOR[setup], first);
    const step = kinds.map((k) => plan(k, rng, n, TIMING, leaderIndex(players), o.quick));
    await Promise.all(
      step.map(async (f) => {
        counts[f.kind] = (counts[f.kind] ?? 0) + 1;
        const start = now();
        o.say(`${stamp()} ${setup}: ${f.kind} for ${f.holdMs} ms: ${f.detail}`);
        await inject(f, { players, nodes, drops, applyDrops });
        const span: FaultSpan = { kind: f.kind, start, end: now(), detail: f.detail };
        if (f.sides) span.sides = f.sides.map((side) => side.map((i) => `p${i + 1}`));
        faults.push(span);
        writeFileSync(path.join(dir, 'faults.json'), JSON.stringify(faults, null, 1));
      }),
    );
    finalHeal = now();
    await sleep(o.quick ? 2_000 : 2_000 + Math.round(rng() * 3_000));
  }
  const faultMs = finalHeal - faultStart;
  o.say(`${stamp()} ${setup}: final heal; waiting up to ${AGREE_WITHIN_MS} ms for agreement`);
  const agreed = await until(AGREE_WITHIN_MS, () => agreement(players));
  const agreedAfterMs = agreed ? now() - finalHeal : null;
  await linksRound(lines, now, n);
  links.push(
    `after the final heal: ${linkSummary(
      world,
      lines.filter((l) => l.at > finalHeal),
    )}`,
  );
  o.say(`${stamp()} ${setup}: links ${links[1]}`);

  for (const p of players) await p.stop();
  for (const d of live.daemons) await d.kill('SIGTERM');
  live.daemons.clear();

  const violations = check({ lines, faults, finalHeal, agreeWithinMs: AGREE_WITHIN_MS });
  if (!formed)
    violations.unshift({ rule: 'setup', message: 'the players never formed a full mesh', proof: [] });
  return {
    setup,
    seed,
    faultMs,
    counts,
    violations,
    nativeCrashes: nativeCrashes(lines),
    links,
    agreedAfterMs,
  };
}

interface Parts {
  players: PlayerProc[];
  nodes: Daemon[];
  drops: Map<Fault, [Node, Node][]>;
  applyDrops(): void;
}

async function inject(f: Fault, w: Parts): Promise<void> {
  const victim = w.players[f.targets[0] ?? 0] as PlayerProc;
  const node = w.nodes[f.node ?? 0] as Daemon;
  switch (f.kind) {
    case 'server-restart':
    case 'redis-node-kill':
      await node.kill();
      await sleep(f.holdMs);
      await node.start();
      return;
    case 'crash':
      await victim.kill();
      await sleep(f.holdMs);
      victim.start();
      return;
    case 'freeze':
      victim.freeze();
      await sleep(f.holdMs);
      victim.thaw();
      return;
    default:
      w.drops.set(f, f.drops);
      w.applyDrops();
      await sleep(f.holdMs);
      w.drops.delete(f);
      w.applyDrops();
  }
}

/** Until every player printed a `links` line (every 5 s each), at most 15 s. */
async function linksRound(lines: Line[], now: () => number, n: number): Promise<void> {
  const from = now();
  await until(
    15_000,
    () => new Set(lines.filter((l) => l.event === 'links' && l.at > from).map((l) => l.slot)).size >= n,
  );
}

const liveOf = (p: PlayerProc) => (p.latest as (Line & { live?: number }) | null)?.live ?? 0;

/** The player most others name as leader, if any. */
function leaderIndex(players: PlayerProc[]): number | null {
  const votes = new Map<number, number>();
  for (const p of players)
    if (p.latest?.leader) votes.set(p.latest.leader, (votes.get(p.latest.leader) ?? 0) + 1);
  const top = [...votes.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  const i = players.findIndex((p) => p.latest?.id === top);
  return i >= 0 ? i : null;
}

function agreement(players: PlayerProc[]): boolean {
  const vs = players.filter((p) => p.running).map((p) => p.latest);
  const a = vs[0];
  return !!a && vs.every((v) => v && v.leader === a.leader && v.stage === a.stage && v.leader !== 0);
}

async function until(ms: number, ok: () => boolean): Promise<boolean> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (ok()) return true;
    await sleep(250);
  }
  return ok();
}

/**
 * From each player's newest `links` line: routes by kind, and ICE pairs whose local address is its own
 * namespace's and whose remote is another player's namespace (host/host: no STUN, no TURN, no relay).
 */
export function linkSummary(world: World, lines: Line[]): string {
  const newest = new Map<
    string,
    Line & { routes?: { route: string }[]; pairs?: { local: string; remote: string; types: string }[] }
  >();
  for (const l of lines) if (l.event === 'links') newest.set(l.slot, l as never);
  const routes = { direct: 0, relay: 0, none: 0 } as Record<string, number>;
  let across = 0;
  let other = 0;
  let example = '';
  for (const [slot, l] of newest) {
    for (const r of l.routes ?? []) routes[r.route] = (routes[r.route] ?? 0) + 1;
    const own = world.ips[Number(slot.slice(1)) - 1];
    for (const p of l.pairs ?? []) {
      const [lip] = p.local.split(':');
      const [rip] = p.remote.split(':');
      if (lip === own && rip !== own && world.ips.includes(rip as string) && p.types === 'host/host') {
        across++;
        example ||= `${slot} ${p.local} <-> ${p.remote}`;
      } else other++;
    }
  }
  return `${newest.size} players: routes ${routes.direct} direct, ${routes.relay} relayed, ${routes.none} none; ICE pairs ${across} host/host across namespaces (e.g. ${example || '-'}), ${other} other`;
}
