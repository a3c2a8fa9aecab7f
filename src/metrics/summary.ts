import { percentiles, type Percentiles } from '../util/stats.js';
import type { RequestLog } from './request-log.js';

/** Mean, percentiles and (population) standard deviation, as `vllm bench serve` reports them. */
export interface LatencyStats extends Percentiles {
  std: number;
}

export const LATENCY_STATS: readonly (keyof LatencyStats)[] = ['mean', 'p50', 'p90', 'p99', 'std'];

export function latencyStats(values: ArrayLike<number>): LatencyStats {
  const p = percentiles(values);
  let ss = 0;
  for (let i = 0; i < values.length; i++) ss += (values[i] - p.mean) ** 2;
  return { ...p, std: values.length > 0 ? Math.sqrt(ss / values.length) : NaN };
}

export interface WorkerSummary {
  name: string;
  gpu: string;
  model: string;
  requests: number;
  input_tokens: number;
  output_tokens: number;
  prefix_hit_rate: number;
  preemptions: number;
  cost_usd: number;
  /** Disaggregated fleets: `prefill` or `decode` (absent for colocated `both` workers). */
  role?: 'prefill' | 'decode';
  /** Lower KV tiers, when the worker has them. */
  kv_offload?: OffloadTierSummary[];
}

/** Prefill/decode disaggregation of a run (simulator). */
export interface PdSummary {
  prefill_workers: number;
  decode_workers: number;
  /** Requests prefilled on a prefill worker and moved; `local`: prefilled by their decode worker (below the threshold). */
  disaggregated: number;
  local: number;
  threshold_tokens: number;
  /** Prefill end → KV on the decode worker, per disaggregated request (wait for blocks excluded). */
  transfer_ms: LatencyStats;
  /** Prefill end → decode blocks free to receive into. */
  block_wait_ms: LatencyStats;
  transferred_gb: number;
  transferred_tokens: number;
  /** Prompt tokens the decode worker already cached, so not moved. */
  decode_cached_tokens: number;
  /** The kinds of link transfers crossed. */
  links: string[];
}

/** One lower KV tier (CPU, disk) of one worker, or of the fleet. */
export interface OffloadTierSummary {
  tier: 'cpu' | 'disk';
  capacity_gib: number;
  /** Prompt tokens found in this tier (past the HBM hit) over prompt tokens looked up. */
  hit_rate: number;
  hit_tokens: number;
  loaded_gb: number;
  load_s: number;
  stored_blocks: number;
  evicted_blocks: number;
}

/** Goodput of the requests held to one set of SLO targets (a trace or header can give its own). */
export interface SloClassSummary {
  slo_class: string;
  requests: number;
  met: number;
  rejected: number;
  slo_attainment: number;
  goodput_rps: number;
}

/** The summary schema shared by simulate, compare, replay and serve (snake_case, units in names). */
export interface Summary {
  policy: string;
  requests: number;
  completed: number;
  rejected: number;
  /** Requests still in flight when the run was stopped early (0 for a run that ended by itself). */
  unfinished: number;
  duration_s: number;
  wall_s: number;
  ttft_ms: LatencyStats;
  tpot_ms: LatencyStats;
  e2e_ms: LatencyStats;
  queue_ms: LatencyStats;
  /**
   * Inter-token latency: every gap between successive tokens of every request, as `vllm bench
   * serve` measures it at the client (streamed chunks live; sampled tokens in the simulator, whose
   * percentiles come from a sketch within 0.5 %). NaN where no per-token times were measured.
   */
  itl_ms: LatencyStats;
  throughput_rps: number;
  output_tokens_per_s: number;
  /** Prompt + output tokens of completed requests per second (vLLM's "total token throughput"). */
  total_tokens_per_s: number;
  goodput_rps: number | null;
  slo_attainment: number | null;
  prefix_hit_rate: number;
  imbalance: number;
  cost_usd: number;
  cost_per_1m_tokens_usd: number;
  workers: WorkerSummary[];
  /** Rejections by the router's pull-mode queue (429: full, timed out, SLO unattainable); present when any. */
  rejected_429?: number;
  /** Per SLO class, present when any request was judged against an SLO. */
  slo_classes?: SloClassSummary[];
  /** The run-wide SLO (`--slo`, or the slo* policies' default, marked "(default)"), when one applied. */
  slo?: string;
  /** Disaggregated fleets: pools, transfers and how many requests were moved. */
  pd?: PdSummary;
  /** Fleets with KV offload tiers: per tier over all workers; `prefix_hit_rate` stays HBM hits only. */
  kv_offload?: { hit_rate_all_tiers: number; tiers: OffloadTierSummary[] };
  /** Per model (mixed fleets, or requests naming a model), per tenant, per priority class (metrics/group-stats.ts). */
  by_model?: GroupSummary[];
  by_tenant?: GroupSummary[];
  by_priority?: GroupSummary[];
}

/** One row of a per-model / per-tenant / per-priority-class breakdown. */
export interface GroupSummary {
  name: string;
  requests: number;
  completed: number;
  rejected: number;
  /** Rejections by quotas, rate limits or the router queue (429). */
  rejected_429: number;
  throughput_rps: number;
  ttft_p50_ms: number;
  ttft_p99_ms: number;
  e2e_p50_ms: number;
  e2e_p99_ms: number;
  /** Share of judged requests (rejections count as missed) meeting their SLO; null with no SLO. */
  slo_attainment: number | null;
  goodput_rps: number | null;
}

export interface SummaryInput {
  policy: string;
  log: RequestLog;
  durationS: number;
  wallS: number;
  /** Engine prefix-cache counters summed over the fleet (tokens). */
  prefixHits: number;
  prefixQueries: number;
  workers: WorkerSummary[];
  sloGiven: boolean;
  /** Inter-token latency (ms) over every gap of every request, when it was measured. */
  itl?: LatencyStats;
}

/** What a summary needs from the requests, however they were kept (a full log or a streaming tally). */
export interface RequestAggregates {
  requests: number;
  completed: number;
  rejected: number;
  /** Still in flight when the run was stopped. */
  unfinished: number;
  rejected429: number;
  inTokens: number;
  outTokens: number;
  met: number;
  judged: number;
  classes: Map<string, SloClassSummary>;
  ttft: LatencyStats;
  tpot: LatencyStats;
  e2e: LatencyStats;
  queue: LatencyStats;
}

/** Counts one judged request into its SLO class. */
export function countSloClass(classes: Map<string, SloClassSummary>, name: string, met: boolean, rejected: boolean): void {
  let c = classes.get(name);
  if (!c) {
    c = { slo_class: name, requests: 0, met: 0, rejected: 0, slo_attainment: 0, goodput_rps: 0 };
    classes.set(name, c);
  }
  c.requests++;
  if (met) c.met++;
  if (rejected) c.rejected++;
}

export function summarize(s: SummaryInput): Summary {
  const log = s.log;
  let outTokens = 0;
  let inTokens = 0;
  let met = 0;
  let judged = 0;
  const classes = new Map<string, SloClassSummary>();
  for (let i = 0; i < log.length; i++) {
    if (log.statuses[i] === 'ok') {
      outTokens += log.outputTokens.get(i);
      inTokens += log.inputTokens.get(i);
    }
    const m = log.sloMet.get(i);
    if (!Number.isNaN(m)) {
      judged++;
      if (m === 1) met++;
      const name = log.sloClasses[i];
      if (name !== undefined) countSloClass(classes, name, m === 1, log.statuses[i] !== 'ok');
    }
  }
  return summaryFrom(
    {
      requests: log.length,
      completed: log.completed,
      rejected: log.rejected,
      unfinished: log.unfinished,
      rejected429: log.rejected429,
      inTokens,
      outTokens,
      met,
      judged,
      classes,
      ttft: latencyStats(log.completedValues(log.ttftMs)),
      tpot: latencyStats(log.completedValues(log.tpotMs)),
      e2e: latencyStats(log.completedValues(log.e2eMs)),
      queue: latencyStats(log.completedValues(log.queueMs)),
    },
    s,
  );
}

export function summaryFrom(a: RequestAggregates, s: Omit<SummaryInput, 'log'>): Summary {
  const { met, judged, classes, inTokens, outTokens } = a;
  const dur = s.durationS > 0 ? s.durationS : NaN;
  const served = s.workers.map((w) => w.requests);
  const mean = served.reduce((a, b) => a + b, 0) / Math.max(1, served.length);
  const cost = s.workers.reduce((a, w) => a + w.cost_usd, 0);
  // A run without --slo is still judged when requests carry their own SLO (trace field, header).
  const sloGiven = s.sloGiven || judged > 0;
  for (const c of classes.values()) {
    c.slo_attainment = c.met / c.requests;
    c.goodput_rps = c.met / dur;
  }
  return {
    policy: s.policy,
    requests: a.requests,
    completed: a.completed,
    rejected: a.rejected,
    unfinished: a.unfinished,
    duration_s: s.durationS,
    wall_s: s.wallS,
    ttft_ms: a.ttft,
    tpot_ms: a.tpot,
    e2e_ms: a.e2e,
    queue_ms: a.queue,
    itl_ms: s.itl ?? latencyStats([]),
    throughput_rps: a.completed / dur,
    output_tokens_per_s: outTokens / dur,
    total_tokens_per_s: (inTokens + outTokens) / dur,
    goodput_rps: sloGiven ? met / dur : null,
    slo_attainment: sloGiven ? (judged > 0 ? met / judged : 0) : null,
    prefix_hit_rate: s.prefixQueries > 0 ? s.prefixHits / s.prefixQueries : 0,
    imbalance: mean > 0 ? served.reduce((m, v) => (v > m ? v : m), -Infinity) / mean : 1,
    cost_usd: cost,
    cost_per_1m_tokens_usd: inTokens + outTokens > 0 ? (cost / (inTokens + outTokens)) * 1e6 : NaN,
    workers: s.workers,
    ...(a.rejected429 > 0 ? { rejected_429: a.rejected429 } : {}),
    ...(classes.size > 0 ? { slo_classes: [...classes.values()].sort((a, b) => (a.slo_class < b.slo_class ? -1 : a.slo_class > b.slo_class ? 1 : 0)) } : {}),
  };
}
