// The test kit shared by the e2e suite and the bench: Chromium's launch settings, the signaling server as a
// child process, room URLs, player pages and in-page observers, all through the README's automation
// contract. No Playwright test runner here (e2e/helpers.ts adds its fixtures and expectations).

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  chromium,
  type Page,
} from '@playwright/test';
import WebSocket from 'ws';
// The stages list's escaping (`\,` in a name), as the README's URL contract gives it.
import { joinStages } from '../client/src/ui/route.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

// Debian's chromium (browsers cannot be downloaded here).
export const chromiumExecutable = process.env.CHROMIUM ?? '/usr/bin/chromium';

export const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
  // New headless Chromium runs the whole browser UI: every window also starts the omnibox's WebUI popups, two
  // renderers that take CPU from every player (basics.spec, side by side: 41 s, 41 s without this; 27 s, 32 s
  // with it). Chromium keeps one value of a switch given twice, and Playwright passes its own
  // --disable-features, so Playwright 1.65's list is repeated here.
  `--disable-features=${[
    'WebUIOmniboxPopup',
    'WebUIOmniboxAimPopup',
    ...['AvoidUnnecessaryBeforeUnloadCheckSync', 'DestroyProfileOnBrowserClose', 'HttpsUpgrades'],
    ...['HttpsFirstBalancedModeAutoEnable', 'LensOverlay', 'MediaRouter', 'PaintHolding'],
    ...['ThirdPartyStoragePartitioning', 'AvoidCorsURLLoaderRestartOnRedirect', 'OptimizationHints'],
    ...['NetworkTimeServiceQuerying', 'AimEnabled', 'PreconnectToSearch'],
  ].join(',')}`,
];

/** A browser outside the test runner (the bench): every tab is a player, none may be throttled as a background tab. */
export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumExecutable,
    headless: true,
    args: [
      ...chromiumArgs,
      '--disable-background-timer-throttling',
      '--disable-renderer-backgrounding',
      '--disable-backgrounding-occluded-windows',
    ],
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * The server bundled into one file (the e2e global setup builds it once per run): a process starts from it in
 * a third of the time it takes through tsx, which every test pays on a loaded 2-core machine.
 */
/** The room timing the specs and the bench play at: the app's defaults, spelled out, so a change of defaults does
 *  not quietly change what they measure. */
export const TIMING = { heartbeatMs: 250, timeoutMs: 1500 };

export const SERVER_BUNDLE_ENV = 'LOCKSTEP_SERVER_BUNDLE';

export async function bundleServer(outDir: string): Promise<string> {
  const { build } = await import('vite');
  await build({
    configFile: false,
    root,
    publicDir: false,
    logLevel: 'warn',
    ssr: { noExternal: true, target: 'node' },
    build: {
      ssr: 'signaling/src/index.ts',
      outDir,
      emptyOutDir: true,
      minify: false,
      target: 'node20',
      rollupOptions: { output: { format: 'esm', entryFileNames: 'server.mjs' } },
    },
  });
  return `${outDir}/server.mjs`;
}

/** The real signaling server (and static client) as a child process, killable and restartable. */
export class ServerProcess {
  private child: ChildProcess | null = null;
  readonly url: string;
  private output = '';

  constructor(
    readonly port: number,
    private readonly env: Record<string, string> = {},
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  async start(): Promise<void> {
    // One process (node --import tsx), not the tsx CLI: its wrapper would leave the server orphaned on SIGKILL.
    const bundle = process.env[SERVER_BUNDLE_ENV];
    const args = bundle ? [bundle] : ['--import', 'tsx', 'signaling/src/index.ts'];
    const child = spawn(process.execPath, args, {
      cwd: root,
      env: {
        ...process.env,
        PORT: String(this.port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        // The default is found from the source file's place, which a bundle does not keep.
        STATIC_DIR: `${root}dist/client`,
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const keep = (d: unknown) => {
      this.output = (this.output + String(d)).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`server exited early: ${this.output}`);
      try {
        const res = await fetch(`${this.url}/healthz`);
        if (res.ok) return;
      } catch {
        // Not listening yet.
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`server did not start on ${this.port}: ${this.output}`);
  }

  /** SIGKILL: no shutdown event, sockets just drop (a crash, not a deploy). */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
    this.child = null;
  }
}

/** A started server on a free port; `kill()` it when done. */
export async function startServer(env: Record<string, string> = {}): Promise<ServerProcess> {
  const server = new ServerProcess(await freePort(), env);
  await server.start();
  return server;
}

export interface RoomOptions {
  heartbeatMs?: number;
  timeoutMs?: number;
  stages?: string[];
}

export function roomUrl(server: { url: string }, room: string, name: string, opts: RoomOptions = {}): string {
  const q = new URLSearchParams({ name });
  if (opts.heartbeatMs) q.set('heartbeatMs', String(opts.heartbeatMs));
  if (opts.timeoutMs) q.set('timeoutMs', String(opts.timeoutMs));
  if (opts.stages) q.set('stages', joinStages(opts.stages));
  return `${server.url}/r/${room}?${q}`;
}

export function uniqueRoom(prefix = 'e2e'): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

/** One player: its own browser context (its own sessionStorage, like a separate device). */
export interface Player {
  name: string;
  context: BrowserContext;
  page: Page;
}

/** A player whose ID is known (the bench sorts and names players by it). */
export interface Tab extends Player {
  id: number;
}

export interface OpenOptions {
  context?: BrowserContextOptions;
  /** Observe these test IDs' text from the first paint (see `watched`). */
  watch?: string[];
  /** Record when the page first shows this many direct peers and the lowest ID as leader (see `meshAt`). */
  meshWant?: number;
  /** More page script to run before the app (a string: tsx's transform would break a function here). */
  init?: string;
  /** Bound on the page's load (default: Playwright's). */
  gotoMs?: number;
}

/**
 * The in-page observer: the wall time of every change of the watched elements' text, and the first time a full
 * mesh (`want` direct peers) agreeing on the lowest ID as leader is seen. A MutationObserver on the body, not
 * polling: eight polling tabs on two cores would slow down what they measure. A string, not a function:
 * tsx's transform wraps named functions in a `__name` helper the page lacks.
 */
const OBSERVE_SRC = `(ids, want, strict) => {
  const w = window;
  const k = (w.__kit = w.__kit || { text: {}, meshAt: null, want: null, on: false });
  const push = (log, v) => {
    if (log.length === 0 || log[log.length - 1].v !== v) log.push({ t: Date.now(), v });
  };
  for (const id of ids) {
    if (!strict) {
      k.text[id] = [];
      continue;
    }
    // Bound to the element there now, as a test that watches from here means it (a re-mounted one is another).
    const el = document.querySelector('[data-testid="' + id + '"]');
    if (!el) throw new Error('no ' + id);
    const log = [];
    (k.bound = k.bound || {})[id] = log;
    push(log, (el.textContent || '').trim());
    new MutationObserver(() => push(log, (el.textContent || '').trim())).observe(el, {
      childList: true,
      characterData: true,
      subtree: true,
    });
  }
  if (want !== null) k.want = want;
  const check = () => {
    // Every peer row's state changes, from the first paint (see peerStates).
    const rows = (k.peers = k.peers || {});
    for (const row of document.querySelectorAll('[data-testid="peer"]')) {
      const id = row.getAttribute('data-peer-id');
      push((rows[id] = rows[id] || []), row.getAttribute('data-state') || '');
    }
    for (const id of Object.keys(k.text)) {
      const el = document.querySelector('[data-testid="' + id + '"]');
      if (el) push(k.text[id], (el.textContent || '').trim());
    }
    if (k.want !== null && k.meshAt === null) {
      const el = document.querySelector('[data-testid="leader-id"]');
      const v = ((el && el.textContent) || '').trim();
      const peers = [...document.querySelectorAll('[data-testid="peer"]')];
      const direct = peers.filter((p) => p.getAttribute('data-state') === 'direct').length;
      const lowest = Math.min(...peers.map((p) => Number(p.getAttribute('data-peer-id'))));
      if (v !== '' && direct >= k.want && v === String(lowest)) k.meshAt = Date.now();
    }
  };
  const observe = () => {
    new MutationObserver(check).observe(document.body, {
      subtree: true,
      childList: true,
      characterData: true,
      attributes: true,
      attributeFilter: ['data-state', 'data-peer-id'],
    });
    check();
  };
  if (!k.on) {
    k.on = true;
    if (document.body) observe();
    else document.addEventListener('DOMContentLoaded', observe);
  } else check();
}`;

const observeCall = (ids: string[], want: number | null, strict: boolean) =>
  `(${OBSERVE_SRC})(${JSON.stringify(ids)}, ${want === null ? 'null' : want}, ${strict});`;

/** Opens `url` in a new context; does not wait for the app (see `readSelfId`). */
export async function openPage(
  browser: Browser,
  url: string,
  name: string,
  o: OpenOptions = {},
): Promise<Player> {
  const context = await browser.newContext(o.context);
  if (o.watch || o.meshWant !== undefined || o.init)
    await context.addInitScript({
      content: observeCall(o.watch ?? [], o.meshWant ?? null, false) + (o.init ?? ''),
    });
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`[${name}] page error: ${err.message}`));
  await page.goto(url, o.gotoMs === undefined ? {} : { timeout: o.gotoMs });
  return { name, context, page };
}

/** Waits for the page to show its numeric ID. */
export async function readSelfId(p: Player, ms = 20_000): Promise<Tab> {
  await p.page.getByTestId('self-id').filter({ hasText: /^\d+$/ }).waitFor({ timeout: ms });
  return Object.assign(p, { id: Number((await p.page.getByTestId('self-id').textContent())?.trim()) });
}

/** Starts recording, inside the page, every change of this element's text (it must exist; a new one is not followed). */
export async function watchText(p: Player, id: string): Promise<void> {
  await p.page.evaluate(observeCall([id], null, true));
}

/** The text log of `id`: from `watchText` if it was called for it, else from `OpenOptions.watch`. */
export async function watched(p: Player, id: string): Promise<{ t: number; v: string }[]> {
  return p.page.evaluate((testId) => {
    type Log = Record<string, { t: number; v: string }[]>;
    const k = (window as unknown as { __kit?: { text: Log; bound?: Log } }).__kit;
    return k?.bound?.[testId] ?? k?.text[testId] ?? [];
  }, id);
}

/** The state log of one peer's row (data-state) since the observer started, as the page saw it. */
export async function peerStates(p: Player, peer: number): Promise<{ t: number; v: string }[]> {
  return p.page.evaluate((id) => {
    type Log = Record<string, { t: number; v: string }[]>;
    return (window as unknown as { __kit?: { peers?: Log } }).__kit?.peers?.[String(id)] ?? [];
  }, peer);
}

/** When the watched element first showed `value` at or after `since` (ms since epoch), or null. */
export async function firstTimeOf(p: Player, id: string, value: string, since = 0): Promise<number | null> {
  return (await watched(p, id)).find((e) => e.t >= since && e.v === value)?.t ?? null;
}

/** Wall time the page first saw a full mesh with a leader (`OpenOptions.meshWant`), or null. */
export async function meshAt(p: Player): Promise<number | null> {
  return p.page.evaluate(
    () => (window as unknown as { __kit?: { meshAt: number | null } }).__kit?.meshAt ?? null,
  );
}

/** Wall time of the page's load event. */
export async function loadedAt(p: Player): Promise<number> {
  return p.page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
    return performance.timeOrigin + (nav?.loadEventEnd || nav?.domContentLoadedEventEnd || 0);
  });
}

export async function currentLeader(p: Player): Promise<number> {
  return Number((await p.page.getByTestId('leader-id').textContent())?.trim() || 0);
}

export async function directCount(p: Player): Promise<number> {
  return p.page.locator('[data-testid="peer"][data-state="direct"]').count();
}

export async function closePlayer(p: Player): Promise<void> {
  await p.context.close().catch(() => {});
}

/** The renderer dies at once: no pagehide, no goodbye, channels never report a close. Returns the wall time. */
export async function crashPlayer(p: Player): Promise<number> {
  const cdp = await p.context.newCDPSession(p.page);
  const t0 = Date.now();
  cdp.send('Page.crash').catch(() => {});
  return t0;
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

/**
 * A player in a Chromium of its own, driven over raw CDP: Playwright keeps the pages it drives visible (its
 * focus emulation, even over connectOverCDP), and a page it drives was not frozen by Page.setWebLifecycleState
 * either. Here another tab of the window can hide it, and a freeze stops its timers (measured: a 50 ms
 * interval ran 20 times in a second before, none while frozen).
 */
export async function ownChromium() {
  const port = await freePort();
  const profile = mkdtempSync(join(tmpdir(), 'lockstep-cdp-'));
  const proc: ChildProcess = spawn(
    chromiumExecutable,
    [
      ...chromiumArgs,
      '--headless=new',
      `--remote-debugging-port=${port}`,
      '--remote-debugging-address=127.0.0.1',
      `--user-data-dir=${profile}`,
      'about:blank',
    ],
    { stdio: 'ignore' },
  );
  let ws: WebSocket | undefined;
  // Never throws: it runs in a finally, where it would hide the test's own failure.
  const close = async (send?: (method: string) => Promise<unknown>) => {
    const exited = new Promise((r) => proc.once('exit', r));
    if (send) await send('Browser.close').catch(() => {});
    ws?.close();
    if (proc.exitCode === null && proc.signalCode === null) {
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    }
    try {
      rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    } catch (e) {
      console.warn(`ownChromium: left ${profile}: ${String(e)}`);
    }
  };
  try {
    let endpoint: string | undefined;
    for (let i = 0; i < 100 && !endpoint; i++) {
      try {
        const version = await fetch(`http://127.0.0.1:${port}/json/version`);
        endpoint = ((await version.json()) as { webSocketDebuggerUrl: string }).webSocketDebuggerUrl;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (!endpoint) throw new Error('Chromium with a debugging port did not answer');
    const socket = new WebSocket(endpoint);
    ws = socket;
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    let next = 0;
    const pending = new Map<number, (m: { result?: unknown; error?: { message: string } }) => void>();
    socket.on('message', (data) => {
      const m = JSON.parse(String(data));
      pending.get(m.id)?.(m);
      pending.delete(m.id);
    });
    socket.on('close', () => {
      for (const settle of pending.values()) settle({ error: { message: 'the DevTools socket closed' } });
      pending.clear();
    });
    // biome-ignore lint/suspicious/noExplicitAny: CDP results are untyped here
    const send = (method: string, params: object = {}, sessionId?: string): Promise<any> =>
      new Promise((resolve, reject) => {
        if (socket.readyState !== WebSocket.OPEN)
          return reject(new Error(`${method}: the DevTools socket is closed`));
        const id = ++next;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${method}: no answer in 10 s`));
        }, 10_000);
        pending.set(id, (m) => {
          clearTimeout(timer);
          if (m.error) reject(new Error(`${method}: ${m.error.message}`));
          else resolve(m.result);
        });
        socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
      });
    const { targetInfos } = await send('Target.getTargets');
    const tab = (targetInfos as { type: string; targetId: string }[]).find(
      (t) => t.type === 'page',
    )?.targetId;
    if (!tab) throw new Error('Chromium opened no tab');
    const { sessionId } = await send('Target.attachToTarget', { targetId: tab, flatten: true });
    return {
      goto: (url: string) => send('Page.navigate', { url }, sessionId),
      /** An expression's value in the room tab. */
      read: async (expression: string): Promise<unknown> =>
        (await send('Runtime.evaluate', { expression, returnByValue: true }, sessionId)).result.value,
      /** Opens a second tab in the same window and brings it to the front. */
      hide: async () => {
        const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
        await send('Target.activateTarget', { targetId });
      },
      show: () => send('Target.activateTarget', { targetId: tab }),
      /** Page Lifecycle freeze, as Chrome does to a phone's background tab: nothing in the page runs. */
      freeze: () => send('Page.setWebLifecycleState', { state: 'frozen' }, sessionId),
      resume: () => send('Page.setWebLifecycleState', { state: 'active' }, sessionId),
      close: () => close(send),
    };
  } catch (e) {
    await close();
    throw e;
  }
}

export type OwnChromium = Awaited<ReturnType<typeof ownChromium>>;

/** The text of a test ID in an own-Chromium page, or null. */
export function readText(tab: OwnChromium, id: string): Promise<unknown> {
  return tab.read(`document.querySelector('[data-testid="${id}"]')?.textContent?.trim() ?? null`);
}
