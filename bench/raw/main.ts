// Raw simple-peer through Lockstep's signaling server: join, then one connection per pair (the lower ID
// offers), and nothing else: no core, no mesh logic, no UI. `bench/mesh-timeline.ts --raw` sets it beside the
// app and `--bare`, so the mesh-formation figure splits into what WebRTC on this machine costs and what we add.
// "Leader" here is just the lowest ID in the roster, so the bench's full-mesh check applies unchanged.

import SimplePeer from 'simple-peer';
import { io } from 'socket.io-client';
import { PROTOCOL_VERSION } from '../../client/src/protocol/limits.ts';
import type { Ack, Joined, RosterMsg } from '../../client/src/protocol/signaling.ts';

const room = /^\/r\/([^/]+)/.exec(location.pathname)?.[1] ?? 'raw';
const name = new URLSearchParams(location.search).get('name') ?? 'raw';
const socket = io({ transports: ['websocket'] });
const peers = new Map<number, { peer: SimplePeer.Instance; open: boolean }>();
let self = 0;
let ice: Joined['iceServers'] = [];
let members: number[] = [];

const selfEl = document.querySelector('[data-testid="self-id"]')!;
const leaderEl = document.querySelector('[data-testid="leader-id"]')!;
const list = document.getElementById('peers')!;
const render = () => {
  selfEl.textContent = self ? String(self) : '';
  leaderEl.textContent = members.length ? String(Math.min(...members)) : '';
  list.replaceChildren(
    // One row per player, self included, as in the app (the bench takes the lowest row as the leader).
    ...members.map((id) => {
      const li = document.createElement('li');
      li.dataset.testid = 'peer';
      li.dataset.peerId = String(id);
      li.dataset.state = id === self ? 'self' : peers.get(id)?.open ? 'direct' : 'connecting';
      li.textContent = String(id);
      return li;
    }),
  );
};

const connect = (id: number, initiator: boolean) => {
  const peer = new SimplePeer({ initiator, trickle: true, config: { iceServers: ice } });
  const rec = { peer, open: false };
  peers.set(id, rec);
  peer.on('signal', (data) => socket.emit('signal', { to: id, data }, () => {}));
  peer.on('connect', () => {
    rec.open = true;
    render();
  });
  peer.on('error', () => {});
  return rec;
};

const onRoster = (r: RosterMsg) => {
  members = r.members.map((m) => m.id);
  for (const id of members) if (id > self && self !== 0 && !peers.has(id)) connect(id, true);
  render();
};
socket.on('roster', onRoster);
// The server pushes a joiner to the room before it acks the join, so an offer can beat our own ID here.
const early: { from: number; data: unknown }[] = [];
const onSignal = (m: { from: number; data: unknown }) => {
  if (self === 0) return void early.push(m);
  const rec = peers.get(m.from) ?? (m.from < self ? connect(m.from, false) : undefined);
  rec?.peer.signal(m.data as SimplePeer.SignalData);
};
socket.on('signal', onSignal);
socket.on('connect', () => {
  socket.emit('join', { v: PROTOCOL_VERSION, room, name }, (res: Ack<Joined>) => {
    if (!res.ok) throw new Error(res.error);
    self = res.id;
    ice = res.iceServers;
    onRoster(res.roster);
    for (const m of early.splice(0)) onSignal(m);
  });
});
