// When the server reads from its connections. Node reads a busy socket in chunks of 64 KiB, up to 32 of
// them per turn of the event loop, and ws handles every frame of a chunk at once: a few flooding
// connections could keep the loop busy for a long turn while an HTTP health check, a join or an honest
// relay waits. So every connection yields after the turn's share of reading, and one over its byte budget
// is not read again until the budget refills. New connections are let in a few per turn for the same
// reason: a room (or a whole server's tabs after a restart) connecting at once is a burst of handshakes.

import type { RawWebSocket } from './backlog.ts';

/** Bytes read in one turn of the event loop before connections start to yield it. */
export const TURN_READ_BYTES = 256 * 1024;

/** The longest a connection over its budget goes unread at a time: well below the ping timeout, so a held client's pongs are read in time. */
export const MAX_HOLD_MS = 1_000;

/** New connections let in per turn of the event loop; the rest wait for the next turns, in order. */
export const TURN_ADMISSIONS = 8;

/**
 * Yielded connections resumed per turn, in the order they yielded: each reads at least one chunk of 64 KiB
 * when resumed, so resuming all of them would make a turn's cost grow with the number of flooders.
 */
export const TURN_RESUMES = TURN_READ_BYTES / (64 * 1024);

export class ReadScheduler {
  private turnBytes = 0;
  private turnStarted = false;
  private admitted = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly yielded = new Set<RawWebSocket>();
  private readonly held = new WeakSet<RawWebSocket>();
  private readonly cut = new WeakSet<RawWebSocket>();

  constructor(
    private readonly turnReadBytes = TURN_READ_BYTES,
    private readonly turnAdmissions = TURN_ADMISSIONS,
    private readonly turnResumes = TURN_RESUMES,
  ) {}

  /** A frame of `bytes` was read from `ws`. Past the turn's share, it waits for the next turn. */
  read(ws: RawWebSocket, bytes: number): void {
    this.startTurn();
    this.turnBytes += bytes;
    if (this.turnBytes > this.turnReadBytes && !this.yielded.has(ws)) {
      this.yielded.add(ws);
      ws.pause();
    }
  }

  /** Stops reading `ws` (over its budget) for `ms`, capped at MAX_HOLD_MS: TCP then holds the sender back. */
  hold(ws: RawWebSocket, ms: number): void {
    if (ms <= 0 || this.held.has(ws) || this.cut.has(ws)) return;
    this.held.add(ws);
    ws.pause();
    setTimeout(
      () => {
        this.held.delete(ws);
        this.resumeIfFree(ws);
      },
      Math.min(ms, MAX_HOLD_MS),
    ).unref();
  }

  /** Never reads `ws` again (it is being cut off). */
  stop(ws: RawWebSocket): void {
    this.cut.add(ws);
    this.yielded.delete(ws);
    ws.pause();
  }

  /**
   * Runs `admit` (a new connection's checks and handshake) now if this turn has let in fewer than its
   * share, else in a later turn, in arrival order. It must check whatever may have changed meanwhile.
   */
  admit(admit: () => void): void {
    this.startTurn();
    if (this.waiting.length === 0 && this.admitted < this.turnAdmissions) {
      this.admitted++;
      admit();
    } else this.waiting.push(admit);
  }

  private startTurn(): void {
    if (this.turnStarted) return;
    this.turnStarted = true;
    setImmediate(() => this.nextTurn());
  }

  private nextTurn(): void {
    this.turnStarted = false;
    this.turnBytes = 0;
    this.admitted = 0;
    let resumes = this.turnResumes;
    for (const ws of this.yielded) {
      if (resumes-- <= 0) break;
      this.yielded.delete(ws);
      this.resumeIfFree(ws);
    }
    if (this.yielded.size > 0) this.startTurn();
    if (this.waiting.length > 0) {
      this.startTurn();
      for (const admit of this.waiting.splice(0, this.turnAdmissions)) {
        this.admitted++;
        admit();
      }
    }
  }

  // A closing connection is resumed too: its close handshake needs the peer's reply read.
  private resumeIfFree(ws: RawWebSocket): void {
    if (ws.isPaused && !this.yielded.has(ws) && !this.held.has(ws) && !this.cut.has(ws)) ws.resume();
  }
}
