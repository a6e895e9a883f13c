// Headless players (bench/peer.ts) as child processes, with their JSON lines parsed as they arrive.

import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface BotLine {
  t: number;
  event: string;
  name: string;
  id?: number;
  leader?: number;
  term?: number;
  stage?: number;
  role?: string;
  sent?: Record<string, number>;
  error?: string;
  text?: string;
}

export interface BotOptions {
  url: string;
  room: string;
  name: string;
  count?: number;
  autoDone?: boolean;
  statsMs?: number;
  extra?: string[];
}

/** One `bench/peer.ts` process holding `count` players. */
export class BotProcess {
  readonly lines: BotLine[] = [];
  private readonly child: ChildProcess;
  private buf = '';
  private err = '';
  private readonly waiters = new Set<() => void>();

  constructor(opts: BotOptions) {
    const args = ['--url', opts.url, '--room', opts.room, '--name', opts.name, '--json'];
    if (opts.count) args.push('--count', String(opts.count));
    if (opts.autoDone) args.push('--auto-done');
    if (opts.statsMs) args.push('--stats-ms', String(opts.statsMs));
    args.push(...(opts.extra ?? []));
    // node --import tsx, not the tsx CLI, so a kill reaches the process that holds the peers. BOT_CPU_PROF=dir
    // profiles each one (written when it exits, so not the SIGKILLed leaders; stop() waits longer for it).
    const prof = process.env.BOT_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BOT_CPU_PROF] : [];
    this.child = spawn(process.execPath, [...prof, '--import', 'tsx', 'bench/peer.ts', ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.buf += d;
      let nl = this.buf.indexOf('\n');
      while (nl >= 0) {
        const raw = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        nl = this.buf.indexOf('\n');
        try {
          this.lines.push(JSON.parse(raw) as BotLine);
        } catch {
          this.err = `${this.err}${raw}\n`.slice(-4000);
        }
      }
      for (const w of this.waiters) w();
    });
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.err = (this.err + d).slice(-4000);
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get stderr(): string {
    return this.err;
  }

  /** Resolves with the first line (from `from` on) that matches, or rejects after `ms`. */
  waitFor(pred: (l: BotLine) => boolean, ms: number, from = 0): Promise<BotLine> {
    return new Promise((resolve, reject) => {
      let i = from;
      const check = () => {
        for (; i < this.lines.length; i++) {
          const l = this.lines[i]!;
          if (pred(l)) {
            done();
            resolve(l);
            return;
          }
        }
        if (this.child.exitCode !== null) {
          done();
          reject(new Error(`bot process exited (${this.child.exitCode}): ${this.err}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`bot: no matching line within ${ms} ms; stderr: ${this.err}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** The latest view line of each player in this process. */
  views(): Map<string, BotLine> {
    const m = new Map<string, BotLine>();
    for (const l of this.lines) if (l.event === 'view') m.set(l.name, l);
    return m;
  }

  /** A signal, not a stop: SIGUSR2 asks bench/peer.ts for its players' views. */
  signal(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /** SIGTERM (goodbye and leave), or SIGKILL (a crash); resolves once the process is gone. */
  async stop(
    signal: NodeJS.Signals = 'SIGTERM',
    ms = process.env.BOT_CPU_PROF ? 30_000 : 5_000,
  ): Promise<void> {
    const c = this.child;
    if (c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill(signal);
    const timer = setTimeout(() => c.kill('SIGKILL'), ms);
    await exited;
    clearTimeout(timer);
  }
}
