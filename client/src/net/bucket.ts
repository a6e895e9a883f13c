// A token bucket: `burst` at once, `perSec` after that. Flood reports are edge-triggered: once when the
// bucket runs dry, and again only after it was back over half full.

export class Bucket {
  private tokens: number;
  private at: number | null = null;
  private dry = false;

  constructor(
    private readonly burst: number,
    private readonly perSec: number,
  ) {
    this.tokens = burst;
  }

  /** Spends a token if there is one. `report` is true for the first refusal of a flood. */
  take(now: number): { ok: boolean; report: boolean } {
    // A clock that stalls, runs back or gives NaN refills nothing; it never empties the bucket for good.
    const elapsed = this.at === null || !(now > this.at) ? 0 : now - this.at;
    if (Number.isFinite(now)) this.at = now;
    this.tokens = Math.min(this.burst, this.tokens + (elapsed / 1000) * this.perSec);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      if (this.tokens >= this.burst / 2) this.dry = false;
      return { ok: true, report: false };
    }
    const report = !this.dry;
    this.dry = true;
    return { ok: false, report };
  }

  /** Gives back a token taken for something that was then refused and cost nothing. */
  refund(): void {
    this.tokens = Math.min(this.burst, this.tokens + 1);
  }
}
