import { LIMITS } from '../protocol/limits.ts';
import type { RelayBudgetLimits } from '../protocol/signaling.ts';

/** Of the server's budget, what we spend: its clock and ours differ, and frames arrive bunched. */
const SHARE = 0.9;
/** What app messages must leave of the budget: the protocol's own frames keep the room (heartbeats). */
const RESERVE = 0.25;

/**
 * The server's budget for our connection, kept on our side: each relayed frame costs one event and its bytes
 * (as the server counts them). Past it the server refuses, strikes and at last disconnects us, which cuts
 * every relayed peer off and costs an election. So the protocol's frames are always sent (`spend`), and app
 * messages only while they leave the reserve (`fits`); past that `send` says `rate_limited`. The budget our
 * address shares with other connections (tabs behind one NAT) is not ours to count: its refusals (`spent`)
 * hold app messages back until ours would have refilled, and what was already on its way is lost.
 */
export class RelayBudget {
  private limits: RelayBudgetLimits;
  private events: number;
  private bytes: number;
  private at: number | null = null;

  constructor(limits: RelayBudgetLimits = LIMITS.relayBudget) {
    this.limits = limits;
    this.events = limits.burst * SHARE;
    this.bytes = limits.bytesBurst * SHARE;
  }

  /** The server's own budget (the join's answer); what is left carries over, capped at the new burst. */
  setLimits(limits: RelayBudgetLimits): void {
    this.limits = limits;
    this.events = Math.min(this.events, limits.burst * SHARE);
    this.bytes = Math.min(this.bytes, limits.bytesBurst * SHARE);
  }

  /** Whether app frames costing `events` and `bytes` leave the reserve. Spends nothing. */
  fits(now: number, events: number, bytes: number): boolean {
    this.refill(now);
    const { burst, bytesBurst } = this.limits;
    return (
      this.events - events >= burst * SHARE * RESERVE && this.bytes - bytes >= bytesBurst * SHARE * RESERVE
    );
  }

  /** The server refused relayed frames: count the budget spent, whatever we counted. */
  spent(now: number): void {
    this.refill(now);
    this.events = Math.min(this.events, 0);
    this.bytes = Math.min(this.bytes, 0);
  }

  /** A frame went through the relay. */
  spend(now: number, bytes: number): void {
    this.refill(now);
    this.events -= 1;
    this.bytes -= bytes;
  }

  private refill(now: number): void {
    // A clock that stalls, runs back or gives NaN refills nothing.
    const elapsed = this.at === null || !(now > this.at) ? 0 : now - this.at;
    if (Number.isFinite(now)) this.at = now;
    const { perSec, burst, bytesPerSec, bytesBurst } = this.limits;
    this.events = Math.min(burst * SHARE, this.events + (elapsed / 1000) * perSec * SHARE);
    this.bytes = Math.min(bytesBurst * SHARE, this.bytes + (elapsed / 1000) * bytesPerSec * SHARE);
  }
}

/**
 * A frame's bytes as the server counts them: sealed (password rooms), its ciphertext in base64 and the seal's
 * envelope; else the frame as a JSON string inside the relay event, quotes escaped.
 */
export function relayedBytes(text: string, utf8Bytes: number, sealed: boolean): number {
  if (sealed) return Math.ceil(utf8Bytes / 3) * 4 + 160;
  let escapes = 0;
  for (let i = text.indexOf('"'); i !== -1; i = text.indexOf('"', i + 1)) escapes++;
  for (let i = text.indexOf('\\'); i !== -1; i = text.indexOf('\\', i + 1)) escapes++;
  return utf8Bytes + escapes + 24;
}
