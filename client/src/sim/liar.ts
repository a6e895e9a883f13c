import { seal, tipHash } from '../core/chain.ts';
import type { Entry, Id, Message, Player, Proposal, Rng } from '../core/index.ts';

/**
 * A hostile player's next lie to `target`: well-formed, and false in every way the protocol has a field
 * for. It reads the target's log (a strong liar: it knows what would chain), and mixes plausible lies
 * with absurd ones: huge and near terms, forged entries that do and do not keep the rules, histories
 * nobody asked for, messages meant for other roles, forged retirements and slot claims.
 */
export function lie(rng: Rng, self: Id, target: Player, members: readonly Id[]): Message {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.next() * xs.length)]!;
  const term = pickTerm(rng, target.currentTerm);
  // From its base's entry on, when it compacted: what a forged entry must chain onto is the same.
  const log = target.base ? [target.base.entry, ...target.entries] : target.entries;
  const length = target.length;
  const entry = () => forge(rng, log, members, self, term);
  const index = pick([length, length + 1, length + 5, Math.floor(rng.next() * 1000)]);
  const hash = rng.next() < 0.5 ? tipHash(log) : Math.floor(rng.next() * 1e9).toString(36);
  const someone = pick(members);
  const accepted = (): Proposal | null => (rng.next() < 0.5 ? null : { ballot: term, entry: entry() });
  switch (Math.floor(rng.next() * 16)) {
    case 15: {
      // App values: under a client ID the log already names for someone else (a replay), or under its own,
      // numbered next, far ahead or back, a few at a time.
      const clients = [...new Set(log.flatMap((e) => e.ops?.map((o) => o.c) ?? []))];
      const c = clients.length > 0 && rng.next() < 0.7 ? pick(clients) : `liar${self}`;
      const last = Math.max(
        0,
        ...log.flatMap((e) => e.ops?.filter((o) => o.c === c).map((o) => o.seq) ?? []),
      );
      const seq = pick([last + 1, last + 1, last + 2, last + 64, Math.max(1, last - 1)]);
      const n = 1 + Math.floor(rng.next() * 3);
      return {
        t: 'op',
        c,
        ops: Array.from({ length: n }, (_, i) => ({
          seq: seq + i,
          data: `lie${Math.floor(rng.next() * 1e9)}`,
        })),
      };
    }
    case 14:
      // Claim a longer log, so the target asks us (sync), then answer with a forged one.
      return rng.next() < 0.5
        ? {
            t: 'hb',
            term: target.currentTerm,
            leader: 0,
            stage: target.stage + 1,
            index: length + 3,
            done: false,
            init: true,
            hash,
          }
        : rng.next() < 0.5
          ? { t: 'history', entries: [entry(), ...(rng.next() < 0.5 ? [] : [entry()])] }
          : forgedSnapshot(rng, entry(), target);
    case 0:
      return { t: 'reject', term };
    case 1:
      return {
        t: 'hb',
        term,
        leader: pick([self, 0, someone]),
        stage: pick([target.stage, target.stage + 1, 999]),
        index,
        done: rng.next() < 0.5,
        init: rng.next() < 0.8,
        hash,
        ...(rng.next() < 0.3
          ? {
              tally: { stage: target.stage, done: [...members], live: [...members], members: members.length },
            }
          : {}),
        ...(rng.next() < 0.2 ? { was: someone } : {}),
        ...(rng.next() < 0.2
          ? { retired: [{ id: someone, term, index: length, hash: tipHash(log), accepted: accepted() }] }
          : {}),
        // What it can place: nothing, or far more than the room issued.
        ...(rng.next() < 0.5 ? { issued: pick([1, 2_000, 2 ** 31]) } : {}),
      };
    case 2:
      return { t: 'coordinator', term };
    case 3:
      return { t: 'election', term };
    case 4:
      return { t: 'answer', term };
    case 5:
      return {
        t: 'report',
        term,
        done: rng.next() < 0.5,
        init: true,
        history: rng.next() < 0.5 ? [entry()] : [],
        accepted: accepted(),
      };
    case 6:
      return { t: 'done', term, stage: pick([target.stage, target.stage + 1, 0]), done: true };
    case 7:
      return { t: 'accept', term, entry: entry() };
    case 8:
      return { t: 'accepted', term, index };
    case 9:
      return { t: 'advance', term, entry: entry() };
    case 10:
      return { t: 'sync', index: Math.floor(rng.next() * (length + 2)), hash };
    case 11: {
      const entries = [entry()];
      // A chain of forged entries, each on the last: a fast-forward through the stages.
      for (let i = 0, n = Math.floor(rng.next() * 4); i < n; i++)
        entries.push(forge(rng, [...log, ...entries], members, self, term));
      return { t: 'history', entries };
    }
    case 12:
      return {
        t: 'leave',
        term,
        index,
        hash,
        accepted: accepted(),
        entries: [entry()],
        ...(rng.next() < 0.5
          ? { retired: [{ id: someone, term, index: length, hash: tipHash(log), accepted: null }] }
          : {}),
        ...(rng.next() < 0.3 ? { was: someone } : {}),
      };
    default:
      return { t: 'bye' };
  }
}

/**
 * A base that ends in `entry` (lawful by chance), with a state and numbers of the liar's choosing, in one
 * part: what a lying authority could send a player that asked it for a sync from below its base.
 */
function forgedSnapshot(rng: Rng, entry: Entry, target: Player): Message {
  const stages = entry.kind === 'stage' || rng.next() < 0.5 ? (target.view().history as Entry[]) : [];
  const base = {
    entry,
    stages: entry.kind === 'stage' ? [...stages, entry] : stages,
    names: [],
    app: rng.next() < 0.5 ? [] : [['forged', 1 + Math.floor(rng.next() * 9), 1, 1]],
    state: [`lie${Math.floor(rng.next() * 1e9)}`],
  };
  return {
    t: 'snapshot',
    index: entry.index,
    hash: entry.hash,
    part: 0,
    parts: 1,
    data: JSON.stringify(base),
  };
}

function pickTerm(rng: Rng, near: number): number {
  const r = rng.next();
  if (r < 0.15) return Number.MAX_SAFE_INTEGER;
  if (r < 0.3) return Math.min(Number.MAX_SAFE_INTEGER, near + Math.floor(rng.next() * 2 ** 40));
  if (r < 0.5) return Math.max(0, near - Math.floor(rng.next() * 3));
  return near + Math.floor(rng.next() * 3);
}

/** An entry for the end of `log`: sealed so it chains, lawful or not by chance. */
function forge(rng: Rng, log: readonly Entry[], members: readonly Id[], self: Id, term: number): Entry {
  const last = log[log.length - 1];
  const stage = last?.stage ?? 0;
  const agreed = last?.members ?? [1];
  const r = rng.next();
  const kind = r < 0.5 ? 'stage' : r < 0.8 ? 'members' : 'app';
  // Any membership, for either kind: the rules say a stage entry keeps it and a members entry changes one.
  const m = rng.next();
  const forgedMembers =
    m < 0.6
      ? agreed
      : m < 0.7
        ? [self]
        : m < 0.8
          ? agreed.filter((id) => id !== members[0])
          : m < 0.9
            ? [...members]
            : [...agreed, 1_000 + Math.floor(rng.next() * 1_000)];
  const body = {
    index: (last?.index ?? 0) + (rng.next() < 0.9 ? 1 : 2),
    kind: kind as Entry['kind'],
    stage: kind === 'stage' ? (rng.next() < 0.7 ? stage + 1 : rng.next() < 0.5 ? stage + 2 : 999) : stage,
    term,
    done: rng.next() < 0.5 ? [...members] : [self],
    members: [...new Set(forgedMembers)].sort((a, b) => a - b),
  } as const;
  // Sealed onto the real tip most of the time: a liar that only sent garbage would test little.
  const prev = rng.next() < 0.85 ? tipHash(log) : 'x';
  // App values in another player's name, under a client ID the log already holds or a new one.
  const clients = [...new Set(log.flatMap((e) => e.ops?.map((o) => o.c) ?? []))];
  const ops =
    kind === 'app'
      ? [
          {
            by: members[Math.floor(rng.next() * members.length)] ?? self,
            c:
              clients.length > 0 && rng.next() < 0.7
                ? clients[Math.floor(rng.next() * clients.length)]!
                : 'forged',
            seq: 1 + Math.floor(rng.next() * 5),
            data: `lie${Math.floor(rng.next() * 1e9)}`,
          },
        ]
      : undefined;
  return seal(prev, {
    ...body,
    done: kind === 'app' ? [] : [...body.done],
    members: [...body.members],
    ...(ops ? { ops } : {}),
  });
}
