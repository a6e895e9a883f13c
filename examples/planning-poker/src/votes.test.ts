// The fold is the referee: run by the repository's `npm test`.
import type { LogItem } from 'lockstep';
import { expect, test } from 'vitest';
import { asVotes, commitment, fold, noVotes, shown, toState, type Vote, type Votes } from './votes';

const VOTE = { index: 0, name: 'Vote', final: false };
const REVEAL = { index: 1, name: 'Reveal', final: true };
let index = 0;
const app = (by: number, data: Vote | Record<string, unknown>, stage = VOTE): LogItem =>
  ({ kind: 'app', index: ++index, offset: 0, by, data, stage, term: 1 }) as LogItem;
const salt = (c: string) => c.repeat(32);

test('cards are committed hidden, opened at Reveal, and shown only as committed', async () => {
  const items = [
    app(1, { t: 'commit', h: await commitment(5, salt('a')) }),
    app(2, { t: 'commit', h: await commitment(8, salt('b')) }),
    // A second commitment, or one after Vote, changes nothing.
    app(1, { t: 'commit', h: await commitment(13, salt('c')) }),
    app(3, { t: 'commit', h: await commitment(1, salt('d')) }, REVEAL),
    // Opened too early, by a player who never committed, or for a card it did not commit to.
    app(1, { t: 'open', card: 5, salt: salt('a') }),
    app(3, { t: 'open', card: 1, salt: salt('d') }, REVEAL),
    app(1, { t: 'open', card: 5, salt: salt('a') }, REVEAL),
    app(2, { t: 'open', card: 13, salt: salt('b') }, REVEAL),
    // Only the first opening counts: no changing a card once it shows.
    app(1, { t: 'open', card: 13, salt: salt('c') }, REVEAL),
    app(2, { t: 'open', card: 8, salt: salt('b') }, REVEAL),
  ];
  const v: Votes = items.reduce(fold, noVotes());
  expect([...v.commits.keys()]).toEqual([1, 2]);
  expect(await shown(v)).toEqual(
    new Map<number, number | 'mismatch'>([
      [1, 5],
      [2, 'mismatch'],
    ]),
  );
});

test('values of any other shape change nothing', () => {
  const h = 'f'.repeat(64);
  const junk = [
    null,
    7,
    'commit',
    { t: 'commit' },
    { t: 'commit', h: 'F'.repeat(64) },
    { t: 'commit', h: `${h}0` },
    { t: 'commit', h: { toString: 0 } },
    { t: '__proto__', h },
  ];
  const v = junk.reduce<Votes>((acc, d) => fold(acc, app(4, d as Record<string, unknown>)), noVotes());
  expect(v.commits.size).toBe(0);
  const committed = fold(noVotes(), app(4, { t: 'commit', h }));
  for (const open of [
    { t: 'open', card: 4, salt: salt('a') },
    { t: 'open', card: Number.NaN, salt: salt('a') },
    { t: 'open', card: '5', salt: salt('a') },
    { t: 'open', card: 5, salt: 'short' },
  ])
    expect(fold(committed, app(4, open, REVEAL)).opens.size).toBe(0);
});

test('a player back under a new ID opens the card its old ID committed', async () => {
  const committed = fold(noVotes(), app(2, { t: 'commit', h: await commitment(3, salt('e')) }));
  const renamed = fold(committed, { kind: 'renamed', index: ++index, from: 2, to: 9 } as LogItem);
  expect([...renamed.commits.keys()]).toEqual([9]);
  const opened = fold(renamed, app(9, { t: 'open', card: 3, salt: salt('e') }, REVEAL));
  expect(await shown(opened)).toEqual(new Map([[9, 3]]));
  // A player that committed a card of its own takes no other by claiming its slot.
  const own = fold(committed, app(9, { t: 'commit', h: await commitment(13, salt('f')) }));
  const claimed = fold(own, { kind: 'renamed', index: ++index, from: 2, to: 9 } as LogItem);
  expect(claimed).toBe(own);
});

test("a copy of another's commitment is not a vote: its sender cannot show that card", async () => {
  const h = await commitment(13, salt('a'));
  let v = fold(noVotes(), app(1, { t: 'commit', h }));
  v = fold(v, app(6, { t: 'commit', h }));
  v = fold(v, app(1, { t: 'open', card: 13, salt: salt('a') }, REVEAL));
  v = fold(v, app(6, { t: 'open', card: 13, salt: salt('a') }, REVEAL));
  expect(await shown(v)).toEqual(new Map([[1, 13]]));
});

test('votes go through a snapshot whole; a state that is not votes is none', async () => {
  let v = fold(noVotes(), app(1, { t: 'commit', h: await commitment(5, salt('a')) }));
  v = fold(v, app(2, { t: 'commit', h: await commitment(8, salt('b')) }));
  v = fold(v, app(1, { t: 'open', card: 5, salt: salt('a') }, REVEAL));
  const state = JSON.parse(JSON.stringify(toState(v)));
  const snap = (s: unknown) => ({ kind: 'snapshot', index: 9, stage: REVEAL, state: s }) as LogItem;
  expect(fold(noVotes(), snap(state))).toEqual(v);
  for (const lie of [
    'anything',
    { commits: [[1, 'f'.repeat(63)]], opens: [] },
    {
      commits: [
        [1, 'f'.repeat(64)],
        [2, 'f'.repeat(64)],
      ],
      opens: [],
    },
    { commits: [[1, 'f'.repeat(64)]], opens: [[2, { card: 5, salt: salt('a') }]] },
    { commits: [[1, 'f'.repeat(64)]], opens: [[1, { card: 4, salt: salt('a') }]] },
    { commits: [[0, 'f'.repeat(64)]], opens: [] },
  ]) {
    expect(asVotes(lie), JSON.stringify(lie)).toBeNull();
    expect(fold(v, snap(lie))).toEqual(noVotes());
  }
});
