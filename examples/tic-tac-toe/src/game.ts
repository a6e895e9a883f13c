// The whole game is a fold over the room's agreed log: every player applies the same items in the same
// order, so every player computes the same game. Nothing else is synced. An entry anyone may propose (a
// console can propose anything) is checked here, the same way by everyone: a move out of turn, by a
// spectator, on a taken cell or after the end is kept in the log of moves as ignored, and changes nothing.
// A snapshot item carries a whole Game (one some player folded), which replaces ours.

import type { LogItem, PlayerId } from 'lockstep';

export type Seat = 'X' | 'O';

/** What players propose. */
export type Action = { t: 'sit'; seat: Seat } | { t: 'move'; cell: number; id: string } | { t: 'new-round' };

/** One app entry of the log as the game read it: applied, or ignored and why. */
export interface Line {
  /** Log position. */
  index: number;
  offset: number;
  /** The term of the leader that committed it. */
  term: number;
  by: PlayerId;
  t: string;
  round: number;
  /** The seat it was made for (moves and sits). */
  seat: Seat | null;
  cell: number | null;
  id: string | null;
  /** null: applied; otherwise why everyone ignored it. */
  ignored: string | null;
}

/** The lines a game keeps: the fold drops older ones, so a snapshot of it stays far under 64 KB. */
export const MAX_LINES = 100;

export interface Game {
  seats: Record<Seat, PlayerId | null>;
  round: number;
  board: (Seat | null)[];
  /** Whose move it is: null until both seats are taken, and once the round is over. */
  turn: Seat | null;
  /** The round's end: a winner, or a draw (null winner). */
  result: { winner: Seat | null } | null;
  score: { X: number; O: number; draws: number };
  /** The last MAX_LINES app values as the game read them, oldest first. */
  lines: Line[];
}

const WINS = [
  [0, 1, 2],
  [3, 4, 5],
  [6, 7, 8],
  [0, 3, 6],
  [1, 4, 7],
  [2, 5, 8],
  [0, 4, 8],
  [2, 4, 6],
];

export const newGame = (): Game => ({
  seats: { X: null, O: null },
  round: 1,
  board: Array(9).fill(null),
  turn: null,
  result: null,
  score: { X: 0, O: 0, draws: 0 },
  lines: [],
});

/** `lines` and one more, without the oldest beyond MAX_LINES. */
const keep = (lines: Line[], line: Line): Line[] => [...lines.slice(-(MAX_LINES - 1)), line];

/** X opens odd rounds, O even ones. */
const opener = (round: number): Seat => (round % 2 === 1 ? 'X' : 'O');

const isSeat = (v: unknown): v is Seat => v === 'X' || v === 'O';

const seatOf = (g: Game, id: PlayerId): Seat | null =>
  g.seats.X === id ? 'X' : g.seats.O === id ? 'O' : null;

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

const isId = (v: unknown): v is PlayerId => Number.isSafeInteger(v) && (v as number) > 0;
const isText = (v: unknown, max: number): v is string => typeof v === 'string' && v.length <= max;
const orNull = <T>(v: unknown, is: (v: unknown) => v is T): v is T | null => v === null || is(v);
const isCell = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 8;
const wins = (board: readonly (Seat | null)[], seat: Seat) =>
  WINS.some((w) => w.every((i) => board[i] === seat));

/** A line as this fold writes them: every field of the type it has, so the page can show it as it is. */
const isLine = (l: unknown): l is Line => {
  const x = l as Record<string, unknown> | null;
  return (
    typeof x === 'object' &&
    x !== null &&
    isId(x.index) &&
    isCount(x.offset) &&
    isCount(x.term) &&
    isId(x.by) &&
    isText(x.t, 20) &&
    isId(x.round) &&
    orNull(x.seat, isSeat) &&
    orNull(x.cell, isCell) &&
    orNull(x.id, (v): v is string => isText(v, 32)) &&
    orNull(x.ignored, (v): v is string => isText(v, 40))
  );
};

/**
 * A snapshot's state as a Game, or null: it is another player's fold (a lying leader's, maybe), so it is
 * checked like a move, down to each line's fields and a game that could be played on from.
 */
export function asGame(state: unknown): Game | null {
  const g = state as Game | null;
  if (typeof g !== 'object' || g === null) return null;
  const shaped =
    typeof g.seats === 'object' &&
    g.seats !== null &&
    orNull(g.seats.X, isId) &&
    orNull(g.seats.O, isId) &&
    isId(g.round) &&
    Array.isArray(g.board) &&
    g.board.length === 9 &&
    g.board.every((c) => c === null || isSeat(c)) &&
    orNull(g.turn, isSeat) &&
    (g.result === null ||
      (typeof g.result === 'object' && (g.result.winner === null || isSeat(g.result.winner)))) &&
    typeof g.score === 'object' &&
    g.score !== null &&
    isCount(g.score.X) &&
    isCount(g.score.O) &&
    isCount(g.score.draws) &&
    Array.isArray(g.lines) &&
    g.lines.length <= MAX_LINES &&
    g.lines.every(isLine);
  if (!shaped) return null;
  // One player in both seats, a round that never ends, or a result the board does not show would leave
  // the room stuck (or lying) for good.
  const both = g.seats.X !== null && g.seats.O !== null;
  const over = wins(g.board, 'X') || wins(g.board, 'O') || g.board.every((c) => c !== null);
  const seated = !both || g.seats.X !== g.seats.O;
  const turn = g.result === null && both ? g.turn !== null : g.turn === null;
  const result =
    g.result === null
      ? !over
      : g.result.winner === null
        ? over && !wins(g.board, 'X') && !wins(g.board, 'O')
        : wins(g.board, g.result.winner);
  return seated && turn && result ? g : null;
}

/** The game after one more log item. Pure: the same game and item give the same result everywhere. */
export function fold(g: Game, item: LogItem): Game {
  // The log up to here is gone, and this is the game it folded to (a lying leader's would be its lie).
  if (item.kind === 'snapshot') return asGame(item.state) ?? newGame();
  // A seated player back under a new ID (its session expired, the server restarted) keeps its seat. Not onto
  // a player seated already: the new name is its own claim, and one player in both seats would stick the room.
  if (item.kind === 'renamed') {
    const seat = seatOf(g, item.from);
    return seat && seatOf(g, item.to) === null ? { ...g, seats: { ...g.seats, [seat]: item.to } } : g;
  }
  if (item.kind !== 'app') return g; // stages mean nothing to this game
  const d = (typeof item.data === 'object' && item.data !== null ? item.data : {}) as Record<string, unknown>;
  const line: Line = {
    index: item.index,
    offset: item.offset,
    term: item.term,
    by: item.by,
    t: typeof d.t === 'string' ? d.t.slice(0, 20) : '?',
    round: g.round,
    seat: seatOf(g, item.by),
    cell: null,
    id: null,
    ignored: null,
  };
  const ignore = (why: string): Game => ({ ...g, lines: keep(g.lines, { ...line, ignored: why }) });
  const apply = (next: Partial<Game>): Game => ({ ...g, ...next, lines: keep(g.lines, line) });

  if (d.t === 'sit') {
    if (!isSeat(d.seat)) return ignore('no such seat');
    line.seat = d.seat;
    if (g.seats[d.seat] !== null) return ignore('seat taken');
    if (seatOf(g, item.by) !== null) return ignore('already seated');
    const seats = { ...g.seats, [d.seat]: item.by };
    const both = seats.X !== null && seats.O !== null;
    return apply({ seats, turn: both ? opener(g.round) : null });
  }

  if (d.t === 'move') {
    // Only a cell there is goes in the move log: a snapshot of it must pass asGame (isLine) everywhere.
    line.cell = isCell(d.cell) ? d.cell : null;
    line.id = typeof d.id === 'string' ? d.id.slice(0, 32) : null;
    if (line.cell === null) return ignore('no such cell');
    if (line.id === null) return ignore('no id');
    // The log applies a retried proposal once; were it ever to apply one twice, this says so (within the
    // lines kept: every player keeps the same ones, so all alike).
    if (g.lines.some((l) => l.t === 'move' && l.id === line.id && l.by === line.by))
      return ignore('duplicate id');
    if (line.seat === null) return ignore('not seated');
    if (g.result) return ignore('round over');
    if (g.turn !== line.seat) return ignore('not your turn');
    if (g.board[line.cell] !== null) return ignore('cell taken');
    const board = g.board.map((c, i) => (i === line.cell ? line.seat : c));
    const won = wins(board, line.seat);
    const full = board.every((c) => c !== null);
    if (won || full) {
      const winner = won ? line.seat : null;
      const score = {
        ...g.score,
        ...(winner ? { [winner]: g.score[winner] + 1 } : { draws: g.score.draws + 1 }),
      };
      return apply({ board, turn: null, result: { winner }, score });
    }
    return apply({ board, turn: line.seat === 'X' ? 'O' : 'X' });
  }

  if (d.t === 'new-round') {
    if (line.seat === null) return ignore('not seated');
    if (!g.result) return ignore('round not over');
    const round = g.round + 1;
    return apply({ round, board: Array(9).fill(null), turn: opener(round), result: null });
  }

  return ignore('unknown action');
}

/** Moves applied in the current round. */
export const moveCount = (g: Game): number => g.board.filter((c) => c !== null).length;
