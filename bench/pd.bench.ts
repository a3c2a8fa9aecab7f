/**
 * Colocated vs disaggregated serving at equal GPU count, and KV offload (npm run bench:pd).
 *
 * Part 1: 8×H100 (llama-3.1-8b) as 8 colocated workers, 2 prefill + 6 decode, 3 prefill + 5 decode,
 * on ShareGPT (short prompts, replayed at a Poisson rate for a fixed duration) and on the whole
 * Mooncake trace (long prompts, 512-token prefix blocks, its own timestamps), at two loads each.
 * least-request routes every pool; PD moves every request (threshold 0) over the default in-node
 * link (NVLink 4, 450 GB/s one way). Per run: TTFT p50/p99, TPOT p50/p99, goodput and attainment
 * under a TTFT+TPOT SLO (per trace), mean KV transfer, and a conservation check (every request
 * ended once, every pool drained). Per load, the prefill demand priced by the simulator's own step
 * model against the prefill pool's capacity (bench/pd-capacity.ts), so a saturated prefill pool
 * reads as such. Then where PD wins or loses.
 *
 * Part 2: the Mooncake trace on 4×H100 with a small HBM cache (num_gpu_blocks, so conversations
 * do not fit), prefix-cache routing, without and with a CPU tier per worker: HBM hit rate, hit rate
 * with the lower tier, TTFT.
 *
 * Shared data (../shared/data) is required; prints figures, asserts nothing.
 *   npm run bench:pd -- [--quick] [--limit N]   (--quick: ShareGPT 10 s, Mooncake first 1,000 requests;
 *                                                --limit: Mooncake's first N requests)
 */
import { Simulation } from '../src/sim/simulator.js';
import { createPolicy } from '../src/routing/registry.js';
import { parseFleet, type FleetWorker } from '../src/profiles/fleet.js';
import { resolveDeployment } from '../src/profiles/catalog.js';
import { parseSlo } from '../src/metrics/slo.js';
import { buildWorkload } from '../src/workload/workload.js';
import { sharedDataDir, SHARED_TRACES } from '../src/workload/shared-data.js';
import type { Summary } from '../src/metrics/summary.js';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { prefillDemand } from './pd-capacity.js';
import { numberArg } from './args.js';

const quick = process.argv.includes('--quick');
const mooncakeLimit = numberArg('--limit', quick ? 1000 : 0);
const sharegptDurationS = quick ? 10 : 30;
const data = sharedDataDir();
if (!data) {
  process.stderr.write('bench:pd: no shared data directory (../shared/data beside the checkout)\n');
  process.exit(1);
}
const sharegpt = join(data, SHARED_TRACES.sharegpt);
const mooncake = join(data, SHARED_TRACES.mooncake);
for (const f of [sharegpt, mooncake]) {
  if (!existsSync(f)) {
    process.stderr.write(`bench:pd: ${f} is missing\n`);
    process.exit(1);
  }
}
if (!Number.isInteger(mooncakeLimit) || mooncakeLimit < 0) {
  process.stderr.write('bench:pd: --limit: expected a whole number of requests\n');
  process.exit(2);
}

interface Load {
  label: string;
  rate?: string;
  timeScale?: string;
  duration?: string;
}

interface TraceCase {
  name: string;
  path: string;
  slo: string;
  loads: Load[];
  limit?: string;
  /** How much of the trace a run uses, for the header. */
  used: string;
}

const limit = mooncakeLimit > 0 ? String(mooncakeLimit) : undefined;
const mooncakeUsed = limit ? `first ${limit} of 3,993 requests` : 'all 3,993 requests (1,022 s of arrivals at 1x)';
const TRACES: TraceCase[] = [
  {
    name: 'ShareGPT',
    path: sharegpt,
    slo: 'ttft_ms=300,tpot_ms=15',
    // 8 H100s serve llama-3.1-8b ShareGPT past 300 req/s; 450 is past the colocated fleet's knee.
    loads: [
      { label: '300 req/s', rate: '300', duration: String(sharegptDurationS) },
      { label: '450 req/s', rate: '450', duration: String(sharegptDurationS) },
    ],
    used: `1,000 records replayed for ${sharegptDurationS} s of Poisson arrivals per load (replays repeat prompts: prefix hits are high)`,
  },
  {
    name: 'Mooncake',
    path: mooncake,
    slo: 'ttft_ms=3000,tpot_ms=30',
    loads: [
      { label: '1x (3.9 req/s)', timeScale: '1' },
      { label: '2x (7.8 req/s)', timeScale: '0.5' },
    ],
    limit,
    used: mooncakeUsed,
  },
];

const FLEETS = [
  { name: '8 both', spec: 'h100-sxm:8', prefill: 0 },
  { name: '2P+6D', spec: 'prefill=h100-sxm:2;decode=h100-sxm:6', prefill: 2 },
  { name: '3P+5D', spec: 'prefill=h100-sxm:3;decode=h100-sxm:5', prefill: 3 },
];

interface Run {
  s: Summary;
  /** Empty when every request ended exactly once and every engine drained, else what broke. */
  broken: string;
  /** Prefill workers' prefix hit rate (token-weighted), PD runs only. */
  prefillHit: number | null;
  cpuS: number;
}

const workload = (trace: TraceCase, load: Load): ReturnType<typeof buildWorkload>['requests'] =>
  buildWorkload({ trace: trace.path, rate: load.rate, timeScale: load.timeScale, duration: load.duration, limit: trace.limit, seed: '42' }).requests;

async function run(fleet: FleetWorker[], trace: TraceCase, load: Load, policy: string): Promise<Run> {
  const pd = fleet.some((w) => w.role === 'prefill');
  const sim = new Simulation({
    fleet,
    policy: createPolicy(policy),
    requests: workload(trace, load),
    seed: 42,
    scrapeIntervalS: 1,
    timeseriesIntervalS: 1,
    timeseries: false,
    slo: parseSlo(trace.slo),
    pd: pd ? { prefillPolicy: createPolicy(policy), thresholdTokens: 0 } : undefined,
  });
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  const r = await sim.run();
  const cpu = process.cpuUsage(cpu0);
  r.summary.wall_s = (performance.now() - started) / 1e3;
  const problems: string[] = [];
  const ended = r.log.length;
  if (new Set(r.log.ids).size !== ended) problems.push('a request ended twice');
  if (r.summary.completed + r.summary.rejected !== ended) problems.push(`${ended} ended vs ${r.summary.completed} completed + ${r.summary.rejected} rejected`);
  sim.engines.forEach((e, i) => {
    if (e.pool.used !== 0 || e.numRunning + e.numWaiting !== 0) problems.push(`${fleet[i].name} holds ${e.pool.used} blocks, ${e.numRunning + e.numWaiting} sequences`);
  });
  let prefillHit: number | null = null;
  if (pd) {
    const pw = r.summary.workers.filter((w) => w.role === 'prefill');
    const tokens = pw.reduce((a, w) => a + w.input_tokens, 0);
    prefillHit = tokens > 0 ? pw.reduce((a, w) => a + w.prefix_hit_rate * w.input_tokens, 0) / tokens : 0;
  }
  return { s: r.summary, broken: problems.join('; '), prefillHit, cpuS: (cpu.user + cpu.system) / 1e6 };
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r: string[]): string => `| ${r.map((x, c) => x.padEnd(widths[c])).join(' | ')} |`;
  return [line(rows[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

const f1 = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '-');
const pct = (v: number | null): string => (v === null ? '-' : `${(v * 100).toFixed(1)}%`);

const benchStart = performance.now();
const benchCpu0 = process.cpuUsage();
const verdicts: string[] = [];
const wins = { goodput: [] as string[], ttft: [] as string[], tpot: [] as string[] };
const losses = { goodput: [] as string[], ttft: [] as string[], tpot: [] as string[] };
const h100 = resolveDeployment({ gpu: 'h100-sxm' });
for (const trace of TRACES) {
  const rows: string[][] = [['load', 'fleet', 'requests', 'TTFT p50', 'TTFT p99', 'TPOT p50', 'TPOT p99', 'goodput req/s', 'SLO met', 'transfer ms', 'prefix hit', 'decode slots', 'conserved', 'cpu s']];
  const capacity: string[] = [];
  for (const load of trace.loads) {
    const demand = await prefillDemand(workload(trace, load), h100);
    capacity.push(`${load.label}: ${Math.round(demand.promptTokensPerS).toLocaleString('en-US')} prompt tokens/s over ${demand.spanS.toFixed(0)} s; one H100 prefills ${Math.round(demand.workerTokensPerS).toLocaleString('en-US')} tokens/s of these prompts alone (chunks of ${h100.engine.maxNumBatchedTokens}) → ${demand.workerSecondsPerS.toFixed(2)} H100-s of prefill per second with no cache hits`);
    const results: { name: string; r: Run }[] = [];
    for (const f of FLEETS) {
      const r = await run(parseFleet(f.spec), trace, load, 'least-request');
      results.push({ name: f.name, r });
      const s = r.s;
      // Little's law: sequences decoding at once = arrival rate × mean time from first token to last,
      // against max_num_seqs on every worker that decodes.
      const decoding = ((s.completed + s.rejected) / demand.spanS) * ((s.e2e_ms.mean - s.ttft_ms.mean) / 1e3);
      const slots = h100.engine.maxNumSeqs * (8 - f.prefill);
      rows.push([load.label, f.name, String(s.completed + s.rejected), f1(s.ttft_ms.p50), f1(s.ttft_ms.p99), f1(s.tpot_ms.p50), f1(s.tpot_ms.p99), (s.goodput_rps ?? NaN).toFixed(2), pct(s.slo_attainment), s.pd ? s.pd.transfer_ms.mean.toFixed(2) : '-', pct(s.prefix_hit_rate), `${((decoding / slots) * 100).toFixed(0)}% of ${slots}`, r.broken === '' ? 'yes' : `NO: ${r.broken}`, r.cpuS.toFixed(1)]);
      if (f.prefill > 0) {
        const need = demand.workerSecondsPerS * (1 - (r.prefillHit ?? 0));
        capacity.push(`${load.label}, ${f.name}: ${f.prefill} prefill H100s vs ≈${need.toFixed(2)} H100-s/s of prefill after its ${pct(r.prefillHit)} hits → ${(need / f.prefill * 100).toFixed(0)}% busy${need >= f.prefill ? ' (saturated: its queue grows for the whole run)' : ''}`);
      }
    }
    const base = results[0].r.s;
    for (const { name, r } of results.slice(1)) {
      const s = r.s;
      const bg = base.goodput_rps ?? 0;
      const g = (s.goodput_rps ?? 0) - bg;
      const where = `${trace.name} ${load.label} ${name}`;
      const rel = bg > 0 ? g / bg : 0;
      const verdict = rel > 0.01 ? 'WINS' : rel < -0.01 ? 'LOSES' : 'ties';
      if (verdict === 'WINS') wins.goodput.push(where);
      if (verdict === 'LOSES') losses.goodput.push(where);
      (s.ttft_ms.p99 < base.ttft_ms.p99 ? wins.ttft : losses.ttft).push(where);
      (s.tpot_ms.p99 < base.tpot_ms.p99 ? wins.tpot : losses.tpot).push(where);
      const parts = [
        `goodput ${g >= 0 ? '+' : ''}${g.toFixed(2)} req/s (${g >= 0 ? '+' : ''}${(rel * 100).toFixed(1)}%)`,
        `TTFT p99 ${f1(s.ttft_ms.p99)} vs ${f1(base.ttft_ms.p99)} ms`,
        `TPOT p99 ${f1(s.tpot_ms.p99)} vs ${f1(base.tpot_ms.p99)} ms`,
      ];
      verdicts.push(`${trace.name} ${load.label}, ${name} vs 8 both: PD ${verdict} on goodput (${parts.join('; ')})`);
    }
  }
  process.stdout.write(`\n### ${trace.name}: ${trace.used} (SLO ${trace.slo}, policy least-request on every pool)\n\n${table(rows)}\n`);
  process.stdout.write(`\n"decode slots": sequences decoding at once by Little's law (arrival rate × mean(E2E − TTFT)) over max_num_seqs × decoding workers; past ~100% requests wait for a running slot and TTFT grows. "prefix hit": vLLM's counter over every worker (in PD runs only prefill workers look prompts up).\nPrefill capacity (llama-3.1-8b on H100, the simulator's step pricer):\n${capacity.map((c) => `- ${c}`).join('\n')}\n`);
}
const list = (xs: string[]): string => (xs.length === 0 ? 'nowhere' : xs.join(', '));
process.stdout.write(`\n### Where PD wins and loses (goodput: ±1% of the colocated fleet's)\n\n${verdicts.map((v) => `- ${v}`).join('\n')}\n`);
process.stdout.write(`\nPD wins goodput: ${list(wins.goodput)}.\nPD loses goodput: ${list(losses.goodput)}.\nPD wins TPOT p99 (no prefill in the decode batch): ${list(wins.tpot)}; loses it: ${list(losses.tpot)}.\nPD wins TTFT p99: ${list(wins.ttft)}; loses it: ${list(losses.ttft)}.\n`);

// Part 2: KV offload on the Mooncake trace.
{
  const blocks = 20000; // 320k tokens of HBM KV per worker: a few dozen Mooncake conversations.
  const fleetWith = (cpuGib: number): FleetWorker[] => {
    const d = resolveDeployment({ gpu: 'h100-sxm', engine: { num_gpu_blocks: blocks } });
    const dep = cpuGib > 0 ? { ...d, engine: { ...d.engine, kvOffload: { cpuGib, cpuGbps: 50, diskGib: 0, diskGbps: 1 } } } : d;
    return [0, 1, 2, 3].map((i) => ({ name: `h100-sxm-${i}`, deployment: dep }));
  };
  const trace: TraceCase = { name: 'Mooncake', path: mooncake, slo: 'ttft_ms=3000,tpot_ms=30', loads: [{ label: '1x', timeScale: '1' }], limit, used: mooncakeUsed };
  const rows: string[][] = [['fleet (4×H100, 20k blocks HBM)', 'HBM hit', 'hit incl. CPU', 'CPU loaded GB', 'load s', 'TTFT mean', 'TTFT p50', 'TTFT p99', 'goodput req/s', 'conserved', 'cpu s']];
  for (const cpu of [0, 256]) {
    const r = await run(fleetWith(cpu), trace, trace.loads[0], 'prefix-cache');
    const s = r.s;
    const cpuTier = s.kv_offload?.tiers.find((t) => t.tier === 'cpu');
    rows.push([
      cpu > 0 ? `+ ${cpu} GiB CPU tier @ 50 GB/s` : 'HBM only',
      pct(s.prefix_hit_rate),
      pct(s.kv_offload ? s.kv_offload.hit_rate_all_tiers : s.prefix_hit_rate),
      cpuTier ? cpuTier.loaded_gb.toFixed(1) : '-',
      cpuTier ? cpuTier.load_s.toFixed(2) : '-',
      f1(s.ttft_ms.mean),
      f1(s.ttft_ms.p50),
      f1(s.ttft_ms.p99),
      (s.goodput_rps ?? NaN).toFixed(2),
      r.broken === '' ? 'yes' : `NO: ${r.broken}`,
      r.cpuS.toFixed(1),
    ]);
  }
  process.stdout.write(`\n### KV offload: Mooncake 1x, ${mooncakeUsed}, prefix-cache routing (SLO ${trace.slo})\n\n${table(rows)}\n`);
}
const benchCpu = process.cpuUsage(benchCpu0);
process.stdout.write(`\nbench:pd: ${((performance.now() - benchStart) / 1e3).toFixed(0)} s wall, ${((benchCpu.user + benchCpu.system) / 1e6).toFixed(0)} s CPU (wall is noisy on a loaded machine; CPU is not)\n`);
