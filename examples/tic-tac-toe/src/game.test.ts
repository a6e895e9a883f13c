// The fold is the referee, and a snapshot is another player's word: run by the repository's `npm test`.

import fc from 'fast-check';
import type { LogItem } from 'lockstep';
import { expect, test } from 'vitest';
import { type Action, asGame, fold, type Game, newGame } from './game';

let index = 0;
const app = (by: number, data: Action | Record<string, unknown>): LogItem =>
  ({
    kind: 'app',
    index: ++index,
    offset: 0,
    by,
    data,
    stage: { index: 0, name: 'Play', final: true },
    term: 1,
  }) as LogItem;
const play = (...items: [number, Action][]): Game =>
  items.reduce((g, [by, a]) => fold(g, app(by, a)), newGame());
const snapshot = (state: unknown): LogItem =>
  ({ kind: 'snapshot', index: 1, stage: { index: 0, name: 'Play', final: true }, state }) as LogItem;

const won = play(
  [1, { t: 'sit', seat: 'X' }],
  [2, { t: 'sit', seat: 'O' }],
  [1, { t: 'move', cell: 0, id: 'a' }],
  [2, { t: 'move', cell: 3, id: 'b' }],
  [1, { t: 'move', cell: 1, id: 'c' }],
  [2, { t: 'move', cell: 4, id: 'd' }],
  [1, { t: 'move', cell: 2, id: 'e' }],
);

test('a game the fold made, through JSON, is a game; a round in play too', () => {
  expect(won.result).toEqual({ winner: 'X' });
  expect(asGame(JSON.parse(JSON.stringify(won)))).toEqual(won);
  const midway = play(
    [1, { t: 'sit', seat: 'X' }],
    [2, { t: 'sit', seat: 'O' }],
    [1, { t: 'move', cell: 4, id: 'a' }],
  );
  expect(asGame(JSON.parse(JSON.stringify(midway)))).toEqual(midway);
  expect(asGame(newGame())).toEqual(newGame());
});

test('a snapshot that would crash the page or stick the room is not a game: the fold starts afresh', () => {
  const lie = (change: (g: Game) => unknown) => change(JSON.parse(JSON.stringify(won)) as Game);
  const lies = [
    lie((g) => ({ ...g, lines: g.lines.map((l) => ({ ...l, round: { toString: 0 } })) })),
    lie((g) => ({ ...g, lines: [{ ...g.lines[0], t: 7 }] })),
    lie((g) => ({ ...g, lines: [{ ...g.lines[0], ignored: 'x'.repeat(41) }] })),
    lie((g) => ({ ...g, lines: [{ ...g.lines[0], cell: 9 }] })),
    lie((g) => ({ ...g, seats: { X: 1, O: 1 } })),
    lie((g) => ({ ...g, result: { winner: 'O' } })),
    lie((g) => ({ ...g, result: null, turn: 'O' })),
    lie((g) => ({ ...g, result: null, turn: null, board: Array(9).fill(null) })),
    lie((g) => ({ ...g, seats: { X: 1, O: null }, result: null, turn: 'X', board: Array(9).fill(null) })),
    lie((g) => ({ ...g, round: 0 })),
  ];
  for (const state of lies) {
    expect(asGame(state), JSON.stringify(state)).toBeNull();
    expect(fold(won, snapshot(state))).toEqual(newGame());
  }
});

test('a seated player back under a new ID keeps its seat and plays on; the old ID cannot', () => {
  const renamed = { kind: 'renamed', index: ++index, from: 2, to: 7 } as LogItem;
  const midway = play(
    [1, { t: 'sit', seat: 'X' }],
    [2, { t: 'sit', seat: 'O' }],
    [1, { t: 'move', cell: 4, id: 'a' }],
  );
  const g = fold(midway, renamed);
  expect(g.seats).toEqual({ X: 1, O: 7 });
  expect(fold(g, app(2, { t: 'move', cell: 0, id: 'b' })).lines.at(-1)?.ignored).toBe('not seated');
  expect(fold(g, app(7, { t: 'move', cell: 0, id: 'b' })).board[0]).toBe('O');
  // A spectator's new name changes nothing, and a seated player takes no second seat by claiming one.
  expect(fold(midway, { ...renamed, from: 3 } as LogItem)).toEqual(midway);
  expect(fold(midway, { ...renamed, from: 2, to: 1 } as LogItem)).toEqual(midway);
});

test("a spectator's impossible moves leave a snapshot every tab can start from", () => {
  let g = play([1, { t: 'sit', seat: 'X' }], [2, { t: 'sit', seat: 'O' }]);
  for (const cell of [-1, 9, 1e300, 1.5]) g = fold(g, app(3, { t: 'move', cell, id: `s${cell}` }));
  expect(g.lines.slice(-4).map((l) => [l.cell, l.ignored])).toEqual(Array(4).fill([null, 'no such cell']));
  expect(asGame(JSON.parse(JSON.stringify(g)))).toEqual(g);
});

test('any log, honest or not, snapshotted at any point, gives a game asGame takes whole', () => {
  const honest = fc.oneof(
    fc.record({ t: fc.constant('sit'), seat: fc.constantFrom('X', 'O') }),
    fc.record({
      t: fc.constant('move'),
      cell: fc.integer({ min: 0, max: 8 }),
      id: fc.string({ minLength: 1, maxLength: 8 }),
    }),
    fc.constant({ t: 'new-round' }),
  );
  const data = fc.oneof(
    honest,
    fc.jsonValue(),
    fc.record({ t: fc.constant('move'), cell: fc.oneof(fc.integer(), fc.double()), id: fc.jsonValue() }),
    fc.record({ t: fc.string({ maxLength: 30 }) }),
  );
  const step = fc.oneof(
    { weight: 20, arbitrary: fc.record({ by: fc.integer({ min: 1, max: 4 }), data, steer: fc.boolean() }) },
    {
      weight: 1,
      arbitrary: fc.record({ from: fc.integer({ min: 1, max: 6 }), to: fc.integer({ min: 1, max: 8 }) }),
    },
    { weight: 2, arbitrary: fc.constant('snapshot' as const) },
  );
  fc.assert(
    fc.property(fc.array(step, { minLength: 20, maxLength: 300 }), (steps) => {
      let g = newGame();
      for (const s of steps) {
        if (s === 'snapshot') {
          const state = JSON.parse(JSON.stringify(g));
          expect(asGame(state)).toEqual(state);
          g = fold(g, snapshot(state));
        } else if ('from' in s) g = fold(g, { kind: 'renamed', index: ++index, ...s } as LogItem);
        else {
          // Half the moves are steered to the player whose turn it is and a free cell, so rounds end.
          const d = s.data as { t?: unknown; cell?: number };
          const turn = g.turn;
          const steer = s.steer && turn !== null && d?.t === 'move' && typeof d.cell === 'number';
          const cell = steer ? g.board.indexOf(null) : d?.cell;
          g = fold(
            g,
            app(steer ? g.seats[turn]! : s.by, steer ? { ...d, cell } : (d as Record<string, unknown>)),
          );
        }
      }
    }),
    { numRuns: 300 },
  );
});
