// The core's peer messages: the schemas are the contract, and the core's types are inferred from them.
// Each array is bounded before its items are read, and unknown fields are dropped, so nothing unchecked
// or oversized reaches the core.

import * as v from 'valibot';
import { describeIssues, record } from './issues.ts';
import { LIMITS } from './limits.ts';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

const integer = (min: number, max: number, message: string) =>
  v.pipe(
    v.number(message),
    v.check((n) => Number.isSafeInteger(n) && n >= min && n <= max, message),
  );

const nat = (max = MAX_SAFE) => integer(0, max, `must be an integer in [0, ${max}]`);

/** A player ID: a positive integer the signaling server hands out in join order, never reused while the room lives (a room opened anew starts again from 1). */
const playerId = integer(1, LIMITS.playerId.max, 'must be a player ID');
const listedId = integer(1, LIMITS.playerId.max, 'holds a bad ID');

/** Bounds the array before any item is parsed: junk is refused without the work of reading it. */
function bounded<T extends v.GenericSchema>(item: T, max: number, message: string) {
  return v.pipe(v.array(v.unknown(), message), v.maxLength(max, message), v.array(item));
}

const ids = () =>
  bounded(listedId, LIMITS.idsPerList, `must be an array of at most ${LIMITS.idsPerList} IDs`);

const hash = v.pipe(v.string('must be an entry hash'), v.regex(/^[0-9a-z]{1,16}$/, 'must be an entry hash'));

/** UTF-8 bytes of `s`: the relay's cap is in bytes, and one character may take four. */
export function utf8Bytes(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** `x` as JSON, or null when it is not JSON (undefined, a function, a BigInt, a cycle). */
export function toJson(x: unknown): string | null {
  try {
    return JSON.stringify(x) ?? null;
  } catch {
    return null;
  }
}

/** UTF-8 bytes of `x` as JSON (infinite when it is not JSON). */
export function jsonBytes(x: unknown): number {
  const json = toJson(x);
  return json === null ? Number.POSITIVE_INFINITY : utf8Bytes(json);
}

/**
 * An app value: JSON of at most LIMITS.app.dataBytes, and what JSON makes of it. A frame may hold what
 * JSON cannot say again (1e999 parses as Infinity, which JSON writes as null; -0 as 0): the leader would
 * then hash one value and its followers another, so everyone keeps the round-tripped one.
 */
const appData = v.pipe(
  v.unknown(),
  v.check(
    (d) => d !== undefined && jsonBytes(d) <= LIMITS.app.dataBytes,
    `must be a JSON value of at most ${LIMITS.app.dataBytes} bytes`,
  ),
  v.transform((d) => JSON.parse(JSON.stringify(d)) as unknown),
);

/** A proposer's page session: random, so a retry after failover is known as the same proposal. */
const clientId = v.pipe(v.string('must be a client ID'), v.regex(/^[0-9a-z]{1,16}$/, 'must be a client ID'));

/** A new page session ID: 12 base-36 digits (62 bits), so nobody can guess one before it is in the log. */
export function newClientId(random: () => number): string {
  return Array.from({ length: 12 }, () => Math.floor(random() * 36).toString(36)).join('');
}

/**
 * One app value in the log: `by` is the player whose channel it came in on (the leader writes it, the
 * proposer cannot), and (`c`, `seq`) names the proposal, so a retry applies once (docs/protocol.md).
 */
export const opSchema = record({
  by: playerId,
  c: clientId,
  seq: integer(1, MAX_SAFE, 'must be a proposal number'),
  data: appData,
});
export type Op = v.InferOutput<typeof opSchema>;

const increasing = (list: unknown) =>
  Array.isArray(list) && list.every((x, i) => i === 0 || (x as number) > (list[i - 1] as number));

/**
 * One committed log entry, at position `index` (from 1), decided in `term`. A `stage` entry advances the
 * room to `stage` with Done from `done`; a `members` entry changes the agreed membership by one player
 * and leaves the stage as it was; an `app` entry carries the app's own values (`ops`) and changes neither. `members` is the agreed membership from this entry on: later quorums
 * must still hold a majority of it.
 */
export const entrySchema = v.pipe(
  record({
    index: integer(1, MAX_SAFE, 'must be at least 1'),
    kind: v.picklist(['stage', 'members', 'app'], 'must be "stage", "members" or "app"'),
    stage: nat(),
    term: nat(),
    done: ids(),
    members: ids(),
    /** An `app` entry's values, in the order they apply (and only there). */
    ops: v.optional(
      bounded(
        opSchema,
        LIMITS.app.opsPerEntry,
        `must be an array of at most ${LIMITS.app.opsPerEntry} values`,
      ),
    ),
    /** Chains the entry to the log before it (core/chain.ts): a forked or spliced log does not apply. */
    hash,
  }),
  // The protocol writes both lists sorted and without repeats; anything else is forged.
  v.forward(
    v.check((e) => increasing(e.members), 'must be in increasing order without repeats'),
    ['members'],
  ),
  v.forward(
    v.check((e) => increasing(e.done), 'must be in increasing order without repeats'),
    ['done'],
  ),
  v.forward(
    v.check((e) => e.kind !== 'stage' || e.stage >= 1, 'must reach stage 1 or later in a stage entry'),
    ['stage'],
  ),
  v.forward(
    v.check(
      (e) => (e.kind === 'app') === (e.ops !== undefined && e.ops.length > 0),
      'must be a non-empty list in an app entry, and only there',
    ),
    ['ops'],
  ),
  v.forward(
    v.check(
      (e) => e.ops === undefined || jsonBytes(e.ops) <= LIMITS.app.entryBytes,
      `must hold at most ${LIMITS.app.entryBytes} bytes of JSON`,
    ),
    ['ops'],
  ),
);
export type Entry = v.InferOutput<typeof entrySchema>;

const entries = () =>
  bounded(
    entrySchema,
    LIMITS.entriesPerMessage,
    `must be an array of at most ${LIMITS.entriesPerMessage} entries`,
  );

/**
 * A log's base as a snapshot carries it (core/log.ts Base), once its parts are joined: the last entry it
 * covers, the stage entries up to it, old names, each page session's last number, its player, where
 * that player's run of numbers began and the runs before it, and the app's state (round-tripped through JSON, as app values are).
 */
export const baseSchema = record({
  entry: entrySchema,
  stages: bounded(entrySchema, LIMITS.stages.max, `must be an array of at most ${LIMITS.stages.max} entries`),
  names: ids(),
  /**
   * Who handed this state on, hop by hop (each receiver adds its sender): the state is their word alone, so
   * once the owner removes one of them it is taken again from a peer whose base does not name them.
   */
  via: v.optional(ids()),
  app: bounded(
    v.pipe(
      // Then the earlier runs' [by, since] pairs, flat (AppBook); an older build drops them.
      v.tupleWithRest(
        [
          clientId,
          integer(1, MAX_SAFE, 'must be a proposal number'),
          playerId,
          integer(1, MAX_SAFE, 'must be a proposal number'),
        ],
        integer(1, MAX_SAFE, 'must be a player ID or a proposal number'),
      ),
      v.check(
        (t) => t.length % 2 === 0 && t.length <= 4 + 2 * LIMITS.app.earlierRuns,
        `must hold at most ${LIMITS.app.earlierRuns} earlier runs as [player, number] pairs`,
      ),
    ),
    LIMITS.snapshot.clients,
    `must be an array of at most ${LIMITS.snapshot.clients} page sessions`,
  ),
  state: v.pipe(
    v.unknown(),
    v.check(
      (d) => d !== undefined && jsonBytes(d) <= LIMITS.snapshot.stateBytes,
      `must be a JSON value of at most ${LIMITS.snapshot.stateBytes} bytes`,
    ),
    v.transform((d) => JSON.parse(JSON.stringify(d)) as unknown),
  ),
});
export type WireBase = v.InferOutput<typeof baseSchema>;

/** A snapshot's joined parts as a base, checked against the index and hash every part named. */
export function parseBase(
  json: string,
  index: number,
  hash: string,
): { ok: true; base: WireBase } | { ok: false; error: string } {
  let x: unknown;
  try {
    x = JSON.parse(json);
  } catch {
    return { ok: false, error: 'snapshot is not JSON' };
  }
  const r = v.safeParse(baseSchema, x);
  if (!r.success) return { ok: false, error: describeIssues(r.issues, 'snapshot') };
  if (r.output.entry.index !== index || r.output.entry.hash !== hash)
    return { ok: false, error: `snapshot's entry is not entry ${index} (${hash}) as its parts say` };
  return { ok: true, base: r.output };
}

/** A value a leader asked the group to accept for the next slot; `ballot` is that leader's term. */
export const proposalSchema = record({ ballot: nat(), entry: entrySchema });
export type Proposal = v.InferOutput<typeof proposalSchema>;

/**
 * A voter's last word when it leaves for good (the Leave button): it will never vote again, and this is
 * the state it leaves with, so the others may count the room without it (docs/protocol.md, "Leaving").
 */
export const retirementSchema = record({
  id: playerId,
  term: nat(),
  /** Its log ended here: a receiver retires it only when its own log holds that entry. */
  index: nat(),
  hash,
  accepted: v.nullable(proposalSchema),
});
export type WireRetirement = v.InferOutput<typeof retirementSchema>;

const retirements = () =>
  bounded(retirementSchema, LIMITS.idsPerList, `must be an array of at most ${LIMITS.idsPerList}`);

/** What the leader reports about the current stage, piggybacked on its heartbeats. */
export const tallySchema = v.pipe(
  record({
    stage: nat(),
    done: ids(),
    live: ids(),
    /** Ticks since the leader last heard each of `live`, in the same order (absent: just now). */
    silent: v.optional(
      bounded(
        integer(0, LIMITS.ageTicks, `holds a bad age (integers in [0, ${LIMITS.ageTicks}])`),
        LIMITS.idsPerList,
        'must be an array as long as tally.live',
      ),
    ),
    members: nat(),
  }),
  v.forward(
    v.check(
      (t) => t.silent === undefined || t.silent.length === t.live.length,
      'must be an array as long as tally.live',
    ),
    ['silent'],
  ),
);
export type Tally = v.InferOutput<typeof tallySchema>;

const termOnly = <T extends string>(t: T) => record({ t: v.literal(t), term: nat() });

/** Every message by its `t`. */
export const messageSchemas = {
  /**
   * Liveness, plus the sender's view (its Done doubles as a DONE retransmission). From the leader to all;
   * from a follower to its leader only, or to all while it has no live leader.
   */
  hb: record({
    t: v.literal('hb'),
    term: nat(),
    leader: nat(LIMITS.playerId.max),
    stage: nat(),
    index: nat(),
    done: v.boolean('must be a boolean'),
    init: v.boolean('must be a boolean'),
    /** The sender's last entry hash: catch-up follows the chain, not the length. */
    hash,
    tally: v.optional(tallySchema),
    /** The voter slot this ID continues (a tab whose session expired, or a server that restarted). */
    was: v.optional(playerId),
    /** Voters the sender knows left for good, until a committed entry removes them. */
    retired: v.optional(retirements()),
    /** The highest ID the sender can place (the room issued it): a leader adds a voter every live voter can place. */
    issued: v.optional(playerId),
  }),
  /** "I suspect the leader; you are lower, are you alive?" */
  election: termOnly('election'),
  answer: termOnly('answer'),
  /** "I lead `term`": a promise request (Paxos phase 1a). */
  coordinator: termOnly('coordinator'),
  /** A promise for `term` (phase 1b): the follower's committed history, Done and any accepted proposal. */
  report: record({
    t: v.literal('report'),
    term: nat(),
    done: v.boolean('must be a boolean'),
    init: v.boolean('must be a boolean'),
    history: entries(),
    accepted: v.nullable(proposalSchema),
  }),
  done: record({
    t: v.literal('done'),
    term: nat(),
    stage: nat(),
    done: v.boolean('must be a boolean'),
  }),
  /** Phase 2a: accept `entry` as the next stage transition, under ballot `term`. */
  accept: record({ t: v.literal('accept'), term: nat(), entry: entrySchema }),
  accepted: record({ t: v.literal('accepted'), term: nat(), index: nat() }),
  /** The entry is committed: apply it. */
  advance: record({ t: v.literal('advance'), term: nat(), entry: entrySchema }),
  /** "Your term is stale": fences an old leader or candidate. */
  reject: termOnly('reject'),
  /** "I hold `index` entries, send me the rest": catch-up from any peer, committed entries are facts. */
  sync: record({ t: v.literal('sync'), index: nat(), hash }),
  history: record({ t: v.literal('history'), entries: entries() }),
  /**
   * App values for the leader to put in the log: every value page session `c` still waits for, from `seq`
   * on (repeated until committed, so a new leader gets them too). The leader writes the sender as `by`.
   */
  op: record({
    t: v.literal('op'),
    c: clientId,
    ops: bounded(
      record({ seq: integer(1, MAX_SAFE, 'must be a proposal number'), data: appData }),
      LIMITS.app.opsPerEntry,
      `must be an array of at most ${LIMITS.app.opsPerEntry} values`,
    ),
  }),
  /**
   * The answer to a sync from below the sender's snapshot: its base as JSON (parseBase), in `parts` parts
   * sent in order; the history after it follows a sync from there.
   */
  snapshot: record({
    t: v.literal('snapshot'),
    index: integer(1, MAX_SAFE, 'must be at least 1'),
    hash,
    part: nat(LIMITS.snapshot.parts - 1),
    parts: integer(1, LIMITS.snapshot.parts, `must be an integer in [1, ${LIMITS.snapshot.parts}]`),
    data: v.pipe(
      v.string('must be a string'),
      v.check((d) => utf8Bytes(d) <= LIMITS.historyBytes, `must be at most ${LIMITS.historyBytes} bytes`),
    ),
  }),
  /** The tab is closing (or reloading): suspect me now instead of after a timeout. Only a hint. */
  bye: record({ t: v.literal('bye') }),
  /** Leaving for good (the Leave button): my final state, and the entries the receiver lacks. */
  leave: record({
    t: v.literal('leave'),
    term: nat(),
    index: nat(),
    hash,
    accepted: v.nullable(proposalSchema),
    entries: entries(),
    /** The retirements the leaver knows: its knowledge must not leave with it. */
    retired: v.optional(retirements()),
    /** The slot the leaver continues, if the log does not record it yet. */
    was: v.optional(playerId),
  }),
};

export type MessageType = keyof typeof messageSchemas;
export type Message = { [T in MessageType]: v.InferOutput<(typeof messageSchemas)[T]> }[MessageType];

export type Parsed = { ok: true; msg: Message } | { ok: false; error: string };

/** Validates a message from the network into the core's types. */
export function parseMessage(x: unknown): Parsed {
  if (typeof x !== 'object' || x === null || Array.isArray(x))
    return { ok: false, error: 'message must be an object' };
  const t = (x as { t?: unknown }).t;
  if (typeof t !== 'string' || !Object.hasOwn(messageSchemas, t))
    return { ok: false, error: `unknown message type ${JSON.stringify(String(t)).slice(0, 40)}` };
  const r = v.safeParse(messageSchemas[t as MessageType], x);
  return r.success ? { ok: true, msg: r.output } : { ok: false, error: describeIssues(r.issues, 'message') };
}
