// A Node player, as in the SDK's "Node bots" recipe: the same joinRoom with WebRTC injected. It commits its
// card in the agreed log and is Done, and opens the card at Reveal (src/votes.ts says why a card goes in
// hidden first); Ctrl-C (or SIGTERM) leaves the room for good, so the others count without it.
//   node bot.js [server] [room] [card]      e.g. node bot.js http://127.0.0.1:3000 team 3

import wrtc from '@roamhq/wrtc';
import { joinRoom } from 'lockstep';

const CARDS = [1, 2, 3, 5, 8, 13];
const [server = 'http://127.0.0.1:3000', room = 'poker', cardArg = '3'] = process.argv.slice(2);
const card = Number(cardArg);
if (!CARDS.includes(card)) {
  console.error(`bot: the card must be one of ${CARDS.join(', ')}`);
  process.exit(2);
}
const bot = await joinRoom({
  server,
  room,
  name: 'bot',
  rtc: wrtc,
  settings: { stages: ['Vote', 'Reveal'] },
});
console.log(`bot: joined ${room} as player ${bot.selfId}`);

// The card's commitment, as src/votes.ts makes it: SHA-256 of the card and a random salt, in hex.
const hex = (bytes) => [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, '0')).join('');
const salt = hex(crypto.getRandomValues(new Uint8Array(16)));
const h = hex(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`${card}:${salt}`)));
let committed = false;
let opened = false;
const step = () => {
  if (bot.stage.index === 0 && !committed) {
    committed = true;
    bot.propose({ t: 'commit', h }).then(
      () => bot.setDone(true),
      (e) => {
        // A failover or a lost quorum: the room waits for our Done, so try again.
        committed = false;
        console.error(`bot: could not commit the card: ${e.message}; trying again`);
        setTimeout(step, 1_000);
      },
    );
  } else if (bot.stage.index === 1 && committed && !opened) {
    opened = true;
    bot.propose({ t: 'open', card, salt }).catch((e) => {
      opened = false;
      console.error(`bot: could not open the card: ${e.message}; trying again`);
      setTimeout(step, 1_000);
    });
  }
};
step();
bot.on('stage', step);
bot.on('stage', (s) => console.log(`bot: stage ${s.index} (${s.name}), term ${s.term}`));
let leaving = false;
bot.on('closed', ({ status, error }) => {
  if (leaving) return;
  console.log(`bot: the room ended for us: ${status}${error ? ` (${error})` : ''}`);
  process.exit(1);
});

const bye = () => {
  // A second Ctrl-C does not wait for the goodbye.
  if (leaving) process.exit(130);
  leaving = true;
  bot.leave().then(
    () => process.exit(0),
    (e) => {
      console.error(`bot: could not leave: ${e.message}`);
      process.exit(1);
    },
  );
};
process.on('SIGINT', bye);
process.on('SIGTERM', bye);
