/**
 * Parity check (`npm run parity`): the same trace (a) simulated and (b) run live through
 * `router serve` in front of mock workers, driven by `router replay`; prints TTFT/TPOT/E2E mean
 * and p90 side by side. The mock workers time themselves with the simulator's engine, so what
 * differs is what a simulation leaves out: HTTP, the proxy, the event loops, timer jitter.
 *
 *   npm run parity -- [--requests 200] [--workers 4] [--gpu l20] [--speedup 1] [--policy least-request]
 *                     [--router-cli PATH]   (a build whose `serve` to use, e.g. another worktree's dist)
 *
 * The default speedup is 1: the 200-request trace then takes about 50 s, and every millisecond of
 * real HTTP and scheduling delay counts once, not K times. On a quiet machine 2–4 is fine.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { simulateFromFlags } from '../src/cli/simulate.js';
import { runReplay } from '../src/replay/run.js';
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
    trace: { type: 'string', default: join(ROOT, DEFAULTS.trace) },
    'router-cli': { type: 'string', default: process.env.PARITY_ROUTER_CLI ?? OWN_CLI },
  },
});
const n = Number(a.requests);
const workers = Number(a.workers);
const speedup = Number(a.speedup);
const routerCli = resolve(a['router-cli']);

const children: ChildProcess[] = [];
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

function table(sim: Summary, live: Summary, engine: { ttft: number; e2e: number }): { text: string; worst: number } {
  const rows: string[][] = [['metric (ms)', 'sim mean', 'live mean', 'diff', 'sim p90', 'live p90', 'diff', 'engine-side mean']];
  let worst = 0;
  for (const [name, key] of [['TTFT', 'ttft_ms'], ['TPOT', 'tpot_ms'], ['E2E', 'e2e_ms']] as const) {
    const s = sim[key];
    const l = live[key];
    worst = Math.max(worst, Math.abs(l.mean / s.mean - 1));
    const e = key === 'ttft_ms' ? engine.ttft : key === 'e2e_ms' ? engine.e2e : NaN;
    rows.push([name, s.mean.toFixed(1), l.mean.toFixed(1), pct(l.mean, s.mean), s.p90.toFixed(1), l.p90.toFixed(1), pct(l.p90, s.p90), Number.isNaN(e) ? '' : `${e.toFixed(1)} (${pct(e, s.mean)})`]);
  }
  rows.push(['prefix hit %', (sim.prefix_hit_rate * 100).toFixed(1), (live.prefix_hit_rate * 100).toFixed(1), '', '', '', '', '']);
  rows.push(['completed', String(sim.completed), String(live.completed), '', '', '', '', '']);
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return { text: rows.map((r) => r.map((x, c) => (c === 0 ? x.padEnd(w[c]) : x.padStart(w[c]))).join('  ')).join('\n'), worst };
}

async function main(): Promise<number> {
  if (!serveAvailable(routerCli)) {
    process.stderr.write(`parity: ${routerCli} has no \`serve\` command yet (it lands with the serve issue); pass --router-cli PATH to a build that has one\n`);
    return 2;
  }
  const fleet = `${a.gpu}:${workers}`;
  process.stderr.write(`parity: ${n} requests of ${a.trace}, ${workers}× ${a.gpu}, policy ${a.policy}, live at ${speedup}× real time\n`);
  const sim = await simulateFromFlags({ trace: a.trace, fleet, policy: a.policy, policyOpt: [], seed: String(DEFAULTS.seed), scrapeInterval: String(DEFAULTS.scrapeIntervalS), limit: String(n) });

  const urls = await Promise.all(Array.from({ length: workers }, (_, i) => start(OWN_CLI, ['mock-worker', '--gpu', a.gpu, '--port', '0', '--speedup', String(speedup)], `mock-worker ${i}`)));
  const serveUrl = await start(routerCli, ['serve', '--workers', urls.map((u, i) => `${u};gpu=${a.gpu};name=${a.gpu}-${i}`).join(','), '--port', '0', '--policy', a.policy, '--log', 'off', '--seed', String(DEFAULTS.seed)], 'router serve');
  const t0 = performance.now();
  const live = await runReplay({
    requests: replayRequests({ trace: a.trace, limit: String(n), seed: String(DEFAULTS.seed) }),
    target: serveUrl,
    pacing: { kind: 'trace' },
    api: 'chat',
    label: a.policy,
    requestTimeoutS: DEFAULTS.live.requestTimeoutS,
    progressIntervalS: DEFAULTS.live.progressIntervalS,
    speedup,
    onProgress: (p) => process.stderr.write(`parity: live ${p.elapsedS.toFixed(0)} s: ${p.sent} sent, ${p.completed} completed, ${p.inFlight} in flight\n`),
  });
  const wall = (performance.now() - t0) / 1e3;
  if (live.errors.length > 0) process.stderr.write(`parity: ${live.summary.rejected} live requests failed, e.g. ${live.errors.join(' | ')}\n`);
  const { text, worst } = table(sim.summary, live.summary, await engineSide(urls));
  process.stdout.write(`\nsimulate vs live (serve → ${workers} mock workers at ${speedup}× real time, ${wall.toFixed(1)} s wall)\n\n${text}\n\n`);
  const ok = live.summary.completed === sim.summary.completed && worst <= TOLERANCE;
  process.stdout.write('engine-side: what the mock engines measured from arrival at the engine, so live − engine-side is the HTTP and proxy path.\n');
  process.stdout.write(`${ok ? 'PASS' : 'FAIL'}: largest mean difference ${(worst * 100).toFixed(1)}% (tolerance ${TOLERANCE * 100}%)\n`);
  return ok ? 0 : 1;
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
