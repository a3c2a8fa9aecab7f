/**
 * AIBrix's heterogeneous-GPU SLO scenario (npm run bench:slo): ShareGPT at 7 req/s mixed with BIRD
 * text-to-SQL at 4 req/s on one A10 and four L20s, SLO = P99 TPOT <= 50 ms. Builds the AIBrix
 * tables for the fleet by sweeping the simulated engine (`profile export-aibrix`), then runs
 * `router simulate --mix ...` with slo, slo-pack-load, least-request and random (and slo with the
 * oracle predictor, labelled) and prints per-token P99 latency, SLO attainment, goodput and cost.
 * Prints figures; asserts nothing. AIBrix's published figures (real A10+L20): slo 0.032 s,
 * slo-pack-load 0.044 s, least-request ~0.12 s P99 latency per token.
 *
 *   npm run bench:slo -- [--data DIR] [--duration S] [--out DIR] [--samples N] [--rates LIST]
 *                        [--policies a,b:opt=v] [--sharegpt-rps R] [--bird-rps R]
 * `--samples`/`--rates` go to the table sweep (AIBrix: 100 requests, 1..64 in powers of two).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse } from 'csv-parse/sync';
import { quantile } from '../src/util/stats.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const FLEET = 'a10:1,l20:4';
const SLO = 'tpot_ms=50,percentile=99';

const { values: flags } = parseArgs({
  options: {
    data: { type: 'string' },
    duration: { type: 'string', default: '600' },
    out: { type: 'string', default: join(tmpdir(), 'router-slo-scenario') },
    samples: { type: 'string' },
    rates: { type: 'string' },
    policies: { type: 'string', default: 'slo,slo-pack-load,least-request,random,slo:predictor=oracle,slo:unattainable=fallback' },
    seed: { type: 'string', default: '42' },
    'sharegpt-rps': { type: 'string', default: '7' },
    'bird-rps': { type: 'string', default: '4' },
  },
});

function fail(message: string): never {
  process.stderr.write(`bench:slo: ${message}\n`);
  process.exit(1);
}

function cli(args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) fail(`router ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}

const data = flags.data ?? [resolve(ROOT, '..', 'shared', 'data'), resolve(ROOT, '..', '..', 'shared', 'data')].find((d) => existsSync(d));
if (!data) fail('no shared data directory (../shared/data beside the checkout); pass --data DIR holding sharegpt/ and bird/');
const sharegpt = join(data, 'sharegpt', 'sharegpt_v3_sample1000.json');
const bird = join(data, 'bird', 'dev.json');
for (const f of [sharegpt, bird]) if (!existsSync(f)) fail(`${f} is missing`);
const help = spawnSync(process.execPath, [CLI, 'simulate', '--help'], { encoding: 'utf8' }).stdout;
if (!/--mix\b/.test(help)) fail('this build of `router simulate` has no --mix flag yet (the ShareGPT/BIRD readers and mixing come with the workloads branch); rebuild once it has landed');

mkdirSync(flags.out, { recursive: true });
const profiles = join(flags.out, 'aibrix-profiles');
const sweep = ['profile', 'export-aibrix', '--fleet', FLEET, '--slo', SLO, '--out', profiles, '--seed', flags.seed];
if (flags.samples) sweep.push('--samples', flags.samples);
if (flags.rates) sweep.push('--rates', flags.rates);
process.stderr.write(`building AIBrix tables: router ${sweep.join(' ')}\n`);
cli(sweep);

interface Row {
  label: string;
  completed: number;
  rejected: number;
  tpotP99: number;
  perTokenP99: number;
  ttftP99: number;
  attainment: number;
  goodput: number;
  cost: number;
  costPerM: number;
}

const mix = `${sharegpt}:${flags['sharegpt-rps']},${bird}:${flags['bird-rps']}`;
const rows: Row[] = [];
for (const spec of flags.policies.split(',')) {
  const [policy, ...opts] = spec.split(':');
  const dir = join(flags.out, spec.replace(/[^A-Za-z0-9_-]/g, '_'));
  const args = ['simulate', '--mix', mix, '--duration', flags.duration, '--fleet', FLEET, '--slo', SLO, '--policy', policy, '--slo-profile', profiles, '--seed', flags.seed, '--json', '--out', dir];
  for (const o of opts) args.push('--policy-opt', o);
  process.stderr.write(`router ${args.join(' ')}\n`);
  const s = JSON.parse(cli(args)) as { completed: number; rejected: number; tpot_ms: { p99: number }; ttft_ms: { p99: number }; slo_attainment: number; goodput_rps: number; cost_usd: number; cost_per_1m_tokens_usd: number };
  const reqs = parse<Record<string, string>>(readFileSync(join(dir, 'requests.csv')), { columns: true });
  // AIBrix's "latency per token": end-to-end latency over output tokens, per completed request.
  const perToken = Float64Array.from(reqs.filter((r) => r.status === 'ok' && Number(r.output_tokens) > 0).map((r) => Number(r.e2e_ms) / Number(r.output_tokens))).sort();
  rows.push({
    label: opts.length ? `${policy} (${opts.join(', ')}${opts.some((o) => o.includes('oracle')) ? ': ORACLE, simulation only' : ''})` : policy,
    completed: s.completed,
    rejected: s.rejected,
    tpotP99: s.tpot_ms.p99,
    perTokenP99: quantile(perToken, 0.99),
    ttftP99: s.ttft_ms.p99,
    attainment: s.slo_attainment,
    goodput: s.goodput_rps,
    cost: s.cost_usd,
    costPerM: s.cost_per_1m_tokens_usd,
  });
}

const head = ['policy', 'completed', 'rejected', 'TPOT p99 ms', 'E2E/token p99 ms', 'TTFT p99 ms', 'SLO attain.', 'goodput req/s', 'cost $', '$/1M tok'];
const body = rows.map((r) => [r.label, String(r.completed), String(r.rejected), r.tpotP99.toFixed(1), r.perTokenP99.toFixed(1), r.ttftP99.toFixed(0), `${(r.attainment * 100).toFixed(1)}%`, r.goodput.toFixed(2), r.cost.toFixed(3), r.costPerM.toFixed(3)]);
const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
process.stdout.write(`AIBrix SLO scenario: --mix sharegpt:${flags['sharegpt-rps']},bird:${flags['bird-rps']} --duration ${flags.duration} --fleet ${FLEET} --slo ${SLO} (tables: ${profiles})\n`);
process.stdout.write(`${line(head)}\n${body.map(line).join('\n')}\n`);
process.stdout.write('AIBrix (real A10+L20): P99 latency per token slo 32 ms, slo-pack-load 44 ms, least-request ~120 ms\n');
