// The checker: judges a nemesis run from what the players printed, each line stamped by the harness (`at`,
// ms since the run began) when it arrived. Pure: the runner feeds it, the unit tests feed it by hand.

/** One line a player printed (bench/peer.ts --json), or the harness's note that its process exited. */
export interface Line {
  at: number;
  /** The player's slot (its name): a restart under the same storage keeps the slot. */
  slot: string;
  /** Which process of the slot printed it: 1, then 2 after a restart, … */
  inst: number;
  event: string;
  id?: number;
  leader?: number;
  term?: number;
  stage?: number;
  role?: string;
  done?: boolean;
  index?: number;
  hash?: string;
  /** exit lines: did the harness end this process itself? */
  expected?: boolean;
  code?: number | null;
  signal?: string | null;
  error?: string;
}

export interface FaultSpan {
  kind: string;
  start: number;
  end: number;
  detail: string;
  /** For a partition into disjoint sides: the slots on each side. */
  sides?: string[][];
}

export interface History {
  lines: Line[];
  faults: FaultSpan[];
  /** When the last fault healed; null if the run ended before that. */
  finalHeal: number | null;
  /** How long after the final heal the running players have to agree. */
  agreeWithinMs: number;
}

export interface Violation {
  rule: string;
  message: string;
  /** The lines that prove it, as printed. */
  proof: string[];
}

/** Lines that arrive within this of a partition's start may still carry what was decided before it. */
export const PARTITION_SETTLE_MS = 1_000;

export const show = (l: Line): string => JSON.stringify(l);

export function check(h: History): Violation[] {
  const lines = [...h.lines].sort((a, b) => a.at - b.at);
  return [
    ...oneLeaderPerTerm(lines),
    ...stagesMoveByOne(lines),
    ...onePastHistory(lines),
    ...oneSideAdvances(lines, h.faults),
    ...donesKept(lines),
    ...agreeAfterHeal(lines, h),
    ...noneExitOnItsOwn(lines),
  ];
}

const views = (lines: Line[]) =>
  lines.filter((l) => l.event === 'view' && typeof l.stage === 'number' && typeof l.leader === 'number');

function oneLeaderPerTerm(lines: Line[]): Violation[] {
  const byTerm = new Map<number, Map<number, Line>>();
  for (const l of views(lines)) {
    if (l.role !== 'leader' || l.leader !== l.id || typeof l.term !== 'number') continue;
    const m = byTerm.get(l.term) ?? new Map<number, Line>();
    byTerm.set(l.term, m);
    if (!m.has(l.id as number)) m.set(l.id as number, l);
  }
  const out: Violation[] = [];
  for (const [term, m] of byTerm) {
    if (m.size > 1) {
      out.push({
        rule: 'one-leader-per-term',
        message: `term ${term} has ${m.size} leaders: ${[...m.keys()].join(', ')}`,
        proof: [...m.values()].map(show),
      });
    }
  }
  return out;
}

/** A slot's stage never goes back (its storage survives restarts), and the log's stages go up by one. */
function stagesMoveByOne(lines: Line[]): Violation[] {
  const out: Violation[] = [];
  const last = new Map<string, Line>();
  for (const l of views(lines)) {
    const prev = last.get(l.slot);
    if (prev && (l.stage as number) < (prev.stage as number)) {
      out.push({
        rule: 'stage-monotonic',
        message: `${l.slot} went back from stage ${prev.stage} to ${l.stage}`,
        proof: [show(prev), show(l)],
      });
    }
    last.set(l.slot, l);
  }
  const entries = new Map<number, Line>();
  for (const l of lines) {
    if (l.event === 'entry' && typeof l.index === 'number' && !entries.has(l.index)) entries.set(l.index, l);
  }
  let prev: Line | null = null;
  for (const index of [...entries.keys()].sort((a, b) => a - b)) {
    const e = entries.get(index) as Line;
    const want = prev ? (prev.stage as number) + 1 : 1;
    if (e.stage !== want) {
      out.push({
        rule: 'stage-skip',
        message: `log entry ${index} moves to stage ${e.stage}, not ${want}`,
        proof: [...(prev ? [show(prev)] : []), show(e)],
      });
    }
    prev = e;
  }
  return out;
}

/** Entry hashes chain the log, so one hash per index means every player's log is a prefix of one log. */
function onePastHistory(lines: Line[]): Violation[] {
  const seen = new Map<number, Line>();
  const out: Violation[] = [];
  const flagged = new Set<number>();
  for (const l of lines) {
    if (l.event !== 'entry' || typeof l.index !== 'number') continue;
    const first = seen.get(l.index);
    if (!first) seen.set(l.index, l);
    else if (first.hash !== l.hash && !flagged.has(l.index)) {
      flagged.add(l.index);
      out.push({
        rule: 'one-history',
        message: `log entry ${l.index} differs: ${first.slot} holds ${first.hash}, ${l.slot} holds ${l.hash}`,
        proof: [show(first), show(l)],
      });
    }
  }
  return out;
}

function oneSideAdvances(lines: Line[], faults: FaultSpan[]): Violation[] {
  const out: Violation[] = [];
  for (const f of faults) {
    if (!f.sides || f.sides.length < 2) continue;
    const settle = f.start + PARTITION_SETTLE_MS;
    let base = 0;
    for (const l of views(lines)) if (l.at <= settle) base = Math.max(base, l.stage as number);
    const advanced: Line[] = [];
    for (const side of f.sides) {
      const first = views(lines).find(
        (l) => l.at > settle && l.at <= f.end && side.includes(l.slot) && (l.stage as number) > base,
      );
      if (first) advanced.push(first);
    }
    if (advanced.length > 1) {
      out.push({
        rule: 'one-side-advances',
        message: `${f.kind} (${f.detail}) from ${f.start} to ${f.end} ms: ${advanced.length} sides went past stage ${base}`,
        proof: advanced.map(show),
      });
    }
  }
  return out;
}

/** Done, once a slot's own view shows it, holds until the stage moves on: a failover must not drop it. */
function donesKept(lines: Line[]): Violation[] {
  const out: Violation[] = [];
  const doneAt = new Map<string, Line>();
  for (const l of views(lines)) {
    const d = doneAt.get(l.slot);
    if (d && d.stage !== l.stage) doneAt.delete(l.slot);
    if (l.done) {
      if (!doneAt.has(l.slot)) doneAt.set(l.slot, l);
    } else if (d && d.stage === l.stage) {
      out.push({
        rule: 'done-kept',
        message: `${l.slot} was Done on stage ${l.stage} and is not any more: it must press again`,
        proof: [show(d), show(l)],
      });
      doneAt.delete(l.slot);
    }
  }
  return out;
}

function agreeAfterHeal(lines: Line[], h: History): Violation[] {
  if (h.finalHeal === null) return [];
  const heal = h.finalHeal;
  const deadline = heal + h.agreeWithinMs;
  // The slots still running at the deadline: their newest process has not exited.
  const inst = new Map<string, number>();
  const exited = new Set<string>();
  for (const l of lines) {
    if (l.at > deadline) continue;
    if ((inst.get(l.slot) ?? 0) < l.inst) {
      inst.set(l.slot, l.inst);
      exited.delete(l.slot);
    }
    if (l.event === 'exit' && l.inst === inst.get(l.slot)) exited.add(l.slot);
  }
  const running = [...inst.keys()].filter((s) => !exited.has(s));
  const latest = new Map<string, Line>();
  const agreed = () => {
    const vs = running.map((s) => latest.get(s));
    if (vs.some((v) => !v)) return false;
    const [a] = vs as Line[];
    return (vs as Line[]).every((v) => v.leader === a?.leader && v.stage === a?.stage && v.leader !== 0);
  };
  for (const l of views(lines)) {
    if (l.at > deadline) break;
    if (l.inst !== inst.get(l.slot)) continue;
    latest.set(l.slot, l);
    if (l.at >= heal && agreed()) return [];
  }
  if (agreed()) return [];
  return [
    {
      rule: 'agree-after-heal',
      message: `the ${running.length} running players did not agree on leader and stage within ${h.agreeWithinMs} ms of the final heal at ${heal} ms`,
      proof: running.map((s) => (latest.get(s) ? show(latest.get(s) as Line) : `${s}: no view`)),
    },
  ];
}

/**
 * Signals only native code raises. JavaScript cannot segfault: a player's own bug exits with a code (or
 * SIGABRT, as Node does on a fatal V8 error), so these come from the harness's WebRTC (@roamhq/wrtc 0.10,
 * whose peer connections are known to segfault when closed and reopened quickly: node-webrtc#576,
 * WonderInventions/node-webrtc#35). A browser tab has no such code path.
 */
const NATIVE_CRASH = new Set(['SIGSEGV', 'SIGBUS', 'SIGILL', 'SIGFPE']);

const isNativeCrash = (l: Line) => l.event === 'exit' && !l.expected && NATIVE_CRASH.has(String(l.signal));

/** Players the harness's native WebRTC crashed: reported beside the verdict, not as a violation. */
export function nativeCrashes(lines: Line[]): string[] {
  return lines.filter(isNativeCrash).map(show);
}

function noneExitOnItsOwn(lines: Line[]): Violation[] {
  return lines
    .filter(
      (l) =>
        (l.event === 'exit' && !l.expected && !isNativeCrash(l)) ||
        l.event === 'failed' ||
        l.event === 'replaced',
    )
    .map((l) => ({
      rule: 'no-exit-on-its-own',
      message:
        l.event === 'exit'
          ? `${l.slot} (process ${l.inst}) exited on its own (code ${l.code}, signal ${l.signal})`
          : `${l.slot} stopped playing: ${l.event} (${l.error ?? ''})`,
      proof: [show(l)],
    }));
}
