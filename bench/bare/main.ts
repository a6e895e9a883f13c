// The app without its React UI: the same Session, Mesh, core and signaling, with only the automation hooks the
// bench reads (self-id, leader-id, peer states). `bench/mesh-timeline.ts --bare` compares it with the real app,
// which tells how much of mesh formation the UI costs.

import { installPageHide, openSession } from '../../client/src/net/live.ts';
import { type AppState, appStore, peerRows } from '../../client/src/store/index.ts';

const room = /^\/r\/([^/]+)/.exec(location.pathname)?.[1] ?? 'bare';
const q = new URLSearchParams(location.search);
// The tab's real wiring (live.ts): the same signaling, peers, timers, storage and store as the app.
openSession({
  room,
  name: q.get('name') ?? 'bare',
  settings: {
    heartbeatMs: Number(q.get('heartbeatMs') ?? 250),
    timeoutMs: Number(q.get('timeoutMs') ?? 1500),
  },
});
installPageHide();

const selfEl = document.querySelector('[data-testid="self-id"]')!;
const leaderEl = document.querySelector('[data-testid="leader-id"]')!;
const list = document.getElementById('peers')!;
let last = '';
const render = (s: AppState) => {
  const rows = peerRows(s.view, s.roster, s.net).map((r) => `${r.id}:${r.state}`);
  const key = `${s.view?.self ?? ''}|${s.view?.leader ?? ''}|${rows.join(',')}`;
  if (key === last) return;
  last = key;
  selfEl.textContent = s.view ? String(s.view.self) : '';
  leaderEl.textContent = s.view?.leader ? String(s.view.leader) : '';
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
appStore.subscribe(render);
