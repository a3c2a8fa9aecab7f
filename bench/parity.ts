/**
 * Parity check (`npm run parity`): the same trace (a) simulated and (b) run live through
 * `router serve` in front of mock workers, driven by `router replay`; prints TTFT/TPOT/E2E mean
 * and p90 side by side. The mock workers time themselves with the simulator's engine, so what
 * differs is what a simulation leaves out: HTTP, the proxy, the event loops, timer jitter.
 *
 *   npm run parity -- [--requests 200] [--workers 4] [--gpu l20] [--speedup 1] [--policy least-request]
 *                     [--repeat 3] [--router-cli PATH]   (a build whose `serve` to use, e.g. another worktree's dist)
 *
 * The live side runs `--repeat` times on fresh workers (the simulation is exact, once): the
 * verdict uses the median live mean, and each metric's spread over the runs is printed with the
 * machine's load average, since a busy 2-core machine moves one run by several percent.
 *
 * The default speedup is 1: the 200-request trace then takes about 50 s, and every millisecond of
 * real HTTP and scheduling delay counts once, not K times. On a quiet machine 2–4 is fine.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { simulateFromFlags } from '../src/cli/simulate.js';
import { availableParallelism, loadavg } from 'node:os';
import { runReplay, type ReplayResult } from '../src/replay/run.js';
import { metricParity, parityVerdict, type MetricParity } from './parity-stats.js';
import { replayRequests } from '../src/cli/replay.js';
import { DEFAULTS } from '../src/defaults.js';
import type { Summary } from '../src/metrics/summary.js';
import { parsePrometheusText, sampleSum } from '../src/util/prometheus-text.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const OWN_CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
/** A live mean further than this from the simulated one fails the check. */
const TOLERANCE = 0.05;

const { values: a } = parseArgs({
  options: {
    requests: { type: 'string', default: '200' },
    workers: { type: 'string', default: '4' },
    gpu: { type: 'string', default: 'l20' },
    speedup: { type: 'string', default: '1' },
    policy: { type: 'string', default: 'least-request' },
    repeat: { type: 'string', default: '3' },
    trace: { type: 'string', default: join(ROOT, DEFAULTS.trace) },
    'router-cli': { type: 'string', default: process.env.PARITY_ROUTER_CLI ?? OWN_CLI },
  },
});
const n = Number(a.requests);
const workers = Number(a.workers);
const speedup = Number(a.speedup);
const repeat = Math.max(1, Math.floor(Number(a.repeat)));
const routerCli = resolve(a['router-cli']);

let children: ChildProcess[] = [];
function cleanup(): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
}
process.on('exit', cleanup);
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

/** Starts a CLI child and resolves with the URL it announces ("listening on http://..."). */
function start(cli: string, args: string[], label: string): Promise<string> {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolveUrl, reject) => {
    let seen = '';
    const look = (s: string): void => {
      seen += s;
      const m = /listening on (http:\/\/[^\s)]+)/.exec(seen);
      if (m) resolveUrl(m[1]);
    };
    child.stdout.setEncoding('utf8').on('data', look);
    child.stderr.setEncoding('utf8').on('data', look);
    child.once('exit', (code) => reject(new Error(`${label} exited with code ${code}: ${seen.trim().slice(-400)}`)));
    setTimeout(() => reject(new Error(`${label} did not start within 30 s`)), 30_000).unref();
  });
}

function serveAvailable(cli: string): boolean {
  const r = spawnSync(process.execPath, [cli, 'serve', '--help'], { encoding: 'utf8' });
  return r.status === 0 && /--workers/.test(r.stdout);
}

function pct(live: number, sim: number): string {
  const d = (live / sim - 1) * 100;
  return `${d >= 0 ? '+' : ''}${d.toFixed(1)}%`;
}

/** Mean TTFT and E2E the mock engines themselves saw (arrival at the engine → token), ms. */
async function engineSide(urls: string[]): Promise<{ ttft: number; e2e: number }> {
  let ts = 0;
  let tc = 0;
  let es = 0;
  let ec = 0;
  for (const u of urls) {
    const fams = parsePrometheusText(await (await fetch(`${u}/metrics`)).text());
    ts += sampleSum(fams, 'vllm:time_to_first_token_seconds_sum') ?? 0;
    tc += sampleSum(fams, 'vllm:time_to_first_token_seconds_count') ?? 0;
    es += sampleSum(fams, 'vllm:e2e_request_latency_seconds_sum') ?? 0;
    ec += sampleSum(fams, 'vllm:e2e_request_latency_seconds_count') ?? 0;
  }
  return { ttft: (ts / tc) * 1e3, e2e: (es / ec) * 1e3 };
}

interface LiveRun {
  result: ReplayResult;
  engine: { ttft: number; e2e: number };
  wallS: number;
}

/** One live run on fresh mock workers (empty prefix caches) behind a fresh serve. */
async function liveRun(k: number): Promise<LiveRun> {
  children = [];
  const urls = await Promise.all(Array.from({ length: workers }, (_, i) => start(OWN_CLI, ['mock-worker', '--gpu', a.gpu, '--port', '0', '--speedup', String(speedup)], `mock-worker ${i}`)));
  const serveUrl = await start(routerCli, ['serve', '--workers', urls.map((u, i) => `${u};gpu=${a.gpu};name=${a.gpu}-${i}`).join(','), '--port', '0', '--policy', a.policy, '--log', 'off', '--seed', String(DEFAULTS.seed)], 'router serve');
  const t0 = performance.now();
  try {
    const result = await runReplay({
      requests: replayRequests({ trace: a.trace, limit: String(n), seed: String(DEFAULTS.seed) }),
      target: serveUrl,
      pacing: { kind: 'trace' },
      api: 'chat',
      label: a.policy,
      requestTimeoutS: DEFAULTS.live.requestTimeoutS,
      progressIntervalS: DEFAULTS.live.progressIntervalS,
      speedup,
      onProgress: (p) => process.stderr.write(`parity: live run ${k} ${p.elapsedS.toFixed(0)} s: ${p.sent} sent, ${p.completed} completed, ${p.inFlight} in flight\n`),
    });
    const wallS = (performance.now() - t0) / 1e3;
    if (result.errors.length > 0) process.stderr.write(`parity: run ${k}: ${result.summary.rejected} live requests failed, e.g. ${result.errors.join(' | ')}\n`);
    return { result, engine: await engineSide(urls), wallS };
  } finally {
    cleanup();
  }
}

function table(sim: Summary, rows: MetricParity[], p90: MetricParity[], engine: number[][]): string {
  const header = ['metric (ms)', 'sim mean', `live mean (median of ${repeat})`, 'diff', 'spread of diff', 'sim p90', 'live p90', 'diff', 'engine-side mean'];
  const out: string[][] = [header];
  rows.forEach((r, i) => {
    const q = p90[i];
    const e = engine[i];
    out.push([r.metric, r.sim.toFixed(1), r.median.toFixed(1), pct(r.median, r.sim), `${signed(r.minDiff)} .. ${signed(r.maxDiff)}`, q.sim.toFixed(1), q.median.toFixed(1), pct(q.median, q.sim), e.length ? `${medianOf(e).toFixed(1)} (${pct(medianOf(e), r.sim)})` : '']);
  });
  out.push(['prefix hit %', (sim.prefix_hit_rate * 100).toFixed(1), '', '', '', '', '', '', '']);
  const w = header.map((_, c) => Math.max(...out.map((r) => r[c].length)));
  return out.map((r) => r.map((x, c) => (c === 0 ? x.padEnd(w[c]) : x.padStart(w[c]))).join('  ')).join('\n');
}

function signed(d: number): string {
  return `${d >= 0 ? '+' : ''}${(d * 100).toFixed(1)}%`;
}

function medianOf(v: number[]): number {
  const s = [...v].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<number> {
  if (!serveAvailable(routerCli)) {
    process.stderr.write(`parity: ${routerCli} has no \`serve\` command yet (it lands with the serve issue); pass --router-cli PATH to a build that has one\n`);
    return 2;
  }
  const fleet = `${a.gpu}:${workers}`;
  process.stderr.write(`parity: ${n} requests of ${a.trace}, ${workers}× ${a.gpu}, policy ${a.policy}, live at ${speedup}× real time, ${repeat} live runs\n`);
  const sim = await simulateFromFlags({ trace: a.trace, fleet, policy: a.policy, policyOpt: [], seed: String(DEFAULTS.seed), scrapeInterval: String(DEFAULTS.scrapeIntervalS), limit: String(n) });
  const load0 = loadavg()[0];
  const runs: LiveRun[] = [];
  for (let k = 1; k <= repeat; k++) runs.push(await liveRun(k));
  const load1 = loadavg()[0];
  const metrics = [['TTFT', 'ttft_ms'], ['TPOT', 'tpot_ms'], ['E2E', 'e2e_ms']] as const;
  const rows = metrics.map(([name, key]) => metricParity(name, sim.summary[key].mean, runs.map((r) => r.result.summary[key].mean)));
  const p90 = metrics.map(([name, key]) => metricParity(name, sim.summary[key].p90, runs.map((r) => r.result.summary[key].p90)));
  const engine = metrics.map(([, key]) => (key === 'ttft_ms' ? runs.map((r) => r.engine.ttft) : key === 'e2e_ms' ? runs.map((r) => r.engine.e2e) : []));
  const wall = runs.map((r) => r.wallS.toFixed(1)).join(', ');
  process.stdout.write(`\nsimulate vs live (serve → ${workers} mock workers at ${speedup}× real time; ${repeat} live runs, ${wall} s wall; load average ${load0.toFixed(2)} → ${load1.toFixed(2)} on ${availableParallelism()} cores)\n\n${table(sim.summary, rows, p90, engine)}\n\n`);
  const completed = runs.map((r) => r.result.summary.completed);
  const allCompleted = completed.every((c) => c === sim.summary.completed);
  const { ok, worst } = parityVerdict(rows, TOLERANCE);
  process.stdout.write(`completed: sim ${sim.summary.completed}, live ${completed.join(', ')}\n`);
  process.stdout.write('engine-side: what the mock engines measured from arrival at the engine, so live − engine-side is the HTTP and proxy path.\n');
  // With more runnable work than cores, serve, the workers and the client wait for CPU: their delays are the machine's, not the model's.
  const busy = Math.max(load0, load1) > availableParallelism();
  if (busy) process.stdout.write(`note: the machine was busy (load average up to ${Math.max(load0, load1).toFixed(1)} on ${availableParallelism()} cores): live − engine-side is CPU wait; rerun on an idle machine before reading a FAIL as a model error.\n`);
  process.stdout.write(`${ok && allCompleted ? 'PASS' : 'FAIL'}: largest median mean difference ${(worst * 100).toFixed(1)}% (tolerance ${TOLERANCE * 100}%)${allCompleted ? '' : '; some live requests did not complete'}\n`);
  return ok && allCompleted ? 0 : 1;
}

main()
  .then((code) => {
    cleanup();
    process.exit(code);
  })
  .catch((err: unknown) => {
    process.stderr.write(`parity: ${err instanceof Error ? err.message : String(err)}\n`);
    cleanup();
    process.exit(1);
  });
