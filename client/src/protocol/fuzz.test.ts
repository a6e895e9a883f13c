// Every parser of the wire, fed what a hostile peer, client or server could send (links: ui/route.test.ts): any JSON,
// binary, and valid messages with one value changed. None may throw, and each refusal must be a sentence a
// person can read: not empty, and not an echo of a 70,000-character input.
// Replays: FUZZ_SEED=S (the seed a failure prints) and FUZZ_RUNS=N for a longer search.

import fc from 'fast-check';
import * as v from 'valibot';
import { describe, expect, test } from 'vitest';
import { fuzzed, type Json, nearMisses } from '../sim/mutate.ts';
import { decodeFrame } from './frames.ts';
import { LIMITS } from './limits.ts';
import { messageSchemas, parseMessage } from './messages.ts';
import {
  ackFromServer,
  describeIssues,
  fromServer,
  joinedSchema,
  joinSchema,
  leaveSchema,
  relaySchema,
  removeSchema,
  serverEventSchemas,
  signalSchema,
} from './signaling.ts';

const settings = fuzzed(300);
/** Longer than any sentence we write, far shorter than what an attacker sends; a server's refusal at most. */
const READABLE = LIMITS.refusalChars;

function readable(error: string): void {
  expect(typeof error).toBe('string');
  expect(error.length).toBeGreaterThan(0);
  expect(error.length).toBeLessThanOrEqual(READABLE);
}

/** Anything socket.io or a data channel can deliver: JSON of any shape, or binary. */
const anyPayload: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue(),
  fc.string(),
  fc.uint8Array({ maxLength: 64 }),
  fc.dictionary(fc.string(), fc.jsonValue()),
);

const entry = {
  index: 2,
  kind: 'stage',
  stage: 1,
  term: 65_537,
  done: [1, 2, 3],
  members: [1, 2, 3],
  hash: 'zx81q2',
};
const retirement = { id: 4, term: 65_537, index: 2, hash: 'zx81q2', accepted: null };
/** One valid sample of every message type (the first test checks both). */
const MESSAGES: Json[] = [
  {
    t: 'hb',
    term: 65_537,
    leader: 1,
    stage: 1,
    index: 2,
    done: false,
    init: true,
    hash: 'zx81q2',
    issued: 3,
    was: 2,
    retired: [retirement],
    tally: { stage: 1, live: [1, 2, 3], silent: [0, 2, 1], done: [2], members: 3 },
  },
  { t: 'election', term: 65_538 },
  { t: 'answer', term: 65_538 },
  { t: 'coordinator', term: 65_538 },
  {
    t: 'report',
    term: 65_538,
    done: true,
    accepted: { ballot: 65_537, entry },
    init: true,
    history: [entry],
  },
  { t: 'done', term: 65_537, stage: 1, done: true },
  { t: 'accept', term: 65_537, entry },
  { t: 'accepted', term: 65_537, index: 2 },
  { t: 'advance', term: 65_537, entry },
  { t: 'reject', term: 70_000 },
  { t: 'sync', index: 1, hash: 'k3h9a0' },
  { t: 'history', entries: [entry] },
  { t: 'op', c: 'c1abcdef', ops: [{ seq: 1, data: { move: 4 } }] },
  { t: 'snapshot', index: 2, hash: 'zx81q2', part: 0, parts: 1, data: '{"entry":{}}' },
  { t: 'bye' },
  {
    t: 'leave',
    term: 65_537,
    index: 2,
    hash: 'zx81q2',
    accepted: null,
    entries: [entry],
    retired: [retirement],
    was: 2,
  },
];

describe('the wire, fuzzed', () => {
  test('core messages: near misses of every type are stepped or refused in a sentence, never thrown', () => {
    // Every type, each valid to start from, or the near misses test nothing but the first check.
    expect(new Set(MESSAGES.map((m) => (m as { t: string }).t))).toEqual(
      new Set(Object.keys(messageSchemas)),
    );
    for (const m of MESSAGES) expect(parseMessage(m), JSON.stringify(m)).toMatchObject({ ok: true });
    const valid = MESSAGES;
    fc.assert(
      fc.property(fc.oneof(anyPayload, nearMisses(valid)), (x) => {
        const r = parseMessage(x);
        if (!r.ok) readable(r.error);
        // What passes is plain data: the same after the wire's JSON, and valid again.
        else expect(parseMessage(JSON.parse(JSON.stringify(r.msg)))).toEqual(r);
      }),
      settings,
    );
  });

  test('data-channel frames: any text, and near misses of each kind', () => {
    const frames: Json[] = [
      { k: 'core', m: MESSAGES[0]! },
      { k: 'ping', t: 12.5, v: 7, a: true },
      { k: 'pong', t: 3, v: 7 },
      { k: 'app', n: 'chat.v1', d: { text: 'hi' } },
    ];
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          anyPayload,
          nearMisses(frames).map((f) => JSON.stringify(f)),
        ),
        (text) => {
          const r = decodeFrame(text);
          if (!r.ok) readable(r.error);
        },
      ),
      settings,
    );
  });

  const fromClient: [string, v.GenericSchema, Json[]][] = [
    [
      'join',
      joinSchema,
      [
        {
          v: 7,
          room: 'game-night',
          name: 'Ada',
          settings: { heartbeatMs: 250, timeoutMs: 1500, stages: ['A', 'B'] },
        },
        { v: 7, room: 'r1', name: 'Bo', token: 'a'.repeat(32), incarnation: 'abcdEFGH1234', floor: 9 },
      ],
    ],
    ['remove', removeSchema, [{ room: 'game-night', id: 4, ownerToken: 'b'.repeat(32) }]],
    ['leave', leaveSchema, [{}]],
    ['signal', signalSchema, [{ to: 2, data: { e: 'x1', d: { type: 'offer', sdp: 'v=0' } } }]],
    [
      'relay',
      relaySchema,
      [
        {
          frames: [
            { to: 2, data: '{"k":"core","m":{"t":"bye"}}' },
            { to: 3, data: '{"k":"ping","t":1}' },
          ],
        },
      ],
    ],
  ];
  test.each(fromClient)(
    'the server reads %s: any payload is taken or refused in a sentence',
    (event, schema, valid) => {
      for (const x of valid) expect(v.safeParse(schema, x).success).toBe(true);
      fc.assert(
        fc.property(fc.oneof(anyPayload, nearMisses(valid)), (x) => {
          const r = v.safeParse(schema, x);
          if (!r.success) readable(`${event}: ${describeIssues(r.issues)}`);
        }),
        settings,
      );
    },
  );

  const member = (id: number) => ({ id, name: `p${id}`, state: 'connected' });
  const roster = { room: 'r1', version: 4, members: [member(1), member(2)], removed: [3], issued: 3 };
  const fromServerCases: [string, v.GenericSchema<unknown, unknown>, Json[]][] = [
    ['roster', serverEventSchemas.roster, [roster]],
    [
      'signal',
      serverEventSchemas.signal,
      [{ from: 2, data: { e: 'x1', d: { type: 'answer', sdp: 'v=0' } } }],
    ],
    ['relay', serverEventSchemas.relay, [{ from: 2, data: '{"k":"core","m":{"t":"bye"}}' }]],
    ['shutdown', serverEventSchemas.shutdown, [{ reconnectInMs: 2000 }]],
    ['refused', serverEventSchemas.refused, [{ ok: false, code: 'rate_limited', error: 'slow down' }]],
  ];
  test.each(fromServerCases)(
    'a tab reads the server’s %s: anything else is reported, never thrown',
    (event, schema, valid) => {
      for (const x of valid) expect(fromServer(schema, x, event).ok).toBe(true);
      fc.assert(
        fc.property(fc.oneof(anyPayload, nearMisses(valid)), (x) => {
          const r = fromServer(schema, x, event);
          if (!r.ok) readable(r.error);
        }),
        settings,
      );
    },
  );

  test('a tab reads the join’s answer: a malformed one is a failure it can show', () => {
    const joined: Json[] = [
      {
        ok: true,
        id: 2,
        token: 'c'.repeat(32),
        resumed: false,
        roster,
        settings: { heartbeatMs: 250, timeoutMs: 1500, stages: ['A', 'B'] },
        incarnation: 'abcdEFGH1234',
      },
      { ok: false, code: 'room_full', error: 'this room is full' },
    ];
    fc.assert(
      fc.property(fc.oneof(anyPayload, nearMisses(joined)), (x) => {
        const r = ackFromServer(x, 'join', joinedSchema);
        if (!r.ok) readable(r.error);
      }),
      settings,
    );
  });

  test('what the fuzzing found: a refusal says something, and quotes little of what it refuses', () => {
    expect(ackFromServer({ ok: false, code: 'room_full', error: ' ' }, 'join')).toEqual({
      ok: false,
      code: 'room_full',
      error: 'the server refused (room_full)',
    });
    // An older server's long refusal keeps its code, and is cut to what a person reads.
    const long = ackFromServer({ ok: false, code: 'rate_limited', error: 'y'.repeat(1_000) }, 'join');
    expect(long).toMatchObject({ ok: false, code: 'rate_limited' });
    expect(!long.ok && long.error.length).toBe(LIMITS.refusalChars);
    const echo = fromServer(
      serverEventSchemas.refused,
      { ok: 'x'.repeat(70_000), code: 'a', error: 'b' },
      'refused',
    );
    expect(echo.ok).toBe(false);
    if (!echo.ok) expect(echo.error.length).toBeLessThan(250);
  });
});
