// The nemesis world: each player in its own network namespace with a veth into one bridge; the signaling
// server in the root namespace on the bridge's address; faults as nft rules on the bridge (table family
// `bridge`, so players' traffic to each other and to the server both pass through one table).

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** A node of the world: the signaling server (root namespace) or player i (0-based). */
export type Node = 'server' | number;

const PREFIX = 'lsnm';
const NAME = /^lsnm([0-9a-z]+)(?:p\d+|br)$/;

function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, {
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(input !== undefined ? { input } : {}),
  });
}

function tryRun(cmd: string, args: string[]): boolean {
  try {
    run(cmd, args);
    return true;
  } catch {
    return false;
  }
}

/** Why namespaces cannot be made here, or null when they can (probed by making one). */
export function unavailable(): string | null {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'not root';
  for (const tool of ['ip', 'nft']) {
    if (!tryRun('sh', ['-c', `command -v ${tool}`]))
      return `\`${tool}\` is not installed (apt iproute2 nftables)`;
  }
  const probe = `${PREFIX}${process.pid.toString(36)}p0`;
  if (!tryRun('ip', ['netns', 'add', probe])) return 'ip netns add failed (no CAP_SYS_ADMIN?)';
  tryRun('ip', ['netns', 'del', probe]);
  const table = `${PREFIX}${process.pid.toString(36)}`;
  if (!tryRun('nft', ['add', 'table', 'bridge', table])) return 'nft cannot make a bridge table';
  tryRun('nft', ['delete', 'table', 'bridge', table]);
  return null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('nemesis');
  } catch {
    return false;
  }
}

/**
 * Removes what an earlier run that died without cleaning up left (its name carries its pid, and that
 * process is gone): processes still in its namespaces, the namespaces, links, nft tables.
 */
/** A name of ours whose run (the pid in it) is gone. */
export function stale(name: string): boolean {
  const m = NAME.exec(name) ?? /^lsnm([0-9a-z]+)$/.exec(name);
  return m !== null && !alive(Number.parseInt(m[1] as string, 36));
}

export function cleanLeftovers(): string[] {
  const removed: string[] = [];
  for (const line of run('ip', ['netns', 'list']).split('\n')) {
    const ns = line.split(' ')[0] ?? '';
    if (!stale(ns)) continue;
    for (const pid of run('ip', ['netns', 'pids', ns]).split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    if (tryRun('ip', ['netns', 'del', ns])) removed.push(`netns ${ns}`);
  }
  for (const line of run('ip', ['-o', 'link', 'show']).split('\n')) {
    const name = /^\d+: ([^:@]+)/.exec(line)?.[1];
    if (name && stale(name) && tryRun('ip', ['link', 'del', name])) removed.push(`link ${name}`);
  }
  for (const line of run('nft', ['list', 'tables']).split('\n')) {
    const m = /^table (\w+) (\S+)$/.exec(line.trim());
    if (m && stale(m[2] as string) && tryRun('nft', ['delete', 'table', m[1] as string, m[2] as string])) {
      removed.push(`nft table ${m[1]} ${m[2]}`);
    }
  }
  return removed;
}

export class World {
  readonly tag = `${PREFIX}${process.pid.toString(36)}`;
  readonly bridge = `${this.tag}br`;
  readonly serverIp: string;
  readonly ips: string[];
  readonly namespaces: string[];
  private made = false;

  constructor(readonly players: number) {
    const subnet = freeSubnet();
    this.serverIp = `${subnet}.1`;
    this.ips = Array.from({ length: players }, (_, i) => `${subnet}.${11 + i}`);
    this.namespaces = Array.from({ length: players }, (_, i) => `${this.tag}p${i + 1}`);
  }

  up(): void {
    this.made = true;
    run('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    run('ip', ['addr', 'add', `${this.serverIp}/24`, 'dev', this.bridge]);
    run('ip', ['link', 'set', this.bridge, 'up']);
    this.namespaces.forEach((ns, i) => {
      const host = `${this.tag}p${i + 1}`;
      run('ip', ['netns', 'add', ns]);
      run('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      run('ip', ['link', 'set', host, 'master', this.bridge, 'up']);
      // IPv4 only: a link-local IPv6 path would slip past the IPv4 rules.
      run('ip', ['netns', 'exec', ns, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6']);
      run('ip', ['-n', ns, 'addr', 'add', `${this.ips[i]}/24`, 'dev', 'eth0']);
      run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      run('ip', ['-n', ns, 'route', 'add', 'default', 'via', this.serverIp]);
    });
    run(
      'nft',
      ['-f', '-'],
      `table bridge ${this.tag} {
  chain nem_fwd { type filter hook forward priority 0; policy accept; }
  chain nem_in { type filter hook input priority 0; policy accept; }
  chain nem_out { type filter hook output priority 0; policy accept; }
}
`,
    );
  }

  /** Replaces the fault rules: traffic from each `from` to its `to` is dropped (one way). */
  block(pairs: [Node, Node][]): void {
    const ip = (n: Node) => (n === 'server' ? this.serverIp : (this.ips[n] as string));
    const rules = pairs
      .filter(([a, b]) => a !== b)
      .map(([a, b]) => {
        const chain = a === 'server' ? 'nem_out' : b === 'server' ? 'nem_in' : 'nem_fwd';
        return `add rule bridge ${this.tag} ${chain} ip saddr ${ip(a)} ip daddr ${ip(b)} drop`;
      });
    run(
      'nft',
      ['-f', '-'],
      [
        `flush chain bridge ${this.tag} nem_fwd`,
        `flush chain bridge ${this.tag} nem_in`,
        `flush chain bridge ${this.tag} nem_out`,
        ...rules,
        '',
      ].join('\n'),
    );
  }

  /** The command line that runs argv inside player i's namespace. */
  inNamespace(i: number, argv: string[]): string[] {
    return ['ip', 'netns', 'exec', this.namespaces[i] as string, ...argv];
  }

  /** Synchronous and idempotent, so it can run from an exit handler. Kills what is left in the namespaces. */
  down(): string[] {
    if (!this.made) return [];
    this.made = false;
    const removed: string[] = [];
    for (const ns of this.namespaces) {
      try {
        for (const pid of run('ip', ['netns', 'pids', ns]).split('\n').filter(Boolean)) {
          process.kill(Number(pid), 'SIGKILL');
        }
      } catch {
        // No such namespace, or the process is gone.
      }
      if (tryRun('ip', ['netns', 'del', ns])) removed.push(ns);
    }
    for (let i = 1; i <= this.players; i++) tryRun('ip', ['link', 'del', `${this.tag}p${i}`]);
    if (tryRun('ip', ['link', 'del', this.bridge])) removed.push(this.bridge);
    if (tryRun('nft', ['delete', 'table', 'bridge', this.tag])) removed.push(`nft ${this.tag}`);
    return removed;
  }
}

/** A 10.213.x.0/24 no route on this machine uses yet. */
function freeSubnet(): string {
  const routes = run('ip', ['-4', 'route', 'show']);
  for (let k = 0; k < 250; k++) {
    const x = (process.pid + k) % 250;
    if (!routes.includes(`10.213.${x}.`)) return `10.213.${x}`;
  }
  throw new Error('no free 10.213.x.0/24 subnet');
}
