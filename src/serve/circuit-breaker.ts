export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** Consecutive failures that open the breaker; 0 disables it. */
  failureThreshold: number;
  /** Probe successes in half-open that close it again. */
  successThreshold: number;
  /** Seconds the breaker stays open before it lets a probe through. */
  openS: number;
}

/**
 * One worker's circuit breaker: closed → open after `failureThreshold` consecutive failures;
 * open → half-open once `openS` has passed; half-open lets ONE probe request through at a time
 * (sgl-router lets unlimited traffic through, which re-floods a sick worker); `successThreshold`
 * probe successes close it, any probe failure reopens it. `now` is seconds on any monotonic clock.
 */
export class CircuitBreaker {
  state: BreakerState = 'closed';
  consecutiveFailures = 0;
  private probeSuccesses = 0;
  private probeInFlight = false;
  openedAtS = 0;
  /** What opened it last: consecutive errors, or stall detection. */
  openedBy: 'errors' | 'stalled' = 'errors';
  transitions = 0;

  constructor(
    private readonly o: BreakerOptions,
    private readonly now: () => number,
  ) {}

  /** Seconds until an open breaker may probe; 0 when not open. */
  reopensInS(): number {
    return this.state === 'open' ? Math.max(0, this.openedAtS + this.o.openS - this.now()) : 0;
  }

  /** Whether a new request may go to this worker now (moves open → half-open when due). */
  allows(): boolean {
    if (this.state === 'open' && this.reopensInS() === 0) this.to('half-open');
    if (this.state === 'half-open') return !this.probeInFlight;
    return this.state === 'closed';
  }

  /** A request was sent; in half-open it is the probe. */
  onSend(): void {
    if (this.state === 'half-open') this.probeInFlight = true;
  }

  success(): void {
    this.consecutiveFailures = 0;
    if (this.state === 'half-open') {
      this.probeInFlight = false;
      if (++this.probeSuccesses >= this.o.successThreshold) this.to('closed');
    }
  }

  failure(): void {
    this.consecutiveFailures++;
    if (this.o.failureThreshold <= 0) return;
    if (this.state === 'half-open' || (this.state === 'closed' && this.consecutiveFailures >= this.o.failureThreshold)) {
      if (this.state === 'closed') this.openedBy = 'errors';
      this.to('open');
    }
  }

  /** Opens the breaker now (stall detection), whatever the failure count. */
  trip(by: 'errors' | 'stalled'): void {
    this.openedBy = by;
    if (this.state === 'open') this.openedAtS = this.now();
    else this.to('open');
  }

  /** An active health check passed: let a probe request through now instead of after `openS`. */
  probeNow(): void {
    if (this.state === 'open') this.to('half-open');
  }

  /** The request ended without telling us anything about the worker (client went away). */
  neutral(): void {
    this.probeInFlight = false;
  }

  private to(s: BreakerState): void {
    if (s === this.state) return;
    this.state = s;
    this.transitions++;
    this.probeInFlight = false;
    this.probeSuccesses = 0;
    if (s === 'open') this.openedAtS = this.now();
    if (s === 'closed') this.consecutiveFailures = 0;
  }
}
