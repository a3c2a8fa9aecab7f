/**
 * LoRA placement (npm run bench:lora), issue 17 item 2. Prints figures; asserts nothing.
 *
 * An adapter-heavy synthetic trace: Poisson arrivals, each request for one of 50 LoRA adapters
 * drawn from a Zipf law (exponent --zipf, default 1), prompts of 256-1279 tokens with a
 * per-adapter 128-token system prefix, 32-287 output tokens. Fleet: 4 x H100 serving
 * Llama-3.1-8B with max_loras 4 (adapter load time from the profile: rank-16 weights over the
 * host link plus overhead). Policies: least-request, lora-affinity (llm-d residency scorer on
 * scraped vllm:lora_requests_info, scrape every --scrape s) and lora-affinity with rendezvous
 * placement on 2 workers. Reported: adapter loads into a GPU slot (swaps) and evictions per 1k
 * requests, TTFT and E2E.
 *
 *   node dist/bench/lora.bench.js [--requests N] [--rate R] [--zipf S] [--scrape S] [--seed N]
 */
import { resolveDeployment } from '../src/profiles/catalog.js';
import type { FleetWorker } from '../src/profiles/fleet.js';
import { createPolicy } from '../src/routing/registry.js';
import { Simulation } from '../src/sim/simulator.js';
import { createRng } from '../src/util/rng.js';
import type { Request } from '../src/workload/request.js';
import { numberArg } from './args.js';

const REQUESTS = numberArg('--requests', 6000);
const RATE = numberArg('--rate', 25);
const ZIPF = numberArg('--zipf', 1);
const SCRAPE = numberArg('--scrape', 0.1);
const SEED = numberArg('--seed', 1);
const ADAPTERS = 50;
const WORKERS = 4;
const MAX_LORAS = 4;

function trace(): Request[] {
  const rng = createRng(`lora-bench-${SEED}`);
  const weights = Array.from({ length: ADAPTERS }, (_, k) => 1 / Math.pow(k + 1, ZIPF));
  const total = weights.reduce((a, b) => a + b, 0);
  const cdf: number[] = [];
  let acc = 0;
  for (const w of weights) cdf.push((acc += w / total));
  const out: Request[] = [];
  let t = 0;
  for (let i = 0; i < REQUESTS; i++) {
    t += -Math.log(1 - rng.next()) / RATE;
    const u = rng.next();
    let a = cdf.findIndex((c) => u <= c);
    if (a < 0) a = ADAPTERS - 1;
    const input = 256 + rng.int(1024);
    // A per-adapter system prompt (8 blocks of 16), then private content.
    const hashIds = Array.from({ length: Math.ceil(input / 16) }, (_, k) => (k < 8 ? a * 100 + k : 1e7 + i * 100 + k));
    out.push({ id: `r${i}`, arrivalS: t, inputTokens: input, outputTokens: 32 + rng.int(256), adapter: `adapter-${a}`, prefix: { kind: 'blocks', blockTokens: 16, hashIds } });
  }
  return out;
}

function fleet(): FleetWorker[] {
  const deployment = resolveDeployment({ gpu: 'h100-sxm', model: 'llama-3.1-8b', engine: { max_loras: MAX_LORAS }, where: 'bench' });
  return Array.from({ length: WORKERS }, (_, i) => ({ name: `h100-${i}`, deployment }));
}

const cases: { label: string; policy: string; opts: Record<string, string | number> }[] = [
  { label: 'least-request', policy: 'least-request', opts: {} },
  { label: 'lora-affinity (residency)', policy: 'lora-affinity', opts: {} },
  { label: 'lora-affinity (rendezvous, 2)', policy: 'lora-affinity', opts: { placement: 'rendezvous', replicas: 2 } },
];

const f = fleet();
const lora = f[0].deployment.engine.lora;
console.log(`bench:lora — ${REQUESTS} requests at ${RATE} req/s, ${ADAPTERS} adapters (Zipf ${ZIPF}), ${WORKERS} x ${f[0].deployment.name}, max_loras ${MAX_LORAS}, adapter load ${((lora?.loadSeconds ?? NaN) * 1e3).toFixed(2)} ms, scrape every ${SCRAPE} s, seed ${SEED}`);
const rows: string[][] = [['policy', 'loads/1k', 'evictions/1k', 'TTFT mean', 'TTFT p50', 'TTFT p99', 'E2E p50', 'E2E p99', 'req/s', 'imbalance', 'wall s']];
for (const c of cases) {
  const sim = new Simulation({ fleet: f, policy: createPolicy(c.policy, c.opts), requests: trace(), seed: SEED, scrapeIntervalS: SCRAPE, timeseriesIntervalS: 10, timeseries: false, requestLog: 'summary' });
  const t0 = performance.now();
  const r = await sim.run();
  const wall = (performance.now() - t0) / 1e3;
  let loads = 0;
  let evictions = 0;
  for (const e of sim.engines) {
    loads += e.lora?.loads ?? 0;
    evictions += e.lora?.evictions ?? 0;
  }
  const s = r.summary;
  const per1k = (n: number): string => ((n / s.requests) * 1000).toFixed(1);
  rows.push([c.label, per1k(loads), per1k(evictions), s.ttft_ms.mean.toFixed(1), s.ttft_ms.p50.toFixed(1), s.ttft_ms.p99.toFixed(1), s.e2e_ms.p50.toFixed(0), s.e2e_ms.p99.toFixed(0), s.throughput_rps.toFixed(2), s.imbalance.toFixed(2), wall.toFixed(1)]);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log(r.map((x, i) => (i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  '));
console.log('(TTFT and E2E in ms; loads = adapters copied into a GPU slot, each one a swap once the slots are full)');
