import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { isQuorum, missing } from './quorum.ts';

// Table-driven, after etcd-raft's quorum/testdata: each case is `voters | votes | aliases -> result`.
const table = readFileSync(new URL('./testdata/quorum.txt', import.meta.url), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

const ids = (s: string) => (s.trim() ? s.trim().split(/\s+/).map(Number) : []);

describe('isQuorum', () => {
  test.each(table)('%s', (line) => {
    const [lhs, rhs] = line.split('->');
    const [voters, votes, aliases = ''] = lhs!.split('|');
    const alias = new Map(
      aliases
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map((pair) => pair.split('=').map(Number) as [number, number]),
    );
    const slotOf = (id: number) => alias.get(id) ?? id;
    expect(isQuorum(ids(votes!), ids(voters!), slotOf)).toBe(rhs!.trim() === 'yes');
  });
});

describe('missing', () => {
  test('names the absent voters, lowest first, and how many are needed', () => {
    expect(missing([1, 9], [5, 4, 1, 2, 3])).toEqual({ needed: 3, have: 1, absent: [2, 3, 4, 5] });
  });
});
