// examples/tic-tac-toe from a fresh copy, built only against the packed library (e2e/examples.ts): a game
// whose whole state is the room's agreed log. Three tabs: the first is the leader and spectates, the others
// take X and O. The leader's renderer crashes while O's move is on its way to it, O reloads while X's move
// waits for it (no majority without O), and both rounds still end with the same board, log and score in
// every surviving tab: every move exactly once, and every invalid one ignored by all alike.

import type { Page } from '@playwright/test';
import { expect, test } from './examples.ts';
import { crashPlayer, openPage, type Player } from './kit.ts';

/** A Lockstep round trip through failover on a loaded 2-core machine: generous, still bounded. */
const SLOW = { timeout: 45_000 };

type Seat = 'X' | 'O';

/** The board as nine characters, `.` for an empty cell. */
const boardOf = (page: Page) =>
  page
    .locator('[data-testid^="cell-"]')
    .evaluateAll((els) => els.map((e) => e.textContent?.trim() || '.').join(''));

interface LogLine {
  index: string;
  offset: string;
  term: string;
  by: string;
  t: string;
  round: string;
  seat: string;
  cell: string;
  id: string;
  ignored: string;
}

const logOf = (page: Page) =>
  page.getByTestId('log-line').evaluateAll((els) =>
    els.map((e) => {
      const d = (e as HTMLElement).dataset;
      return {
        index: d.index ?? '',
        offset: d.offset ?? '',
        term: d.term ?? '',
        by: d.by ?? '',
        t: d.t ?? '',
        round: d.round ?? '',
        seat: d.seat ?? '',
        cell: d.cell ?? '',
        id: d.id ?? '',
        ignored: d.ignored ?? '',
      };
    }),
  ) as Promise<LogLine[]>;

test('tic-tac-toe, all state in the agreed log, survives a leader crash and a reload mid-game', async ({
  browser,
  example,
}) => {
  test.setTimeout(240_000);
  const { url } = await example('tic-tac-toe');
  const started = Date.now();
  const phase = (what: string) => console.log(`game: ${what} at +${Date.now() - started} ms`);
  const tabs: Player[] = [];
  try {
    // One after the other, so the IDs are 1, 2, 3 and the first is the leader.
    for (const [i, name] of ['Lead', 'Xavi', 'Olga'].entries()) {
      const p = await openPage(browser, `${url}/?room=ttt1&name=${name}`, name);
      tabs.push(p);
      await expect(p.page.getByTestId('me')).toHaveText(String(i + 1), SLOW);
    }
    const [lead, x, o] = tabs as [Player, Player, Player];
    for (const p of tabs) await expect(p.page.getByTestId('leader')).toHaveText('1', SLOW);
    let live = tabs;
    phase('three tabs joined, leader 1');

    // The board as the test expects it, and the moves it made, in order.
    let board = '.........';
    let round = 1;
    const played: { round: number; seat: Seat; cell: number }[] = [];
    /** Every live tab shows the expected board. */
    const expectBoard = async () => {
      for (const p of live) await expect.poll(() => boardOf(p.page), SLOW).toBe(board);
    };
    /** Clicks the cell once its button is enabled (our turn, nothing of ours waiting for the log). */
    const click = async (p: Player, seat: Seat, cell: number) => {
      const btn = p.page.getByTestId(`cell-${cell}`);
      await expect(btn).toBeEnabled(SLOW);
      await btn.click();
      played.push({ round, seat, cell });
      board = board.slice(0, cell) + seat + board.slice(cell + 1);
    };
    /** A move, and everyone sees it. */
    const move = async (p: Player, seat: Seat, cell: number) => {
      await click(p, seat, cell);
      await expectBoard();
    };
    /** A value proposed from the page's console hook: it commits, and every live tab ignores it for `why`. */
    const ignored: string[] = [];
    const proposeInvalid = async (p: Player, value: unknown, why: string) => {
      const at = await p.page.evaluate(
        (v) =>
          (
            window as unknown as {
              tictactoe: { propose(v: unknown): Promise<{ index: number; offset: number }> };
            }
          ).tictactoe.propose(v),
        value,
      );
      ignored.push(why);
      for (const q of live)
        await expect(
          q.page.locator(`[data-testid="log-line"][data-index="${at.index}"][data-offset="${at.offset}"]`),
        ).toHaveAttribute('data-ignored', why, SLOW);
    };

    // Seats: the first claim of each wins; the spectator's late claim is ignored.
    await x.page.getByTestId('sit-X').click();
    for (const p of live) await expect(p.page.getByTestId('seat-X')).toHaveText('2', SLOW);
    await o.page.getByTestId('sit-O').click();
    for (const p of live) {
      await expect(p.page.getByTestId('seat-O')).toHaveText('3', SLOW);
      await expect(p.page.getByTestId('turn')).toHaveText('X');
    }
    await expect(lead.page.getByTestId('seat')).toHaveText('spectator');
    await proposeInvalid(lead, { t: 'sit', seat: 'X' }, 'seat taken');
    await proposeInvalid(lead, { t: 'move', cell: 0, id: 'spectator' }, 'not seated');
    await proposeInvalid(o, { t: 'move', cell: 0, id: 'early' }, 'not your turn');
    phase('seated');

    await move(x, 'X', 4);
    await proposeInvalid(o, { t: 'move', cell: 4, id: 'taken' }, 'cell taken');

    // The leader's renderer dies at once (no goodbye), and O's move goes to it before anyone notices.
    await Promise.all([lead.page.waitForEvent('crash', SLOW), crashPlayer(lead)]);
    const crashed = Date.now();
    live = [x, o];
    await click(o, 'O', 1);
    await expectBoard();
    phase(`leader crashed; O's move committed ${Date.now() - crashed} ms after the crash`);
    for (const p of live) await expect(p.page.getByTestId('leader')).toHaveText('2', SLOW);

    await move(x, 'X', 0);
    await move(o, 'O', 8);

    // O reloads, and its new page is held at its script until X has moved: X (the leader now) is left
    // without a majority, so its move waits, uncommitted, and commits once O is back.
    let release = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    await o.page.route('**/assets/*.js', async (route) => {
      await held;
      await route.continue();
    });
    const reload = o.page.reload();
    await expect(x.page.getByTestId('quorum')).toBeVisible(SLOW);
    const before = board;
    await click(x, 'X', 6);
    await expect(x.page.getByTestId('pending')).toHaveText('1');
    expect(await boardOf(x.page)).toBe(before);
    const away = Date.now();
    release();
    await reload;
    await o.page.unrouteAll();
    await expect(o.page.getByTestId('me')).toHaveText('3', SLOW);
    await expect(o.page.getByTestId('seat')).toHaveText('O', SLOW);
    await expectBoard();
    phase(
      `O reloaded and replayed the log; X's move committed ${Date.now() - away} ms after O's page went on`,
    );

    await move(o, 'O', 2);
    await move(x, 'X', 3);
    for (const p of live) {
      await expect(p.page.getByTestId('result')).toHaveText('X', SLOW);
      await expect(p.page.getByTestId('score')).toHaveText('X 1 · O 0 · draws 0');
      await expect(p.page.getByTestId('turn')).toHaveCount(0);
    }
    await proposeInvalid(o, { t: 'move', cell: 5, id: 'late' }, 'round over');
    phase('round 1: X won');

    // Round 2: O opens, and wins.
    await x.page.getByTestId('new-round').click();
    round = 2;
    board = '.........';
    for (const p of live) {
      await expect(p.page.getByTestId('round')).toHaveText('2', SLOW);
      await expect(p.page.getByTestId('turn')).toHaveText('O');
    }
    await expectBoard();
    for (const [seat, cell] of [
      ['O', 0],
      ['X', 3],
      ['O', 1],
      ['X', 4],
      ['O', 2],
    ] as const)
      await move(seat === 'X' ? x : o, seat, cell);
    phase('round 2: O won');

    const logs = [];
    for (const p of live) {
      await expect(p.page.getByTestId('result')).toHaveText('O', SLOW);
      await expect(p.page.getByTestId('score')).toHaveText('X 1 · O 1 · draws 0');
      await expect(p.page.getByTestId('moves')).toHaveText('5');
      // Every proposal of this tab resolved (the reloaded page's count started again at 0).
      await expect(p.page.getByTestId('pending')).toHaveText('0', SLOW);
      await expect(p.page.getByTestId('propose-error')).toHaveCount(0);
      logs.push(await logOf(p.page));
    }
    const [log, other] = logs as [LogLine[], LogLine[]];
    // The same log in both tabs, item for item, and the same board.
    expect(other).toEqual(log);
    expect(await boardOf(o.page)).toBe(await boardOf(x.page));
    // Every move made is there exactly once, applied, in the order played; every invalid one ignored.
    const moves = log.filter((l) => l.t === 'move');
    const applied = moves.filter((l) => l.ignored === '');
    expect(applied.map((l) => ({ round: Number(l.round), seat: l.seat, cell: Number(l.cell) }))).toEqual(
      played,
    );
    const ids = moves.map((l) => `${l.by}:${l.id}`);
    expect(new Set(ids).size, `a move applied twice: ${ids.join(' ')}`).toBe(ids.length);
    expect(log.filter((l) => l.ignored !== '').map((l) => l.ignored)).toEqual(ignored);
    // O's move sent to the crashed leader was committed by the next one, in a later term.
    const termOf = (cell: number) =>
      Number(applied.find((l) => l.round === '1' && l.cell === String(cell))!.term);
    expect(termOf(1)).toBeGreaterThan(termOf(4));
    expect(log.filter((l) => l.t === 'sit' && l.ignored === '').map((l) => `${l.seat}:${l.by}`)).toEqual([
      'X:2',
      'O:3',
    ]);
    phase(`checked ${log.length} log items in both tabs`);
  } finally {
    for (const p of tabs) await p.context.close().catch(() => {});
  }
});
