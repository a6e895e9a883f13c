// The processes of a nemesis run: players (bench/peer.ts, one per namespace), signaling nodes and Redis in
// the root namespace. Every line a player prints is stamped on arrival and handed to the recorder.

import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { redisArgs } from '../../signaling/src/redisTesting.ts';
import type { Line } from './checker.ts';
import type { World } from './world.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
/** Pids of root-namespace children, per run, so the next run can end them if this one died uncleanly. */
export const stateDir = path.join(tmpdir(), 'lockstep-nemesis');

export interface Recorder {
  now(): number;
  line(l: Line): void;
}

function remember(tag: string, pid: number | undefined): void {
  if (pid === undefined) return;
  mkdirSync(stateDir, { recursive: true });
  appendFileSync(path.join(stateDir, `${tag}.pids`), `${pid}\n`);
}

function untilExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

export interface PlayerSpec {
  url: string;
  room: string;
  storage: string;
  doneMs: number;
  settings: string[];
}

/** One player slot: a name and a storage file; each start is a new process (`inst`) in the same namespace. */
export class PlayerProc {
  readonly slot: string;
  inst = 0;
  latest: Line | null = null;
  private child: ChildProcess | null = null;
  private ending = false;
  frozen = false;
  stderr = '';

  constructor(
    private readonly world: World,
    readonly index: number,
    private readonly spec: PlayerSpec,
    private readonly rec: Recorder,
  ) {
    this.slot = `p${index + 1}`;
  }

  get running(): boolean {
    return this.child !== null;
  }

  start(): void {
    const inst = ++this.inst;
    this.ending = false;
    const s = this.spec;
    const argv = this.world.inNamespace(this.index, [
      process.execPath,
      '--import',
      'tsx',
      'bench/peer.ts',
      ...['--url', s.url, '--room', s.room, '--name', this.slot, '--json', '--auto-done'],
      ...['--done-ms', String(s.doneMs), '--storage', s.storage, '--links-ms', '5000', ...s.settings],
    ]);
    const child = spawn(argv[0] as string, argv.slice(1), { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let buf = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const raw = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let o: Record<string, unknown>;
        try {
          o = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          continue;
        }
        const { t: _t, name: _n, ...rest } = o;
        const l = { ...rest, at: this.rec.now(), slot: this.slot, inst } as Line;
        if (l.event === 'view') this.latest = l;
        this.rec.line(l);
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-4000);
    });
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = null;
      this.frozen = false;
      this.rec.line({
        at: this.rec.now(),
        slot: this.slot,
        inst,
        event: 'exit',
        expected: this.ending,
        code,
        signal,
      });
      if (!this.ending && this.stderr)
        this.rec.line({ at: this.rec.now(), slot: this.slot, inst, event: 'stderr', error: this.stderr });
    });
  }

  /** SIGKILL: a crash, as the harness's own doing. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.ending = true;
    child.kill('SIGKILL');
    await untilExit(child, 5_000);
  }

  freeze(): void {
    if (!this.child || this.frozen) return;
    this.child.kill('SIGSTOP');
    this.frozen = true;
  }

  thaw(): void {
    if (!this.child || !this.frozen) return;
    this.child.kill('SIGCONT');
    this.frozen = false;
  }

  /** SIGTERM (goodbye and leave), SIGKILL after a few seconds. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.ending = true;
    this.thaw();
    child.kill('SIGTERM');
    if (!(await untilExit(child, 6_000))) {
      child.kill('SIGKILL');
      await untilExit(child, 3_000);
    }
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

async function waitPort(host: string, port: number, ms: number, gone: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (gone()) throw new Error(`exited before listening on ${host}:${port}`);
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect({ host, port }, () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on ${host}:${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A root-namespace process that the harness restarts at will: a signaling node or Redis. */
export class Daemon {
  private child: ChildProcess | null = null;
  log = '';

  constructor(
    private readonly tag: string,
    private readonly argv: string[],
    private readonly env: Record<string, string>,
    readonly host: string,
    readonly port: number,
  ) {}

  /** Starts it, again if it exits before listening (the killed one may still hold the port a moment). */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.startOnce();
      } catch (err) {
        if (attempt >= 3 || this.child !== null) throw err;
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  }

  private async startOnce(): Promise<void> {
    const child = spawn(this.argv[0] as string, this.argv.slice(1), {
      cwd: root,
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    remember(this.tag, child.pid);
    const keep = (d: Buffer) => {
      this.log = (this.log + d.toString()).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.once('exit', () => {
      if (this.child === child) this.child = null;
    });
    try {
      // Generous: tsx compiles the server at start, and this box is shared.
      await waitPort(this.host, this.port, 90_000, () => this.child !== child);
    } catch (err) {
      throw new Error(
        `${this.argv.slice(0, 3).join(' ')}: ${(err as Error).message}; its output:\n${this.log}`,
      );
    }
  }

  get running(): boolean {
    return this.child !== null;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill(signal);
    if (!(await untilExit(child, 5_000))) {
      child.kill('SIGKILL');
      await untilExit(child, 3_000);
    }
  }

  /** For exit handlers: no waiting. */
  killNow(): void {
    this.child?.kill('SIGKILL');
  }
}

/** A signaling node: the server's own entry (signaling/src/index.ts main), without the client build step. */
export function signalingNode(tag: string, host: string, port: number, env: Record<string, string>): Daemon {
  const script = "/* nemesis */ import('./signaling/src/index.ts').then((m) => m.main())";
  return new Daemon(
    tag,
    [process.execPath, '--import', 'tsx', '-e', script],
    { ...env, PORT: String(port) },
    host,
    port,
  );
}

export function redisServer(tag: string, port: number): Daemon {
  return new Daemon(tag, ['redis-server', ...redisArgs(port)], {}, '127.0.0.1', port);
}
