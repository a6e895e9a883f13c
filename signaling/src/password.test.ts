// Password rooms end to end: the real client port (SealedSignaling over SocketSignaling) against a real
// server, with the server's whole view of the traffic captured.

import { afterEach, describe, expect, it } from 'vitest';
import { deriveRoomKeys } from '../../client/src/net/crypto.ts';
import { SealedSignaling } from '../../client/src/net/sealedSignaling.ts';
import { type SignalingPort, SocketSignaling } from '../../client/src/net/signaling.ts';
import type { Ack, Joined, RosterMsg } from '../../client/src/protocol/signaling.ts';
import { connect, expectOk, type RecordingClient, startServer, type TestServer } from './testing.ts';

let servers: TestServer[] = [];
let ports: SignalingPort[] = [];
let raws: RecordingClient[] = [];

afterEach(async () => {
  for (const port of ports) port.close();
  for (const raw of raws) raw.close();
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  ports = [];
  raws = [];
});

/** A server whose every inbound and outbound socket.io event is recorded as JSON. */
async function capturingServer() {
  const server = await startServer();
  servers.push(server);
  const seen: string[] = [];
  const record =
    (dir: string) =>
    (event: string, ...args: unknown[]) => {
      seen.push(JSON.stringify([dir, event, ...args.filter((a) => typeof a !== 'function')]));
    };
  server.handle.io.on('connection', (socket) => {
    socket.onAny(record('in'));
    socket.onAnyOutgoing(record('out'));
  });
  return { server, seen };
}

/** Two players of one password room, both joined: A (ID 1) and B. */
async function sealedPair(server: TestServer) {
  const a = peer(server, 'sealed', 'A', 'pw');
  const b = peer(server, 'sealed', 'B', 'pw');
  expectOk(await a.join());
  const bId = expectOk(await b.join()).id;
  return { a, b, bId };
}

interface Peer {
  port: SignalingPort;
  signals: { from: number; data: unknown }[];
  relays: { from: number; data: string }[];
  rosters: RosterMsg[];
  rejects: { from: number; kind: string; error: string }[];
  join(): Promise<Ack<Joined>>;
}

/** The browser's stack minus WebRTC: SocketSignaling, wrapped in SealedSignaling when there is a password. */
function peer(
  server: TestServer,
  room: string,
  name: string,
  password?: string,
  wire: (port: SignalingPort) => SignalingPort = (port) => port,
): Peer {
  const rejects: Peer['rejects'] = [];
  const socket = wire(new SocketSignaling(server.url));
  const port =
    password === undefined
      ? socket
      : new SealedSignaling(socket, {
          room,
          password,
          onReject: (from, kind, error) => rejects.push({ from, kind, error }),
        });
  ports.push(port);
  const p: Peer = {
    port,
    signals: [],
    relays: [],
    rosters: [],
    rejects,
    join: () => port.join({ room, name }),
  };
  let up: () => void;
  const connected = new Promise<void>((resolve) => {
    up = resolve;
  });
  port.start({
    status: () => {},
    connected: () => up(),
    roster: (r) => p.rosters.push(r),
    signal: (from, data) => p.signals.push({ from, data }),
    relay: (from, data) => p.relays.push({ from, data }),
    shutdown: () => {},
    refused: () => {},
    removed: () => {},
  });
  p.join = async () => {
    await connected;
    return port.join({ room, name });
  };
  return p;
}

/** Flips one ciphertext character of what A sends, as a tampering server or network would. */
function tampering(inner: SignalingPort): SignalingPort & { on: boolean } {
  const flip = (sealed: string) => {
    // Inside the ciphertext, where every base64url character carries six whole bits.
    const at = sealed.lastIndexOf('.') + 4;
    return `${sealed.slice(0, at)}${sealed[at] === 'A' ? 'B' : 'A'}${sealed.slice(at + 1)}`;
  };
  const port = {
    on: false,
    get connected() {
      return inner.connected;
    },
    start: (h: Parameters<SignalingPort['start']>[0]) => inner.start(h),
    join: (req: Parameters<SignalingPort['join']>[0]) => inner.join(req),
    leave: () => inner.leave(),
    bye: (unlisted?: boolean) => inner.bye(unlisted),
    remove: (room: string, id: number, ownerToken: string) => inner.remove(room, id, ownerToken),
    signal: (to: number, data: unknown) =>
      inner.signal(to, port.on && typeof data === 'string' ? flip(data) : data),
    relay: (to: number, data: string) => inner.relay(to, port.on ? flip(data) : data),
    reconnectIn: (ms: number) => inner.reconnectIn(ms),
    redial: (ms: number) => inner.redial(ms),
    close: () => inner.close(),
  };
  return port;
}

/** Records what reaches B from the server, so a test can deliver it again, as a replaying server would. */
function recording(inner: SignalingPort) {
  const heard: { kind: 'signal' | 'relay'; from: number; data: unknown }[] = [];
  let handlers: Parameters<SignalingPort['start']>[0] | undefined;
  const port: SignalingPort = Object.create(inner);
  port.start = (h) => {
    handlers = h;
    inner.start({
      ...h,
      signal: (from, data) => {
        heard.push({ kind: 'signal', from, data });
        h.signal(from, data);
      },
      relay: (from, data) => {
        heard.push({ kind: 'relay', from, data });
        h.relay(from, data);
      },
    });
  };
  const replay = (order: typeof heard) => {
    for (const m of order) {
      if (m.kind === 'signal') handlers?.signal(m.from, m.data);
      else handlers?.relay(m.from, m.data as string);
    }
  };
  return { port, heard, replay };
}

async function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const OFFER = {
  type: 'offer',
  sdp: 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=candidate:842163049 1 udp 1677729535 192.0.2.7 49203 typ srflx raddr 0.0.0.0 rport 0\r\na=ice-ufrag:EsAw\r\na=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r\na=fingerprint:sha-256 0F:74:31:25:CB:A2:13:EC:28:6F:6D:2C:61:FF:5D:C2:BC:B9:DB:3D:98:14:8D:1A:BB:EA:33:0C:A4:60:A8:8E\r\n',
};
const CANDIDATE = {
  candidate: {
    candidate: 'candidate:1 1 udp 2122260223 192.168.1.20 54321 typ host generation 0',
    sdpMLineIndex: 0,
    sdpMid: '0',
  },
};
const FRAME = '{"k":"core","m":{"t":"DONE","term":2,"stage":1,"note":"RELAYED-PLAINTEXT-MARKER"}}';
const LEAKS = ['v=0', 'a=candidate', 'candidate:', 'RELAYED-PLAINTEXT-MARKER', 'ice-pwd', 'fingerprint'];

/** A sends B one offer, one ICE candidate and one relayed frame, and B receives them. */
async function exchange(a: Peer, b: Peer, bId: number) {
  expectOk(await a.port.signal(bId, { e: 'epoch1', d: OFFER }));
  expectOk(await a.port.signal(bId, { e: 'epoch1', d: CANDIDATE }));
  expect(a.port.relay(bId, FRAME)).toBe(true);
  await until(() => b.signals.length === 2 && b.relays.length === 1, 'B to receive everything');
}

describe('password rooms', () => {
  it('refuse a wrong or missing password with bad_password: no ID, no roster change', async () => {
    const { server } = await capturingServer();
    const creator = peer(server, 'locked', 'Ann', 'correct horse battery staple');
    expect(expectOk(await creator.join()).id).toBe(1);

    const wrong = peer(server, 'locked', 'Mallory', 'correct horse battery stapler');
    const refused = await wrong.join();
    expect(refused).toEqual({ ok: false, code: 'bad_password', error: 'wrong password for this room' });
    const plain = peer(server, 'locked', 'Eve');
    expect(await plain.join()).toEqual({
      ok: false,
      code: 'bad_password',
      error: 'this room needs a password',
    });

    const friend = peer(server, 'locked', 'Bob', 'correct horse battery staple');
    const joined = expectOk(await friend.join());
    // The refused joins spent no ID and never showed up: Bob is 2 and the creator saw only him arrive.
    expect(joined.id).toBe(2);
    expect(joined.roster.members.map((m) => [m.id, m.name])).toEqual([
      [1, 'Ann'],
      [2, 'Bob'],
    ]);
    await until(() => creator.rosters.length > 0, 'the roster push');
    expect(creator.rosters.flatMap((r) => r.members.map((m) => m.name))).not.toContain('Mallory');
    expect(await server.handle.store.stats()).toEqual({ rooms: 1, connected: 2, grace: 0 });
    expect(await server.handle.metrics()).toMatch(/lockstep_rejected_total\{reason="bad_password"\} 2/);

    // A password on a room without one is refused as well: it could not read anyone's payloads.
    const open = peer(server, 'open', 'Ann');
    expectOk(await open.join());
    const stray = peer(server, 'open', 'Bob', 'pw');
    expect(await stray.join()).toMatchObject({ ok: false, code: 'bad_password' });
  });

  it('forward only ciphertext: the server never sees SDP, ICE or a relayed message', async () => {
    const { server, seen } = await capturingServer();
    const { a, b, bId } = await sealedPair(server);
    await exchange(a, b, bId);
    // B got the plaintext back exactly, from A.
    expect(b.signals).toEqual([
      { from: 1, data: { e: 'epoch1', d: OFFER } },
      { from: 1, data: { e: 'epoch1', d: CANDIDATE } },
    ]);
    expect(b.relays).toEqual([{ from: 1, data: FRAME }]);
    expect(b.rejects).toEqual([]);

    // The capture saw the traffic (in and out), only not its content.
    const traffic = seen.join('\n');
    expect(seen.filter((e) => e.startsWith('["in","signal"'))).toHaveLength(2);
    expect(seen.filter((e) => e.startsWith('["out","signal"'))).toHaveLength(2);
    expect(seen.filter((e) => e.startsWith('["out","relay"'))).toHaveLength(1);
    for (const leak of LEAKS) expect(traffic).not.toContain(leak);
  });

  it('seal the frames of one turn and send them as one relay event, in order', async () => {
    const { server, seen } = await capturingServer();
    const { a, b, bId } = await sealedPair(server);
    const frames = Array.from({ length: 5 }, (_, i) => FRAME.replace('"term":2', `"term":${i}`));
    for (const f of frames) expect(a.port.relay(bId, f)).toBe(true);
    await until(() => b.relays.length === 5, 'five frames');
    expect(b.relays).toEqual(frames.map((data) => ({ from: 1, data })));
    expect(b.rejects).toEqual([]);
    const batches = seen
      .filter((e) => e.startsWith('["in","relay"'))
      .map((e) => (JSON.parse(e) as [string, string, { frames: unknown[] }])[2].frames.length);
    expect(batches).toEqual([5]);
  });

  it('would show SDP in the same capture without a password (the capture is not blind)', async () => {
    const { server, seen } = await capturingServer();
    const a = peer(server, 'plain', 'A');
    const b = peer(server, 'plain', 'B');
    expectOk(await a.join());
    await exchange(a, b, expectOk(await b.join()).id);
    const traffic = seen.join('\n');
    for (const leak of LEAKS) expect(traffic).toContain(leak);
  });

  it('make the recipient reject tampered ciphertext and count it', async () => {
    const { server } = await capturingServer();
    let wire: ReturnType<typeof tampering> | undefined;
    const a = peer(server, 'sealed', 'A', 'pw', (port) => {
      wire = tampering(port);
      return wire;
    });
    const b = peer(server, 'sealed', 'B', 'pw');
    expectOk(await a.join());
    const bId = expectOk(await b.join()).id;
    wire!.on = true;
    expectOk(await a.port.signal(bId, { e: 'epoch1', d: OFFER }));
    expect(a.port.relay(bId, FRAME)).toBe(true);
    await until(() => b.rejects.length === 2, 'two rejections');
    expect(b.rejects).toEqual([
      { from: 1, kind: 'signal', error: expect.stringMatching(/failed to decrypt/) },
      { from: 1, kind: 'relay', error: expect.stringMatching(/failed to decrypt/) },
    ]);
    wire!.on = false;
    expect(a.port.relay(bId, FRAME)).toBe(true);
    await until(() => b.relays.length === 1, 'the untampered frame');
    expect(b.relays).toEqual([{ from: 1, data: FRAME }]);
    expect(b.signals).toEqual([]);
    expect(b.rejects).toHaveLength(2);
  });

  it('open each sealed payload once: a hello, offer or frame the server delivers again is refused', async () => {
    const { server } = await capturingServer();
    const a = peer(server, 'sealed', 'A', 'pw');
    let wire: ReturnType<typeof recording> | undefined;
    const b = peer(server, 'sealed', 'B', 'pw', (port) => {
      wire = recording(port);
      return wire.port;
    });
    expectOk(await a.join());
    const bId = expectOk(await b.join()).id;
    expectOk(await a.port.signal(bId, { hello: true, s: '', v: 1 }));
    expectOk(await a.port.signal(bId, { e: 'epoch1', d: OFFER }));
    expect(a.port.relay(bId, FRAME)).toBe(true);
    await until(() => b.signals.length === 2 && b.relays.length === 1, 'the genuine payloads');
    const heard = [...wire!.heard];
    expect(heard).toHaveLength(3);
    wire!.replay([...heard].reverse());
    await until(() => b.rejects.length === 3, 'three rejections');
    expect(b.rejects.map((r) => [r.from, r.kind, r.error])).toEqual([
      [1, 'relay', 'replayed'],
      [1, 'signal', 'replayed'],
      [1, 'signal', 'replayed'],
    ]);
    expect(b.signals).toHaveLength(2);
    expect(b.relays).toHaveLength(1);

    expect(b.rejects).toHaveLength(3);
  });

  it('make the recipient reject replayed, swapped and unsealed payloads from a verifier holder', async () => {
    const { server, seen } = await capturingServer();
    const { a, b, bId } = await sealedPair(server);
    expect(a.port.relay(bId, FRAME)).toBe(true);
    await until(() => b.relays.length === 1, 'the genuine frame');

    // An insider with the verifier but not the key: what a curious server could do.
    const { verifier } = await deriveRoomKeys('pw', 'sealed');
    const m = await connect(server.url);
    raws.push(m);
    const mId = expectOk(await m.join({ room: 'sealed', name: 'M', verifier })).id;
    const captured = seen
      .map((e) => JSON.parse(e) as [string, string, { frames: { data: string }[] }])
      .find(([dir, event]) => dir === 'in' && event === 'relay')?.[2].frames[0]?.data;
    if (captured === undefined) throw new Error('no relay captured');

    // A's genuine ciphertext, re-sent by M (so from M), and as a signal instead of a relay.
    expectOk(await m.raw('relay', { frames: [{ to: bId, data: captured }] }));
    expectOk(await m.raw('signal', { to: bId, data: captured }));
    expectOk(await m.raw('relay', { frames: [{ to: bId, data: FRAME }] }));
    await until(() => b.rejects.length === 3, 'three rejections');
    expect(b.rejects.map((r) => [r.from, r.kind])).toEqual([
      [mId, 'relay'],
      [mId, 'signal'],
      [mId, 'relay'],
    ]);
    expect(b.rejects[2]?.error).toMatch(/not an encrypted payload/);
    // Nothing of it was delivered: only the genuine frame from A.
    expect(b.relays).toEqual([{ from: 1, data: FRAME }]);
    expect(b.signals).toEqual([]);
  });
});
