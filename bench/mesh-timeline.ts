// Diagnostic, not part of `npm run bench`: opens 8 tabs into one room at once and prints, per tab, when each
// RTCPeerConnection was made and reached each state, then every offer, answer and hello with the time it took
// from the sender's WebSocket to the receiver's, and the frames each tab relayed through the server by kind.
// Shows where a slow mesh spends its time.
//
//   npx tsx bench/mesh-timeline.ts [--tabs 8] [--bare | --raw] [--no-build] [--url http://…] [--hold s] [--profile]
//                                  [--rest s]
//
// --bare serves bench/bare (the same Session, Mesh and core without the React UI) instead of the app;
// --raw serves bench/raw (bare simple-peer over the same signaling server: what WebRTC here costs);
// --profile prints one tab's busiest functions over 5 s of steady state (--profile-start: from the start).
// --rest prints Chromium's CPU (all its processes) over s seconds once the mesh has formed and settled: what
// the tabs cost while nothing happens but heartbeats.

import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as kit from '../e2e/kit.ts';
import { cpuSince, treeCpu } from './lib/cpu.ts';
import { profileTab } from './lib/profile.ts';

const { values: opt } = parseArgs({
  options: {
    tabs: { type: 'string', default: '8' },
    bare: { type: 'boolean', default: false },
    raw: { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
    url: { type: 'string' },
    hold: { type: 'string', default: '0' },
    profile: { type: 'boolean', default: false },
    'profile-start': { type: 'boolean', default: false },
    'profile-ms': { type: 'string', default: '5000' },
    rest: { type: 'string', default: '0' },
  },
});
const arg = (name: 'tabs' | 'hold' | 'profile-ms' | 'rest') => Number(opt[name]);
const TABS = arg('tabs');
const pageDir = (page: string) => join(tmpdir(), `lockstep-${page}`);
const root = fileURLToPath(new URL('..', import.meta.url));

const PC_WATCH = `(() => {
  const Orig = window.RTCPeerConnection;
  const log = (window.__pc = []);
  let n = 0;
  window.RTCPeerConnection = function (...args) {
    const pc = new Orig(...args);
    const id = ++n;
    const at = (what) => log.push({ pc: id, t: Date.now(), what });
    at('new');
    const srd = pc.setRemoteDescription.bind(pc);
    pc.setRemoteDescription = (d) => { at('srd:' + (d && d.type)); return srd(d); };
    pc.addEventListener('signalingstatechange', () => at('sig:' + pc.signalingState));
    pc.addEventListener('icegatheringstatechange', () => at('gather:' + pc.iceGatheringState));
    pc.addEventListener('iceconnectionstatechange', () => at('ice:' + pc.iceConnectionState));
    pc.addEventListener('connectionstatechange', () => at('conn:' + pc.connectionState));
    const cdc = pc.createDataChannel.bind(pc);
    pc.createDataChannel = (...a) => { const dc = cdc(...a); dc.addEventListener('open', () => at('dc:open')); return dc; };
    pc.addEventListener('datachannel', (e) => e.channel.addEventListener('open', () => at('dc:open')));
    return pc;
  };
  window.RTCPeerConnection.prototype = Orig.prototype;
  const WS = window.WebSocket;
  window.WebSocket = function (...args) {
    const ws = new WS(...args);
    log.push({ pc: 0, t: Date.now(), what: 'ws:new' });
    ws.addEventListener('open', () => log.push({ pc: 0, t: Date.now(), what: 'ws:open' }));
    ws.addEventListener('close', (e) => log.push({ pc: 0, t: Date.now(), what: 'ws:close ' + e.code + ' ' + e.reason }));
    const send = ws.send.bind(ws);
    ws.send = (d) => {
      const x = String(d);
      if (x === '3') log.push({ pc: 0, t: Date.now(), what: 'ws:pong' });
      if (x.startsWith('42') && x.includes('"join"')) log.push({ pc: 0, t: Date.now(), what: 'out join' });
      const m = /"signal",\\{"to":(\\d+),"data":\\{(?:"e":"[^"]*","d":\\{)?"type":"(offer|answer)"/.exec(x) || /"signal",\\{"to":(\\d+),"data":\\{"(hello)"/.exec(x);
      if (m) log.push({ pc: -1, t: Date.now(), what: 'out ' + m[2] + ' to ' + m[1] });
      if (x.startsWith('42') && x.includes('["relay"')) {
        // Frames sent through the server while links form: heartbeats, pings and catch-up, by kind. A relay
        // event carries a batch (protocol 7); '?' is a frame that did not parse (a sealed one, in password rooms).
        window.__relay = window.__relay || {};
        let frames = [];
        try { frames = JSON.parse(x.slice(x.indexOf('[')))[1].frames; } catch {}
        window.__relay.events = (window.__relay.events || 0) + 1;
        for (const fr of frames) {
          let key = '?';
          try { const f = JSON.parse(fr.data); key = f.k === 'core' ? f.m.t : f.k; } catch {}
          window.__relay[key] = (window.__relay[key] || 0) + 1;
        }
      }
      return send(d);
    };
    let first = true;
    ws.addEventListener('message', (e) => {
      const x = String(e.data);
      if (first || x === '2') { first = false; log.push({ pc: 0, t: Date.now(), what: 'ws:msg ' + x.slice(0, 40) }); }
      if (/^43\\d*\\[\\{"ok":true,"id"/.test(x)) log.push({ pc: 0, t: Date.now(), what: 'in joined' });
      const r = /^42\\["roster",\\{"room":"[^"]*","version":(\\d+),"members":(\\[[^\\]]*\\])/.exec(x);
      if (r) log.push({ pc: 0, t: Date.now(), what: 'in roster v' + r[1] + ':' + JSON.parse(r[2]).map((m) => m.id).join(',') });
      const m = /"signal",\\{"from":(\\d+),"data":\\{(?:"e":"[^"]*","d":\\{)?"type":"(offer|answer)"/.exec(x) || /"signal",\\{"from":(\\d+),"data":\\{"(hello)"/.exec(x);
      if (m) log.push({ pc: -1, t: Date.now(), what: 'in ' + m[2] + ' from ' + m[1] });
    });
    return ws;
  };
  window.WebSocket.prototype = WS.prototype;
  Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  try {
    new PerformanceObserver((l) => { for (const e of l.getEntries()) log.push({ pc: 0, t: Math.round(performance.timeOrigin + e.startTime), what: 'longtask:' + Math.round(e.duration) }); }).observe({ type: 'longtask', buffered: true });
  } catch {}
  const marks = ['DOMContentLoaded', 'load'];
  for (const m of marks) window.addEventListener(m, () => log.push({ pc: 0, t: Date.now(), what: m }));
  new MutationObserver(() => {
    const el = document.querySelector('[data-testid="self-id"]');
    if (el && /^\\d+$/.test(el.textContent.trim()) && !window.__selfShown) { window.__selfShown = 1; log.push({ pc: 0, t: Date.now(), what: 'self-id ' + el.textContent }); }
  }).observe(document, { subtree: true, childList: true, characterData: true });
})();`;

async function main() {
  const page = opt.bare ? 'bare' : opt.raw ? 'raw' : null;
  if (page && !opt['no-build']) {
    const { buildBenchPage } = await import('./lib/context.ts');
    await buildBenchPage(page, pageDir(page));
  } else if (!opt['no-build'])
    execFileSync('npx', ['vite', 'build', '--logLevel', 'error'], { cwd: root, stdio: 'inherit' });
  const server: { url: string; kill?: kit.ServerProcess['kill'] } = opt.url
    ? { url: opt.url }
    : await kit.startServer({
        GRACE_MS: '2000',
        RESTART_HOLD_MS: '0',
        STATIC_DIR: page ? pageDir(page) : `${root}dist/client`,
      });
  const browser = await kit.launch();
  try {
    const room = `tl${Date.now().toString(36)}`;
    const t0 = Date.now();
    const opened = await Promise.all(
      Array.from({ length: TABS }, (_, i) =>
        kit.openPage(
          browser,
          kit.roomUrl(server, room, `m${i + 1}`, { heartbeatMs: 250, timeoutMs: 1500 }),
          `m${i + 1}`,
          {
            meshWant: TABS - 1,
            init: PC_WATCH,
          },
        ),
      ),
    );
    const early = opt['profile-start'] ? profileTab(opened[opened.length - 1]!, arg('profile-ms')) : null;
    const tabs: kit.Tab[] = await Promise.all(opened.map((t) => kit.readSelfId(t, 60_000)));
    const loads = await Promise.all(tabs.map(kit.loadedAt));
    const lastLoad = Math.max(...loads);
    await kit
      .until(
        async () => (await Promise.all(tabs.map(kit.meshAt))).every((t) => t !== null),
        30_000,
        'full mesh',
        500,
      )
      .catch((e) => console.log(String(e)));
    await early;
    const mesh = await Promise.all(tabs.map(kit.meshAt));
    for (const t of tabs)
      console.log(
        `tab ${t.id} relayed through the server, by kind:`,
        JSON.stringify(await t.page.evaluate('window.__relay ?? {}')),
      );
    console.log(
      `last load at +${lastLoad - t0} ms; mesh at ${mesh.map((m) => (m ? m - lastLoad : 'never')).join(', ')} (ms after last load)`,
    );
    const sig: { tab: number; t: number; what: string }[] = [];
    for (const t of tabs) {
      const log =
        (await t.page.evaluate(
          () => (window as unknown as { __pc: { pc: number; t: number; what: string }[] }).__pc,
        )) ?? [];
      const byPc = new Map<number, string[]>();
      for (const e of log) {
        const l = byPc.get(e.pc) ?? [];
        l.push(`${e.what}@${e.t - lastLoad}`);
        byPc.set(e.pc, l);
      }
      for (const e of log) if (e.pc === -1) sig.push({ tab: t.id, t: e.t - lastLoad, what: e.what });
      console.log(`tab ${t.id} (load ${loads[tabs.indexOf(t)]! - lastLoad}):`);
      for (const [pc, l] of byPc) console.log(`  pc${pc}: ${l.join(' ')}`);
    }
    // Each offer/answer/hello: when the sender emitted it and when the receiver got it.
    const outs = sig.filter((x) => x.what.startsWith('out '));
    const ins = sig.filter((x) => x.what.startsWith('in '));
    const used = new Set<number>();
    for (const o of outs.sort((a, b) => a.t - b.t)) {
      const [, kind = '', , to] = o.what.split(' ');
      const i = ins.findIndex(
        (x, k) =>
          !used.has(k) && x.tab === Number(to) && x.what === `in ${kind} from ${o.tab}` && x.t >= o.t - 5,
      );
      if (i >= 0) used.add(i);
      console.log(
        `${String(Math.round(o.t)).padStart(6)} ${o.tab}→${to} ${kind.padEnd(6)} ${i >= 0 ? `+${Math.round(ins[i]!.t - o.t)} ms` : 'never arrived'}`,
      );
    }
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    console.log(
      metrics
        .split('\n')
        .filter((l) => /^lockstep_(rejected|events)/.test(l))
        .join('\n'),
    );
    await new Promise((r) => setTimeout(r, 1000 * arg('hold')));
    if (opt.profile) await profileTab(tabs[0]!, arg('profile-ms'));
    if (arg('rest') > 0) {
      await new Promise((r) => setTimeout(r, 3000));
      const before = treeCpu(process.pid, /chromium|chrome/);
      await new Promise((r) => setTimeout(r, 1000 * arg('rest')));
      const ms = cpuSince(before, treeCpu(process.pid, /chromium|chrome/));
      console.log(`Chromium CPU at rest: ${ms} ms over ${arg('rest')} s (${TABS} tabs)`);
    }
    await Promise.all(tabs.map(kit.closePlayer));
  } finally {
    await browser.close();
    await server.kill?.();
  }
}

await main();
