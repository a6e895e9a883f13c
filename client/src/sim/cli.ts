import { realpathSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { leaderCrashes } from './scenarios.ts';
import { convergesLate, LATE_TIMEOUTS, runSchedule } from './schedule.ts';

const USAGE = `usage: npm run simulate -- [--schedules N] [--seed S] [--peers A-B] [--workers W] [--hostile] [--stalls] [--transcript]
  --schedules N  schedules to run, 1-1000000 (default 1000); schedule i runs seed S + i
  --seed S       the first seed, 0-4294967295 (default: from the clock; printed either way)
  --peers A-B    players per schedule, N or A-B within 1-50 (default 2-9)
  --workers W    threads, 1-64 (default: one per core)
  --hostile      a liar in every schedule, removed by the owner before the faults heal
  --stalls       main threads stall in every schedule, unnoticed by the server (a busy or throttled tab)
  --transcript   one schedule (seed S), with its message log`;

interface Args {
  schedules: number;
  seed: number;
  minPeers: number;
  maxPeers: number;
  /** 0: one per core. */
  workers: number;
  transcript: boolean;
  hostile: boolean;
  stalls: boolean;
}

/** The command line as `Args`, or why not (a message for the user, not an exception's text). */
export function simArgs(argv: string[], now = Date.now()): Args | string {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        schedules: { type: 'string' },
        seed: { type: 'string' },
        peers: { type: 'string' },
        workers: { type: 'string' },
        hostile: { type: 'boolean' },
        stalls: { type: 'boolean' },
        transcript: { type: 'boolean' },
      },
    }));
  } catch (err) {
    return (err as Error).message;
  }
  const whole = (flag: string, min: number, max: number, dflt: number): number | string => {
    const raw = values[flag];
    if (raw === undefined) return dflt;
    const n = Number(raw);
    return typeof raw === 'string' && /^\d+$/.test(raw) && n >= min && n <= max
      ? n
      : `--${flag} must be a whole number from ${min} to ${max}, got "${raw}"`;
  };
  const schedules = whole('schedules', 1, 1_000_000, 1000);
  const seed = whole('seed', 0, 2 ** 32 - 1, now % 2 ** 32);
  const workers = whole('workers', 1, 64, 0);
  for (const v of [schedules, seed, workers]) if (typeof v === 'string') return v;
  let minPeers = 2;
  let maxPeers = 9;
  if (values.peers !== undefined) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(String(values.peers));
    minPeers = Number(m?.[1]);
    maxPeers = Number(m?.[2] ?? m?.[1]);
    if (!m || minPeers < 1 || maxPeers < minPeers || maxPeers > 50)
      return `--peers takes N or A-B within 1-50, got "${values.peers}"`;
  }
  return {
    schedules: schedules as number,
    seed: seed as number,
    minPeers,
    maxPeers,
    workers: workers as number,
    transcript: values.transcript === true,
    hostile: values.hostile === true,
    stalls: values.stalls === true,
  };
}

interface Chunk {
  from: number;
  to: number;
  args: Args;
}

interface Outcome {
  seed: number;
  violations: string[];
  unconverged: string[];
  peers: number;
  messages: number;
  ticks: number;
}

/** Schedule i runs seed (base + i): any failure replays alone from its own seed. */
function runChunk({ from, to, args }: Chunk): Outcome[] {
  const out: Outcome[] = [];
  for (let i = from; i < to; i++) {
    const seed = (args.seed + i) >>> 0;
    const r = runSchedule({
      seed,
      minPeers: args.minPeers,
      maxPeers: args.maxPeers,
      hostile: args.hostile,
      stalls: args.stalls,
    });
    out.push({
      seed,
      violations: r.violations,
      unconverged: r.unconverged,
      peers: r.peers,
      messages: r.messages,
      ticks: r.ticks,
    });
  }
  return out;
}

// Workers start without tsx's loader: register it, then load this file.
const bootUrl = new URL(
  `data:text/javascript,${encodeURIComponent(
    `import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))}; register(); await import(${JSON.stringify(import.meta.url)});`,
  )}`,
);

async function main(): Promise<void> {
  const args = simArgs(process.argv.slice(2));
  if (typeof args === 'string') {
    console.error(`simulate: ${args}\n${USAGE}`);
    process.exit(2);
  }
  if (args.transcript) {
    const r = runSchedule({
      seed: args.seed,
      minPeers: args.minPeers,
      maxPeers: args.maxPeers,
      transcript: true,
      hostile: args.hostile,
      stalls: args.stalls,
    });
    console.log(r.transcript.join('\n'));
    console.log(`schedules: 1, violations: ${r.violations.length}, seed: ${args.seed}`);
    process.exit(r.violations.length ? 1 : 0);
  }
  const workers = Math.max(1, Math.min(args.workers || availableParallelism(), args.schedules));
  const started = performance.now();
  const per = Math.ceil(args.schedules / workers);
  const chunks: Chunk[] = [];
  for (let w = 0; w < workers; w++) {
    const from = w * per;
    const to = Math.min(args.schedules, from + per);
    if (from < to) chunks.push({ from, to, args });
  }
  const results = (
    await Promise.all(
      chunks.map(
        (c) =>
          new Promise<Outcome[]>((resolve, reject) => {
            const w = new Worker(bootUrl, { workerData: c });
            w.once('message', resolve);
            w.once('error', reject);
          }),
      ),
    )
  ).flat();
  const secs = (performance.now() - started) / 1000;
  const failed = results.filter((r) => r.violations.length > 0);
  for (const f of failed) {
    console.log(
      `FAIL seed ${f.seed} (${f.peers} peers): ${f.violations[0]}${f.violations.length > 1 ? ` (+${f.violations.length - 1} more)` : ''}`,
    );
    console.log(
      `  replay: npm run simulate -- --schedules 1 --seed ${f.seed} --peers ${f.peers}${args.hostile ? ' --hostile' : ''}${args.stalls ? ' --stalls' : ''} --transcript`,
    );
  }
  const msgs = results.reduce((s, r) => s + r.messages, 0);
  console.log(
    `${(results.length / secs).toFixed(1)} schedules/s on ${workers} worker(s), ${secs.toFixed(1)} s, ${(msgs / results.length).toFixed(0)} messages/schedule`,
  );
  for (const n of [3, 5, 9]) {
    const e = leaderCrashes(n, false);
    console.log(
      `leader crash at N=${n}: ${e.electionMessages} election messages (ELECTION, ANSWER, COORDINATOR, REPORT, REJECT), new leader after ${e.failoverTicks} ticks (timeout ${e.net.timing.timeoutTicks})`,
    );
  }
  let stuck = 0;
  if (args.hostile) {
    const late = results.filter((r) => r.unconverged.length > 0);
    for (const f of late) {
      const after = convergesLate({
        seed: f.seed,
        minPeers: args.minPeers,
        maxPeers: args.maxPeers,
        hostile: true,
        stalls: args.stalls,
      });
      if (after === null) stuck++;
      console.log(
        `UNCONVERGED seed ${f.seed} (${f.peers} peers): ${f.unconverged[0]}; ${after === null ? `STUCK: not converged (or a violation) ${LATE_TIMEOUTS.at(-1)} timeouts later either` : `converged within ${after} more timeouts`}`,
      );
    }
    console.log(
      `hostile: ${late.length} of ${results.length} did not converge within the window after the liar's removal; ${stuck} of them stayed stuck ${LATE_TIMEOUTS.at(-1)} timeouts later`,
    );
  }
  console.log(`schedules: ${results.length}, violations: ${failed.length}, seed: ${args.seed}`);
  process.exit(failed.length || stuck ? 1 : 0);
}

const { isMainThread, parentPort, workerData } = await import('node:worker_threads');
const entry = process.argv[1];
if (!isMainThread) parentPort!.postMessage(runChunk(workerData as Chunk));
// The real path, as import.meta.url is: run through a symlink, the two would differ and nothing would run.
else if (entry && import.meta.url === pathToFileURL(realpathSync(entry)).href) await main();
