export { type Parsed, parseMessage } from '../protocol/messages.ts';
export { AppBook, type AppliedOp, appliedOps, applyOps, type Proposals } from './app.ts';
export { type Base, Log } from './log.ts';
export {
  type CompactResult,
  FIRST_MEMBERS,
  HISTORY_CHUNK,
  Player,
  type PlayerOptions,
  type ProposeResult,
  type Ready,
  renameIn,
} from './player.ts';
export { type Rng, randInt, seededRng } from './rng.ts';
export { ANSWER_MS, timingFromMs } from './timing.ts';
export * from './types.ts';
