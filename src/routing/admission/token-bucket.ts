/**
 * A token bucket on an injected clock (seconds): it holds at most `burst` tokens and refills at
 * `ratePerS`. `take` spends tokens only when all of them are there; `charge` spends after the fact
 * (output tokens are known only when an answer ends) and may leave the bucket in debt, which later
 * takes wait out. Over any window of length T a bucket that starts full admits at most
 * `burst + ratePerS × T` tokens (plus what `charge` put in debt, which only lowers that).
 */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    readonly ratePerS: number,
    readonly burst: number,
    startS: number,
  ) {
    if (!(ratePerS > 0) || !(burst > 0)) throw new Error(`TokenBucket: rate and burst must be > 0 (got ${ratePerS}, ${burst})`);
    this.tokens = burst;
    this.at = startS;
  }

  private refill(nowS: number): void {
    if (nowS <= this.at) return;
    this.tokens = Math.min(this.burst, this.tokens + (nowS - this.at) * this.ratePerS);
    this.at = nowS;
  }

  /** Tokens in the bucket at `nowS` (negative while in debt). */
  level(nowS: number): number {
    this.refill(nowS);
    return this.tokens;
  }

  /** Seconds from `nowS` until `n` tokens are there (0 = now; Infinity when `n` exceeds the burst). */
  waitFor(n: number, nowS: number): number {
    this.refill(nowS);
    if (this.tokens >= n) return 0;
    if (n > this.burst) return Infinity;
    return (n - this.tokens) / this.ratePerS;
  }

  /** Takes `n` tokens when they are all there and returns 0; else takes nothing and returns the wait (see `waitFor`). */
  take(n: number, nowS: number): number {
    const wait = this.waitFor(n, nowS);
    if (wait === 0) this.tokens -= n;
    return wait;
  }

  /** Spends `n` tokens now whatever the level (usage known only afterwards). */
  charge(n: number, nowS: number): void {
    this.refill(nowS);
    this.tokens -= n;
  }
}
