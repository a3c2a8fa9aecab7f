import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { sharedDataDir } from '../workload/shared-data.js';
import { PACKAGE_ROOT } from '../util/package-root.js';
import { resolveDeployment } from '../profiles/catalog.js';
import type { Coefficients, Deployment } from '../profiles/types.js';
import { UserError } from '../util/errors.js';
import { percentiles, type Percentiles } from '../util/stats.js';
import { openTrace } from '../workload/trace.js';
import type { Request } from '../workload/request.js';
import { Simulation } from '../sim/simulator.js';
import { createPolicy } from '../routing/registry.js';

/** Default location of the RTX 4090 ground truth: shared/data beside the checkout. */
export function defaultGroundTruthDir(): string {
  return join(sharedDataDir() ?? join(PACKAGE_ROOT, '..', 'shared', 'data'), 'vllm-ground-truth', 'rtx4090-llama-3.1-8b');
}

export interface LatencyStats {
  ttft_ms: Percentiles;
  tpot_ms: Percentiles;
  e2e_ms: Percentiles;
}

export interface GroundTruth {
  dir: string;
  requests: Request[];
  real: LatencyStats;
  engine: { max_num_seqs: number; max_num_batched_tokens: number; block_size: number; num_gpu_blocks: number; enable_prefix_caching: boolean; gpu_memory_utilization: number };
}

interface RealRow {
  input_toks: number;
  output_toks: number;
  queued_ts: number;
  first_token_ts: number;
  last_token_ts: number;
}

/** Reads a vLLM ground-truth run: meta.json (engine), workload.jsonl (trace), requests.jsonl (timings). */
export async function loadGroundTruth(dir: string): Promise<GroundTruth> {
  const need = ['meta.json', 'workload.jsonl', 'requests.jsonl'];
  for (const f of need) {
    if (!existsSync(join(dir, f))) throw new UserError(`${join(dir, f)}: missing (a ground-truth directory holds ${need.join(', ')})`);
  }
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as {
    engine_kwargs: { max_num_seqs: number; max_num_batched_tokens: number };
    kv_cache: { num_gpu_blocks: number; block_size: number; enable_prefix_caching: boolean; gpu_memory_utilization: number };
  };
  const requests: Request[] = [];
  for await (const r of openTrace(join(dir, 'workload.jsonl'), { format: 'vllm-bench' })) requests.push(r);
  const rows = readFileSync(join(dir, 'requests.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as RealRow);
  const ttft = rows.map((r) => (r.first_token_ts - r.queued_ts) * 1e3);
  const tpot = rows.filter((r) => r.output_toks > 1).map((r) => ((r.last_token_ts - r.first_token_ts) * 1e3) / (r.output_toks - 1));
  const e2e = rows.map((r) => (r.last_token_ts - r.queued_ts) * 1e3);
  return {
    dir,
    requests,
    real: { ttft_ms: percentiles(ttft), tpot_ms: percentiles(tpot), e2e_ms: percentiles(e2e) },
    engine: {
      max_num_seqs: meta.engine_kwargs.max_num_seqs,
      max_num_batched_tokens: meta.engine_kwargs.max_num_batched_tokens,
      block_size: meta.kv_cache.block_size,
      num_gpu_blocks: meta.kv_cache.num_gpu_blocks,
      enable_prefix_caching: meta.kv_cache.enable_prefix_caching,
      gpu_memory_utilization: meta.kv_cache.gpu_memory_utilization,
    },
  };
}

/** The RTX 4090 deployment with the ground-truth run's engine settings. */
export function groundTruthDeployment(gt: GroundTruth, coefficients?: Partial<Coefficients>): Deployment {
  const d = resolveDeployment({ gpu: 'rtx-4090', model: 'llama-3.1-8b', engine: { ...gt.engine }, where: gt.dir });
  return coefficients ? { ...d, coefficients: { ...d.coefficients, ...coefficients } } : d;
}

/** Simulates the ground-truth workload on one simulated RTX 4090 and returns its latency stats. */
export async function simulateGroundTruth(gt: GroundTruth, deployment: Deployment): Promise<LatencyStats> {
  const sim = new Simulation({
    fleet: [{ name: 'rtx-4090-0', deployment }],
    policy: createPolicy('round-robin'),
    requests: gt.requests,
    seed: 1,
    scrapeIntervalS: 1,
    timeseriesIntervalS: 1,
  });
  const r = await sim.run();
  return { ttft_ms: r.summary.ttft_ms, tpot_ms: r.summary.tpot_ms, e2e_ms: r.summary.e2e_ms };
}

export interface ErrorRow {
  metric: string;
  stat: keyof Percentiles;
  sim: number;
  real: number;
  errorPct: number;
}

export function compareStats(sim: LatencyStats, real: LatencyStats): ErrorRow[] {
  const rows: ErrorRow[] = [];
  for (const metric of ['ttft_ms', 'tpot_ms', 'e2e_ms'] as const) {
    for (const stat of ['mean', 'p50', 'p90', 'p99'] as const) {
      const s = sim[metric][stat];
      const r = real[metric][stat];
      rows.push({ metric, stat, sim: s, real: r, errorPct: ((s - r) / r) * 100 });
    }
  }
  return rows;
}
