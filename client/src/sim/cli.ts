import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { leaderCrashes } from './scenarios.ts';
import { convergesLate, LATE_TIMEOUTS, runSchedule } from './schedule.ts';

/** `npm run simulate -- --schedules N [--seed S] [--peers 2-9] [--workers W] [--hostile] [--transcript]` */
interface Args {
  schedules: number;
  seed: number;
  minPeers: number;
  maxPeers: number;
  workers: number;
  transcript: boolean;
  hostile: boolean;
}

function usage(why: string): never {
  console.error(
    `simulate: ${why}\nusage: npm run simulate -- --schedules N [--seed S] [--peers A-B] [--workers W] [--hostile] [--transcript]`,
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    schedules: 1000,
    seed: Date.now() % 1_000_000_007,
    minPeers: 2,
    maxPeers: 9,
    workers: 0,
    transcript: false,
    hostile: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    const int = () => {
      if (v === undefined || !/^\d+$/.test(v)) usage(`${k} needs a non-negative integer`);
      i++;
      return Number(v);
    };
    if (k === '--schedules') a.schedules = int();
    else if (k === '--seed') a.seed = int();
    else if (k === '--workers') a.workers = int();
    else if (k === '--transcript') a.transcript = true;
    else if (k === '--hostile') a.hostile = true;
    else if (k === '--peers') {
      const m = /^(\d+)(?:-(\d+))?$/.exec(v ?? '');
      if (!m) usage('--peers takes N or A-B');
      i++;
      a.minPeers = Number(m[1]);
      a.maxPeers = Number(m[2] ?? m[1]);
      if (a.minPeers < 1 || a.maxPeers < a.minPeers || a.maxPeers > 50) usage('--peers must be within 1-50');
    } else usage(`unknown argument ${k}`);
  }
  if (a.schedules < 1) usage('--schedules must be at least 1');
  return a;
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
    const r = runSchedule({ seed, minPeers: args.minPeers, maxPeers: args.maxPeers, hostile: args.hostile });
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
  const args = parseArgs(process.argv.slice(2));
  if (args.transcript) {
    const r = runSchedule({
      seed: args.seed,
      minPeers: args.minPeers,
      maxPeers: args.maxPeers,
      transcript: true,
      hostile: args.hostile,
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
      `  replay: npm run simulate -- --schedules 1 --seed ${f.seed} --peers ${f.peers}${args.hostile ? ' --hostile' : ''} --transcript`,
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
if (isMainThread) await main();
else parentPort!.postMessage(runChunk(workerData as Chunk));
