// Chromium tabs and a signaling server for the bench, driven through the automation contract
// (README.md, Automation contract). Mirrors e2e/helpers.ts without the Playwright test runner.

import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from '@playwright/test';
import { chromiumArgs, chromiumExecutable } from '../../e2e/chromium.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export class Server {
  private child: ChildProcess | null = null;
  url = '';
  async start(env: Record<string, string> = {}): Promise<void> {
    const port = await freePort();
    this.url = `http://127.0.0.1:${port}`;
    const child = spawn(process.execPath, ['--import', 'tsx', 'signaling/src/index.ts'], {
      cwd: root,
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    this.child = child;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error('signaling server exited early');
      try {
        if ((await fetch(`${this.url}/healthz`)).ok) return;
      } catch {
        // Not listening yet.
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('signaling server did not start');
  }
  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGKILL');
    await exited;
  }
}

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumExecutable,
    headless: true,
    args: [
      ...chromiumArgs,
      // Every tab is a player: none of them may be throttled as a background tab.
      '--disable-background-timer-throttling',
      '--disable-renderer-backgrounding',
      '--disable-backgrounding-occluded-windows',
    ],
  });
}

export interface Tab {
  context: BrowserContext;
  page: Page;
  id: number;
}

export interface RoomOpts {
  heartbeatMs?: number;
  timeoutMs?: number;
  stages?: string[];
}

export function roomUrl(server: Server, room: string, name: string, o: RoomOpts = {}): string {
  const q = new URLSearchParams({ name });
  if (o.heartbeatMs) q.set('heartbeatMs', String(o.heartbeatMs));
  if (o.timeoutMs) q.set('timeoutMs', String(o.timeoutMs));
  if (o.stages) q.set('stages', o.stages.join(','));
  return `${server.url}/r/${room}?${q}`;
}

/**
 * Installed before the app runs: records in the page when `leader-id` changes and when a full mesh
 * (`want` peers direct) agreeing on the lowest ID as leader is first seen. A MutationObserver, not
 * polling: eight polling tabs on two cores would slow down what they measure.
 */
// A string, not a function: tsx's transform wraps named functions in a `__name` helper the page lacks.
const WATCH_SRC = `(want) => {
  const w = window;
  w.__bench = { leader: [], meshAt: null };
  let last = '';
  const check = () => {
    const el = document.querySelector('[data-testid="leader-id"]');
    const v = ((el && el.textContent) || '').trim();
    if (el && v !== last) {
      last = v;
      w.__bench.leader.push({ t: Date.now(), v });
    }
    if (w.__bench.meshAt === null && v !== '') {
      const peers = [...document.querySelectorAll('[data-testid="peer"]')];
      const direct = peers.filter((p) => p.getAttribute('data-state') === 'direct').length;
      const lowest = Math.min(...peers.map((p) => Number(p.getAttribute('data-peer-id'))));
      if (direct >= want && v === String(lowest)) w.__bench.meshAt = Date.now();
    }
  };
  const observe = () =>
    new MutationObserver(check).observe(document.body, {
      subtree: true,
      childList: true,
      characterData: true,
      attributes: true,
      attributeFilter: ['data-state', 'data-peer-id'],
    });
  if (document.body) observe();
  else document.addEventListener('DOMContentLoaded', observe);
}`;

export async function openTab(
  browser: Browser,
  url: string,
  meshWant = Number.POSITIVE_INFINITY,
  wait = true,
  extraInit = '',
): Promise<Tab> {
  const context = await browser.newContext();
  await context.addInitScript({
    content: `(${WATCH_SRC})(${Number.isFinite(meshWant) ? meshWant : 'Infinity'});${extraInit}`,
  });
  const page = await context.newPage();
  await page.goto(url);
  const tab: Tab = { context, page, id: 0 };
  if (wait) await tabId(tab);
  return tab;
}

export async function tabId(tab: Tab, ms = 20_000): Promise<number> {
  await tab.page.getByTestId('self-id').filter({ hasText: /^\d+$/ }).waitFor({ timeout: ms });
  tab.id = Number((await tab.page.getByTestId('self-id').textContent())?.trim());
  return tab.id;
}

/** Wall time the tab first showed `leader` at or after `since`, or null. */
export async function leaderShownAt(tab: Tab, leader: number, since: number): Promise<number | null> {
  const log = await tab.page.evaluate(
    () => (window as unknown as { __bench: { leader: { t: number; v: string }[] } }).__bench.leader,
  );
  return log.find((e) => e.t >= since && e.v === String(leader))?.t ?? null;
}

/** Wall time the tab first saw a full mesh with a leader (see installWatch), or null. */
export async function meshAt(tab: Tab): Promise<number | null> {
  return tab.page.evaluate(
    () => (window as unknown as { __bench: { meshAt: number | null } }).__bench.meshAt,
  );
}

/** Wall time of the page's load event. */
export async function loadedAt(tab: Tab): Promise<number> {
  return tab.page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
    return performance.timeOrigin + (nav?.loadEventEnd || nav?.domContentLoadedEventEnd || 0);
  });
}

export async function currentLeader(tab: Tab): Promise<number> {
  return Number((await tab.page.getByTestId('leader-id').textContent())?.trim() || 0);
}

export async function directCount(tab: Tab): Promise<number> {
  return tab.page.locator('[data-testid="peer"][data-state="direct"]').count();
}

/**
 * Polls `cond` until it holds or `ms` passes (bounded). Every poll is a CDP round trip into each tab, through
 * threads Chromium runs at display priority: poll slowly where the page records its own timestamps.
 */
export async function until(
  cond: () => Promise<boolean> | boolean,
  ms: number,
  what: string,
  everyMs = 25,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

export async function closeTab(tab: Tab): Promise<void> {
  await tab.context.close().catch(() => {});
}

/** The renderer dies at once: no pagehide, no goodbye, channels never report a close. */
export async function crashTab(tab: Tab): Promise<number> {
  const cdp = await tab.context.newCDPSession(tab.page);
  const t0 = Date.now();
  cdp.send('Page.crash').catch(() => {});
  return t0;
}

/** `ms` of one tab: its renderer's busiest functions and its rendering counters, printed. */
export async function profileTab(tab: Tab, ms: number): Promise<void> {
  const cdp = await tab.context.newCDPSession(tab.page);
  await cdp.send('Performance.enable');
  const before = (await cdp.send('Performance.getMetrics')).metrics;
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.start');
  await new Promise((r) => setTimeout(r, ms));
  const { profile: p } = await cdp.send('Profiler.stop');
  const after = (await cdp.send('Performance.getMetrics')).metrics;
  const m = (l: typeof before, k: string) => l.find((x) => x.name === k)?.value ?? 0;
  for (const k of [
    'TaskDuration',
    'ScriptDuration',
    'LayoutDuration',
    'RecalcStyleDuration',
    'LayoutCount',
    'RecalcStyleCount',
    'JSHeapUsedSize',
  ])
    console.log(`${k}: ${(m(after, k) - m(before, k)).toFixed(3)} (now ${m(after, k).toFixed(1)})`);
  const self = new Map<string, number>();
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  p.samples?.forEach((s, i) => {
    const n = byId.get(s)!;
    const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').pop()}:${n.callFrame.lineNumber}`;
    self.set(k, (self.get(k) ?? 0) + (p.timeDeltas?.[i] ?? 0));
  });
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25))
    console.log(`${(v / 1000).toFixed(0).padStart(6)} ms ${k}`);
}
