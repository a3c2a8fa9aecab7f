import type { RequestLog } from './request-log.js';
import type { Summary } from './summary.js';

/** One row of timeseries.csv: a worker's state at the end of an interval. */
export interface TimeseriesRow {
  t_s: number;
  worker: string;
  running: number;
  waiting: number;
  kv_usage: number;
  in_flight: number;
  completed: number;
  prefix_hit_rate: number;
  prompt_tokens_per_s: number;
  generation_tokens_per_s: number;
}

/** What a simulation run produced: what the reports (src/report) write. */
export interface SimulationResult {
  summary: Summary;
  log: RequestLog;
  timeseries: TimeseriesRow[];
  /** True when the run was stopped before the trace ended (reports cover what was simulated). */
  stopped: boolean;
}
