import { quantile } from '../util/stats.js';

/** p50/p99 of a window of recent values; NaN when the window is empty. */
export interface RollingPercentiles {
  p50: number;
  p99: number;
}

/** Rolling TTFT/TPOT/E2E percentiles over the last `count` completed requests. */
export interface RollingLatency {
  count: number;
  ttftMs: RollingPercentiles;
  tpotMs: RollingPercentiles;
  e2eMs: RollingPercentiles;
}

export function percentilesOf(values: Float64Array): RollingPercentiles {
  const finite = values.filter((v) => Number.isFinite(v)).sort();
  return { p50: quantile(finite, 0.5), p99: quantile(finite, 0.99) };
}

/**
 * A fixed-size ring of the latest latencies, for live views that see requests one by one (serve):
 * `record` is O(1); percentiles are computed only when a frame asks for them.
 */
export class LatencyWindow {
  private readonly ttft: Float64Array;
  private readonly tpot: Float64Array;
  private readonly e2e: Float64Array;
  private next = 0;
  private filled = 0;

  constructor(readonly capacity = 1000) {
    this.ttft = new Float64Array(capacity);
    this.tpot = new Float64Array(capacity);
    this.e2e = new Float64Array(capacity);
  }

  /** One finished request; pass NaN for what does not apply (e.g. TPOT of a one-token answer). */
  record(ttftMs: number, tpotMs: number, e2eMs: number): void {
    this.ttft[this.next] = ttftMs;
    this.tpot[this.next] = tpotMs;
    this.e2e[this.next] = e2eMs;
    this.next = (this.next + 1) % this.capacity;
    this.filled = Math.min(this.filled + 1, this.capacity);
  }

  latency(): RollingLatency {
    const n = this.filled;
    return {
      count: n,
      ttftMs: percentilesOf(this.ttft.subarray(0, n)),
      tpotMs: percentilesOf(this.tpot.subarray(0, n)),
      e2eMs: percentilesOf(this.e2e.subarray(0, n)),
    };
  }
}
