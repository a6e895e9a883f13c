import { describe, expect, it } from 'vitest';
import { check, type FaultSpan, type History, type Line, nativeCrashes } from './checker.ts';

const view = (at: number, slot: string, o: Partial<Line>): Line => ({
  at,
  slot,
  inst: 1,
  event: 'view',
  id: Number(slot.slice(1)),
  leader: 1,
  term: 1,
  stage: 0,
  role: 'follower',
  done: false,
  ...o,
});
const entry = (at: number, slot: string, index: number, stage: number, hash: string): Line => ({
  at,
  slot,
  inst: 1,
  event: 'entry',
  index,
  stage,
  hash,
});

/** Three players that agree throughout: p1 leads, everyone moves from stage 0 to 1. */
function clean(): Line[] {
  return [
    view(10, 'p1', { role: 'leader' }),
    view(11, 'p2', {}),
    view(12, 'p3', {}),
    view(20, 'p1', { role: 'leader', done: true }),
    view(21, 'p2', { done: true }),
    view(22, 'p3', { done: true }),
    entry(30, 'p1', 2, 1, 'h2'),
    view(30, 'p1', { role: 'leader', stage: 1 }),
    entry(31, 'p2', 2, 1, 'h2'),
    view(31, 'p2', { stage: 1 }),
    entry(32, 'p3', 2, 1, 'h2'),
    view(32, 'p3', { stage: 1 }),
  ];
}

const history = (lines: Line[], faults: FaultSpan[] = [], finalHeal: number | null = 25): History => ({
  lines,
  faults,
  finalHeal,
  agreeWithinMs: 1_000,
});
const rules = (h: History) => check(h).map((v) => v.rule);

describe('nemesis checker', () => {
  it('passes a clean history', () => {
    expect(check(history(clean()))).toEqual([]);
  });

  it('flags two leaders in one term, with both lines', () => {
    const v = check(history([...clean(), view(40, 'p2', { role: 'leader', leader: 2, stage: 1 })]));
    expect(v.map((x) => x.rule)).toContain('one-leader-per-term');
    const bad = v.find((x) => x.rule === 'one-leader-per-term');
    expect(bad?.proof).toHaveLength(2);
  });

  it('allows a new leader in a later term', () => {
    expect(
      rules(history([...clean(), view(40, 'p2', { role: 'leader', leader: 2, term: 2, stage: 1 })])),
    ).toEqual([]);
  });

  it('flags a stage that goes back, across a restart of the same slot', () => {
    expect(rules(history([...clean(), view(40, 'p3', { inst: 2, stage: 0 })]))).toContain('stage-monotonic');
  });

  it('flags a log that skips a stage', () => {
    expect(rules(history([...clean(), entry(40, 'p1', 3, 3, 'h3')]))).toContain('stage-skip');
  });

  it('flags two histories (one index, two hashes)', () => {
    const v = check(history([...clean(), entry(40, 'p3', 2, 1, 'other')]));
    expect(v.map((x) => x.rule)).toEqual(['one-history']);
    expect(v[0]?.proof.join('\n')).toContain('other');
  });

  it('flags both sides of a partition advancing, and not one side', () => {
    const lines: Line[] = [
      view(10, 'p1', { role: 'leader' }),
      view(11, 'p2', {}),
      view(12, 'p3', {}),
      view(5_000, 'p1', { role: 'leader', stage: 1 }),
    ];
    const cut: FaultSpan = {
      kind: 'partition-majority',
      start: 100,
      end: 9_000,
      detail: '',
      sides: [['p1', 'p2'], ['p3']],
    };
    expect(rules(history(lines, [cut], null))).toEqual([]);
    lines.push(view(6_000, 'p3', { role: 'leader', leader: 3, term: 2, stage: 1 }));
    expect(rules(history(lines, [cut], null))).toEqual(['one-side-advances']);
  });

  it('ignores what was already decided when a partition began', () => {
    const lines = [
      view(10, 'p1', { role: 'leader' }),
      view(500, 'p1', { role: 'leader', stage: 1 }),
      view(600, 'p3', { stage: 1 }),
    ];
    const cut: FaultSpan = {
      kind: 'partition-majority',
      start: 400,
      end: 9_000,
      detail: '',
      sides: [['p1', 'p2'], ['p3']],
    };
    expect(rules(history(lines, [cut], null))).toEqual([]);
  });

  it('flags a Done that a failover dropped', () => {
    const lines = [...clean().slice(0, 6), view(25, 'p2', { leader: 3, term: 2, done: false })];
    expect(rules(history(lines, [], null))).toEqual(['done-kept']);
  });

  it('flags players that do not agree after the final heal', () => {
    const lines = [...clean(), view(40, 'p3', { leader: 3, term: 2, role: 'leader', stage: 1 })];
    expect(rules(history(lines, [], 35))).toEqual(['agree-after-heal']);
    // A player whose process the harness ended is not waited for.
    lines.push({ at: 41, slot: 'p3', inst: 1, event: 'exit', expected: true, code: null, signal: 'SIGKILL' });
    expect(rules(history(lines, [], 35))).toEqual([]);
  });

  it('flags a player that exits on its own', () => {
    const lines = [
      ...clean(),
      { at: 50, slot: 'p2', inst: 1, event: 'exit', expected: false, code: 1, signal: null },
    ];
    expect(rules(history(lines))).toContain('no-exit-on-its-own');
  });

  it("reports a native crash of the harness's WebRTC apart; SIGABRT and exit codes stay violations", () => {
    const exit = (signal: string | null, code: number | null) => ({
      at: 50,
      slot: 'p2',
      inst: 1,
      event: 'exit',
      expected: false,
      code,
      signal,
    });
    const segv = [...clean(), exit('SIGSEGV', null)];
    expect(rules(history(segv))).not.toContain('no-exit-on-its-own');
    expect(nativeCrashes(segv)).toHaveLength(1);
    for (const other of [exit('SIGABRT', null), exit(null, 1)]) {
      expect(rules(history([...clean(), other]))).toContain('no-exit-on-its-own');
      expect(nativeCrashes([...clean(), other])).toEqual([]);
    }
  });
});
