/**
 * A production day in one run (npm run bench:day). Prints figures; asserts nothing.
 * 24 h at 1,000 req/s (86.4M requests, ShareGPT-like lengths, generated as a stream and never held
 * in memory) on 256 H100 workers, once with least-request and once with cache-aware, each in its
 * own process so each peak RSS is its own. The request log is kept as a streaming summary
 * (quantile sketches, `requestLog: 'summary'`), as a run that writes no requests.csv would.
 *   node dist/bench/day.bench.js [--hours H] [--workers N] [--rate R] [--policies a,b] [--parallel]
 * `--parallel` runs the policies' processes at once (one per core fits a full day of both in one
 * sitting); each still reports its own wall time, CPU time and peak RSS, but wall figures then
 * include the other run's share of the machine.
 */
import { spawn } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseFleet } from '../src/profiles/fleet.js';
import { createPolicy } from '../src/routing/registry.js';
import { Simulation } from '../src/sim/simulator.js';
import { syntheticRequests } from '../src/workload/synthetic.js';

const shareGptLike = { input: { kind: 'lognormal' as const, mean: 300, sigma: 1.0, min: 4, max: 4000 }, output: { kind: 'lognormal' as const, mean: 200, sigma: 0.8, min: 1, max: 1500 } };

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const hours = Number(arg('--hours', '24'));
const workers = Number(arg('--workers', '256'));
const rate = Number(arg('--rate', '1000'));
const count = Math.round(hours * 3600 * rate);

interface Figures {
  policy: string;
  requests: number;
  completed: number;
  simS: number;
  wallS: number;
  /** CPU seconds of the process: on a shared machine wall time also measures the neighbours. */
  cpuS: number;
  peakRssMiB: number;
  ttftP99: number;
  e2eP99: number;
}

async function runOne(policy: string): Promise<Figures> {
  let batches = 0;
  const sim = new Simulation({
    fleet: parseFleet(`h100-sxm:${workers}`),
    policy: createPolicy(policy),
    requests: syntheticRequests({ seed: 7, rate, count, ...shareGptLike }),
    seed: 1,
    scrapeIntervalS: 1,
    timeseriesIntervalS: 10,
    requestLog: 'summary',
    timeseries: false,
    batchEvents: 1 << 16,
    onBatch: (s) => {
      if (++batches % 512 !== 0) return;
      const p = s.progress();
      process.stderr.write(`  ${policy}: ${(p.simTimeS / 3600).toFixed(2)} h simulated, ${p.completed} completed\n`);
    },
  });
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const r = await sim.run();
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const c1 = process.cpuUsage(c0);
  return {
    policy,
    requests: r.summary.requests,
    completed: r.summary.completed,
    simS: r.summary.duration_s,
    wallS,
    cpuS: (c1.user + c1.system) / 1e6,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    ttftP99: r.summary.ttft_ms.p99,
    e2eP99: r.summary.e2e_ms.p99,
  };
}

if (process.argv.includes('--child')) {
  const f = await runOne(arg('--child', 'least-request'));
  process.stdout.write(`${JSON.stringify(f)}\n`);
} else {
  const policies = arg('--policies', 'least-request,cache-aware').split(',');
  process.stdout.write(`bench:day: ${hours} h at ${rate} req/s = ${count.toLocaleString('en-US')} requests on ${workers} x H100, streaming summary\n`);
  const parallel = process.argv.includes('--parallel');
  // Wall figures on a loaded machine measure the neighbours too: say how loaded it was.
  const loadAtStart = loadavg()[0];
  const runChild = (p: string): Promise<Figures | undefined> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', p, '--hours', String(hours), '--workers', String(workers), '--rate', String(rate)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (d: string) => (out += d));
      child.on('error', reject);
      child.on('close', (code) => {
        if (code !== 0) {
          process.stdout.write(`${p}: failed (exit ${code})\n`);
          resolve(undefined);
        } else resolve(JSON.parse(out.trim().split('\n').pop() as string) as Figures);
      });
    });
  const results: (Figures | undefined)[] = [];
  if (parallel) results.push(...(await Promise.all(policies.map(runChild))));
  else for (const p of policies) results.push(await runChild(p));
  const rows = results.filter((r): r is Figures => r !== undefined);
  process.stdout.write('policy           requests     completed   sim time     wall      req/s wall      CPU   req/s CPU   peak RSS   ttft p99 ms   e2e p99 ms\n');
  for (const r of rows) {
    process.stdout.write(
      `${r.policy.padEnd(14)} ${String(r.requests).padStart(10)} ${String(r.completed).padStart(12)} ${(r.simS / 3600).toFixed(2).padStart(8)} h ${(r.wallS / 60).toFixed(1).padStart(6)} min ${(r.requests / r.wallS).toFixed(0).padStart(12)} ${(r.cpuS / 60).toFixed(1).padStart(5)} min ${(r.requests / r.cpuS).toFixed(0).padStart(9)} ${r.peakRssMiB.toFixed(0).padStart(7)} MiB ${r.ttftP99.toFixed(1).padStart(12)} ${r.e2eP99.toFixed(1).padStart(12)}\n`,
    );
  }
  process.stdout.write(`machine load (1-min average): ${loadAtStart.toFixed(1)} at start, ${loadavg()[0].toFixed(1)} at end, on ${availableParallelism()} cores${parallel ? `; the ${policies.length} policies ran in parallel` : ''}\n`);
}
