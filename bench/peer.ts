// Headless players: `npm run peer -- --url http://host:port --room R --name bot [--count K] [--auto-done]`.
// One line per event on stdout (text, or JSON with --json); Ctrl-C says goodbye and leaves; SIGUSR2 prints a
// `dump` line per player (who is live, and the peers below it).

import { parseArgs } from 'node:util';
import { fileStorage, HeadlessPlayer, type ViewLine } from '../client/src/net/headless.ts';
import { LIMITS } from '../client/src/protocol/limits.ts';
import type { RoomSettings } from '../client/src/protocol/signaling.ts';

const USAGE = `usage: npm run peer -- --url http://host:port --room ROOM --name NAME [options]
  --count K          players to run in this process, 1-50 (default 1); names get -1, -2, … when K > 1
  --auto-done        mark Done whenever not Done on a stage before the last, after a short random delay
  --done-ms MS       that delay's mean, 20-600000 (default 175: 50-300 ms); drawn from MS/2 to 3*MS/2
  --storage FILE     keep the resume state in FILE (K > 1: FILE-1, FILE-2, …): a restart resumes like a reload
  --links-ms MS      also print each player's routes and ICE candidate pairs every MS ms (1000-600000)
  --json             one JSON object per line instead of text
  --net-log          also print each player's network log (signaling connects, refusals, links)
  --stats-ms MS      also print frames sent per type every MS ms (1000-600000)
  --heartbeat-ms MS  --timeout-ms MS  --stages a,b,c   settings, used only if this creates the room
kill -USR2 prints each player's view of who is live and of the peers below it (term, ticks silent, route).`;

class UsageError extends Error {}

interface Cli {
  url: string;
  room: string;
  name: string;
  count: number;
  autoDone: boolean;
  json: boolean;
  statsMs: number | null;
  doneMs: number | null;
  storage: string | null;
  linksMs: number | null;
  netLog: boolean;
  settings: Partial<RoomSettings> | null;
}

function wholeNumber(raw: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return n;
}

export function parseCli(argv: string[]): Cli {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        url: { type: 'string' },
        room: { type: 'string' },
        name: { type: 'string' },
        count: { type: 'string' },
        'auto-done': { type: 'boolean' },
        json: { type: 'boolean' },
        'net-log': { type: 'boolean' },
        'stats-ms': { type: 'string' },
        'done-ms': { type: 'string' },
        storage: { type: 'string' },
        'links-ms': { type: 'string' },
        'heartbeat-ms': { type: 'string' },
        'timeout-ms': { type: 'string' },
        stages: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) throw new UsageError('');
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const url = str('url');
  const room = str('room');
  const name = str('name')?.trim();
  const missing = [!url && '--url', !room && '--room', !name && '--name'].filter(Boolean);
  if (missing.length) throw new UsageError(`missing ${missing.join(', ')}`);
  let parsed: URL;
  try {
    parsed = new URL(url!);
  } catch {
    throw new UsageError(`--url must be a URL like http://127.0.0.1:8080, got "${url}"`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`--url must start with http:// or https://, got "${url}"`);
  }
  if (room!.length > LIMITS.roomId.max || !LIMITS.roomId.pattern.test(room!)) {
    throw new UsageError(
      `--room must be 1-${LIMITS.roomId.max} characters of A-Z a-z 0-9 _ -, got "${room}"`,
    );
  }
  const count = wholeNumber(str('count'), '--count', 1, 50) ?? 1;
  const suffix = count > 1 ? `-${count}`.length : 0;
  if (name!.length + suffix > LIMITS.name.max) {
    throw new UsageError(
      `--name must be at most ${LIMITS.name.max - suffix} characters with --count ${count}`,
    );
  }
  const heartbeatMs = wholeNumber(
    str('heartbeat-ms'),
    '--heartbeat-ms',
    LIMITS.heartbeatMs.min,
    LIMITS.heartbeatMs.max,
  );
  const timeoutMs = wholeNumber(
    str('timeout-ms'),
    '--timeout-ms',
    LIMITS.timeoutMs.min,
    LIMITS.timeoutMs.max,
  );
  const hb = heartbeatMs ?? LIMITS.heartbeatMs.default;
  if (timeoutMs !== undefined && timeoutMs < LIMITS.timeoutHeartbeats * hb) {
    throw new UsageError(
      `--timeout-ms must be at least ${LIMITS.timeoutHeartbeats} × the heartbeat (${hb} ms)`,
    );
  }
  const stagesRaw = str('stages');
  const stages = stagesRaw?.split(',').map((s) => s.trim());
  if (
    stages &&
    (stages.length < LIMITS.stages.min ||
      stages.length > LIMITS.stages.max ||
      stages.some((s) => s.length < 1 || s.length > LIMITS.stages.nameMax))
  ) {
    throw new UsageError(
      `--stages must be ${LIMITS.stages.min}-${LIMITS.stages.max} comma-separated names of 1-${LIMITS.stages.nameMax} characters`,
    );
  }
  const settings: Partial<RoomSettings> = {
    ...(heartbeatMs !== undefined ? { heartbeatMs } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(stages ? { stages } : {}),
  };
  return {
    url: parsed.origin,
    room: room!,
    name: name!,
    count,
    autoDone: values['auto-done'] === true,
    json: values.json === true,
    statsMs: wholeNumber(str('stats-ms'), '--stats-ms', 1000, 600_000) ?? null,
    doneMs: wholeNumber(str('done-ms'), '--done-ms', 20, 600_000) ?? null,
    storage: str('storage') || null,
    linksMs: wholeNumber(str('links-ms'), '--links-ms', 1000, 600_000) ?? null,
    netLog: values['net-log'] === true,
    settings: Object.keys(settings).length ? settings : null,
  };
}

type Out = Record<string, unknown> & { event: string; name: string };

async function main(cli: Cli): Promise<void> {
  const print = (o: Out) => {
    const t = Date.now();
    if (cli.json) {
      process.stdout.write(`${JSON.stringify({ t, ...o })}\n`);
      return;
    }
    const { event, name, ...rest } = o;
    const fields = Object.entries(rest)
      .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
      .join(' ');
    process.stdout.write(`${new Date(t).toISOString()} ${name} ${event} ${fields}\n`);
  };

  const players: HeadlessPlayer[] = [];
  let stopping = false;
  const timers = new Set<ReturnType<typeof setTimeout>>();

  const doneDelay = () =>
    cli.doneMs === null
      ? 50 + Math.floor(Math.random() * 250)
      : Math.floor(cli.doneMs / 2 + Math.random() * cli.doneMs);

  const watch = (p: HeadlessPlayer) => {
    const name = p.opts.name;
    let last = '';
    let lastPhase = '';
    let pending: ReturnType<typeof setTimeout> | null = null;
    /** Log entries printed, by index: a changed hash prints again (and the checker flags it). */
    const printed = new Map<number, string>();
    let logSeq = 0;
    p.store.subscribe((s) => {
      if (cli.netLog) {
        let i = s.log.length;
        while (i > 0 && s.log[i - 1]!.seq > logSeq) i--;
        for (const l of s.log.slice(i))
          if (l.kind === 'net') print({ event: 'net', name, id: s.session.selfId, text: l.text });
      }
      logSeq = s.log.at(-1)?.seq ?? logSeq;
      const phase = s.session.phase;
      if (phase !== lastPhase) {
        lastPhase = phase;
        if (phase === 'joined')
          print({ event: 'joined', name, id: s.session.selfId, resumed: s.session.resumed });
        else if (phase === 'failed' || phase === 'replaced') {
          print({ event: phase, name, error: s.session.error });
          process.exitCode = 1;
        }
      }
      const line: ViewLine | null = p.line();
      if (!line || stopping) return;
      for (const e of p.view?.history ?? []) {
        if (printed.get(e.index) === e.hash) continue;
        printed.set(e.index, e.hash);
        print({
          event: 'entry',
          name,
          id: line.id,
          index: e.index,
          stage: e.stage,
          term: e.term,
          hash: e.hash,
        });
      }
      const key = `${line.id}/${line.leader}/${line.term}/${line.stage}/${line.role}/${line.done}`;
      if (key !== last) {
        last = key;
        print({ event: 'view', name, ...line });
      }
      const finalStage = (s.session.settings?.stages.length ?? Number.POSITIVE_INFINITY) - 1;
      // Whenever not Done, not only once per stage: a player back under a new ID on the same stage, or whose
      // press was lost, must press again, or the room stalls for a reason that is not the protocol's.
      if (cli.autoDone && pending === null && line.stage < finalStage && !line.done) {
        const t = setTimeout(() => {
          timers.delete(t);
          pending = null;
          const v = p.view;
          if (stopping || !v || v.done || v.stage >= finalStage) return;
          p.session.setDone(true);
          print({ event: 'done', name, id: v.self, stage: v.stage });
        }, doneDelay());
        pending = t;
        timers.add(t);
      }
    });
  };

  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    for (const t of timers) clearTimeout(t);
    // Goodbye and a server leave for each, bounded: a dead server must not hold Ctrl-C hostage.
    await Promise.race([
      Promise.allSettled(players.map((p) => p.leave())),
      new Promise((r) => setTimeout(r, 3_000)),
    ]);
    for (const p of players) {
      print({ event: 'left', name: p.opts.name });
      p.dispose();
    }
    process.exit(code || (process.exitCode as number | undefined) || 0);
  };
  process.on('SIGINT', () => {
    if (stopping) process.exit(130);
    void stop(0);
  });
  process.on('SIGTERM', () => void stop(0));

  if (cli.statsMs !== null) {
    const iv = setInterval(() => {
      for (const p of players) {
        print({
          event: 'stats',
          name: p.opts.name,
          id: p.view?.self ?? null,
          sent: Object.fromEntries(p.sent),
        });
      }
    }, cli.statsMs);
    iv.unref();
  }

  // SIGUSR2: each player's view of who is live, and of the peers below it that could lead (bench/parts/room.ts
  // asks for it when a failover does not settle).
  process.on('SIGUSR2', () => {
    for (const p of players) {
      const v = p.view;
      if (!v) {
        // Not joined (yet, or again): often the one a failover waits for.
        print({ event: 'dump', name: p.opts.name, id: null, phase: p.store.getState().session.phase });
        continue;
      }
      const routes = new Map(p.store.getState().net.map((n) => [n.id, n.route]));
      print({
        event: 'dump',
        name: p.opts.name,
        id: v.self,
        role: v.role,
        term: v.term,
        leader: v.leader,
        quorum: v.quorum,
        blocked: v.blocked,
        live: v.live,
        low: v.peers
          .filter((q) => q.id < v.self)
          .slice(0, 8)
          .map(
            (q) =>
              `${q.id}:${q.live ? 'live' : 'dead'} silent ${q.silentTicks} ticks, term ${q.term}, ${routes.get(q.id) ?? '?'}`,
          ),
      });
    }
  });

  if (cli.linksMs !== null) {
    const iv = setInterval(() => {
      for (const p of players) {
        const net = p.store.getState().net;
        void p.candidatePairs().then((pairs) => {
          if (stopping) return;
          print({
            event: 'links',
            name: p.opts.name,
            id: p.view?.self ?? null,
            routes: net.map((n) => ({ id: n.id, route: n.route })),
            pairs,
          });
        });
      }
    }, cli.linksMs);
    iv.unref();
  }

  for (let i = 1; i <= cli.count; i++) {
    if (stopping) return;
    const name = cli.count > 1 ? `${cli.name}-${i}` : cli.name;
    const storage =
      cli.storage === null ? undefined : fileStorage(cli.count > 1 ? `${cli.storage}-${i}` : cli.storage);
    const p = new HeadlessPlayer({ url: cli.url, room: cli.room, name, settings: cli.settings, storage });
    players.push(p);
    watch(p);
    p.start();
    // One at a time, so IDs follow the order of the names.
    await waitJoined(p, 60_000).catch((err: Error) => {
      print({ event: 'error', name, error: err.message });
      process.exitCode = 1;
    });
  }
}

function waitJoined(p: HeadlessPlayer, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const phase = p.store.getState().session.phase;
      if (phase === 'joined') return true;
      if (phase === 'failed' || phase === 'replaced')
        throw new Error(p.store.getState().session.error ?? phase);
      return false;
    };
    try {
      if (check()) return resolve();
    } catch (err) {
      return reject(err);
    }
    const timer = setTimeout(() => {
      unsub();
      reject(new Error(`not joined within ${ms} ms (is the server at the URL?)`));
    }, ms);
    const unsub = p.store.subscribe(() => {
      try {
        if (!check()) return;
        resolve();
      } catch (err) {
        reject(err);
      }
      clearTimeout(timer);
      unsub();
    });
  });
}

let cli: Cli;
try {
  cli = parseCli(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  if (err.message) process.stderr.write(`peer: ${err.message}\n`);
  process.stderr.write(`${USAGE}\n`);
  process.exit(err.message ? 2 : 0);
}
await main(cli);
