// Diagnostic (not part of `npm run bench`): 8 tabs form a mesh while the browser is traced for ~10 s; prints
// the main frames each renderer ran (count / ms) and the busiest trace events of the rendering threads
// (what "(program)" in a CPU profile is made of).
//   npx tsx bench/trace-tab.ts [static dir, relative to the repo: dist/client]
import {
  closePlayer,
  launch,
  openPage,
  type Player,
  readSelfId,
  roomUrl,
  startServer,
  TIMING,
} from '../e2e/kit.ts';

const server = await startServer({
  GRACE_MS: '2000',
  RESTART_HOLD_MS: '0',
  STATIC_DIR: `${process.cwd()}/${process.argv[2] ?? 'dist/client'}`,
});
const browser = await launch();
const room = `tr${Date.now().toString(36)}`;
const tabs: Player[] = await Promise.all(
  Array.from({ length: 8 }, (_, i) =>
    openPage(browser, roomUrl(server, room, `m${i + 1}`, TIMING), `m${i + 1}`, { gotoMs: 120_000 }),
  ),
);
const target = tabs[7]!;
await browser.startTracing(target.page, {
  categories: [
    'devtools.timeline',
    'disabled-by-default-devtools.timeline',
    'toplevel',
    'blink',
    'cc',
    'gpu',
    'v8',
  ],
});
await Promise.all(tabs.map((t) => readSelfId(t, 60_000)));
await new Promise((r) => setTimeout(r, 8000));
const buf = await browser.stopTracing();
const trace = JSON.parse(buf.toString()) as {
  traceEvents: {
    name: string;
    ph: string;
    dur?: number;
    /** Thread (CPU) time: what the work cost, which a descheduled thread's wall time overstates. */
    tdur?: number;
    tid: number;
    pid: number;
    args?: { name?: string };
  }[];
};
const ev = trace.traceEvents;
const threadName = new Map<string, string>();
for (const e of ev)
  if (e.ph === 'M' && e.name === 'thread_name') threadName.set(`${e.pid}:${e.tid}`, e.args?.name ?? '');
const byThread = new Map<string, Map<string, number>>();
for (const e of ev) {
  const d = e.tdur ?? e.dur;
  if (e.ph !== 'X' || !d) continue;
  const tn = threadName.get(`${e.pid}:${e.tid}`) ?? '?';
  const m = byThread.get(tn) ?? new Map<string, number>();
  m.set(e.name, (m.get(e.name) ?? 0) + d);
  byThread.set(tn, m);
}
const frames = new Map<number, { n: number; ms: number }>();
for (const e of ev) {
  if (e.ph !== 'X' || e.name !== 'ProxyMain::BeginMainFrame') continue;
  const f = frames.get(e.pid) ?? { n: 0, ms: 0 };
  f.n++;
  f.ms += (e.tdur ?? e.dur ?? 0) / 1000;
  frames.set(e.pid, f);
}
console.log(
  'BeginMainFrame per renderer (count, ms):',
  [...frames.values()].map((f) => `${f.n}/${Math.round(f.ms)}`).join(' '),
);
for (const [tn, m] of byThread) {
  if (!/CrRendererMain|Compositor|Viz|Raster|ThreadPoolForeground/.test(tn)) continue;
  console.log(`== ${tn}`);
  for (const [n, d] of [...m].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.TOP ?? 14)))
    console.log(`  ${(d / 1000).toFixed(0).padStart(6)} ms ${n}`);
}
await Promise.all(tabs.map(closePlayer));
await browser.close();
await server.kill();
process.exit(0);
