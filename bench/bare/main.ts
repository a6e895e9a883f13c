// The app without its React UI: the library's joinRoom (the same Session, Mesh, core and signaling), with
// only the automation hooks the bench reads (self-id, leader-id, peer states). `bench/mesh-timeline.ts --bare`
// compares it with the real app, which tells how much of mesh formation the UI costs.

import { joinRoom, type RoomSnapshot } from '../../client/src/lockstep/index.ts';

const room = /^\/r\/([^/]+)/.exec(location.pathname)?.[1] ?? 'bare';
const q = new URLSearchParams(location.search);

const selfEl = document.querySelector('[data-testid="self-id"]')!;
const leaderEl = document.querySelector('[data-testid="leader-id"]')!;
const list = document.getElementById('peers')!;
let last = '';
const render = (s: RoomSnapshot) => {
  const rows = s.players.map((p) => `${p.id}:${p.state}`);
  const key = `${s.selfId}|${s.leaderId ?? ''}|${rows.join(',')}`;
  if (key === last) return;
  last = key;
  selfEl.textContent = String(s.selfId);
  leaderEl.textContent = s.leaderId ? String(s.leaderId) : '';
  list.replaceChildren(
    ...rows.map((r) => {
      const [id, state] = r.split(':');
      const li = document.createElement('li');
      li.dataset.testid = 'peer';
      li.dataset.peerId = id;
      li.dataset.state = state;
      li.textContent = r;
      return li;
    }),
  );
};

joinRoom({
  server: location.origin,
  room,
  name: q.get('name') ?? 'bare',
  settings: {
    heartbeatMs: Number(q.get('heartbeatMs') ?? 250),
    timeoutMs: Number(q.get('timeoutMs') ?? 1500),
  },
  timeoutMs: 60_000,
}).then((joined) => {
  render(joined.getSnapshot());
  joined.subscribe(() => render(joined.getSnapshot()));
}, console.error);
