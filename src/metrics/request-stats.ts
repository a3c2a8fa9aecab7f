import { QuantileSketch } from './quantile-sketch.js';
import type { RequestRecord } from './request-log.js';
import { countSloClass, type LatencyStats, type RequestAggregates, type SloClassSummary } from './summary.js';

/** Where the simulator puts finished requests: the full log (requests.csv) or a bounded tally. */
export interface RequestSink {
  /** `r` is the caller's until `add` returns (the simulator refills one record per completion): copy what you keep. */
  add(r: RequestRecord): void;
  readonly completed: number;
  readonly rejected: number;
}

/** Mean, percentiles (within the sketch's accuracy) and std of a sketch's values. */
export function latencyStatsOfSketch(s: QuantileSketch): LatencyStats {
  if (s.count === 0) return { mean: NaN, p50: NaN, p90: NaN, p99: NaN, std: NaN };
  const mean = s.sum / s.count;
  // From the running sum of squares: exact up to rounding, which the log's two-pass std avoids.
  const std = Math.sqrt(Math.max(0, s.sumSquares / s.count - mean * mean));
  return { mean, p50: s.quantile(0.5), p90: s.quantile(0.9), p99: s.quantile(0.99), std };
}

/**
 * The summary's inputs kept as running totals and quantile sketches, in memory that does not grow
 * with the request count: for runs too long to keep a per-request log (a simulated day) and that
 * write no requests.csv. Counts, token totals, goodput and means are exact; percentiles are
 * within the sketch's relative accuracy (0.5 %).
 */
export class StreamingRequestStats implements RequestSink {
  requests = 0;
  completed = 0;
  rejected = 0;
  unfinished = 0;
  rejected429 = 0;
  private inTokens = 0;
  private outTokens = 0;
  private met = 0;
  private judged = 0;
  private readonly classes = new Map<string, SloClassSummary>();
  readonly ttft = new QuantileSketch();
  readonly tpot = new QuantileSketch();
  readonly e2e = new QuantileSketch();
  readonly queue = new QuantileSketch();

  add(r: RequestRecord): void {
    this.requests++;
    if (r.status === 'ok') {
      this.completed++;
      this.inTokens += r.inputTokens;
      this.outTokens += r.outputTokens;
      // As RequestLog.completedValues: completed requests' finite values.
      if (Number.isFinite(r.ttftMs)) this.ttft.add(r.ttftMs);
      if (Number.isFinite(r.tpotMs)) this.tpot.add(r.tpotMs);
      if (Number.isFinite(r.e2eMs)) this.e2e.add(r.e2eMs);
      if (Number.isFinite(r.queueMs)) this.queue.add(r.queueMs);
    } else if (r.status === 'unfinished') this.unfinished++;
    else this.rejected++;
    if (r.httpStatus === 429) this.rejected429++;
    if (!Number.isNaN(r.sloMet)) {
      this.judged++;
      if (r.sloMet === 1) this.met++;
      if (r.sloClass !== undefined) countSloClass(this.classes, r.sloClass, r.sloMet === 1, r.status !== 'ok');
    }
  }

  aggregates(): RequestAggregates {
    return {
      requests: this.requests,
      completed: this.completed,
      rejected: this.rejected,
      unfinished: this.unfinished,
      rejected429: this.rejected429,
      inTokens: this.inTokens,
      outTokens: this.outTokens,
      met: this.met,
      judged: this.judged,
      classes: new Map([...this.classes].map(([k, c]) => [k, { ...c }])),
      ttft: latencyStatsOfSketch(this.ttft),
      tpot: latencyStatsOfSketch(this.tpot),
      e2e: latencyStatsOfSketch(this.e2e),
      queue: latencyStatsOfSketch(this.queue),
    };
  }
}
