import { describe, expect, it } from 'vitest';
import type { View } from '../core/types.ts';
import { doneCount } from './selectors.ts';

const view = (over: Partial<View>): View =>
  ({
    self: 2,
    leader: 1,
    stage: 0,
    live: [1, 2],
    tally: { stage: 0, done: [1], live: [1, 2] },
    ...over,
  }) as View;

describe('doneCount', () => {
  it('reports the leader’s tally while the leader is heard', () => {
    expect(doneCount(view({}))).toEqual({ k: 1, n: 2, pending: [2], fromLeader: true });
    expect(doneCount(view({ self: 1, live: [1] }))).toMatchObject({ fromLeader: true });
  });

  it('drops a tally from a leader no longer heard: it would say the room waits for us', () => {
    expect(doneCount(view({ live: [2] }))).toEqual({ k: 0, n: 1, pending: [], fromLeader: false });
    expect(doneCount(view({ leader: 0 }))).toMatchObject({ fromLeader: false, pending: [] });
    // A tally for another stage is no word on this one.
    expect(doneCount(view({ stage: 1 }))).toMatchObject({ fromLeader: false });
  });
});
