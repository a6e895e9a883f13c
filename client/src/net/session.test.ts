import { describe, expect, it } from 'vitest';
import { GENESIS, seal } from '../core/chain.ts';
import { seededRng } from '../core/index.ts';
import { PROTOCOL_VERSION } from '../protocol/limits.ts';
import { ROOM_WAITS } from '../protocol/signaling.ts';
import { type AppStore, createAppStore } from '../store/store.ts';
import { Chaos } from './chaos.ts';
import { FakeNet, FakeServer, type FakeSignaling } from './fakes.ts';
import { type IdentityStamps, holdIdentity as platformHold, stampsIn } from './platform.ts';
import { SavedWriter } from './saved.ts';
import {
  type KeyValueStorage,
  pumpMs,
  removedKey,
  rosterChange,
  Session,
  storageKey,
  TICK_MS,
} from './session.ts';

function memoryStorage(): KeyValueStorage & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return {
    data,
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => void data.set(k, v),
    removeItem: (k) => void data.delete(k),
  };
}

/** N sessions on a fake server and fake WebRTC, driven by a manual clock. */
function world(n: number) {
  const net = new FakeNet();
  const server = new FakeServer(net);
  let now = 0;
  const timers: { at: number; fn: () => void }[] = [];
  const rng = seededRng(7);
  const tabs: { session: Session; store: AppStore; chaos: Chaos; port: FakeSignaling }[] = [];
  // Tabs whose timers do not fire (a frozen page; the fake links still hand them what arrives).
  const paused = new Set<number>();
  const add = (
    opts: {
      storage?: KeyValueStorage;
      holdIdentity?: (key: string) => Promise<(() => void) | null>;
      stamps?: IdentityStamps;
    } = {},
  ) => {
    const store = createAppStore();
    const chaos = new Chaos({
      delay: (fn, ms) => void timers.push({ at: now + ms, fn }),
      store,
      now: () => now,
    });
    const port = server.port();
    const session = new Session(
      { room: 'r', name: `p${tabs.length + 1}`, settings: { heartbeatMs: 50, timeoutMs: 300 } },
      {
        signaling: chaos.signaling(port),
        factory: chaos.factory(net.factory()),
        store,
        now: () => now,
        storage: opts.storage ?? memoryStorage(),
        ...(opts.holdIdentity ? { holdIdentity: opts.holdIdentity } : {}),
        ...(opts.stamps ? { stamps: opts.stamps } : {}),
        setInterval: () => 1,
        clearInterval: () => {},
        setTimeout: (fn, ms) => void timers.push({ at: now + ms, fn }),
        random: () => rng.next(),
      },
    );
    tabs.push({ session, store, chaos, port });
    session.start();
    return { session, store, chaos, port };
  };
  server.after = (fn, ms) => void timers.push({ at: now + ms, fn });
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 10) {
      now += 10;
      for (const timer of timers.splice(0)) {
        if (timer.at <= now) timer.fn();
        else timers.push(timer);
      }
      for (const [i, { session }] of tabs.entries()) if (!paused.has(i)) session.pump();
      net.flush();
      await Promise.resolve();
      await Promise.resolve();
    }
  };
  for (let i = 0; i < n; i++) add();
  return {
    skip: (ms: number) => {
      now += ms;
    },
    paused,
    net,
    server,
    tabs,
    add,
    run,
    view: (i: number) => tabs[i]!.store.getState().view!,
    net_: (i: number) => tabs[i]!.store.getState().net,
  };
}

/** Two players at stage 1; the second keeps its state in `storage`, for a reload. */
async function advancedPair() {
  const storage = memoryStorage();
  const w = world(1);
  w.add({ storage });
  await w.run(800);
  for (const t of w.tabs) t.session.setDone(true);
  await w.run(400);
  return { w, storage };
}

/** The driver's tab lock (Web Locks in a browser): a second holder of one key is refused. */
function tabLocks(): (key: string) => Promise<(() => void) | null> {
  const held = new Set<string>();
  return async (key) => {
    if (held.has(key)) return null;
    held.add(key);
    return () => {
      held.delete(key);
    };
  };
}

/** A copy of a tab's storage, as "Duplicate tab" makes. */
function copyOf(storage: ReturnType<typeof memoryStorage>) {
  const copy = memoryStorage();
  for (const [k, v] of storage.data) copy.setItem(k, v);
  return copy;
}

/**
 * Player `tab`'s session expires and it reconnects: its resume is refused, and its join without the token
 * reaches the server, whose answer waits for `answer()`.
 */
function heldRejoin(w: ReturnType<typeof world>, tab: ReturnType<ReturnType<typeof world>['add']>) {
  const out = { asked: false, answer: () => {} };
  const join = tab.port.join.bind(tab.port);
  tab.port.join = (req) => {
    if (req.token) return join(req);
    out.asked = true;
    return new Promise((resolve) => (out.answer = () => resolve(join(req))));
  };
  w.server.expire(tab.port.id);
  tab.port.handlers!.connected();
  return out;
}

/** The joins the server gets from now on: with a token or not, and the floor and incarnation they bring. */
function joinsSeen(w: ReturnType<typeof world>) {
  const joins: { token: boolean; floor?: number; incarnation?: string }[] = [];
  const serverJoin = w.server.join.bind(w.server);
  w.server.join = (port, req) => {
    joins.push({ token: !!req.token, floor: req.floor, incarnation: req.incarnation });
    return serverJoin(port, req);
  };
  return joins;
}

/** Player 1 (with its storage, the origin's stamps and, with `locks`, Web Locks) beside player 2, formed. */
async function stampedPair(locks: boolean) {
  const holdIdentity = locks ? tabLocks() : undefined;
  const stamps = stampsIn(memoryStorage(), () => 0);
  const storage = memoryStorage();
  const w = world(0);
  const first = w.add({ storage, stamps, ...(holdIdentity ? { holdIdentity } : {}) });
  w.add();
  await w.run(800);
  return { w, stamps, storage, holdIdentity, first };
}

/**
 * Player 1 (its storage and the origin's stamps) beside player 2, formed, holding its identity with the
 * platform's own hold, which has no Web Locks here (Node), as on plain http: it holds nothing.
 */
async function noLockPair() {
  const stamps = stampsIn(memoryStorage(), () => 0);
  const storage = memoryStorage();
  const w = world(0);
  const first = w.add({ storage, stamps, holdIdentity: platformHold });
  w.add();
  await w.run(800);
  return { w, stamps, storage, first };
}

/** Player 1 alone, with Web Locks, done with stage 0 (its log holds the advance). */
async function soloPastStage0() {
  const holdIdentity = tabLocks();
  const storage = memoryStorage();
  const w = world(0);
  const first = w.add({ storage, holdIdentity });
  await w.run(400);
  first.session.setDone(true);
  await w.run(200);
  return { w, storage, holdIdentity, first };
}

it('the timer wakes within a fifth of a heartbeat, never faster than a tick nor slower than 50 ms', () => {
  expect(pumpMs(250)).toBe(50);
  expect(pumpMs(5_000)).toBe(50);
  expect(pumpMs(100)).toBe(20);
  expect(pumpMs(50)).toBe(TICK_MS);
});

describe('Session (driver) over a fake server and fake WebRTC', () => {
  it('forms a full mesh, elects the lowest ID and advances when all are done', async () => {
    const w = world(3);
    await w.run(1000);
    for (let i = 0; i < 3; i++) {
      expect(w.view(i).leader).toBe(1);
      expect(w.net_(i).every((p) => p.route === 'direct')).toBe(true);
    }
    // One connection per pair.
    expect(w.net.created).toBe(6);
    for (const { session } of w.tabs) session.setDone(true);
    await w.run(300);
    for (let i = 0; i < 3; i++) expect(w.view(i).stage).toBe(1);
  });

  it('a crashed tab goes silent: the others elect the next ID; on recovery the lowest takes over again', async () => {
    const w = world(3);
    await w.run(1000);
    w.tabs[0]!.chaos.crash();
    await w.run(1000);
    expect(w.view(1).leader).toBe(2);
    expect(w.view(2).leader).toBe(2);
    // The crashed tab itself heard nobody.
    expect(w.view(0).quorum.ok).toBe(false);
    w.tabs[0]!.chaos.recover();
    await w.run(1500);
    for (let i = 0; i < 3; i++) expect(w.view(i).leader).toBe(1);
  });

  it('a closing leader says goodbye and nothing after it, so the next ID leads well before a timeout', async () => {
    const w = world(3);
    await w.run(1000);
    expect(w.view(1).leader).toBe(1);
    w.tabs[0]!.session.goodbye();
    // A closing page still runs a few ticks (here two heartbeats' worth) before it is gone.
    await w.run(100);
    w.tabs[0]!.session.stop();
    await w.run(100);
    // The timeout is 300 ms: a heartbeat after the goodbye would have kept 1 "alive" that long.
    expect(w.view(1).leader).toBe(2);
    expect(w.view(2).leader).toBe(2);
  });

  it('a cut link falls back to the relay, and the leader stays', async () => {
    const w = world(3);
    await w.run(1000);
    const term = w.view(0).term;
    w.tabs[1]!.chaos.setCut(1, true);
    await w.run(2000);
    expect(w.server.relayed).toBeGreaterThan(10);
    expect(w.net_(1).find((p) => p.id === 1)?.route).toBe('relay');
    expect(w.net_(0).find((p) => p.id === 2)?.route).toBe('relay');
    for (let i = 0; i < 3; i++) {
      expect(w.view(i).leader).toBe(1);
      expect(w.view(i).term).toBe(term);
      expect(w.view(i).live).toEqual([1, 2, 3]);
    }
    w.tabs[1]!.chaos.setCut(1, false);
    await w.run(500);
    expect(w.net_(1).find((p) => p.id === 1)?.route).toBe('direct');
  });

  it('a killed tab (no close event) is found by the heartbeat, not by the channel', async () => {
    const w = world(3);
    await w.run(1000);
    // Kill tab 1's links without telling anyone, and silence it.
    w.tabs[0]!.chaos.crash();
    await w.run(200);
    expect(w.view(1).leader).toBe(1);
    await w.run(800);
    expect(w.view(1).leader).toBe(2);
  });

  it('counts and logs bad frames without crashing', async () => {
    const w = world(2);
    await w.run(500);
    const sig = w.server.port();
    sig.id = 2;
    w.server.forward(2, 1, 'relay', 'not json');
    w.server.forward(2, 1, 'relay', JSON.stringify({ k: 'core', m: { t: 'nope' } }));
    w.server.forward(2, 1, 'relay', JSON.stringify({ k: 'ping' }));
    await w.run(100);
    expect(w.tabs[0]!.store.getState().stats.badFrames).toBe(3);
    expect(w.view(0).leader).toBe(1);
  });

  it('a flooding peer is cut to its frame budget, shown with a strike, and the room goes on', async () => {
    const w = world(3);
    await w.run(500);
    const ping = JSON.stringify({ k: 'ping', t: 0, v: PROTOCOL_VERSION });
    for (let i = 0; i < 5_000; i++) w.server.forward(3, 1, 'relay', ping);
    await w.run(100);
    const row = w.view(0).peers.find((p) => p.id === 3);
    expect(row?.strikes).toBe(1);
    expect(w.tabs[0]!.store.getState().log.some((l) => /player 3 floods us/.test(l.text))).toBe(true);
    for (const { session } of w.tabs) session.setDone(true);
    await w.run(500);
    expect([0, 1, 2].map((i) => w.view(i).stage)).toEqual([1, 1, 1]);
  });

  it('a peer that names another build is not heard, and no number of such claims stops the tab', async () => {
    const w = world(4);
    await w.run(500);
    const ping = (from: number, to: number, v: number) =>
      w.server.forward(from, to, 'relay', JSON.stringify({ k: 'ping', t: 0, v }));
    // Every peer of player 1 claims a newer build: any player can claim any version, so only our own server's
    // refusal stops a tab (the next test). 1 goes on and logs each claim.
    for (const from of [2, 3, 4]) ping(from, 1, PROTOCOL_VERSION + 1);
    ping(4, 2, PROTOCOL_VERSION - 1);
    await w.run(100);
    const one = w.tabs[0]!.store.getState();
    expect(one.session.phase).toBe('joined');
    expect(one.log.map((l) => l.text).join('\n')).toMatch(/player 4 names a newer Lockstep .*not heard/);
    // An older peer is not heard either, until it reloads.
    const two = w.tabs[1]!.store.getState();
    expect(two.session.phase).toBe('joined');
    expect(two.log.map((l) => l.text).join('\n')).toMatch(/player 4 runs an older Lockstep/);
    // The claimants are our build in this world: their next pings clear the claims, and the room is whole.
    await w.run(3_000);
    expect(w.tabs.map((_, i) => w.view(i).leader)).toEqual([1, 1, 1, 1]);
    expect(w.view(0).live).toEqual([1, 2, 3, 4]);
  });

  it('in a room of two, the one other player claiming a newer build does not stop the tab', async () => {
    const w = world(2);
    await w.run(500);
    w.server.forward(2, 1, 'relay', JSON.stringify({ k: 'ping', t: 0, v: PROTOCOL_VERSION + 1 }));
    await w.run(100);
    expect(w.tabs[0]!.store.getState().session.phase).toBe('joined');
    await w.run(3_000);
    expect(w.tabs.map((_, i) => w.view(i).leader)).toEqual([1, 1]);
  });

  it('a join the server refuses as another version ends in a reload message, not in retries', async () => {
    const w = world(0);
    w.server.outdated =
      'join: this room runs a newer Lockstep: reload the page (the server speaks protocol 9, this tab 1)';
    const { store } = w.add();
    await w.run(2_000);
    expect(store.getState().session).toMatchObject({
      phase: 'outdated',
      error: 'This room runs a newer Lockstep: reload the page (the server speaks protocol 9, this tab 1)',
    });
  });

  it('a join answered with junk fails where the player sees it, and is not asked again', async () => {
    const w = world(0);
    w.server.joinAnswer = { ok: true, id: 'one' };
    const { store } = w.add();
    await w.run(5_000);
    expect(store.getState().session.phase).toBe('failed');
    expect(store.getState().session.error).toMatch(/^join: the server's answer is malformed: id must be/);
    // The server keeps a session for that socket: a retry there could only be refused as already joined.
    expect(w.server.joins).toBe(1);
  });

  it('keeps ID, stage and Done in storage for a reload', async () => {
    const w = world(2);
    await w.run(800);
    w.tabs[1]!.session.setDone(true);
    await w.run(100);
    const store = (w.tabs[1]!.session as unknown as { deps: { storage: { data: Map<string, string> } } }).deps
      .storage.data;
    const saved = JSON.parse(store.get(storageKey('r'))!);
    expect(saved.id).toBe(2);
    expect(saved.token).toHaveLength(32);
    expect(saved.persisted.done).toBe(true);
  });

  it('asks again at least every 2 s while the room waits for its players (it opens any moment), and backs off otherwise', async () => {
    const w = world(0);
    w.server.joinAnswer = {
      ok: false,
      code: 'rate_limited',
      error: `${ROOM_WAITS}, all of them away`,
    };
    const tab = w.add();
    await w.run(20_000);
    // 0.5, 1.5, 3.5, then every 2 s: 10 or so in 20 s (the backoff alone would have made 5).
    expect(w.server.joins).toBeGreaterThanOrEqual(10);
    expect(tab.store.getState().session.phase).toBe('joining');
    // Other rate_limited refusals (password guesses, a room's join rate) count against its joins: backoff.
    const before = w.server.joins;
    w.server.joinAnswer = {
      ok: false,
      code: 'rate_limited',
      error: 'join: too many wrong passwords; try again in 60 s',
    };
    await w.run(30_000);
    expect(w.server.joins - before).toBeLessThanOrEqual(5);
    w.server.joinAnswer = undefined;
    await w.run(8_600);
    expect(tab.store.getState().session.phase).toBe('joined');
  });

  it('a connection whose joins the server stopped hearing (too_many_joins) is dropped for a new one, and the tab gets in', async () => {
    const w = world(0);
    w.server.maxJoinsPerConnection = 3;
    w.server.joinAnswer = {
      ok: false,
      code: 'rate_limited',
      error: 'join: this room is taking too many joins right now; retry shortly',
    };
    const tab = w.add();
    await w.run(60_000);
    expect(tab.port.redials).toBeGreaterThanOrEqual(1);
    expect(tab.store.getState().session.phase).toBe('joining');
    w.server.joinAnswer = undefined;
    await w.run(20_000);
    expect(tab.store.getState().session.phase).toBe('joined');
  });

  it('a tab that goes while its join is unanswered still says goodbye, so its player is not taken for one that vanished', async () => {
    const w = world(0);
    const port = w.server.port.bind(w.server);
    let answer = () => {};
    w.server.port = () => {
      const p = port();
      const join = p.join.bind(p);
      p.join = (req) => new Promise((resolve) => (answer = () => resolve(join(req))));
      return p;
    };
    const tab = w.add();
    await w.run(100);
    expect(tab.store.getState().session.phase).toBe('joining');
    tab.session.goodbye();
    expect([tab.port.byes, tab.port.unlistedByes]).toEqual([1, 0]);
    // Answered after all (a bfcache return says welcome back): a goodbye from then on is a player's.
    tab.session.welcomeBack();
    answer();
    await w.run(100);
    expect(tab.store.getState().session.phase).toBe('joined');
    tab.session.goodbye();
    expect(tab.port.byes).toBe(2);
  });

  it('a tab the server expired keeps its links, then continues its voter slot under a new ID', async () => {
    const w = world(3);
    await w.run(1500);
    expect(w.view(0).voters).toEqual([1, 2, 3]);
    // The server loses player 3 past grace; 1 and 2 get a roster without it, but 3 still plays.
    w.server.expire(3);
    await w.run(600);
    expect(w.view(0).members).toContain(3);
    expect(w.view(0).live).toContain(3);
    expect(w.view(0).voters).toEqual([1, 2, 3]);
    // Its direct links stay up: it still hears the leader, with no server to relay through.
    expect(w.net_(0).find((p) => p.id === 3)?.route).toBe('direct');
    // Were 1 to close now, its goodbye would tell the server that someone it no longer lists plays on.
    w.tabs[0]!.session.goodbye();
    expect([w.tabs[0]!.port.unlistedByes, w.tabs[0]!.port.byes]).toEqual([1, 0]);
    w.tabs[0]!.session.welcomeBack();
    expect(w.view(2)).toMatchObject({ leader: 1, blocked: null });
    // 3 reconnects: its token is refused, and it joins again as 4, continuing slot 3 with its state.
    const port = w.tabs[2]!.port;
    port.handlers!.connected();
    await w.run(1500);
    expect(w.server.lastFloor).toBeGreaterThanOrEqual(3);
    expect(w.view(2).self).toBe(4);
    for (const i of [0, 1, 2]) expect(w.view(i).voters).toEqual([1, 2, 4]);
    // One rename, not a removal and an addition: the slot kept its state.
    const lines = w.tabs[0]!.store.getState().log.map((l) => l.text);
    if (!lines.includes('player 3 is back as 4')) console.log(lines.join('\n'));
    expect(lines).toContain('player 3 is back as 4');
    expect(lines.filter((t) => t.startsWith('agreed members are'))).toEqual([
      'agreed members are 1, 2',
      'agreed members are 1, 2, 3',
      'agreed members are 1, 2, 4',
    ]);
    for (const i of [0, 1, 2]) expect(w.view(i).leader).toBe(1);
    w.tabs[0]!.session.setDone(true);
    w.tabs[1]!.session.setDone(true);
    w.tabs[2]!.session.setDone(true);
    await w.run(500);
    expect([0, 1, 2].map((i) => w.view(i).stage)).toEqual([1, 1, 1]);
  });

  it('after a restart that let a newcomer recreate the room first, old tabs keep none of the old room', async () => {
    const w = world(2);
    await w.run(1500);
    for (const t of w.tabs) t.session.setDone(true);
    await w.run(800);
    expect([w.view(0).stage, w.view(1).stage]).toEqual([1, 1]);
    // The server forgot every session, and a newcomer's join made the room anew: another incarnation.
    w.server.expire(1);
    w.server.expire(2);
    w.server.incarnation = 'incarnation2';
    for (const t of w.tabs) t.port.handlers!.connected();
    await w.run(2000);
    expect(w.server.lastIncarnation).toBe('incarnation1');
    for (const i of [0, 1]) {
      const v = w.view(i);
      // New IDs above every old one, and none of the old room's log, term or votes.
      expect(v.self).toBeGreaterThan(2);
      expect(v.stage).toBe(0);
      expect(v.history.length).toBe(0);
      const lines = w.tabs[i]!.store.getState().log.map((l) => l.text);
      expect(lines).toContain('this room was started anew since we played in it: joining it as a new player');
    }
    const saved = JSON.parse(
      (
        w.tabs[0]!.session as unknown as { deps: { storage: { data: Map<string, string> } } }
      ).deps.storage.data.get(storageKey('r'))!,
    );
    expect(saved.incarnation).toBe('incarnation2');
  });

  it('a tab removed after the server ended its session is told so when it comes back, under any new ID', async () => {
    const w = world(3);
    await w.run(1_500);
    const tab = w.tabs[2]!;
    // Cut from the server past its grace (it still plays over the mesh); the owner removes it meanwhile.
    tab.port.handlers!.status('down');
    w.server.expire(3);
    await w.run(300);
    expect(await w.tabs[0]!.session.removePlayer(3)).toMatchObject({ ok: true });
    // Its token is unknown, not barred: it joins anew to continue slot 3, and the roster says 3 was removed.
    tab.port.handlers!.connected();
    await w.run(1_000);
    expect(tab.store.getState().session.phase).toBe('removed');
    expect(w.view(0).voters).toEqual([1, 2]);
  });

  it('a tab that continues a removed ID’s slot is told so after a reload too', async () => {
    const w = world(2);
    const storage = memoryStorage();
    const tab = w.add({ storage });
    await w.run(1_500);
    // Player 3 is cut from the server past its grace, and continues its slot as 4.
    tab.port.handlers!.status('down');
    w.server.expire(3);
    await w.run(300);
    tab.port.handlers!.connected();
    await w.run(1_000);
    expect(tab.store.getState().view!.self).toBe(4);
    // The page reloads, resumes 4; then the owner removes 3.
    tab.session.stop();
    const reloaded = w.add({ storage });
    await w.run(500);
    expect(reloaded.store.getState().view!.self).toBe(4);
    expect(await w.tabs[0]!.session.removePlayer(3)).toMatchObject({ ok: true });
    await w.run(1_000);
    expect(reloaded.store.getState().session.phase).toBe('removed');
  });

  it('in a room opened anew, the old room’s removals do not expel the new room’s players of those IDs', async () => {
    const w = world(3);
    await w.run(1_500);
    expect(await w.tabs[0]!.session.removePlayer(3)).toMatchObject({ ok: true });
    await w.run(800);
    w.tabs[2]!.session.stop();
    // The room is opened anew; the two old tabs come back to it, and a newcomer gets ID 3.
    w.server.reopen('incarnation2');
    for (const t of w.tabs.slice(0, 2)) t.port.handlers!.connected();
    await w.run(1_000);
    w.add();
    await w.run(2_000);
    expect(w.view(3).self).toBe(3);
    for (const i of [0, 1, 3]) {
      const v = w.view(i);
      expect([v.self, v.members, v.live], String(i)).toEqual([v.self, [1, 2, 3], [1, 2, 3]]);
    }
  });

  it('a reload resumed by its token keeps its state though its record names no incarnation (an older build)', async () => {
    const { w, storage } = await advancedPair();
    const before = w.view(1);
    w.tabs[1]!.session.stop();
    const record = JSON.parse(storage.data.get(storageKey('r'))!);
    delete record.incarnation;
    storage.setItem(storageKey('r'), JSON.stringify(record));
    const reloaded = w.add({ storage });
    await w.run(50);
    // Same ID, so the same promises: it must not come back as a fresh voter under it.
    expect(w.view(2)).toMatchObject({ self: 2, stage: 1, term: before.term });
    expect(reloaded.store.getState().log.map((l) => l.text)).not.toContain(
      'this room was started anew since we played in it: joining it as a new player',
    );
  });

  it('a reload whose session expired continues its slot with its floor and incarnation, not as a newcomer', async () => {
    const { w, storage } = await advancedPair();
    w.tabs[1]!.session.stop();
    w.server.expire(2);
    const joins: { token: boolean; floor?: number; incarnation?: string }[] = [];
    const join = w.server.join.bind(w.server);
    w.server.join = (port, req) => {
      joins.push({ token: !!req.token, floor: req.floor, incarnation: req.incarnation });
      return join(port, req);
    };
    const reloaded = w.add({ storage });
    await w.run(1_000);
    expect(joins).toEqual([
      { token: true, floor: 2, incarnation: 'incarnation1' },
      // Storage was cleared with the refused token; what the join needs came from the state it continues.
      { token: false, floor: 2, incarnation: 'incarnation1' },
    ]);
    expect(reloaded.store.getState().view).toMatchObject({ self: 3, stage: 1 });
  });

  it('a reload while its expired session joins anew still continues the slot: that state waits in storage', async () => {
    const { w, storage, stamps, holdIdentity, first } = await stampedPair(true);
    const held = heldRejoin(w, first);
    await w.run(500);
    expect(held.asked).toBe(true);
    // The page reloads before the answer: its lock goes with it.
    first.session.stop();
    const joins = joinsSeen(w);
    const reloaded = w.add({ storage, stamps, holdIdentity });
    await w.run(1_500);
    expect(joins[0]).toMatchObject({ token: false, incarnation: 'incarnation1' });
    expect(joins[0]!.floor).toBeGreaterThanOrEqual(2);
    const self = reloaded.store.getState().view!.self;
    expect(w.tabs[1]!.store.getState().log.map((l) => l.text)).toContain(`player 1 is back as ${self}`);
    expect(w.view(1).voters).toEqual([2, self]);
  });

  it('without Web Locks that state is not stored: a copy of the tab meanwhile joins as a new player', async () => {
    const { w, stamps, storage, first } = await noLockPair();
    const held = heldRejoin(w, first);
    await w.run(500);
    const copy = w.add({ storage: copyOf(storage), stamps, holdIdentity: platformHold });
    await w.run(300);
    held.answer();
    await w.run(1_500);
    const [self, copySelf] = [w.view(0).self, copy.store.getState().view!.self];
    const lines = w.tabs[1]!.store.getState().log.map((l) => l.text);
    expect(lines).toContain(`player 1 is back as ${self}`);
    expect(lines).not.toContain(`player 1 is back as ${copySelf}`);
    // The copy is a voter of its own, with none of slot 1's promises.
    expect(w.view(1).voters).toEqual([2, copySelf, self]);
  });

  it('without Web Locks, a copy refused the same token after the original finds its slot taken: a new player', async () => {
    const { w, stamps, storage, first } = await noLockPair();
    // "Duplicate tab" now: its page is still loading when the server refuses the original's token.
    const dup = copyOf(storage);
    const held = heldRejoin(w, first);
    await w.run(300);
    const copy = w.add({ storage: dup, stamps, holdIdentity: platformHold });
    await w.run(300);
    held.answer();
    await w.run(1_500);
    const lines = w.tabs[1]!.store.getState().log.map((l) => l.text);
    const [self, copySelf] = [w.view(0).self, copy.store.getState().view!.self];
    expect(lines).toContain(`player 1 is back as ${self}`);
    expect(lines).not.toContain(`player 1 is back as ${copySelf}`);
    // It finds the original's stamp moved on when its page loads (or, had it loaded first, at its refusal).
    expect(copy.store.getState().log.map((l) => l.text)).toContain(
      "this tab's copy of player 1 is older than what that player saved since: joining as a new player",
    );
  });

  it('without Web Locks, of two copies refused one token the first continues the slot; the other stops', async () => {
    const { w, stamps, storage, first } = await noLockPair();
    // The server restarted: neither copy is resumed. The copy is refused first, and its new join waits.
    first.port.handlers!.status('down');
    w.server.expire(1);
    const copy = w.add({ storage: copyOf(storage), stamps, holdIdentity: platformHold });
    const join = copy.port.join.bind(copy.port);
    let answer = () => {};
    copy.port.join = (req) =>
      req.token ? join(req) : new Promise((resolve) => (answer = () => resolve(join(req))));
    await w.run(300);
    expect(copy.store.getState().log.map((l) => l.text)).toContain(
      'resume refused (session expired); joining anew to continue player 1',
    );
    // Then the original is refused the same token: the slot is the copy's now.
    first.port.handlers!.connected();
    await w.run(300);
    expect(first.store.getState().session.phase).toBe('replaced');
    // It finds the copy's stamp past its own before it even sends the token (else at its refusal).
    expect(first.store.getState().log.map((l) => l.text)).toContain(
      'another tab saved this player since this one did: stopping',
    );
    answer();
    await w.run(1_500);
    const copySelf = copy.store.getState().view!.self;
    expect(w.tabs[1]!.store.getState().log.map((l) => l.text)).toContain(`player 1 is back as ${copySelf}`);
  });

  it('without Web Locks, a page whose token was already on its way when a copy took the slot stops at its refusal', async () => {
    const { w, stamps, storage, first } = await noLockPair();
    // The server restarted: the original's token goes out at once, and its answer comes late.
    first.port.handlers!.status('down');
    w.server.expire(1);
    const join = first.port.join.bind(first.port);
    let answer = () => {};
    first.port.join = (req) =>
      req.token ? new Promise((resolve) => (answer = () => resolve(join(req)))) : join(req);
    first.port.handlers!.connected();
    await w.run(100);
    // Meanwhile a copy is refused the same token and continues the slot.
    const copy = w.add({ storage: copyOf(storage), stamps, holdIdentity: platformHold });
    await w.run(300);
    expect(copy.store.getState().log.map((l) => l.text)).toContain(
      'resume refused (session expired); joining anew to continue player 1',
    );
    expect(first.store.getState().session.phase).not.toBe('replaced');
    answer();
    await w.run(300);
    expect(first.store.getState().session.phase).toBe('replaced');
    expect(first.store.getState().log.map((l) => l.text)).toContain(
      'another tab continues player 1: stopping',
    );
    await w.run(1_500);
    const copySelf = copy.store.getState().view!.self;
    const lines = w.tabs[1]!.store.getState().log.map((l) => l.text);
    expect(lines).toContain(`player 1 is back as ${copySelf}`);
    expect(lines.filter((l) => l.startsWith('player 1 is back as'))).toHaveLength(1);
  });

  it('a page hidden while its expired session joins anew says goodbye to the server only: its old ID stays silent', async () => {
    const { w, first } = await stampedPair(true);
    heldRejoin(w, first);
    await w.run(500);
    const mesh = (first.session as unknown as { mesh: { sendNow: (...a: unknown[]) => void } }).mesh;
    let sent = 0;
    mesh.sendNow = () => void sent++;
    first.session.goodbye();
    expect(sent).toBe(0);
    expect([first.port.byes, first.port.unlistedByes]).toEqual([0, 1]);
  });

  it('a leave while its expired session joins anew says the slot’s last word, and no record comes back', async () => {
    const { w, storage, first } = await stampedPair(true);
    const held = heldRejoin(w, first);
    await w.run(500);
    const left = first.session.leave();
    await w.run(1_000);
    held.answer();
    await w.run(500);
    await left;
    expect(first.store.getState().session.phase).toBe('left');
    expect(storage.data.get(storageKey('r'))).toBeUndefined();
    // The room does not wait for slot 1: player 2 alone is a majority, and advances.
    expect(w.view(1).voters).toEqual([2]);
    w.tabs[1]!.session.setDone(true);
    await w.run(500);
    expect(w.view(1).stage).toBe(1);
  });

  it("an owner whose saved state was lost joins as a new player above its ID, keeps the owner's rights, and can remove the old one", async () => {
    const storage = memoryStorage();
    const w = world(0);
    // The first tab made the room (the fake server's owner); it is the one reloaded here.
    const owner = w.add({ storage });
    w.add();
    w.add();
    await w.run(800);
    for (const t of w.tabs) t.session.setDone(true);
    await w.run(400);
    expect(w.view(1)).toMatchObject({ stage: 1, voters: [1, 2, 3] });
    owner.session.stop();
    const record = JSON.parse(storage.data.get(storageKey('r'))!);
    expect(record.ownerToken).toBe(w.server.ownerToken);
    record.persisted.term = 'damaged';
    storage.setItem(storageKey('r'), JSON.stringify(record));
    const joins: { token: boolean; floor?: number; owner: boolean; incarnation?: string }[] = [];
    const join = w.server.join.bind(w.server);
    w.server.join = (port, req) => {
      joins.push({
        token: !!req.token,
        floor: req.floor,
        owner: req.ownerToken === w.server.ownerToken,
        incarnation: req.incarnation,
      });
      return join(port, req);
    };
    const reloaded = w.add({ storage });
    await w.run(1_000);
    // Not the incarnation: with no floor but 1, it could recreate a forgotten room below IDs still playing.
    expect(joins).toEqual([{ token: false, floor: 1, owner: true, incarnation: undefined }]);
    expect(reloaded.store.getState().log.map((l) => l.text)).toContain(
      "player 1's saved state was lost: joining as a new player",
    );
    expect(reloaded.store.getState().session.owner).toBe(true);
    expect(w.view(3).self).toBe(4);
    // Everyone's list names the owner under its new ID.
    for (const t of w.tabs.slice(1)) expect(t.store.getState().roster?.owner).toBe(4);
    // Player 1's slot never votes again: the owner takes it out, and the room goes on without it.
    expect(await reloaded.session.removePlayer(1)).toMatchObject({ ok: true });
    await w.run(1_500);
    for (const t of w.tabs.slice(1)) t.session.setDone(true);
    await w.run(1_000);
    for (const i of [1, 2, 3]) expect(w.view(i)).toMatchObject({ stage: 2, voters: [2, 3, 4] });
  });

  it('a copy of a lost record, made while its tab is live, does not bring the owner token along', async () => {
    const w = world(1);
    await w.run(200);
    const storage = memoryStorage();
    const record = {
      id: 1,
      persisted: null,
      ownerToken: w.server.ownerToken,
      incarnation: w.server.incarnation,
    };
    storage.setItem(storageKey('r'), JSON.stringify(record));
    let owner: boolean | undefined;
    const join = w.server.join.bind(w.server);
    w.server.join = (port, req) => {
      owner = req.ownerToken === w.server.ownerToken;
      return join(port, req);
    };
    // Player 1's tab holds its identity: this is a duplicate of it.
    const copy = w.add({
      storage,
      holdIdentity: async (key) => (key === `r:${w.server.incarnation}:1` ? null : () => {}),
    });
    await w.run(500);
    expect(copy.store.getState().log.map((l) => l.text)).toContain(
      'another tab is player 1: joining as a new player',
    );
    expect(owner).toBe(false);
    expect(copy.store.getState().session.owner).toBe(false);
  });

  it('a retried join does not pick up the token another session saved in a shared storage meanwhile', async () => {
    const locks = tabLocks();
    const storage = memoryStorage();
    const w = world(1);
    const b = w.add({ storage, holdIdentity: locks });
    await w.run(800);
    expect(b.store.getState().view?.self).toBe(2);
    const tokens: (string | null)[] = [];
    const port = w.server.port();
    const real = port.join.bind(port);
    port.join = async (req) => {
      tokens.push(req.token ?? null);
      // The first try is refused for now; B saves its record meanwhile.
      if (tokens.length === 1) return { ok: false, code: 'rate_limited', error: 'join: too many joins' };
      return real(req);
    };
    w.server.port = () => port;
    const a = w.add({ storage, holdIdentity: locks });
    await w.run(100);
    b.session.setDone(true);
    await w.run(2_000);
    expect(tokens).toEqual([null, null]);
    expect(a.store.getState().view?.self).toBe(3);
    expect(b.store.getState().session.phase).toBe('joined');
  });

  it('a reload the server answers with its own ID as a new player is refused, not voted under afresh', async () => {
    const { w, storage } = await advancedPair();
    expect(w.view(1)).toMatchObject({ self: 2, stage: 1 });
    // The reload: the old page is gone; a lying server hands ID 2 out again as a new player.
    w.tabs[1]!.session.stop();
    const joined = {
      ok: true,
      id: 2,
      token: 'u2'.padEnd(32, 'x'),
      resumed: false,
      incarnation: 'incarnation1',
      settings: { heartbeatMs: 50, timeoutMs: 300, stages: ['a', 'b', 'c'] },
      roster: w.server.roster(),
      iceServers: [],
      graceMs: 1000,
    };
    w.server.joinAnswer = joined;
    const before = w.server.joins;
    const reloaded = w.add({ storage });
    await w.run(5_000);
    expect(reloaded.store.getState().session).toMatchObject({
      phase: 'failed',
      error: expect.stringMatching(/gave this tab player 2 as a new player; this tab held 2/),
    });
    // Asked again three times first: a store that lost its last increment does this honestly, once.
    expect(w.server.joins - before).toBe(4);
    const second = memoryStorage();
    for (const [k, val] of storage.data) second.setItem(k, val);
    w.server.joinAnswer = joined;
    const again = w.add({ storage: second });
    await w.run(100);
    w.server.joinAnswer = undefined;
    await w.run(1_500);
    // The honest answer that follows (here, a resume of the session the server holds) is taken, state and all.
    expect(again.store.getState().session.phase).toBe('joined');
    expect(again.store.getState().view).toMatchObject({ self: 2, stage: 1 });
    // Nor may it resume into other settings or another room's incarnation.
    for (const changed of [
      { settings: { ...joined.settings, stages: ['a', 'b'] } },
      { incarnation: 'incarnation2' },
    ]) {
      const v = world(2);
      await v.run(800);
      v.server.joinAnswer = { ...joined, resumed: true, roster: v.server.roster(), ...changed };
      v.tabs[1]!.port.handlers!.connected();
      await v.run(500);
      expect(v.tabs[1]!.store.getState().session).toMatchObject({
        phase: 'failed',
        error: expect.stringMatching(/resumed player 2 into another room's settings or incarnation/),
      });
    }
  });

  it('a join whose answer came too late is not left hanging: the session it made is left, and the join made again', async () => {
    const w = world(1);
    const port = w.server.port();
    const real = port.join.bind(port);
    let held = false;
    let joins = 0;
    // The server joins us, but its answer arrives after we gave up; asked again, it says we already are.
    port.join = async (req) => {
      joins++;
      if (held) return { ok: false, code: 'already_joined', error: 'this connection has joined already' };
      if (joins === 1) {
        await real(req);
        held = true;
        return { ok: false, code: 'internal_error', error: 'join: no answer' };
      }
      return real(req);
    };
    port.leave = async () => {
      held = false;
      return { ok: true };
    };
    w.server.port = () => port;
    const tab = w.add();
    await w.run(2000);
    expect(joins).toBe(3);
    expect(tab.store.getState().session.phase).toBe('joined');
    expect(w.view(1)).toMatchObject({ leader: 1 });
  });

  it('a server that answers every join with already_joined gets them at a backoff, not in a loop', async () => {
    const w = world(0);
    const port = w.server.port();
    let joins = 0;
    port.join = async () => {
      joins++;
      return { ok: false, code: 'already_joined', error: 'this connection has joined already' };
    };
    w.server.port = () => port;
    const tab = w.add();
    await w.run(10_000);
    // 500 ms, doubling to 8 s: a handful in 10 s, never one per turn of the clock.
    expect(joins).toBeGreaterThanOrEqual(3);
    expect(joins).toBeLessThanOrEqual(6);
    expect(tab.store.getState().session.phase).toBe('joining');
  });

  it('a duplicated tab (a copy of the storage) joins as a new player and leaves the original alone', async () => {
    const holdIdentity = tabLocks();
    const storage = memoryStorage();
    const w = world(0);
    w.add({ storage, holdIdentity });
    await w.run(400);
    w.tabs[0]!.session.setDone(true);
    await w.run(200);
    expect(w.view(0)).toMatchObject({ self: 1, stage: 1 });
    // "Duplicate tab": sessionStorage copied into a second live tab.
    const copy = copyOf(storage);
    w.add({ storage: copy, holdIdentity });
    await w.run(1500);
    expect(w.tabs[1]!.store.getState().log.map((l) => l.text)).toContain(
      'another tab is player 1: joining as a new player',
    );
    expect(w.view(1)).toMatchObject({ self: 2, stage: 1, leader: 1 });
    expect(w.view(0)).toMatchObject({ self: 1, role: 'leader', voters: [1, 2] });
    expect(w.tabs[0]!.store.getState().session.phase).toBe('joined');
  });

  it('a copy of a tab that its player saved past (the original went on, then closed) joins as a new player, not as that player', async () => {
    const { w, stamps, storage, holdIdentity, first } = await stampedPair(true);
    expect(w.view(0)).toMatchObject({ self: 1, leader: 1 });
    // "Duplicate tab" copies the storage; the original plays on (its promises move past the copy's)…
    const copy = copyOf(storage);
    first.session.setDone(true);
    w.tabs[1]!.session.setDone(true);
    await w.run(400);
    expect(w.view(0).stage).toBe(1);
    // …and closes before the copy's wait for its lock is over.
    first.session.stop();
    const second = w.add({ storage: copy, holdIdentity, stamps });
    await w.run(500);
    expect(second.store.getState().log.map((l) => l.text)).toContain(
      "this tab's copy of player 1 is older than what that player saved since: joining as a new player",
    );
    expect(second.store.getState().view?.self).toBe(3);
  });

  it("a reload after a save that failed is not taken for a stale copy: it joins anew with the owner's rights", async () => {
    const holdIdentity = tabLocks();
    const stamps = stampsIn(memoryStorage(), () => 0);
    const storage = memoryStorage();
    const setItem = storage.setItem;
    let full = false;
    // Full storage: only the record without its state (what a failed save leaves) still fits.
    storage.setItem = (k, v) => {
      if (full && !v.includes('"persisted":null')) throw new Error('QuotaExceededError');
      setItem(k, v);
    };
    const w = world(0);
    const first = w.add({ storage, holdIdentity, stamps });
    w.add();
    await w.run(800);
    full = true;
    first.session.setDone(true);
    await w.run(200);
    full = false;
    first.session.stop();
    const again = w.add({ storage, holdIdentity, stamps });
    await w.run(800);
    const said = again.store.getState().log.map((l) => l.text);
    expect(said.join('\n')).not.toContain('older than');
    expect(said).toContain("player 1's saved state was lost: joining as a new player");
    expect(again.store.getState().view?.self).toBe(3);
    expect(again.store.getState().session.owner).toBe(true);
  });

  it('the count of saves goes on across a reload, so a copy taken before it is still seen as stale', async () => {
    const { w, stamps, storage, holdIdentity, first } = await stampedPair(true);
    for (const done of [true, false, true, false]) {
      first.session.setDone(done);
      await w.run(200);
    }
    const copy = copyOf(storage);
    // A reload resumes player 1 and saves once or twice more: its count goes on from the record's.
    first.session.stop();
    const reloaded = w.add({ storage, holdIdentity, stamps });
    await w.run(800);
    expect(reloaded.store.getState().view?.self).toBe(1);
    reloaded.session.setDone(true);
    await w.run(200);
    reloaded.session.stop();
    const late = w.add({ storage: copy, holdIdentity, stamps });
    await w.run(800);
    expect(late.store.getState().log.map((l) => l.text)).toContain(
      "this tab's copy of player 1 is older than what that player saved since: joining as a new player",
    );
  });

  it('an identity given up for a new ID is stale in every copy, so none continues its slot', async () => {
    const holdIdentity = tabLocks();
    const stamps = stampsIn(memoryStorage(), () => 0);
    const storage = memoryStorage();
    const w = world(2);
    const third = w.add({ storage, holdIdentity, stamps });
    await w.run(1500);
    expect(w.view(2).self).toBe(3);
    const copy = copyOf(storage);
    // The server loses 3; the tab reconnects and goes on as 4, releasing 3's lock.
    w.server.expire(3);
    third.port.handlers!.connected();
    await w.run(1500);
    expect(w.view(2).self).toBe(4);
    // The copy now finds 3's lock free and its own count equal to the last save under 3: only the tombstone
    // says that 3 has gone on (as 4), and the copy must not continue 3 with its old promises.
    const late = w.add({ storage: copy, holdIdentity, stamps });
    await w.run(1500);
    const said = late.store.getState().log.map((l) => l.text);
    expect(said).toContain(
      "this tab's copy of player 3 is older than what that player saved since: joining as a new player",
    );
    expect(late.store.getState().view?.self).toBe(5);
  });

  it('a tab that finds another saved its player since it last did stops, rather than vote on stale', async () => {
    const stamps = stampsIn(memoryStorage(), () => 0);
    const w = world(1);
    const tab = w.add({ storage: memoryStorage(), stamps });
    await w.run(800);
    expect(tab.store.getState().view?.self).toBe(2);
    // No Web Locks (an older browser): another tab resumed player 2 and saved past our count.
    stamps.set(`r:${w.server.incarnation}:2`, 1_000);
    tab.session.setDone(true);
    await w.run(200);
    expect(tab.store.getState().session.phase).toBe('replaced');
    expect(tab.store.getState().session.error).toMatch(/went on in another tab after this copy/);
    expect(tab.store.getState().log.map((l) => l.text)).toContain(
      'another tab saved player 2 since this one did: stopping',
    );
  });

  it('without Web Locks, a stale copy that resumed the session stops, and the original takes it back', async () => {
    const { w, stamps, storage, first: x } = await stampedPair(false);
    expect(x.store.getState().view?.self).toBe(1);
    const copy = copyOf(storage);
    // The copy's resume is on its way when the original saves again (a promise the copy never saw).
    const port = w.server.port();
    const join = port.join.bind(port);
    port.join = async (req) => {
      x.session.setDone(true);
      return join(req);
    };
    w.server.port = () => port;
    const y = w.add({ storage: copy, stamps });
    await w.run(300);
    expect(y.store.getState().session.phase).toBe('replaced');
    expect(y.store.getState().session.error).toMatch(/went on in another tab after this copy/);
    // Stopped where it found out: nothing of the join after it (no timer, no "resumed").
    const said = y.store.getState().log.map((l) => l.text);
    expect(said.slice(said.indexOf('another tab saved player 1 since this one did: stopping'))).toEqual([
      'another tab saved player 1 since this one did: stopping',
    ]);
    // The server gave the copy the session, and told the original; it keeps playing, and takes it back on
    // the reconnect that follows the server's disconnect.
    expect(x.store.getState().log.map((l) => l.text)).toContain(
      'a copy of this tab resumed player 1, which this tab saved last: taking it back',
    );
    expect(x.store.getState().session.phase).toBe('joined');
    x.port.handlers!.connected();
    await w.run(800);
    expect(x.store.getState().session.phase).toBe('joined');
    expect(w.view(1)).toMatchObject({ leader: 1, live: [1, 2] });
  });

  it('without Web Locks, an identical copy that resumed the session keeps it: the original goes quiet, then stops', async () => {
    const { w, stamps, storage, first: x } = await stampedPair(false);
    const copy = copyOf(storage);
    const y = w.add({ storage: copy, stamps });
    await w.run(300);
    // Told before the copy saved: it may take the session back, and speaks no more until it has.
    expect(x.store.getState().log.map((l) => l.text)).toContain(
      'a copy of this tab resumed player 1, which this tab saved last: taking it back',
    );
    const said = (x.session as unknown as { stats: { sentDirect: number; sentRelay: number } }).stats;
    const before = said.sentDirect + said.sentRelay;
    await w.run(500);
    expect(said.sentDirect + said.sentRelay).toBe(before);
    // Its reconnect finds the copy has saved since: the copy is as far as it was, and further now.
    x.port.handlers!.connected();
    await w.run(800);
    expect(x.store.getState().session.phase).toBe('replaced');
    expect(x.store.getState().log.map((l) => l.text)).toContain(
      'another tab saved this player since this one did: stopping',
    );
    expect(y.store.getState().session.phase).toBe('joined');
    expect(w.view(2)).toMatchObject({ self: 1, leader: 1 });
  });

  it('an original cut from the server (it never hears replaced) stops at its next save once a copy resumed its player', async () => {
    const { w, stamps, storage, first: x } = await stampedPair(false);
    // Off the server, on the mesh: the server's word that a copy took the session never reaches it.
    x.port.handlers!.refused = () => {};
    const y = w.add({ storage: copyOf(storage), stamps });
    await w.run(300);
    expect(y.store.getState().session.phase).toBe('joined');
    // Its next promise (a Done, saved before it is sent) finds the copy's save ahead of its own.
    x.session.setDone(true);
    await w.run(100);
    expect(x.store.getState().session.phase).toBe('replaced');
    expect(x.store.getState().log.map((l) => l.text)).toContain(
      'another tab saved player 1 since this one did: stopping',
    );
    await w.run(1_500);
    expect(y.store.getState().view).toMatchObject({ self: 1, leader: 1 });
  });

  it('a copy nobody saved past since (the original closed first) continues its player', async () => {
    const { w, stamps, storage, holdIdentity, first } = await stampedPair(true);
    first.session.stop();
    const copy = copyOf(storage);
    const second = w.add({ storage: copy, holdIdentity, stamps });
    await w.run(800);
    expect(second.store.getState().view?.self).toBe(1);
    expect(second.store.getState().log.map((l) => l.text)).toContain('resumed as player 1');
  });

  it("a copy's log is not carried into a room opened anew since, which its new player would never match", async () => {
    const { w, storage, holdIdentity } = await soloPastStage0();
    expect(w.view(0)).toMatchObject({ self: 1, stage: 1 });
    const copy = copyOf(storage);
    // The original still holds player 1 as the room is opened anew (a memory server restarted).
    w.server.reopen('incarnation2');
    const second = w.add({ storage: copy, holdIdentity });
    await w.run(1_500);
    expect(second.store.getState().log.map((l) => l.text)).toContain(
      'another tab is player 1: joining as a new player',
    );
    expect(second.store.getState().view).toMatchObject({ self: 1, stage: 0, leader: 1 });
  });

  it("a duplicated tab's new player starts from the copied log's snapshot; it needs none from a peer", async () => {
    const { w, storage, holdIdentity, first } = await soloPastStage0();
    const { length } = first.session.committed();
    expect(first.session.compact(length, { stage: 1 })).toEqual({ ok: true });
    await w.run(50);
    const copy = copyOf(storage);
    const second = w.add({ storage: copy, holdIdentity });
    await w.run(1500);
    expect(w.view(1)).toMatchObject({ self: 2, stage: 1, leader: 1 });
    expect(second.session.committed().base).toEqual(first.session.committed().base);
    expect(
      second.store
        .getState()
        .log.map((l) => l.text)
        .join('\n'),
    ).not.toContain('from a snapshot');
  });

  it('a new identity keeps the saved log from its base, and its join floor counts the IDs the base names', async () => {
    const storage = memoryStorage();
    const entry = seal(GENESIS, { index: 1, kind: 'members', stage: 0, term: 1, done: [], members: [1, 40] });
    const base = { entry, stages: [], names: [7], app: [], state: 'there' };
    new SavedWriter(storage, 'r').write({
      id: 1,
      token: 't1'.padEnd(32, 'x'),
      incarnation: 'incarnation1',
      persisted: { term: 1, promised: 1, done: false, history: [], base, accepted: null, initialized: true },
    });
    const w = world(0);
    const tab = w.add({ storage });
    await w.run(200);
    // The server has no session for the token: a new ID above every one the log names.
    expect(w.server.lastFloor).toBe(40);
    expect(w.view(0).self).toBe(41);
    expect(tab.session.committed()).toMatchObject({ base, entries: [], length: 1 });
    expect(w.view(0).initialized).toBe(false);
  });

  it('its join floor counts the highest ID the room issued as far as it knew, which a restarted server must not reuse', async () => {
    const storage = memoryStorage();
    new SavedWriter(storage, 'r').write({
      id: 1,
      token: 't1'.padEnd(32, 'x'),
      incarnation: 'incarnation1',
      persisted: {
        term: 1,
        promised: 1,
        done: false,
        history: [],
        accepted: null,
        initialized: true,
        issued: 12,
      },
    });
    const w = world(0);
    w.add({ storage });
    await w.run(200);
    expect(w.server.lastFloor).toBe(12);
    expect(w.view(0).self).toBe(13);
  });

  it('a session stopped while it waits for its identity lock lets the lock go, so the next one in the page gets it', async () => {
    const held = new Set<string>();
    let grant: (() => void) | null = null;
    const holdIdentity = (key: string) =>
      new Promise<(() => void) | null>((resolve) => {
        // Granted later, as a Web Lock on a loaded machine is.
        grant = () => {
          if (held.has(key)) return resolve(null);
          held.add(key);
          resolve(() => held.delete(key));
        };
      });
    const storage = memoryStorage();
    const w = world(0);
    w.add({ storage });
    await w.run(400);
    expect(w.view(0).self).toBe(1);
    w.tabs[0]!.session.stop();
    // The reload's first Session is stopped (a new password, a closed room) before its lock is granted.
    const first = w.add({ storage, holdIdentity });
    await w.run(50);
    first.session.stop();
    grant!();
    await w.run(50);
    expect(held.size).toBe(0);
    const second = w.add({ storage, holdIdentity });
    await w.run(50);
    grant!();
    await w.run(400);
    expect(second.store.getState().session.selfId).toBe(1);
  });

  for (const [pause, how] of [
    [3_000, 'timers fire again'],
    [500, 'timers fire again'],
    [500, 'page says resume'],
  ] as const) {
    it(`a follower stalled for ${pause} ms (timeout 300) hears the room before it acts when its ${how}: no term bump`, async () => {
      const w = world(3);
      await w.run(1000);
      const terms = [0, 1].map((i) => w.view(i).term);
      expect(w.view(2).leader).toBe(1);
      // Frozen or stalled: its timers stop and nothing it is sent is handled (here, dropped).
      w.paused.add(2);
      w.tabs[2]!.chaos.crash();
      await w.run(pause);
      const log = w.tabs[2]!.store.getState().log.length;
      w.tabs[2]!.chaos.recover();
      if (how === 'page says resume') w.tabs[2]!.session.resume();
      w.paused.delete(2);
      await w.run(2_000);
      // Run first, the lost time reads as silence from everyone: it would suspect the room and campaign.
      const since = w.tabs[2]!.store.getState().log.slice(log);
      expect(since.map((l) => l.text).filter((t) => /candidate|ELECTION/.test(t))).toEqual([]);
      expect([0, 1].map((i) => w.view(i).term)).toEqual(terms);
      expect([0, 1, 2].map((i) => w.view(i).leader)).toEqual([1, 1, 1]);
    });
  }

  it('does not run the lost time after a long freeze', async () => {
    const w = world(1);
    await w.run(100);
    const before = w.view(0).now;
    // 100 s pass before the next timer callback (a frozen background tab).
    w.skip(100_000);
    await w.run(60);
    const ran = w.view(0).now - before;
    // The 6 ticks of the 60 ms run and up to 5 ticks of publish lag on either side; run, the gap would be
    // 10,000 ticks.
    expect(ran).toBeLessThanOrEqual(6 + 10);
    // And the core knows it slept: it listens for a timeout before it may campaign.
    expect(w.view(0).quiet).toBeGreaterThan(0);
    expect(w.tabs[0]!.store.getState().log.some((l) => l.text.includes('clock jumped'))).toBe(true);
  });
});

describe('Session: the room owner and a removed player', () => {
  it('keeps owner rights when its session expires and it continues under a new ID', async () => {
    const w = world(3);
    await w.run(1000);
    w.server.expire(1);
    const port = w.tabs[0]!.port;
    port.handlers!.connected();
    await w.run(1000);
    const owner = w.tabs[0]!.store.getState().session;
    expect(owner).toMatchObject({ selfId: 4, owner: true });
    expect(await w.tabs[0]!.session.removePlayer(3)).toEqual({ ok: true });
  });

  it('only the owner may remove; the removed tab stops for good and the others expel it and advance', async () => {
    const w = world(4);
    await w.run(1000);
    const owner = w.tabs[0]!;
    const liar = w.tabs[3]!;
    expect(owner.store.getState().session.owner).toBe(true);
    expect(w.tabs.slice(1).map((t) => t.store.getState().session.owner)).toEqual([false, false, false]);
    const storage = (t: (typeof w.tabs)[number]) =>
      (t.session as unknown as { deps: { storage: { data: Map<string, string> } } }).deps.storage.data;
    expect(JSON.parse(storage(owner).get(storageKey('r'))!).ownerToken).toBe(w.server.ownerToken);
    expect(JSON.parse(storage(liar).get(storageKey('r'))!).ownerToken).toBeUndefined();

    // The liar sends the term wedge through the test hook; its strikes show in the honest rows.
    for (const to of [1, 2, 3])
      expect(liar.session.testSend(to, { t: 'reject', term: 2 ** 53 - 1 })).toBe(true);
    expect(liar.session.testSend(4, { t: 'reject', term: 1 })).toBe(false);
    await w.run(500);
    for (let i = 0; i < 3; i++) expect(w.view(i).term).toBeLessThan(2 ** 40);

    expect(await w.tabs[1]!.session.removePlayer(4)).toMatchObject({ ok: false, code: 'not_owner' });
    expect(await owner.session.removePlayer(1)).toMatchObject({ ok: false });
    expect(await owner.session.removePlayer(4)).toEqual({ ok: true });
    await w.run(1500);
    expect(liar.store.getState().session).toMatchObject({
      phase: 'removed',
      error: expect.stringMatching(/removed/),
    });
    expect(storage(liar).get(storageKey('r'))).toBeUndefined();
    expect(storage(liar).get(removedKey('r'))).toBe('1');
    for (let i = 0; i < 3; i++) {
      expect(w.view(i).members).toEqual([1, 2, 3]);
      expect(w.net_(i).map((p) => p.id)).not.toContain(4);
    }
    for (const t of w.tabs.slice(0, 3)) t.session.setDone(true);
    await w.run(1000);
    for (let i = 0; i < 3; i++) expect(w.view(i)).toMatchObject({ stage: 1, leader: 1 });

    // A reload of the removed tab does not join again.
    const liarStorage = (liar.session as unknown as { deps: { storage: KeyValueStorage } }).deps.storage;
    const back = w.add({ storage: liarStorage });
    await w.run(200);
    expect(back.store.getState().session.phase).toBe('removed');
  });
});

describe('the roster in the log', () => {
  const roster = (version: number, members: [number, 'connected' | 'grace'][]) => ({
    room: 'r',
    version,
    members: members.map(([id, state]) => ({ id, name: `p${id}`, state })),
    removed: [],
    issued: 40,
  });

  it('is listed in full the first time, then as what changed', () => {
    const a = roster(3, [
      [1, 'connected'],
      [2, 'grace'],
    ]);
    expect(rosterChange(null, a)).toBe('roster v3: 2 players (1, 2 in grace)');
    const b = roster(4, [
      [2, 'connected'],
      [3, 'connected'],
      [4, 'grace'],
    ]);
    expect(rosterChange(a, b)).toBe('roster v4: 3 players; joined 3, 4; left 1; back 2');
    const c = roster(5, [
      [2, 'grace'],
      [3, 'connected'],
      [4, 'grace'],
    ]);
    expect(rosterChange(b, c)).toBe('roster v5: 3 players; in grace 2');
    expect(rosterChange(c, roster(6, [[3, 'connected']]))).toBe('roster v6: 1 player; left 2, 4');
    expect(rosterChange(c, { ...c, version: 7 })).toBe('roster v7: 3 players');
  });

  it('in a room of 32 a join is one short line', () => {
    const all = Array.from({ length: 32 }, (_, i): [number, 'connected'] => [i + 1, 'connected']);
    const line = rosterChange(roster(1, all.slice(0, 31)), roster(2, all));
    expect(line).toBe('roster v2: 32 players; joined 32');
  });
});
