/**
 * Colocated vs disaggregated serving at equal GPU count, and KV offload (npm run bench:pd).
 *
 * Part 1: 8×H100 (llama-3.1-8b) as 8 colocated workers, 2 prefill + 6 decode, 3 prefill + 5 decode,
 * on ShareGPT (short prompts) and on the Mooncake trace (long prompts, 512-token prefix blocks), at
 * two loads each. least-request routes every pool; PD moves every request (threshold 0) over the
 * default in-node link (NVLink 4, 450 GB/s one way). Per run: TTFT p50/p99, TPOT p50/p99, goodput
 * and attainment under a TTFT+TPOT SLO (per trace), mean KV transfer. Then where PD wins or loses.
 *
 * Part 2: the Mooncake trace on 4×H100 with a small HBM cache (num_gpu_blocks, so conversations
 * do not fit), prefix-cache routing, without and with a CPU tier per worker: HBM hit rate, hit rate
 * with the lower tier, TTFT.
 *
 * Shared data (../shared/data) is required; prints figures, asserts nothing.
 *   npm run bench:pd -- [--quick]
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

const quick = process.argv.includes('--quick');
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

interface TraceCase {
  name: string;
  path: string;
  slo: string;
  loads: { label: string; rate?: string; timeScale?: string }[];
  limit?: string;
}

const TRACES: TraceCase[] = [
  {
    name: 'ShareGPT',
    path: sharegpt,
    slo: 'ttft_ms=300,tpot_ms=15',
    loads: [
      { label: '60 req/s', rate: '60' },
      { label: '120 req/s', rate: '120' },
    ],
  },
  {
    name: 'Mooncake',
    path: mooncake,
    slo: 'ttft_ms=3000,tpot_ms=30',
    loads: [
      { label: '1x (3.9 req/s)', timeScale: '1' },
      { label: '2x (7.8 req/s)', timeScale: '0.5' },
    ],
    limit: quick ? '1000' : undefined,
  },
];

const FLEETS = [
  { name: '8 both', spec: 'h100-sxm:8' },
  { name: '2P+6D', spec: 'prefill=h100-sxm:2;decode=h100-sxm:6' },
  { name: '3P+5D', spec: 'prefill=h100-sxm:3;decode=h100-sxm:5' },
];

async function run(fleet: FleetWorker[], trace: TraceCase, load: TraceCase['loads'][number], policy: string): Promise<Summary> {
  const pd = fleet.some((w) => w.role === 'prefill');
  const requests = buildWorkload({ trace: trace.path, rate: load.rate, timeScale: load.timeScale, limit: trace.limit, seed: '42' }).requests;
  const sim = new Simulation({
    fleet,
    policy: createPolicy(policy),
    requests,
    seed: 42,
    scrapeIntervalS: 1,
    timeseriesIntervalS: 1,
    timeseries: false,
    slo: parseSlo(trace.slo),
    pd: pd ? { prefillPolicy: createPolicy(policy), thresholdTokens: 0 } : undefined,
  });
  const started = performance.now();
  const r = await sim.run();
  r.summary.wall_s = (performance.now() - started) / 1e3;
  return r.summary;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r: string[]): string => `| ${r.map((x, c) => x.padEnd(widths[c])).join(' | ')} |`;
  return [line(rows[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

const f1 = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '-');
const pct = (v: number | null): string => (v === null ? '-' : `${(v * 100).toFixed(1)}%`);

const verdicts: string[] = [];
for (const trace of TRACES) {
  const rows: string[][] = [['load', 'fleet', 'TTFT p50', 'TTFT p99', 'TPOT p50', 'TPOT p99', 'goodput req/s', 'SLO met', 'transfer ms', 'wall s']];
  for (const load of trace.loads) {
    const results: { name: string; s: Summary }[] = [];
    for (const f of FLEETS) {
      const s = await run(parseFleet(f.spec), trace, load, 'least-request');
      results.push({ name: f.name, s });
      rows.push([load.label, f.name, f1(s.ttft_ms.p50), f1(s.ttft_ms.p99), f1(s.tpot_ms.p50), f1(s.tpot_ms.p99), (s.goodput_rps ?? NaN).toFixed(2), pct(s.slo_attainment), s.pd ? s.pd.transfer_ms.mean.toFixed(2) : '-', s.wall_s.toFixed(1)]);
    }
    const base = results[0].s;
    for (const { name, s } of results.slice(1)) {
      const g = (s.goodput_rps ?? 0) - (base.goodput_rps ?? 0);
      const parts = [
        `goodput ${g >= 0 ? '+' : ''}${g.toFixed(2)} req/s`,
        `TTFT p99 ${f1(s.ttft_ms.p99)} vs ${f1(base.ttft_ms.p99)} ms`,
        `TPOT p99 ${f1(s.tpot_ms.p99)} vs ${f1(base.tpot_ms.p99)} ms`,
      ];
      verdicts.push(`${trace.name} ${load.label}, ${name} vs 8 both: PD ${g > 0.005 ? 'WINS' : g < -0.005 ? 'LOSES' : 'ties'} (${parts.join('; ')})`);
    }
  }
  process.stdout.write(`\n### ${trace.name} (SLO ${trace.slo}, policy least-request on every pool)\n\n${table(rows)}\n`);
}
process.stdout.write(`\n### Where PD wins and loses\n\n${verdicts.map((v) => `- ${v}`).join('\n')}\n`);

// Part 2: KV offload on the Mooncake trace.
{
  const blocks = 20000; // 320k tokens of HBM KV per worker: a few dozen Mooncake conversations.
  const fleetWith = (cpuGib: number): FleetWorker[] => {
    const d = resolveDeployment({ gpu: 'h100-sxm', engine: { num_gpu_blocks: blocks } });
    const dep = cpuGib > 0 ? { ...d, engine: { ...d.engine, kvOffload: { cpuGib, cpuGbps: 50, diskGib: 0, diskGbps: 1 } } } : d;
    return [0, 1, 2, 3].map((i) => ({ name: `h100-sxm-${i}`, deployment: dep }));
  };
  const trace: TraceCase = { name: 'Mooncake', path: mooncake, slo: 'ttft_ms=3000,tpot_ms=30', loads: [{ label: '1x', timeScale: '1' }], limit: quick ? '1000' : undefined };
  const rows: string[][] = [['fleet (4×H100, 20k blocks HBM)', 'HBM hit', 'hit incl. CPU', 'CPU loaded GB', 'load s', 'TTFT mean', 'TTFT p50', 'TTFT p99', 'goodput req/s', 'wall s']];
  for (const cpu of [0, 256]) {
    const s = await run(fleetWith(cpu), trace, trace.loads[0], 'prefix-cache');
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
      s.wall_s.toFixed(1),
    ]);
  }
  process.stdout.write(`\n### KV offload: Mooncake 1x, prefix-cache routing (SLO ${trace.slo})\n\n${table(rows)}\n`);
}
