/**
 * Routing quality: every registered policy on the same fleet, seed and trace, side by side.
 *   npm run bench:quality [-- --only shared-prefix,mooncake] [--policies a,b] [--jobs 2]
 * Datasets:
 *   shared-prefix  generated: 96 groups × 8k-token system prompts + short questions, 8 L20s
 *                  near least-request's saturation; the working set (786k tokens) is 3.6
 *                  workers' KV caches and fits the fleet's (with 64 groups round-robin already
 *                  hits ~40%, leaving no room to show a 3× gain);
 *   mooncake       the Mooncake FAST'25 synthetic trace (hash_ids = 512-token blocks);
 *   bird           BIRD text-to-SQL (shared schema prefixes);
 *   sharegpt       ShareGPT single-turn (little sharing: cache-aware must not lose here);
 *   sharegpt-multi ShareGPT multi-turn sessions (history re-sent each turn; session ids set).
 * Real traces are read from ../shared/data by their registered readers (`openTrace`; traces
 * without timestamps through `buildWorkload` with a Poisson rate); a dataset whose file is absent
 * or whose format no reader recognises is printed as "skipped: <reason>".
 * Each simulation runs in a child process (`--jobs`, default 2 = the machine's cores).
 */
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { sharedDataDir } from '../src/workload/shared-data.js';
import { fileURLToPath } from 'node:url';
import { parseFleet } from '../src/profiles/fleet.js';
import { createPolicy, policyFactories } from '../src/routing/registry.js';
import { Simulation } from '../src/sim/simulator.js';
import { parseSlo } from '../src/metrics/slo.js';
import { syntheticRequests } from '../src/workload/synthetic.js';
import { detectFormat, openTrace } from '../src/workload/trace.js';
import { buildWorkload } from '../src/workload/workload.js';
import type { Request } from '../src/workload/request.js';
import type { Summary } from '../src/metrics/summary.js';
import { UserError } from '../src/util/errors.js';

const SEED = 42;
const here = fileURLToPath(import.meta.url);
const dataDir = sharedDataDir() ?? resolve('..', 'shared', 'data');

/** Arrival rates imposed on the traces without timestamps, chosen near least-request's saturation. */
const BIRD_RATE = 20;
const SHAREGPT_RATE = 28;
const SHAREGPT_MULTI_RATE = 4;

/** A trace without timestamps, read by its registered reader, arriving as a seeded Poisson process. */
function untimed(path: string, rate: number): AsyncIterable<Request> {
  return buildWorkload({ trace: path, rate: String(rate), seed: String(SEED) }).requests;
}

interface Dataset {
  name: string;
  fleet: string;
  slo: string;
  what: string;
  /** A path the dataset needs (checked before running), when it comes from a file. */
  file?: string;
  requests(): AsyncIterable<Request> | Iterable<Request>;
}

const datasets: Dataset[] = [
  {
    name: 'shared-prefix',
    fleet: 'l20:8',
    slo: 'ttft_ms=3000,tpot_ms=100',
    what: '96 groups × 8192-token system prompt + ~64-token question, ~128 output tokens, 8 × L20',
    requests: () =>
      syntheticRequests({
        seed: SEED,
        rate: 4.5,
        count: 3000,
        input: { kind: 'lognormal', mean: 64, sigma: 0.5, min: 8, max: 512 },
        output: { kind: 'lognormal', mean: 128, sigma: 0.6, min: 8, max: 1024 },
        sharedPrefix: { groups: 96, prefixTokens: 8192, blockTokens: 16 },
      }),
  },
  {
    name: 'mooncake',
    fleet: 'h100-sxm:8',
    slo: 'ttft_ms=5000,tpot_ms=100',
    what: 'Mooncake synthetic trace (3,993 requests, mean 15k input tokens), 8 × H100',
    file: join(dataDir, 'mooncake', 'synthetic_trace.jsonl'),
    requests() {
      return openTrace(this.file as string);
    },
  },
  {
    name: 'bird',
    fleet: 'l20:4',
    slo: 'ttft_ms=2000,tpot_ms=100',
    what: `BIRD dev (1,528 text-to-SQL prompts sharing 11 database schemas), Poisson ${BIRD_RATE} req/s, 4 × L20`,
    file: join(dataDir, 'bird', 'dev.json'),
    requests() {
      return untimed(this.file as string, BIRD_RATE);
    },
  },
  {
    name: 'sharegpt',
    fleet: 'l20:2',
    slo: 'ttft_ms=2000,tpot_ms=100',
    what: `ShareGPT single-turn (first human turn of each conversation), Poisson ${SHAREGPT_RATE} req/s, 2 × L20`,
    file: join(dataDir, 'sharegpt', 'sharegpt_v3_sample1000.json'),
    requests() {
      return untimed(this.file as string, SHAREGPT_RATE);
    },
  },
  {
    name: 'sharegpt-multi',
    fleet: 'l20:4',
    slo: 'ttft_ms=2000,tpot_ms=100',
    what: `ShareGPT multi-turn sessions (each turn re-sends the history; session ids set), Poisson ${SHAREGPT_MULTI_RATE} sessions/s, 4 × L20`,
    file: join(dataDir, 'sharegpt', 'sharegpt_v3_sample1000.json'),
    requests() {
      return buildWorkload({ trace: this.file, rate: String(SHAREGPT_MULTI_RATE), multiTurn: true, seed: String(SEED) }).requests;
    },
  },
];

interface Job {
  dataset: string;
  policy: string;
}

interface JobResult {
  dataset: string;
  policy: string;
  summary?: Summary;
  error?: string;
}

async function runJob(job: Job): Promise<JobResult> {
  const ds = datasets.find((d) => d.name === job.dataset) as Dataset;
  try {
    const sim = new Simulation({
      fleet: parseFleet(ds.fleet),
      policy: createPolicy(job.policy),
      requests: ds.requests(),
      seed: SEED,
      scrapeIntervalS: 1,
      timeseriesIntervalS: 3600,
      slo: parseSlo(ds.slo),
    });
    const t0 = process.hrtime.bigint();
    const r = await sim.run();
    r.summary.wall_s = Number(process.hrtime.bigint() - t0) / 1e9;
    return { ...job, summary: r.summary };
  } catch (err) {
    return { ...job, error: err instanceof Error ? err.message : String(err) };
  }
}

/** Why a dataset cannot run here, or undefined when it can. */
function skipReason(ds: Dataset): string | undefined {
  if (!ds.file) return undefined;
  if (!existsSync(ds.file)) return `${ds.file} not found (the shared data directory is absent)`;
  try {
    detectFormat(ds.file);
  } catch (err) {
    if (err instanceof UserError) return `no trace reader for it yet (${err.message})`;
    throw err;
  }
  return undefined;
}

function flagValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function f(v: number | null | undefined, digits: number): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits);
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((x, c) => (c === 0 ? x.padEnd(widths[c]) : x.padStart(widths[c]))).join('  ')).join('\n');
}

function report(ds: Dataset, results: JobResult[]): string {
  const rows: string[][] = [['policy', 'done', 'rej', 'hit %', 'vs RR', 'TTFT mean', 'p50', 'p99', 'TPOT mean', 'E2E mean', 'goodput/s', 'SLO %', 'imbal', 'wall s']];
  const rr = results.find((r) => r.policy === 'round-robin')?.summary?.prefix_hit_rate;
  for (const r of results) {
    const s = r.summary;
    if (!s) {
      rows.push([r.policy, `error: ${r.error}`, ...Array<string>(12).fill('')]);
      continue;
    }
    rows.push([
      r.policy,
      String(s.completed),
      String(s.rejected),
      f(s.prefix_hit_rate * 100, 1),
      rr ? `${f(s.prefix_hit_rate / rr, 2)}×` : '-',
      f(s.ttft_ms.mean, 0),
      f(s.ttft_ms.p50, 0),
      f(s.ttft_ms.p99, 0),
      f(s.tpot_ms.mean, 1),
      f(s.e2e_ms.mean, 0),
      f(s.goodput_rps, 3),
      f((s.slo_attainment ?? NaN) * 100, 1),
      f(s.imbalance, 2),
      f(s.wall_s, 1),
    ]);
  }
  return `## ${ds.name}: ${ds.what}; SLO ${ds.slo}; seed ${SEED}; scrape interval 1 s\n\n${table(rows)}\n`;
}

async function main(): Promise<void> {
  const only = flagValue('--only')?.split(',');
  const policies = flagValue('--policies')?.split(',') ?? policyFactories().map((p) => p.name);
  const jobs = Math.max(1, Number(flagValue('--jobs') ?? 2));
  const chosen = datasets.filter((d) => !only || only.includes(d.name));
  const runnable: Dataset[] = [];
  for (const ds of chosen) {
    const why = skipReason(ds);
    if (why) process.stdout.write(`## ${ds.name}: skipped: ${why}\n\n`);
    else runnable.push(ds);
  }
  const queue: Job[] = runnable.flatMap((d) => policies.map((p) => ({ dataset: d.name, policy: p })));
  const results: JobResult[] = [];
  const started = Date.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < queue.length) {
      const job = queue[next++];
      results.push(await inChild(job));
      process.stderr.write(`  ${job.dataset} / ${job.policy} done (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  for (const ds of runnable) {
    const rs = policies.map((p) => results.find((r) => r.dataset === ds.name && r.policy === p) as JobResult);
    process.stdout.write(`${report(ds, rs)}\n`);
  }
  process.stdout.write(`total wall time ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
}

function inChild(job: Job): Promise<JobResult> {
  return new Promise((resolveJob) => {
    const child = fork(here, ['--child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let got: JobResult | undefined;
    child.on('message', (m) => {
      got = m as JobResult;
    });
    child.on('exit', (code) => resolveJob(got ?? { ...job, error: `child exited with code ${code}` }));
    child.send(job);
  });
}

if (process.argv.includes('--child')) {
  process.once('message', (job: Job) => {
    void runJob(job).then((r) => {
      process.send?.(r, () => process.exit(0));
    });
  });
} else {
  await main();
}
