import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import { prerenderToNodeStream } from 'react-dom/static';
import { describe, expect, it, vi } from 'vitest';
import { type CoreEvent, seededRng } from '../core/index.ts';
import { FakeNet, FakeServer, type FakeSignaling } from '../net/fakes.ts';
import { memoryStorage } from '../net/platform.ts';
import { removedKey, storageKey } from '../net/session.ts';
import type { SignalingHandlers, SignalingPort } from '../net/signaling.ts';
import type { LinkFactory } from '../net/transport.ts';
import { PROTOCOL_VERSION } from '../protocol/limits.ts';
import { LockstepError } from './errors.ts';
import { joinRoom } from './index.ts';
import { checkOptions } from './options.ts';
import { LockstepDevtools, useRoom } from './react.tsx';
import { type LockstepTestHooks, type PageHooks, RoomImpl, roomInternals } from './room.ts';
import { seenAtOnce } from './snapshot.ts';
import type { JoinOptions, LogItem, LogPosition, Quorum, Room } from './types.ts';

const base: JoinOptions = {
  server: 'http://127.0.0.1:1',
  room: 'r',
  name: 'p',
  settings: { heartbeatMs: 50, timeoutMs: 300 },
};

/** Rooms over a fake server and fake WebRTC, on a manual clock with its own timers. */
function world() {
  const net = new FakeNet();
  const server = new FakeServer(net);
  let now = 0;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void; every?: number }>();
  const rng = seededRng(3);
  const rooms: RoomImpl[] = [];
  const open = (
    opts: Partial<JoinOptions> = {},
    extra: {
      signaling?: SignalingPort;
      page?: PageHooks;
      abort?: AbortSignal;
      storage?: ReturnType<typeof memoryStorage>;
      factory?: LinkFactory;
    } = {},
  ) => {
    const o = checkOptions({ ...base, name: `p${rooms.length + 1}`, ...opts }, false);
    const room = new RoomImpl(
      o,
      {
        signaling: extra.signaling ?? server.port(),
        factory: extra.factory ?? net.factory(),
        storage: extra.storage ?? memoryStorage(),
        now: () => now,
        setInterval: (fn, ms) => {
          timers.set(++seq, { at: now + ms, fn, every: ms });
          return seq;
        },
        clearInterval: (h) => void timers.delete(h as number),
        setTimeout: (fn, ms) => {
          timers.set(++seq, { at: now + ms, fn });
          return seq;
        },
        clearTimeout: (h) => void timers.delete(h as number),
        random: () => rng.next(),
        iterations: 1_000,
        ...(extra.page ? { page: extra.page } : {}),
      },
      extra.abort,
    );
    rooms.push(room);
    return room;
  };
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 10) {
      now += 10;
      for (const [id, timer] of [...timers]) {
        if (timer.at > now) continue;
        if (timer.every) timer.at += timer.every;
        else timers.delete(id);
        timer.fn();
      }
      net.flush();
      for (let i = 0; i < 4; i++) await Promise.resolve();
    }
  };
  /** Runs the clock until `p` settles (or fails the test after `ms`). */
  const settle = async <T>(p: Promise<T>, ms = 5_000): Promise<T> => {
    let done = false;
    p.then(
      () => (done = true),
      () => (done = true),
    );
    for (let t = 0; t < ms && !done; t += 10) await run(10);
    return p;
  };
  return { net, server, open, run, settle, rooms, now: () => now };
}

async function joinedRooms(n: number) {
  const w = world();
  for (let i = 0; i < n; i++) w.open();
  await w.settle(Promise.all(w.rooms.map((r) => r.joined)));
  await w.run(1_000);
  return w;
}

/** Three joined rooms, the third on a port of its own (a test drives its connection), `ms` after joining. */
async function thirdOnItsPort(ms: number) {
  const w = world();
  w.open();
  w.open();
  const port = w.server.port();
  w.open({}, { signaling: port });
  await w.settle(Promise.all(w.rooms.map((r) => r.joined)));
  await w.run(ms);
  return { w, port };
}

/** A port whose join always answers `fail` (its server is otherwise fine). */
function refusing(port: FakeSignaling, code: string, error = code): SignalingPort {
  port.join = async () => ({ ok: false, code, error }) as never;
  return port;
}

/** One log item in a line, for comparing what subscriptions saw. */
function show(item: LogItem): string {
  if (item.kind === 'app') return `${item.index}:${JSON.stringify(item.data)}`;
  if (item.kind === 'snapshot') return `snapshot ${item.index} ${JSON.stringify(item.state)}`;
  if (item.kind === 'renamed') return `renamed ${item.from} to ${item.to}`;
  return item.kind === 'stage' ? `stage ${item.stage.index}` : `reset ${item.index}`;
}

/** What `fn` threw, as a LockstepError. */
function thrown(fn: () => void): LockstepError | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(LockstepError);
    return e as LockstepError;
  }
  return undefined;
}

async function rejection(p: Promise<unknown>): Promise<LockstepError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(LockstepError);
    return e as LockstepError;
  }
  throw new Error('expected a rejection');
}

describe('joinRoom: arguments', () => {
  it.each([
    ['server', { server: 'not a url' }],
    ['server', { server: 'ftp://x' }],
    ['room', { room: 'has space' }],
    ['room', { room: '' }],
    ['name', { name: '   ' }],
    ['name', { name: 'x'.repeat(33) }],
    ['password', { password: '' }],
    ['settings.heartbeatMs', { settings: { heartbeatMs: 10 } }],
    [
      'settings.timeoutMs must be at least 3 × heartbeatMs',
      { settings: { heartbeatMs: 1000, timeoutMs: 1000 } },
    ],
    // The room's timeout, not the join's own: the default it was checked against was not the caller's.
    [
      'settings.timeoutMs must be at least 3 × heartbeatMs',
      { timeoutMs: 20_000, settings: { heartbeatMs: 600 } },
    ],
    ['settings.stages', { settings: { stages: [] } }],
    ['settings.stages[1]', { settings: { stages: ['ok', ''] } }],
    ['timeoutMs', { timeoutMs: 0 }],
    ['chaos', { chaos: 'yes' }],
    ['testHooks', { testHooks: 1 }],
    ['unknown option(s): "timeout"', { timeout: 100 }],
    ['storage', { storage: {} }],
    ['storage', { storage: 'abc' }],
    ['signal', { signal: {} }],
    ['onProgress must be a function', { onProgress: 'log' }],
    ['server', { server: `http://x/${'a'.repeat(3_000)}` }],
  ] as const)('refuses a bad %s with bad_argument', async (what, patch) => {
    const err = await rejection(joinRoom({ ...base, ...patch } as JoinOptions));
    expect(err.code).toBe('bad_argument');
    expect(err.message).toContain(what);
  });

  it('asks for rtc in Node, where there is no WebRTC', async () => {
    const err = await rejection(joinRoom(base));
    expect(err.code).toBe('bad_argument');
    expect(err.message).toContain('rtc');
  });

  it('reports an option or a setting whose getter throws, rather than throwing it', async () => {
    const boom = {
      enumerable: true,
      get() {
        throw new Error('boom');
      },
    };
    const err = await rejection(joinRoom(Object.defineProperty({ ...base }, 'name', boom) as JoinOptions));
    expect(err.code).toBe('bad_argument');
    expect(err.message).toContain('name could not be read: boom');
    const settings = Object.defineProperty({}, 'heartbeatMs', boom);
    const err2 = await rejection(joinRoom({ ...base, settings } as JoinOptions));
    expect(err2.message).toContain('settings could not be read: boom');
  });

  it('lists every problem at once', async () => {
    const err = await rejection(joinRoom({ server: 'x', room: '!', name: '' } as JoinOptions));
    expect(err.message.split('; ').length).toBeGreaterThanOrEqual(3);
  });

  it('reports an unreachable server as unreachable once the join times out', async () => {
    const { default: wrtc } = await import('@roamhq/wrtc');
    const err = await rejection(
      joinRoom({ ...base, server: 'http://127.0.0.1:9', rtc: wrtc, timeoutMs: 800, storage: null }),
    );
    expect(err.code).toBe('unreachable');
    expect(err.message).toContain('http://127.0.0.1:9');
  });
});

describe('joinRoom: refusals', () => {
  it.each(['room_full', 'bad_password', 'address_limit', 'capacity'] as const)(
    'rejects with %s when the server refuses so',
    async (code) => {
      const w = world();
      const room = w.open({}, { signaling: refusing(w.server.port(), code, `refused: ${code}`) });
      const err = await rejection(w.settle(room.joined));
      expect(err.code).toBe(code);
      expect(err.message).toBe(`refused: ${code}`);
    },
  );

  it('maps bad_request to bad_argument and anything unknown to refused', async () => {
    const w = world();
    const a = w.open({}, { signaling: refusing(w.server.port(), 'bad_request') });
    expect((await rejection(w.settle(a.joined))).code).toBe('bad_argument');
    const b = w.open({}, { signaling: refusing(w.server.port(), 'not_in_room') });
    expect((await rejection(w.settle(b.joined))).code).toBe('refused');
  });

  it('times out (not unreachable) when the server keeps answering rate_limited, and says what it answered', async () => {
    const w = world();
    const kept =
      'join: this room waits for its players, who lost the server; it opens to newcomers when they are back, or in 60 s';
    const room = w.open({ timeoutMs: 2_000 }, { signaling: refusing(w.server.port(), 'rate_limited', kept) });
    const err = await rejection(w.settle(room.joined));
    expect(err.code).toBe('timeout');
    expect(err.message).toBe(`not joined within 2000 ms (${kept})`);
  });

  it('is unreachable when the connection never comes up', async () => {
    const w = world();
    const port = w.server.port();
    port.start = (h) => h.status('down', 'connect ECONNREFUSED');
    const room = w.open({ timeoutMs: 500 }, { signaling: port });
    const err = await rejection(w.settle(room.joined));
    expect(err.code).toBe('unreachable');
    expect(err.message).toContain('ECONNREFUSED');
  });

  it('tells onProgress where the join stands, each change once: connecting, why not yet, then the refusal it waits out', async () => {
    const w = world();
    const port = w.server.port();
    const start = port.start.bind(port);
    let handlers: Parameters<SignalingPort['start']>[0] | undefined;
    port.start = (h) => {
      handlers = h;
      h.status('connecting');
    };
    const seen: unknown[] = [];
    const kept = 'join: this room waits for its players, all of them away; it opens in 60 s';
    let refuse = true;
    const join = port.join.bind(port);
    port.join = async (req) =>
      refuse ? ({ ok: false, code: 'rate_limited', error: kept } as never) : join(req);
    const room = w.open({ timeoutMs: 60_000, onProgress: (p) => seen.push(p) }, { signaling: port });
    await w.run(100);
    handlers?.status('down', 'websocket error');
    await w.run(100);
    start(handlers!);
    await w.run(3_000);
    refuse = false;
    await w.settle(room.joined, 20_000);
    expect(seen).toEqual([
      { step: 'connecting', detail: '' },
      { step: 'connecting', detail: 'websocket error' },
      { step: 'joining', detail: '' },
      { step: 'waiting', detail: kept },
    ]);
    // Not after it settled, whatever the connection does.
    handlers?.status('down', 'transport close');
    await w.run(2_000);
    expect(seen).toHaveLength(4);
  });

  it('a connection dropped for a new join budget is a wait, not a server out of reach', async () => {
    const w = world();
    w.server.maxJoinsPerConnection = 2;
    const busy = 'join: this room is taking too many joins right now; retry shortly';
    w.server.joinAnswer = { ok: false, code: 'rate_limited', error: busy };
    const seen: { step: string; detail: string }[] = [];
    const room = w.open({ timeoutMs: 60_000, onProgress: (p) => seen.push(p) });
    await w.run(10_000);
    w.server.joinAnswer = undefined;
    await w.settle(room.joined, 20_000);
    expect(room.getSnapshot().selfId).toBe(1);
    expect(
      seen.some((p) => p.step === 'waiting' && /joins per connection|too many joins on this/.test(p.detail)),
    ).toBe(true);
    expect(seen.filter((p) => p.step === 'connecting' && p.detail !== '')).toEqual([]);
  });

  it("an onProgress that throws is the page's error, reported as a listener's, and the join goes on", async () => {
    const w = world();
    const thrownBy: unknown[] = [];
    const error = console.error;
    console.error = (...args: unknown[]) => void thrownBy.push(args[1]);
    try {
      const room = w.open({
        onProgress: () => {
          throw new Error('page bug');
        },
      });
      await w.settle(room.joined);
      await new Promise((r) => setTimeout(r, 10));
      expect(room.getSnapshot().selfId).toBe(1);
      expect(String(thrownBy[0])).toContain('page bug');
    } finally {
      console.error = error;
    }
  });

  it('aborts, before or during the join', async () => {
    const w = world();
    const before = new AbortController();
    before.abort();
    expect((await rejection(w.settle(w.open({}, { abort: before.signal }).joined))).code).toBe('aborted');
    const during = new AbortController();
    const port = w.server.port();
    port.start = (h) => h.status('connecting');
    const room = w.open({}, { signaling: port, abort: during.signal });
    await w.run(100);
    during.abort();
    expect((await rejection(room.joined)).code).toBe('aborted');
  });

  it.each(['aborted', 'timeout'] as const)(
    'a join %s while its answer is on the way says goodbye: the player the server made goes as a closed tab’s',
    async (how) => {
      const w = world();
      const port = w.server.port();
      // The server makes the player at once; its answer does not arrive before the page gives up.
      port.join = (req) => {
        w.server.join(port, req);
        return new Promise(() => {});
      };
      const stop = new AbortController();
      const room = w.open({ timeoutMs: 1_000 }, { signaling: port, abort: stop.signal });
      await w.run(100);
      expect(port.byes).toBe(0);
      if (how === 'aborted') stop.abort();
      else await w.run(1_000);
      expect((await rejection(room.joined)).code).toBe(how);
      expect(port.byes).toBe(1);
    },
  );

  it('a join the server refuses as another protocol version rejects with outdated, not retried', async () => {
    const w = world();
    const error =
      'join: this room runs a newer Lockstep: reload the page (the server speaks protocol 9, this tab 1)';
    const room = w.open({}, { signaling: refusing(w.server.port(), 'outdated', error) });
    const err = await rejection(w.settle(room.joined));
    expect(err.code).toBe('outdated');
    expect(err.message).toBe(
      'This room runs a newer Lockstep: reload the page (the server speaks protocol 9, this tab 1)',
    );
  });

  it('a player the owner removed is refused as removed, even before asking the server', async () => {
    const w = world();
    const storage = memoryStorage();
    storage.setItem(removedKey('r'), '1');
    const err = await rejection(w.settle(w.open({}, { storage }).joined));
    expect(err.code).toBe('removed');
  });
});

describe('Room: refused after joining', () => {
  it('a rejoin refused for its password ends the room as failed, with errorCode bad_password', async () => {
    const w = world();
    const port = w.server.port();
    let handlers: SignalingHandlers | null = null;
    const start = port.start.bind(port);
    port.start = (h) => {
      handlers = h;
      start(h);
    };
    const room = w.open({}, { signaling: port });
    await w.settle(room.joined);
    expect(room.getSnapshot()).toMatchObject({ status: 'joined', errorCode: null });
    const closed: unknown[] = [];
    room.on('closed', (c) => closed.push(c));
    // The server restarted, and the room it knows now has another password.
    refusing(port, 'bad_password', 'wrong password');
    handlers!.status('down', 'restart');
    handlers!.connected();
    await w.run(500);
    expect(room.getSnapshot()).toMatchObject({
      status: 'failed',
      errorCode: 'bad_password',
      error: 'wrong password',
    });
    expect(closed).toEqual([{ status: 'failed', error: 'wrong password' }]);
  });
});

describe('Room: what it shows', () => {
  it('selfId, leader, term, stage, players and a snapshot that stays the same object', async () => {
    const w = await joinedRooms(3);
    const [a, b] = w.rooms as unknown as [Room, Room];
    expect(a.selfId).toBe(1);
    expect(b.leaderId).toBe(1);
    expect(a.isLeader).toBe(true);
    expect(b.isLeader).toBe(false);
    expect(b.term).toBe(a.term);
    expect(a.stage).toEqual({ index: 0, name: 'a', final: false });
    expect(b.players.map((p) => [p.id, p.state])).toEqual([
      [1, 'direct'],
      [2, 'self'],
      [3, 'direct'],
    ]);
    expect(a.quorum).toMatchObject({ live: 3, members: 3, needed: 2, ok: true, blocked: null });
    expect(a.server.status).toBe('up');
    expect(a.getSnapshot()).toBe(a.getSnapshot());
    // Nothing leaks of the core's view: the snapshot is plain public data.
    expect(Object.keys(a.getSnapshot())).not.toContain('peers');
  });

  it('at rest the snapshot stays the same object: last heard moves in steps of two heartbeats', async () => {
    const w = world();
    w.open();
    w.open();
    w.open({ chaos: true });
    await w.settle(Promise.all(w.rooms.map((r) => r.joined)));
    await w.run(2_500);
    const room = w.rooms[1]!;
    const before = room.getSnapshot();
    expect(before.players.filter((p) => p.state === 'direct').map((p) => p.lastHeardMs)).toEqual([0, 0]);
    // Heartbeats every 50 ms change the driver's view twenty times over; nothing a screen shows changed.
    await w.run(900);
    expect(room.getSnapshot()).toBe(before);
    // A silent player's silence shows, in steps of 300 ms: two heartbeats (100 ms) raised to 500 ms, capped
    // by the 300 ms timeout, so a suspected player never reads 0.
    roomInternals(w.rooms[2]!)!.chaos!.crash();
    let firstSuspected: number | null | undefined;
    for (let t = 0; t < 1_200 && firstSuspected === undefined; t += 10) {
      await w.run(10);
      const p = room.players.find((x) => x.id === 3)!;
      if (p.state === 'suspected') firstSuspected = p.lastHeardMs;
    }
    expect(firstSuspected).toBeGreaterThanOrEqual(300);
    await w.run(1_000);
    const heard = room.players.find((p) => p.id === 3)!.lastHeardMs!;
    expect(heard).toBeGreaterThanOrEqual(600);
    expect(heard % 300).toBe(0);
  });

  it('advances when all are done, with history', async () => {
    const w = await joinedRooms(2);
    for (const r of w.rooms) r.setDone(true);
    await w.run(500);
    const a = w.rooms[0]!;
    expect(a.stage.index).toBe(1);
    expect(a.history).toEqual([{ stage: 1, name: 'b', term: a.term, doneBy: [1, 2] }]);
  });
});

describe('Room: round-trip times', () => {
  it("shows every player's round-trip time anew together, at most once a second, not each on its own clock", async () => {
    const w = await joinedRooms(3);
    const room = w.rooms[0]!;
    const mesh = (
      roomInternals(room)!.session as unknown as { mesh: { info(): { id: number; rtt: number | null }[] } }
    ).mesh;
    // The mesh measures nothing here: each published round trip is made up, moving every 100 ms, and player 3's
    // first arrives half a second after player 2's.
    let t = 0;
    const made = (id: number) =>
      id === 2 ? 10 + (Math.floor(t / 100) % 7) : t < 500 ? null : 20 + (Math.floor(t / 100) % 3);
    const info = mesh.info.bind(mesh);
    mesh.info = () => info().map((n) => ({ ...n, rtt: made(n.id) }));
    const shown: string[] = [];
    const at: number[] = [];
    room.on('change', (snap) => {
      const rtts = snap.players.map((p) => p.rttMs).join(',');
      if (rtts === shown.at(-1)) return;
      shown.push(rtts);
      at.push(w.now());
    });
    for (; t < 5_000; t += 10) await w.run(10);
    // Player 3's first figure shows at once (a new path), then both are renewed together once a second.
    expect(new Set(shown.map((r) => r.split(',')[2])).size, shown.join(' | ')).toBeGreaterThanOrEqual(4);
    expect(shown.length, shown.join(' | ')).toBeLessThanOrEqual(7);
    // Renewed on the clock's whole seconds (the devtools' figures change on them too), not at some later update.
    const renewals = at.filter((_, i) => i > 0 && shown[i]!.split(',')[1] !== shown[i - 1]!.split(',')[1]);
    expect(renewals.length).toBeGreaterThanOrEqual(3);
    for (const t of renewals) expect(t % 1_000, at.join(' ')).toBeLessThanOrEqual(10);
  });

  it('a new stage alone is shown at the next frame (seenAtOnce), not after the window that holds back churn', async () => {
    const w = await joinedRooms(2);
    const snap = w.rooms[0]!.getSnapshot();
    const next = { ...snap, stage: { ...snap.stage, index: snap.stage.index + 1, name: 'b' } };
    expect(seenAtOnce(next)).not.toBe(seenAtOnce(snap));
    expect(seenAtOnce({ ...snap, players: [] })).toBe(seenAtOnce(snap));
  });
});

describe('Room: careless calls', () => {
  it('refuses a Done or away that is not a boolean, instead of sending it to peers that would refuse it', async () => {
    const w = await joinedRooms(2);
    const [a, b] = w.rooms as [RoomImpl, RoomImpl];
    expect(thrown(() => a.setDone('false' as unknown as boolean))?.code).toBe('bad_argument');
    expect(thrown(() => a.setAway(1 as unknown as boolean))?.code).toBe('bad_argument');
    await w.run(1_000);
    expect(a.getSnapshot().done).toBe(false);
    expect(a.getSnapshot().away).toBe(false);
    // The peer heard nothing it had to refuse.
    expect(b.players.find((p) => p.id === 1)?.state).toBe('direct');
    expect(b.store.getState().view?.peers.find((p) => p.id === 1)?.strikes ?? 0).toBe(0);
  });

  it('binds its methods, so an app may pass them around detached', async () => {
    const w = await joinedRooms(2);
    const { setDone, leave } = w.rooms[0]!;
    setDone(true);
    expect(w.rooms[0]!.getSnapshot().done).toBe(true);
    await w.settle(leave());
    expect(w.rooms[0]!.getSnapshot().status).toBe('left');
  });

  it('checks channel and listener arguments', async () => {
    const w = await joinedRooms(2);
    const a = w.rooms[0]!;
    expect(thrown(() => a.channel('x', { parse: 5 as never }))?.code).toBe('bad_argument');
    expect(thrown(() => a.on('chnage' as 'change', () => {}))?.code).toBe('bad_argument');
    expect(thrown(() => a.on('change', 'x' as never))?.code).toBe('bad_argument');
    expect(thrown(() => a.subscribe(null as never))?.code).toBe('bad_argument');
    const ch = a.channel('x', null as never);
    expect(thrown(() => ch.on(null as never))?.code).toBe('bad_argument');
    expect(ch.send(1, null as never)).toEqual([2]);
  });

  it('a refused proposal spends none of the budget good ones need', async () => {
    const w = await joinedRooms(2);
    const a = w.rooms[0]!;
    for (let i = 0; i < 1_200; i++) await rejection(a.propose(() => {}));
    const at = a.propose('good');
    await w.settle(at);
    expect((await at).index).toBeGreaterThan(0);
  });

  it('joins with a storage whose reads throw, and a full one keeps no stale record', async () => {
    const w = world();
    const warn = console.warn;
    const warned: string[] = [];
    console.warn = (m: string) => warned.push(m);
    const data = new Map<string, string>();
    let full = false;
    const store = {
      getItem: (k: string) => data.get(k) ?? null,
      setItem: (k: string, v: string) => {
        if (full) throw new Error('QuotaExceededError');
        data.set(k, v);
      },
      removeItem: (k: string) => void data.delete(k),
    };
    try {
      const unreadable = w.open(
        {},
        {
          storage: {
            getItem: () => {
              throw new Error('SecurityError');
            },
            setItem: () => {},
            removeItem: () => {},
          },
        },
      );
      const a = w.open({}, { storage: store });
      await w.settle(Promise.all([unreadable.joined, a.joined]));
      await w.run(1_000);
      expect(unreadable.getSnapshot().status).toBe('joined');
      expect(data.get(storageKey('r'))).toBeDefined();
      // Full from here: the record of the state before would resume past what the player has promised since.
      full = true;
      for (const r of w.rooms) r.setDone(true);
      await w.run(2_000);
      expect(a.getSnapshot().stage.index).toBe(1);
      expect(data.get(storageKey('r'))).toBeUndefined();
    } finally {
      console.warn = warn;
    }
    expect(warned.some((m) => m.includes('SecurityError'))).toBe(true);
  });

  it('a leave takes a few heartbeats, not the timeout the room chose, and none alone; the others count without it', async () => {
    const settings = { heartbeatMs: 250, timeoutMs: 60_000 };
    const w = world();
    const a = w.open({ settings });
    await w.settle(a.joined);
    await w.run(500);
    let left = false;
    a.leave().then(() => (left = true));
    await w.run(50);
    expect(left).toBe(true);

    const v = world();
    const [b, c] = [v.open({ settings }), v.open({ settings })];
    await v.settle(Promise.all([b.joined, c.joined]));
    await v.run(2_000);
    expect(c.getSnapshot().players.find((p) => p.id === b.selfId)?.state).toBe('direct');
    left = false;
    b.leave().then(() => (left = true));
    await v.run(900);
    expect(left).toBe(false);
    await v.run(300);
    expect(left).toBe(true);
    expect(c.getSnapshot().players.find((p) => p.id === b.selfId)?.state ?? 'offline').toBe('offline');
    c.setDone(true);
    await v.run(1_000);
    expect(c.getSnapshot().stage.index).toBe(1);
  });

  it('one leave however often it is called; close during it ends it, and nothing is said after closed', async () => {
    const w = await joinedRooms(2);
    const a = w.rooms[0]!;
    const seen: string[] = [];
    a.on('closed', (e) => seen.push(`closed:${e.status}`));
    a.on('change', (s) => seen.push(`change:${s.status}`));
    const first = a.leave();
    expect(a.leave()).toBe(first);
    a.close();
    let settled = false;
    first.then(() => (settled = true));
    await w.run(50);
    expect(settled).toBe(true);
    expect(seen).toEqual(['closed:closed', 'change:closed']);
    // Its connection closed with it; the snapshot says so, and no event does.
    expect(a.getSnapshot().server.status).toBe('down');
    // After the room ended: no new snapshot, no Done saved that nobody saw, and no owner's error for a
    // non-owner's question.
    a.setAway(true);
    a.setDone(true);
    expect(a.store.getState().view?.done ?? false).toBe(false);
    expect(seen).toEqual(['closed:closed', 'change:closed']);
    expect((await rejection(a.removePlayer(2))).code).toBe('not_joined');
  });

  it('a listener that changes the room at every change does not hang the page: past a bound, events stop', async () => {
    const w = await joinedRooms(2);
    const a = w.rooms[0]!;
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    let calls = 0;
    a.on('change', () => {
      calls++;
      a.setAway(!a.getSnapshot().away);
    });
    a.setAway(true);
    await w.run(50);
    const said = errors.mock.calls.map((c) => String(c[0]));
    errors.mockRestore();
    expect(calls).toBe(1_000);
    expect(said).toEqual([expect.stringContaining('listeners changed the room 1000 times in a row')]);
  });

  it('a listener that moves the room on (setDone, alone) leaves later listeners hearing every stage in order', async () => {
    const w = world();
    const a = w.open({ settings: { stages: ['a', 'b', 'c', 'd', 'e'] } });
    await w.settle(a.joined);
    await w.run(500);
    // The only voter: its Done commits the next stage at once, inside the listener of the stage before.
    a.on('stage', () => a.setDone(true));
    const heard: number[] = [];
    a.on('stage', (st) => heard.push(st.index));
    const changes: number[] = [];
    a.on('change', (snap) => changes.push(snap.stage.index));
    a.setDone(true);
    await w.run(500);
    expect(a.getSnapshot().stage.index).toBe(4);
    expect(heard).toEqual([1, 2, 3, 4]);
    expect(changes.at(-1)).toBe(4);
  });

  it("a listener's own change (setAway) loses none of the events of the change it heard", async () => {
    const w = await joinedRooms(2);
    const a = w.rooms[0]!;
    const stages: number[] = [];
    let asked = false;
    a.on('players', () => {
      if (!asked && a.getSnapshot().stage.index === 1) {
        asked = true;
        a.setAway(true);
      }
    });
    a.on('stage', (st) => stages.push(st.index));
    let last: boolean | null = null;
    a.on('change', (snap) => (last = snap.away));
    for (const r of w.rooms) r.setDone(true);
    await w.run(500);
    expect(asked).toBe(true);
    expect(stages).toEqual([1]);
    expect(last).toBe(true);
  });

  it('a listener that closes the room: the others hear closed, and no stale event after it', async () => {
    const w = await joinedRooms(2);
    const a = w.rooms[0]!;
    const seen: string[] = [];
    let once = true;
    a.on('change', () => {
      if (once) {
        once = false;
        a.close();
      }
    });
    a.on('change', (s) => seen.push(s.status));
    a.setDone(true);
    await w.run(200);
    expect(seen).toEqual(['closed']);
  });
});

describe('Room: a listener that closes the room', () => {
  it('on hearing the room ended: every listener still hears why, and the status stays as it ended', async () => {
    const w = await joinedRooms(3);
    const [a, b] = w.rooms as unknown as [Room, Room];
    const heard: string[] = [];
    b.on('closed', (c) => {
      heard.push(`first ${c.status}`);
      b.close();
    });
    b.on('closed', (c) => heard.push(`second ${c.status}`));
    await w.settle(a.removePlayer(b.selfId));
    await w.run(500);
    expect(heard).toEqual(['first removed', 'second removed']);
    expect(b.getSnapshot().status).toBe('removed');
  });

  it('in a channel: no other channel parses or reports the message after it', async () => {
    const w = await joinedRooms(2);
    const [a, b] = w.rooms as unknown as [Room, Room];
    const after: string[] = [];
    b.channel('n').on(() => b.close());
    b.channel('n', {
      parse: () => {
        after.push('parse');
        throw new Error('nope');
      },
    }).on(() => after.push('listener'));
    b.on('invalid', (e) => after.push(`invalid ${e.reason}`));
    a.channel('n').send(1);
    await w.run(100);
    expect(b.getSnapshot().status).toBe('closed');
    expect(after).toEqual([]);
  });

  it('on a stage: an onEntry subscribed after the end still reads that stage', async () => {
    const w = world();
    const a = w.open({ settings: { stages: ['a', 'b', 'c'] } });
    await w.settle(a.joined);
    await w.run(500);
    a.on('stage', (st) => st.index === 1 && a.close());
    a.setDone(true);
    await w.run(500);
    expect(a.getSnapshot().stage.index).toBe(1);
    const late: string[] = [];
    a.onEntry((i) => late.push(show(i)));
    await w.run(50);
    expect(late).toContain('stage 1');
  });

  it('ends the delivery of a message or a log item: later listeners hear nothing after it', async () => {
    const w = await joinedRooms(2);
    const [a, b] = w.rooms as unknown as [Room, Room];
    const heard: string[] = [];
    b.channel('n').on(() => b.close());
    b.channel('n').on(() => heard.push('message'));
    a.channel('n').send(1);
    await w.run(100);
    expect(b.getSnapshot().status).toBe('closed');
    const c = await joinedRooms(2);
    const [d, e] = c.rooms as unknown as [Room, Room];
    e.onEntry((item) => item.kind === 'app' && e.close());
    e.onEntry((item) => item.kind === 'app' && heard.push('entry'));
    await c.settle(d.propose('x'));
    await c.run(100);
    expect(e.getSnapshot().status).toBe('closed');
    expect(heard).toEqual([]);
    // A subscription made after the end still reads the log as it ended.
    const after: string[] = [];
    e.onEntry((item) => after.push(show(item)));
    await c.run(10);
    expect(after).toContain('2:"x"');
  });
});

describe('Room: ending', () => {
  it('close says goodbye, as a closed tab does: the others see it offline at once, and so does the server', async () => {
    const { w, port } = await thirdOnItsPort(1_000);
    w.rooms[2]!.close();
    await w.run(100);
    expect(w.rooms[0]!.getSnapshot().players.find((p) => p.id === 3)?.state).toBe('offline');
    expect(port.byes).toBe(1);
  });

  it('close and leave say closed, not that the server went down', async () => {
    const w = await joinedRooms(3);
    const seen: string[][] = [[], []];
    w.rooms.slice(0, 2).forEach((r, i) => {
      for (const e of ['server', 'closed', 'change'] as const)
        r.on(e, (x: unknown) =>
          seen[i]!.push(e === 'server' ? `server:${(x as { status: string }).status}` : e),
        );
    });
    w.rooms[0]!.close();
    await w.settle(w.rooms[1]!.leave());
    // Room 2 heard room 1 go before it left (changes); then each said closed, and one change after it.
    expect(seen[0]).toEqual(['closed', 'change']);
    expect(seen[1]!.slice(-2)).toEqual(['closed', 'change']);
    expect(seen.flat().filter((e) => e.startsWith('server'))).toEqual([]);
  });
});

describe('Room: players', () => {
  it('a silent player is suspected while the server lists it, and offline once it does not', async () => {
    // Two players: the one left cannot drop the other (no majority), so it stays listed as a voter.
    const w = world();
    w.open();
    w.open({ chaos: true });
    await w.settle(Promise.all(w.rooms.map((r) => r.joined)));
    await w.run(1_000);
    const a = w.rooms[0]!;
    // Its tab dies without a word, and the server still lists it.
    roomInternals(w.rooms[1]!)!.chaos!.crash();
    await w.run(2_000);
    const state = () => a.getSnapshot().players.find((p) => p.id === 2)?.state;
    expect(state()).toBe('suspected');
    w.server.expire(2);
    await w.run(200);
    expect(state()).toBe('offline');
  });
});

describe('Room: the owner', () => {
  it('is marked among the players as the server names it, and the mark goes with its session', async () => {
    const w = await joinedRooms(3);
    for (const r of w.rooms) {
      expect(r.getSnapshot().players.map((p) => [p.id, p.owner])).toEqual([
        [1, true],
        [2, false],
        [3, false],
      ]);
    }
    expect(w.rooms.map((r) => r.getSnapshot().owner)).toEqual([true, false, false]);
    const b = w.rooms[1]!;
    const told: boolean[][] = [];
    b.on('players', (players) => told.push(players.map((p) => p.owner)));
    // The owner's session ends (its tab asleep past grace): the server names nobody.
    w.server.expire(1);
    await w.run(1_000);
    expect(told.at(-1)).toEqual([false, false, false]);
  });
});

describe('Room: subscriptions', () => {
  it('fires the specific events before change, each in the order subscribed', async () => {
    const w = await joinedRooms(2);
    const a = w.rooms[0]!;
    const calls: string[] = [];
    a.on('change', () => calls.push('change-1'));
    a.subscribe(() => calls.push('subscribe'));
    a.on('stage', (s) => calls.push(`stage-${s.index}`));
    a.on('change', () => calls.push('change-2'));
    for (const r of w.rooms) r.setDone(true);
    await w.run(500);
    const first = calls.indexOf('stage-1');
    expect(first).toBeGreaterThanOrEqual(0);
    expect(calls.slice(first, first + 4)).toEqual(['stage-1', 'change-1', 'subscribe', 'change-2']);
  });

  it('unsubscribing stops the calls; a listener removed by an earlier one in the same event is skipped', async () => {
    const w = await joinedRooms(2);
    const a = w.rooms[0]!;
    let first = 0;
    let second = 0;
    let twice = 0;
    const fn = () => twice++;
    const offTwiceA = a.subscribe(fn);
    a.subscribe(fn);
    let offSecond: () => void = () => {};
    const offFirst = a.subscribe(() => {
      first++;
      offSecond();
    });
    offSecond = a.subscribe(() => second++);
    a.setDone(true);
    await w.run(100);
    expect(first).toBeGreaterThan(0);
    expect(second).toBe(0);
    expect(twice).toBe(2 * first);
    offFirst();
    offTwiceA();
    const [f, t] = [first, twice];
    a.setDone(false);
    await w.run(100);
    expect(first).toBe(f);
    expect(twice - t).toBeGreaterThan(0);
  });

  it('a throwing listener does not keep the next one from its call', async () => {
    const w = await joinedRooms(2);
    const a = w.rooms[0]!;
    let after = 0;
    const error = console.error;
    console.error = () => {};
    try {
      a.subscribe(() => {
        throw new Error('boom');
      });
      a.subscribe(() => after++);
      a.setDone(true);
      await w.run(100);
    } finally {
      console.error = error;
    }
    expect(after).toBeGreaterThan(0);
  });

  it('tells leader, players and closed: leave ends with closed/left, close with closed/closed', async () => {
    const w = await joinedRooms(3);
    const [a, b, c] = w.rooms as unknown as [RoomImpl, RoomImpl, RoomImpl];
    const leaders: (number | null)[] = [];
    b.on('leader', (l) => leaders.push(l.leaderId));
    const closed: string[] = [];
    a.on('closed', (e) => closed.push(e.status));
    c.on('closed', (e) => closed.push(e.status));
    const left = a.leave();
    await w.settle(left);
    await w.run(1_000);
    expect(closed).toEqual(['left']);
    expect(leaders).toContain(2);
    expect(b.players.find((p) => p.id === 1)?.state).toBe('offline');
    c.close();
    expect(closed).toEqual(['left', 'closed']);
    expect(c.getSnapshot().status).toBe('closed');
    expect(() => c.channel('x').send(1)).toThrow(LockstepError);
  });
});

describe('Room: another protocol version', () => {
  it("a peer's claim of another version never ends the room; only our own server's refusal does", async () => {
    const w = await joinedRooms(2);
    const [a, b] = w.rooms as unknown as [RoomImpl, RoomImpl];
    const closed: { status: string; error: string | null }[] = [];
    a.on('closed', (e) => closed.push(e));
    b.on('closed', (e) => closed.push(e));
    // A liar in a room of two is all of the other's peers: its claims are not heard, and nothing stops.
    w.server.forward(2, 1, 'relay', JSON.stringify({ k: 'ping', t: 0, v: PROTOCOL_VERSION - 1 }));
    w.server.forward(1, 2, 'relay', JSON.stringify({ k: 'ping', t: 0, v: PROTOCOL_VERSION + 1 }));
    await w.run(100);
    expect(closed).toEqual([]);
    expect([a.getSnapshot().status, b.getSnapshot().status]).toEqual(['joined', 'joined']);
    await w.run(3_000);
    expect([a.leaderId, b.leaderId]).toEqual([1, 1]);
  });
});

describe('Room: app messages', () => {
  it('sends to everyone or to some, parsed on arrival; bad ones are reported as invalid', async () => {
    const w = await joinedRooms(3);
    const [a, b, c] = w.rooms as unknown as [Room, Room, Room];
    const got: string[] = [];
    const invalid: string[] = [];
    const parse = (d: unknown) => {
      if (typeof d !== 'object' || d === null || typeof (d as { n?: unknown }).n !== 'number')
        throw new Error('n must be a number');
      return d as { n: number };
    };
    b.channel('vote', { parse }).on((d, from) => got.push(`b:${d.n} from ${from}`));
    c.channel('vote', { parse }).on((d, from) => got.push(`c:${d.n} from ${from}`));
    b.on('invalid', (e) => invalid.push(`${e.channel} from ${e.from}: ${e.reason}`));
    const vote = a.channel<unknown>('vote');
    expect(vote.send({ n: 5 })).toEqual([2, 3]);
    expect(vote.send({ n: 6 }, { to: 3 })).toEqual([3]);
    vote.send({ n: 'x' }, { to: [2] });
    a.channel('other').send(1, { to: 2 });
    await w.run(100);
    expect(got.sort()).toEqual(['b:5 from 1', 'c:5 from 1', 'c:6 from 1']);
    expect(invalid).toEqual([
      'vote from 1: n must be a number',
      'other from 1: no channel of that name is open here',
    ]);
  });

  it('refuses what cannot go: too large, not JSON, bad names and recipients', async () => {
    const w = await joinedRooms(2);
    const a = w.rooms[0]!;
    const ch = a.channel('big');
    const tooLarge = (() => {
      try {
        ch.send('é'.repeat(6_000));
      } catch (e) {
        return e as LockstepError;
      }
    })();
    expect(tooLarge?.code).toBe('too_large');
    expect(tooLarge?.message).toMatch(/\d+ bytes .* at most 11000/);
    expect(() => ch.send('x'.repeat(10_000))).not.toThrow();
    expect(() => ch.send(10n as never)).toThrow(expect.objectContaining({ code: 'bad_argument' }));
    // A toJSON that throws something other than an Error, null even.
    for (const thrownValue of [null, 'no'])
      expect(() =>
        ch.send({
          toJSON: () => {
            throw thrownValue;
          },
        } as never),
      ).toThrow(expect.objectContaining({ code: 'bad_argument' }));
    // JSON.stringify would drop these from the frame, and every receiver would count a strike against us.
    for (const nothing of [undefined, () => 1, Symbol('s'), { toJSON: () => undefined }])
      expect(() => ch.send(nothing as never)).toThrow(expect.objectContaining({ code: 'bad_argument' }));
    await w.run(100);
    expect(w.rooms[1]!.players.find((p) => p.id === a.selfId)?.strikes).toBe(0);
    expect(() => a.channel('no spaces')).toThrow(expect.objectContaining({ code: 'bad_argument' }));
    expect(() => ch.send(1, { to: -1 })).toThrow(expect.objectContaining({ code: 'bad_argument' }));
  });

  it('refuses to send past what receivers accept (rate_limited), so an honest app never earns a strike', async () => {
    const w = await joinedRooms(2);
    const [a, b] = w.rooms as unknown as [Room, Room];
    let got = 0;
    b.channel('tick').on(() => got++);
    const ch = a.channel('tick');
    for (let i = 0; i < 1_000; i++) ch.send(i);
    expect(() => ch.send(0)).toThrow(expect.objectContaining({ code: 'rate_limited' }));
    await w.run(1_000);
    expect(got).toBe(1_000);
    expect(b.players.find((p) => p.id === a.selfId)?.strikes).toBe(0);
    // A second later there is room again.
    expect(() => ch.send(1)).not.toThrow();
  });

  it('an unsubscribed channel listener hears nothing more', async () => {
    const w = await joinedRooms(2);
    const [a, b] = w.rooms as unknown as [Room, Room];
    const got: number[] = [];
    const off = b.channel<number>('n').on((d) => got.push(d));
    a.channel('n').send(1);
    await w.run(50);
    off();
    a.channel('n').send(2);
    await w.run(50);
    expect(got).toEqual([1]);
  });

  it('an unsubscribe called again (a cleanup after a listener removed itself) leaves newer listeners be', async () => {
    const w = await joinedRooms(2);
    const [a, b] = w.rooms as unknown as [Room, Room];
    const got: number[] = [];
    const invalid: string[] = [];
    b.on('invalid', (e) => invalid.push(e.reason));
    const off = b.channel<number>('n').on(() => off());
    a.channel('n').send(1);
    await w.run(50);
    b.channel<number>('n').on((d) => got.push(d));
    off();
    a.channel('n').send(2);
    await w.run(50);
    expect(got).toEqual([2]);
    expect(invalid).toEqual([]);
  });
});

describe('Room: the agreed log', () => {
  it('a player back under a new ID (its session expired) is a renamed item, in order, to every player', async () => {
    const { w, port } = await thirdOnItsPort(1_500);
    const [a, , c] = w.rooms as unknown as [Room, Room, Room];
    const seen: string[] = [];
    a.onEntry((item) => seen.push(show(item)));
    await w.settle(a.propose('before'));
    // The server loses player 3 past its grace; 3 plays on, is refused its token and continues its slot.
    w.server.expire(3);
    await w.run(600);
    port.handlers!.connected();
    await w.run(1_500);
    expect(c.selfId).toBe(4);
    // Due when its entry commits, not at the next value's.
    expect(seen.filter((l) => !l.startsWith('stage'))).toEqual(['3:"before"', 'renamed 3 to 4']);
    await w.settle(c.propose('after'));
    await w.run(100);
    expect(seen.filter((l) => !l.startsWith('stage'))).toEqual(['3:"before"', 'renamed 3 to 4', '5:"after"']);
    // A subscription from the start hears the same.
    const again: string[] = [];
    a.onEntry((item) => again.push(show(item)));
    await w.run(10);
    expect(again.slice(-3)).toEqual(seen.slice(-3));
  });

  it('a value proposed anywhere reaches every player once, in one order, with the stages', async () => {
    const w = await joinedRooms(3);
    const [a, b, c] = w.rooms as unknown as [Room, Room, Room];
    const seen = new Map<Room, string[]>();
    for (const r of [a, b, c]) {
      seen.set(r, []);
      r.onEntry((item) =>
        seen
          .get(r)!
          .push(
            item.kind === 'app'
              ? `${item.by}:${JSON.stringify(item.data)}`
              : item.kind === 'stage'
                ? `stage ${item.stage.index}`
                : 'reset',
          ),
      );
    }
    const at = await w.settle(Promise.all([c.propose({ m: 1 }), b.propose('two'), a.propose([3])]));
    for (const pos of at) expect(pos).toEqual({ index: expect.any(Number), offset: expect.any(Number) });
    for (const r of [a, b, c]) r.setDone(true);
    await w.run(500);
    const order = seen.get(a)!;
    expect(order.filter((x) => !x.startsWith('stage')).sort()).toEqual(['1:[3]', '2:"two"', '3:{"m":1}']);
    expect(order.at(-1)).toBe('stage 1');
    expect(seen.get(b)).toEqual(order);
    expect(seen.get(c)).toEqual(order);
  });

  it('a listener another one removes while an entry is delivered is not called with it', async () => {
    const w = await joinedRooms(2);
    const [a] = w.rooms as unknown as [Room];
    const seen: string[] = [];
    let offB = () => {};
    a.onEntry((item) => {
      if (item.kind !== 'app') return;
      seen.push(`A ${item.data}`);
      offB();
    });
    offB = a.onEntry((item) => item.kind === 'app' && seen.push(`B ${item.data}`));
    await w.run(100);
    await w.settle(a.propose('one'));
    await w.run(100);
    expect(seen).toEqual(['A one']);
  });

  it('replays the whole log to a late joiner and from a given index; listeners get copies', async () => {
    const w = await joinedRooms(2);
    const [a] = w.rooms as unknown as [Room];
    for (let i = 0; i < 5; i++) await w.settle(a.propose({ i }));
    const late = w.open();
    await w.settle(late.joined);
    await w.run(1_000);
    const all: unknown[] = [];
    late.onEntry((item) => {
      if (item.kind !== 'app') return;
      all.push(item.data);
      if (typeof item.data === 'object') (item.data as { i: number }).i = -1;
    });
    await w.run(100);
    expect(all).toEqual(Array.from({ length: 5 }, () => ({ i: -1 })));
    const again: unknown[] = [];
    const third = (await w.settle(a.propose('x'))).index;
    late.onEntry((item) => item.kind === 'app' && again.push(item.data), { from: third });
    await w.run(100);
    expect(again).toEqual(['x']);
    // The mutation above touched a copy: the log still chains for the next joiner.
    const later = w.open();
    await w.settle(later.joined);
    await w.run(1_000);
    const fresh: unknown[] = [];
    later.onEntry((item) => item.kind === 'app' && fresh.push(item.data));
    await w.run(100);
    expect(fresh).toEqual([...[0, 1, 2, 3, 4].map((i) => ({ i })), 'x']);
  });

  it('rejects what cannot be proposed, and what no leader took in time (no_quorum)', async () => {
    const w = world();
    w.open({ proposeTimeoutMs: 500 });
    w.open({ proposeTimeoutMs: 500 });
    w.open({ proposeTimeoutMs: 500 });
    await w.settle(Promise.all(w.rooms.map((r) => r.joined)));
    await w.run(1_000);
    const [a, b, c] = w.rooms as unknown as [Room, Room, Room];
    expect((await rejection(a.propose('x'.repeat(2_000)))).code).toBe('too_large');
    expect((await rejection(a.propose(undefined))).code).toBe('bad_argument');
    expect((await rejection(a.propose(10n))).code).toBe('bad_argument');
    expect(() => a.onEntry(null as never)).toThrow(expect.objectContaining({ code: 'bad_argument' }));
    expect(() => a.onEntry(() => {}, { from: 0 })).toThrow(expect.objectContaining({ code: 'bad_argument' }));
    expect(() => a.onEntry(() => {}, null as never)()).not.toThrow();
    // Two of three gone without a word: no quorum, no leader to take the value.
    b.close();
    c.close();
    await w.run(2_000);
    const err = await rejection(w.settle(a.propose('alone'), 3_000));
    expect(err.code).toBe('no_quorum');
  });

  it('in a password room, values and snapshots that cross the server are sealed like every other frame', async () => {
    const w = world();
    // No data channel ever opens: everything goes through the server relay.
    const relayOnly: LinkFactory = () => ({ send: () => false, signal: () => {}, destroy: () => {} });
    const relayed: string[] = [];
    const forward = w.server.forward.bind(w.server);
    w.server.forward = (from, to, kind, data) => {
      if (kind === 'relay') relayed.push(String(data));
      return forward(from, to, kind, data);
    };
    // Sealing is real WebCrypto, which settles outside the fake clock: let real time pass with it.
    const run = async (ms: number) => {
      for (let t = 0; t < ms; t += 10) {
        await w.run(10);
        await new Promise((r) => setTimeout(r, 1));
      }
    };
    for (let i = 0; i < 3; i++) w.open({ password: 'hunter2' }, { factory: relayOnly });
    let joined = false;
    void Promise.all(w.rooms.map((r) => r.joined)).then(() => (joined = true));
    for (let t = 0; t < 500 && !joined; t++) await run(10);
    expect(joined).toBe(true);
    const [a, , c] = w.rooms as unknown as [Room, Room, Room];
    for (let t = 0; t < 500 && !(a.quorum.ok && a.quorum.members === 3); t++) await run(10);
    expect(a.quorum).toMatchObject({ ok: true, members: 3 });
    const got: unknown[] = [];
    a.onEntry((item) => item.kind === 'app' && got.push(item.data));
    let outcome: unknown = null;
    c.propose({ secret: 'queen-to-h5' }).then(
      (v) => (outcome = v),
      (e) => (outcome = e),
    );
    for (let t = 0; t < 1_000 && outcome === null; t++) await run(10);
    expect(outcome).toMatchObject({ offset: 0 });
    await run(200);
    expect(got).toEqual([{ secret: 'queen-to-h5' }]);
    expect(relayed.length).toBeGreaterThan(0);
    expect(relayed.some((d) => d.includes('queen') || d.includes('"t":'))).toBe(false);
    // A snapshot crosses the relay sealed too: everyone compacts, and a fourth player catches up from it.
    const at = (outcome as { index: number }).index;
    for (const r of w.rooms as unknown as Room[]) r.snapshot(at, { board: 'knight-on-f3' });
    const sent = relayed.length;
    const d = w.open({ password: 'hunter2' }, { factory: relayOnly }) as unknown as Room;
    const seen: unknown[] = [];
    d.onEntry((item) => item.kind === 'snapshot' && seen.push(item.state));
    for (let t = 0; t < 1_000 && seen.length === 0; t++) await run(10);
    expect(seen).toEqual([{ board: 'knight-on-f3' }]);
    expect(relayed.length).toBeGreaterThan(sent);
    expect(relayed.some((x) => x.includes('knight') || x.includes('"t":'))).toBe(false);
  });

  it('past 64 waiting it refuses (rate_limited); leaving rejects what still waits (not_joined)', async () => {
    const w = await joinedRooms(3);
    const [a, b, c] = w.rooms as unknown as [Room, Room, Room];
    b.close();
    c.close();
    await w.run(2_000);
    const waiting = Array.from({ length: 64 }, (_, i) => a.propose(i));
    expect((await rejection(a.propose('more'))).code).toBe('rate_limited');
    await w.settle(a.leave());
    for (const p of waiting) expect((await rejection(p)).code).toBe('not_joined');
    expect((await rejection(a.propose(1))).code).toBe('not_joined');
  });
});

describe('Room: snapshots of the log', () => {
  /** Proposes each value from `room` in turn; the position of the last. */
  async function proposeAll(w: Awaited<ReturnType<typeof joinedRooms>>, room: Room, values: unknown[]) {
    let at: LogPosition = { index: 0, offset: 0 };
    for (const v of values) at = await w.settle(room.propose(v));
    await w.run(100);
    return at;
  }

  it('refuses an index not delivered or not above the last snapshot, a state too large or not JSON', async () => {
    const w = await joinedRooms(2);
    const [a] = w.rooms as unknown as [Room];
    const inListener: (string | undefined)[] = [];
    a.onEntry((item) => {
      // The entry is not delivered whole while its listeners run.
      if (item.kind === 'app') inListener.push(thrown(() => a.snapshot(item.index, [item.data]))?.code);
    });
    const at = await proposeAll(w, a, ['x']);
    expect(inListener).toEqual(['bad_argument']);
    for (const index of [0, -1, 1.5, Number.NaN, 1e6])
      expect(thrown(() => a.snapshot(index, ['x']))?.code).toBe('bad_argument');
    expect(thrown(() => a.snapshot(at.index, 'x'.repeat(70_000)))?.code).toBe('too_large');
    for (const state of [10n, undefined, () => 1])
      expect(thrown(() => a.snapshot(at.index, state))?.code).toBe('bad_argument');
    a.snapshot(at.index, ['x']);
    expect(thrown(() => a.snapshot(at.index, ['x']))?.code).toBe('bad_argument');
    // A full log (LIMITS.logEntries since the last snapshot) refuses what the core refuses.
    const session = roomInternals(a)!.session;
    session.propose = () => ({ ok: false, code: 'log_full', error: 'the log is full' });
    expect((await rejection(a.propose(1))).code).toBe('log_full');
    a.close();
    expect(thrown(() => a.snapshot(at.index, ['x']))?.code).toBe('not_joined');
  });

  it('our own snapshot delivers nothing live; a later subscription gets it first, unless from above', async () => {
    const w = await joinedRooms(2);
    const [a, b] = w.rooms as unknown as [Room, Room];
    const live: string[] = [];
    a.onEntry((item) => live.push(show(item)));
    const at = await proposeAll(w, b, [0, 1, 2]);
    const before = [...live];
    a.snapshot(at.index, [0, 1, 2]);
    const next = await proposeAll(w, b, [3]);
    expect(live).toEqual([...before, `${next.index}:3`]);
    const all: string[] = [];
    const atBase: string[] = [];
    const above: string[] = [];
    a.onEntry((item) => all.push(show(item)));
    a.onEntry((item) => atBase.push(show(item)), { from: at.index });
    a.onEntry((item) => above.push(show(item)), { from: at.index + 1 });
    await w.run(100);
    expect(all).toEqual([`snapshot ${at.index} [0,1,2]`, `${next.index}:3`]);
    expect(atBase).toEqual(all);
    expect(above).toEqual([`${next.index}:3`]);
    // The other player kept its whole log.
    const whole: string[] = [];
    b.onEntry((item) => whole.push(show(item)));
    await w.run(100);
    expect(whole).toEqual(live);
  });

  it('a late joiner gets the snapshot it caught up from, then the items after it', async () => {
    const w = await joinedRooms(2);
    const [a, b] = w.rooms as unknown as [Room, Room];
    const at = await proposeAll(w, a, ['a', 'b', 'c']);
    a.snapshot(at.index, 'abc');
    b.snapshot(at.index, 'abc');
    const late = w.open();
    await w.settle(late.joined);
    const live: string[] = [];
    late.onEntry((item) => live.push(show(item)));
    await w.run(1_000);
    const next = await proposeAll(w, b, ['d']);
    expect(live).toEqual([`snapshot ${at.index} "abc"`, `${next.index}:"d"`]);
    const again: string[] = [];
    late.onEntry((item) => again.push(show(item)));
    await w.run(100);
    expect(again).toEqual(live);
  });

  it("a core that takes a peer's snapshot: live subscriptions get it; a value it covers has offset -1", async () => {
    const w = world();
    w.open();
    w.open();
    w.open({ chaos: true });
    await w.settle(Promise.all(w.rooms.map((r) => r.joined)));
    await w.run(1_000);
    const [a, b, c] = w.rooms as unknown as [Room, Room, Room];
    const live: string[] = [];
    c.onEntry((item) => live.push(show(item)));
    const first = await w.settle(c.propose('first'));
    await w.run(100);
    expect(live).toEqual([`${first.index}:"first"`]);
    // c's value is on its way to the leader, and c is gone before it hears the commit.
    let mine: LogPosition | null = null;
    void c.propose('mine').then((p) => (mine = p));
    roomInternals(c)!.chaos!.crash();
    const at = await proposeAll(w, a, ['x', 'y']);
    a.snapshot(at.index, 'snap');
    b.snapshot(at.index, 'snap');
    const above: string[] = [];
    c.onEntry((item) => above.push(show(item)), { from: at.index + 1 });
    await w.run(100);
    roomInternals(c)!.chaos!.recover();
    await w.run(2_000);
    const next = await w.settle(a.propose('next'));
    await w.run(100);
    expect(live).toEqual([`${first.index}:"first"`, `snapshot ${at.index} "snap"`, `${next.index}:"next"`]);
    expect(above).toEqual([`${next.index}:"next"`]);
    expect(mine).toEqual({ index: at.index, offset: -1 });
  });

  it('a reload restores the snapshot from storage, and onEntry replays it, then the rest', async () => {
    const w = world();
    const storage = memoryStorage();
    w.open({}, { storage });
    w.open();
    await w.settle(Promise.all(w.rooms.map((r) => r.joined)));
    await w.run(1_000);
    const [a, b] = w.rooms as unknown as [Room, Room];
    const at = await proposeAll(w, b, [1, 2]);
    a.snapshot(at.index, { sum: 3 });
    const next = await proposeAll(w, b, [3]);
    expect(storage.getItem(`${storageKey('r')}:base:${at.index}`)).toContain('{"sum":3}');
    a.close();
    const again = w.open({}, { storage });
    await w.settle(again.joined);
    expect(again.selfId).toBe(1);
    const seen: string[] = [];
    again.onEntry((item) => seen.push(show(item)));
    await w.run(100);
    expect(seen).toEqual([`snapshot ${at.index} {"sum":3}`, `${next.index}:3`]);
  });

  it('after a fork below the cursor, every subscription hears reset, then the snapshot and the rest', async () => {
    const w = await joinedRooms(2);
    const [a, b] = w.rooms as unknown as [Room, Room];
    const at = await proposeAll(w, b, ['p', 'q']);
    a.snapshot(at.index, 'pq');
    const next = await proposeAll(w, b, ['r']);
    const seen: string[] = [];
    a.onEntry((item) => seen.push(show(item)));
    await w.run(100);
    // Only a lying leader forks a log: told so by the core, the room replays what it now holds.
    const deps = (roomInternals(a)!.session as unknown as { deps: { onCoreEvents(e: CoreEvent[]): void } })
      .deps;
    deps.onCoreEvents([{ kind: 'forked', index: next.index, leader: 2 }]);
    await w.run(10);
    const log = [`snapshot ${at.index} "pq"`, `${next.index}:"r"`];
    expect(seen).toEqual([...log, `reset ${next.index}`, ...log]);
  });
});

describe('Room: away', () => {
  it('a hidden page is away to the others, and back when shown', async () => {
    let hidden = false;
    const fire: (() => void)[] = [];
    const page: PageHooks = {
      hidden: () => hidden,
      on: (event, fn) => {
        if (event === 'visibility') fire.push(fn);
        return () => {};
      },
    };
    const w = world();
    w.open({}, { page });
    w.open();
    await w.settle(Promise.all(w.rooms.map((r) => r.joined)));
    await w.run(1_000);
    const [a, b] = w.rooms as unknown as [Room, Room];
    hidden = true;
    for (const f of fire) f();
    expect(a.getSnapshot().away).toBe(true);
    await w.run(100);
    expect(b.players.find((p) => p.id === 1)?.state).toBe('away');
    hidden = false;
    for (const f of fire) f();
    await w.run(100);
    expect(b.players.find((p) => p.id === 1)?.state).toBe('direct');
  });
});

describe('Room: owner', () => {
  it('removePlayer rejects with not_owner for anyone but the owner', async () => {
    const w = await joinedRooms(2);
    const b = w.rooms[1]!;
    const err = await rejection(w.settle(b.removePlayer(1)));
    expect(err.code).toBe('not_owner');
    await expect(b.removePlayer(0)).rejects.toMatchObject({ code: 'bad_argument' });
  });
});

describe('Room: a room no majority can decide again', () => {
  it('tells quorum listeners once the owner removed the other voter of a room of two', async () => {
    const w = await joinedRooms(2);
    const [a, b] = w.rooms as unknown as [Room, Room];
    for (const r of [a, b]) await r.setDone(true);
    await w.run(1_000);
    expect(a.getSnapshot()).toMatchObject({ stage: { index: 1 }, quorum: { ok: true, lost: false } });
    const told: Quorum[] = [];
    a.on('quorum', (q) => told.push(q));
    roomInternals(w.rooms[1]!)!.session.stop();
    await w.run(2_000);
    // Gone without a word: for all player 1 knows, it may come back.
    expect(told.map((q) => [q.ok, q.lost])).toEqual([[false, false]]);
    await w.settle(a.removePlayer(2));
    await w.run(1_000);
    expect(told.map((q) => [q.ok, q.lost])).toEqual([
      [false, false],
      [false, true],
    ]);
    expect(told.at(-1)?.blocked).toBe(
      'player 2 was removed, and 2 of 2 agreed members are needed: no majority can form again',
    );
  });
});

describe('Room: testing aids', () => {
  it('chaos: true wraps the links; a crash silences this player until it recovers', async () => {
    const w = world();
    w.open({ chaos: true });
    w.open();
    w.open();
    await w.settle(Promise.all(w.rooms.map((r) => r.joined)));
    await w.run(1_000);
    const [a, b] = w.rooms as unknown as [Room, Room];
    expect(roomInternals(b)?.chaos).toBeNull();
    const chaos = roomInternals(a)?.chaos;
    expect(chaos).toBeTruthy();
    chaos!.crash();
    await w.run(1_000);
    expect(b.players.find((p) => p.id === 1)?.state).toBe('suspected');
    expect(b.leaderId).toBe(2);
    chaos!.recover();
    await w.run(2_000);
    expect(b.players.find((p) => p.id === 1)?.state).toBe('direct');
  });

  it('testHooks: true puts window.lockstepTest on the page; it answers null and false once the room ends, and closing takes it away', async () => {
    const g = globalThis as unknown as { window?: { lockstepTest?: LockstepTestHooks } };
    g.window = {};
    try {
      const w = world();
      w.open();
      const liar = w.open({ testHooks: true });
      await w.settle(Promise.all(w.rooms.map((r) => r.joined)));
      await w.run(1_000);
      const hooks = g.window.lockstepTest!;
      expect(hooks.self()).toBe(2);
      // A reject with a term no protocol can increment past: the honest player counts a strike.
      expect(hooks.send(1, { t: 'reject', term: Number.MAX_SAFE_INTEGER, from: 2 })).toBe(true);
      await w.run(200);
      expect(w.rooms[0]!.players.find((p) => p.id === 2)?.strikes).toBeGreaterThan(0);
      // A room that ended (here: left) keeps the hook, answering null and false, as the README says.
      await w.settle(liar.leave());
      expect(g.window.lockstepTest).toBe(hooks);
      expect(hooks.self()).toBeNull();
      expect(hooks.send(1, { t: 'hb', term: 1 })).toBe(false);
      liar.close();
      expect(g.window.lockstepTest).toBeUndefined();
    } finally {
      delete g.window;
    }
  });
});

/** The HTML once every Suspense boundary has resolved (LockstepDevtools loads its panels as a chunk). */
async function renderAll(el: ReturnType<typeof createElement>): Promise<string> {
  const { prelude } = await prerenderToNodeStream(el);
  let html = '';
  for await (const chunk of prelude) html += String(chunk);
  return html;
}

describe('lockstep/react', () => {
  it('useRoom reads the snapshot or a selected part; LockstepDevtools renders the visualizer', async () => {
    const w = await joinedRooms(2);
    const room = w.rooms[1]!;
    const Stage = () =>
      createElement('p', null, `${useRoom(room, (s) => s.stage.name)} ${useRoom(room).selfId}`);
    expect(renderToString(createElement(Stage))).toContain('a 2');
    // Its panels come in a chunk of their own: a first render shows nothing in their place.
    expect(renderToString(createElement(LockstepDevtools, { room }))).not.toContain('visualizer');
    const html = await renderAll(createElement(LockstepDevtools, { room }));
    expect(html).toContain('data-testid="visualizer"');
    expect(html).toContain('data-testid="event-log"');
    // No chaos panel for a room joined without chaos.
    expect(html).not.toContain('data-testid="chaos-crash"');
    expect(await renderAll(createElement(LockstepDevtools, { room, log: false }))).not.toContain('event-log');
  });

  it('useRoom without a room says so; two devtools on one page label their panels apart', async () => {
    const Bad = () => createElement('p', null, String(useRoom(null as unknown as Room).selfId));
    expect(() => renderToString(createElement(Bad))).toThrow('useRoom: room must be a Room from joinRoom');
    const w = await joinedRooms(2);
    const [a, b] = w.rooms as [RoomImpl, RoomImpl];
    const html = await renderAll(
      createElement(
        'div',
        null,
        createElement(LockstepDevtools, { room: a }),
        createElement(LockstepDevtools, { room: b }),
      ),
    );
    const ids = [...html.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]);
    expect(ids.length).toBeGreaterThanOrEqual(4);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('LockstepDevtools wait for the room to form: their mount and drawing would slow its handshakes', async () => {
    const w = world();
    w.open();
    w.open();
    await w.settle(Promise.all(w.rooms.map((r) => r.joined)));
    const room = w.rooms[1]!;
    expect(room.getSnapshot().leaderId).toBeNull();
    const waiting = await renderAll(createElement(LockstepDevtools, { room }));
    expect(waiting).toContain('data-testid="devtools-waiting"');
    expect(waiting).toContain('data-testid="devtools-open"');
    expect(waiting).not.toContain('data-testid="visualizer"');
    await w.run(1_000);
    expect(room.getSnapshot().leaderId).toBe(1);
    expect(await renderAll(createElement(LockstepDevtools, { room }))).toContain('data-testid="visualizer"');
  });

  it("LockstepDevtools of a room's first player, formed alone, wait: the others may still be loading", async () => {
    const w = world();
    w.open();
    await w.settle(Promise.all(w.rooms.map((r) => r.joined)));
    await w.run(1_000);
    const room = w.rooms[0]!;
    expect(room.getSnapshot().leaderId).toBe(1);
    expect(room.getSnapshot().players).toHaveLength(1);
    const html = await renderAll(createElement(LockstepDevtools, { room }));
    expect(html).toContain('data-testid="devtools-waiting"');
    expect(html).not.toContain('data-testid="visualizer"');
  });

  it('LockstepDevtools wait for a player whose link is still forming, heard or not yet', async () => {
    const w = await joinedRooms(2);
    const real = w.net.factory();
    // Player 3's handshake with player 2 never completes: it hears 2 only through the relay, if at all.
    const late = w.open(
      {},
      {
        factory: (o, events) =>
          o.peer === 2 ? { signal() {}, send: () => false, destroy() {} } : real(o, events),
      },
    );
    await w.settle(late.joined);
    const shown = async () =>
      (await renderAll(createElement(LockstepDevtools, { room: late }))).includes('visualizer');
    const states = () =>
      late
        .getSnapshot()
        .players.map((p) => `${p.id}:${p.state}`)
        .join(' ');
    for (let t = 0; t < 3_000; t += 50) {
      if (late.getSnapshot().leaderId === 1) expect(await shown(), states()).toBe(false);
      await w.run(50);
    }
    expect(states()).toContain('2:relayed');
  });
});
