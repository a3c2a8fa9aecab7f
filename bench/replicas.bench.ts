/**
 * Router replicas (npm run bench:replicas, issue 15): a shared-prefix trace through 1 and 3
 * `router serve` replicas (the client spreads requests round-robin over them) in front of 4
 * `router mock-worker`s, each started fresh per run (empty caches). Modes:
 * - approximate: routing-decision prefix index (`weighted`, scorers prefix:3, active-requests:2,
 *   kv:2), each replica on its own state ("independent");
 * - approximate+redis: the same, replicas sharing load, pins and routing decisions (each
 *   dispatch's blocks, replayed in the others' indexes) through `--state redis://`;
 * - precise: the same weights with the `precise-prefix` scorer fed by the workers' KV events
 *   (`mock-worker --kv-events`, `--workers URL;kv_events=...`), when that scorer is registered;
 *   reported as missing otherwise; with 3 replicas independent (`precise-independent`: each
 *   replica's speculative inserts and in-flight counts its own) and through `--state`
 *   (`precise+redis`: the others' in-flight load and speculative inserts shared as above).
 * The rows share one trace and one seed; a run's workers start empty.
 * Prints prefix hit rate (the workers' vLLM counters: cached / queried prompt tokens), client TTFT
 * mean/p99 (to the first content byte of the stream) and load imbalance (max/mean requests per
 * worker). Asserts nothing. Every run is bounded by its request count and a deadline.
 *
 * With `--seeds K` (default 2) every mode runs on K traces (seeds S, S+1, ...), in interleaved
 * rounds (round k runs every mode on seed S+k, so a load change on the machine hits every mode
 * alike); the table shows the means and each seed's hit rate (one trace's hit rate moves by
 * several points with the seed alone). `--modes approximate:1,precise+redis:3` runs only those.
 *
 *   node dist/bench/replicas.bench.js [--requests N] [--rate R] [--groups G] [--seed S] [--seeds K] [--modes M:N,...]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { quantile } from '../src/util/stats.js';
import { createRng, exponential } from '../src/util/rng.js';
import { numberArg } from './args.js';
import { freePort } from './ports.js';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '../src/cli/main.js');

const REQUESTS = numberArg('--requests', 240);
const RATE = numberArg('--rate', 8);
const GROUPS = numberArg('--groups', 8);
const SEED = numberArg('--seed', 42);
const SEEDS = numberArg('--seeds', 2);
const MODES_ARG = process.argv.includes('--modes') ? process.argv[process.argv.indexOf('--modes') + 1] : undefined;
const WORKERS = 4;
const PREFIX_WORDS = 1200;
const SUFFIX_WORDS = 40;
const MAX_TOKENS = 24;
/** KV blocks per mock worker: about two groups' prefixes, so spreading a group over workers evicts. */
const GPU_BLOCKS = 420;
const START_TIMEOUT_MS = 90_000;
const RUN_DEADLINE_MS = 240_000;

const children = new Set<ChildProcess>();

interface Started {
  child: ChildProcess;
  match: RegExpExecArray;
  output: () => string;
}

/** Starts a process and resolves with the first match of `ready` in its output (bounded). */
function start(cmd: string, args: string[], ready: RegExp): Promise<Started> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let seen = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} ${args.slice(0, 2).join(' ')} did not start in ${START_TIMEOUT_MS} ms: ${seen}`)), START_TIMEOUT_MS);
    const on = (c: Buffer): void => {
      seen += c.toString();
      const m = ready.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve({ child, match: m, output: () => seen });
      }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} ${args.slice(0, 2).join(' ')} exited ${code}: ${seen}`));
    });
  });
}

/** Stops one process by its PID (SIGTERM, then SIGKILL after a bound). */
async function stopProc(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

// ---- the trace ------------------------------------------------------------------------------

const VOCAB = ['system', 'policy', 'answer', 'context', 'table', 'query', 'value', 'record', 'field', 'index', 'model', 'router', 'cache', 'token', 'block', 'worker', 'replica', 'prefix', 'engine', 'request'];

function words(rng: ReturnType<typeof createRng>, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(`${VOCAB[rng.int(VOCAB.length)]}${rng.int(100)}`);
  return out.join(' ');
}

interface TraceRequest {
  atMs: number;
  group: number;
  body: string;
}

/** Shared-prefix groups (SGLang's generated-shared-prefix shape): a long system prompt per group, a short unique question. */
function trace(seed: number): TraceRequest[] {
  const rng = createRng(seed);
  const prefixes = Array.from({ length: GROUPS }, () => words(rng, PREFIX_WORDS));
  const out: TraceRequest[] = [];
  let t = 0;
  for (let i = 0; i < REQUESTS; i++) {
    t += exponential(rng, RATE);
    const g = rng.int(GROUPS);
    const body = JSON.stringify({ model: 'llama-3.1-8b', stream: true, max_tokens: MAX_TOKENS, messages: [{ role: 'system', content: prefixes[g] }, { role: 'user', content: words(rng, SUFFIX_WORDS) }] });
    out.push({ atMs: t * 1000, group: g, body });
  }
  return out;
}

// ---- one run --------------------------------------------------------------------------------

type Mode = 'approximate' | 'approximate+redis' | 'precise' | 'precise+redis';

interface Row {
  mode: string;
  replicas: number;
  hitRate: number;
  ttftMean: number;
  ttftP99: number;
  imbalance: number;
  failed: number;
}

async function metricSum(port: number, name: string): Promise<number> {
  const pool = new Pool(`http://127.0.0.1:${port}`);
  try {
    const r = await pool.request({ method: 'GET', path: '/metrics' });
    const text = await r.body.text();
    let sum = 0;
    for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    return sum;
  } finally {
    await pool.close();
  }
}

/** Sends one streaming request; resolves with the TTFT (ms, to the first content byte) and the worker that answered. */
async function send(pool: Pool, body: string): Promise<{ ttftMs: number; worker: string; ok: boolean }> {
  const t0 = performance.now();
  const r = await pool.request({ method: 'POST', path: '/v1/chat/completions', body, headers: { 'content-type': 'application/json' } });
  const worker = String(r.headers['x-router-worker'] ?? '?');
  let ttft = NaN;
  let seen = '';
  for await (const chunk of r.body) {
    if (Number.isNaN(ttft)) {
      seen += (chunk as Buffer).toString();
      if (/"content":"[^"]/.test(seen)) ttft = performance.now() - t0;
      else if (seen.length > 1 << 16) seen = seen.slice(-256);
    }
  }
  return { ttftMs: ttft, worker, ok: r.statusCode === 200 && !Number.isNaN(ttft) };
}

async function runOnce(mode: Mode, replicas: number, reqs: TraceRequest[], redisUrl: string | undefined, seed: number): Promise<Row> {
  const started: ChildProcess[] = [];
  try {
    const workers: { url: string; port: number; events?: string }[] = [];
    for (let i = 0; i < WORKERS; i++) {
      const events = mode.startsWith('precise') ? `tcp://127.0.0.1:${await freePort()}` : undefined;
      const w = await start(process.execPath, [CLI, 'mock-worker', '--gpu', 'l20', '--port', '0', '--tokenizer', 'fast', '--engine', `num_gpu_blocks=${GPU_BLOCKS}`, ...(events ? ['--kv-events', events] : [])], /http:\/\/127\.0\.0\.1:(\d+)/);
      started.push(w.child);
      workers.push({ url: `http://127.0.0.1:${w.match[1]}`, port: Number(w.match[1]), events });
    }
    const spec = workers.map((w, i) => `${w.url};gpu=l20;name=w${i}${w.events ? `;kv_events=${w.events}` : ''}`).join(',');
    const prefixScorer = mode.startsWith('precise') ? 'precise-prefix' : 'prefix';
    const serves: number[] = [];
    // One key prefix for the run's replicas (each run starts from an empty shared state).
    const statePrefix = `bench-${mode}-${replicas}-${Date.now()}:`;
    for (let i = 0; i < replicas; i++) {
      const args = [CLI, 'serve', '--port', '0', '--workers', spec, '--policy', 'weighted', '--policy-opt', `scorers=${prefixScorer}:3,active-requests:2,kv:2`, '--seed', String(seed + i), '--log', 'off', '--worker-header', '--health-interval', '0', '--scrape-interval', '0.5'];
      if (mode.endsWith('+redis') && redisUrl) args.push('--state', redisUrl, '--state-replica-id', `bench-${i}`, '--state-prefix', statePrefix);
      const s = await start(process.execPath, args, /listening on http:\/\/127\.0\.0\.1:(\d+)/);
      started.push(s.child);
      serves.push(Number(s.match[1]));
    }
    const pools = serves.map((p) => new Pool(`http://127.0.0.1:${p}`, { connections: 256 }));
    const t0 = performance.now();
    const deadline = t0 + RUN_DEADLINE_MS;
    const results: Promise<{ ttftMs: number; worker: string; ok: boolean }>[] = [];
    for (let i = 0; i < reqs.length; i++) {
      const wait = t0 + reqs[i].atMs - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (performance.now() > deadline) break;
      results.push(send(pools[i % replicas], reqs[i].body).catch(() => ({ ttftMs: NaN, worker: '?', ok: false })));
    }
    const done = await Promise.race([Promise.all(results), new Promise<null>((r) => setTimeout(() => r(null), Math.max(1000, deadline - performance.now())).unref())]);
    await Promise.all(pools.map((p) => p.destroy()));
    const out = done ?? [];
    const ok = out.filter((r) => r.ok);
    const ttfts = ok.map((r) => r.ttftMs).sort((a, b) => a - b);
    const perWorker = new Map<string, number>();
    for (const r of ok) perWorker.set(r.worker, (perWorker.get(r.worker) ?? 0) + 1);
    const counts = workers.map((_, i) => perWorker.get(`w${i}`) ?? 0);
    let hits = 0;
    let queries = 0;
    for (const w of workers) {
      hits += await metricSum(w.port, 'vllm:prefix_cache_hits_total');
      queries += await metricSum(w.port, 'vllm:prefix_cache_queries_total');
    }
    const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
    return {
      mode: (mode === 'approximate' || mode === 'precise') && replicas > 1 ? `${mode}-independent` : mode,
      replicas,
      hitRate: queries > 0 ? hits / queries : NaN,
      ttftMean: ttfts.reduce((a, b) => a + b, 0) / Math.max(1, ttfts.length),
      ttftP99: quantile(ttfts, 0.99),
      imbalance: mean > 0 ? Math.max(...counts) / mean : NaN,
      failed: reqs.length - ok.length,
    };
  } finally {
    // Serve replicas first (they drain), then the workers.
    for (const c of [...started].reverse()) await stopProc(c);
  }
}

async function startRedis(): Promise<{ url: string; child: ChildProcess } | undefined> {
  if (spawnSync('redis-server', ['--version']).status !== 0) return undefined;
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    const t = setTimeout(() => reject(new Error('redis-server did not start')), 20_000);
    child.stdout?.on('data', (c: Buffer) => {
      seen += c.toString();
      if (/Ready to accept connections/.test(seen)) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  return { url: `redis://127.0.0.1:${port}`, child };
}

function hasPreciseScorer(): boolean {
  const r = spawnSync(process.execPath, [CLI, 'policies', '--json'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('precise-prefix');
}

/** One line per mode: the means over its seeds, and each seed's hit rate. */
function fmt(rows: Row[][]): string {
  const head = '| mode | replicas | prefix hit rate | TTFT mean ms | TTFT p99 ms | imbalance | failed | hit rate per seed |';
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const lines = rows.map((rs) => {
    const r = rs[0];
    return `| ${r.mode} | ${r.replicas} | ${(mean(rs.map((x) => x.hitRate)) * 100).toFixed(1)}% | ${mean(rs.map((x) => x.ttftMean)).toFixed(1)} | ${mean(rs.map((x) => x.ttftP99)).toFixed(1)} | ${mean(rs.map((x) => x.imbalance)).toFixed(2)} | ${rs.reduce((a, x) => a + x.failed, 0)} | ${rs.map((x) => (x.hitRate * 100).toFixed(1)).join(' · ')} |`;
  });
  return [head, '|---|---|---|---|---|---|---|---|', ...lines].join('\n');
}

async function main(): Promise<void> {
  const seeds = Array.from({ length: Math.max(1, SEEDS) }, (_, k) => SEED + k);
  process.stderr.write(`bench:replicas: ${REQUESTS} requests, Poisson ${RATE} req/s, ${GROUPS} prefix groups of ${PREFIX_WORDS} words, ${WORKERS} mock workers (l20, ${GPU_BLOCKS} KV blocks each), seeds ${seeds.join(', ')}\n`);
  const redis = await startRedis();
  if (!redis) process.stderr.write('bench:replicas: redis-server is not installed: approximate+redis skipped (apt-get install -y redis-server)\n');
  const precise = hasPreciseScorer();
  if (!precise) process.stderr.write('bench:replicas: no precise-prefix scorer in this build (KV events not merged): precise mode missing\n');
  let plan: [Mode, number][] = [['approximate', 1], ['approximate', 3]];
  if (redis) plan.push(['approximate+redis', 3]);
  if (precise) plan.push(['precise', 1], ['precise', 3]);
  if (precise && redis) plan.push(['precise+redis', 3]);
  if (MODES_ARG !== undefined) {
    const want = new Set(MODES_ARG.split(','));
    plan = plan.filter(([m, n]) => want.has(`${m}:${n}`));
  }
  const rows: Row[][] = plan.map(() => []);
  try {
    for (const seed of seeds) {
      const reqs = trace(seed);
      for (let p = 0; p < plan.length; p++) {
        const [mode, n] = plan[p];
        process.stderr.write(`bench:replicas: seed ${seed}: ${mode}, ${n} replica(s)...\n`);
        rows[p].push(await runOnce(mode, n, reqs, redis?.url, seed));
      }
    }
  } finally {
    if (redis) await stopProc(redis.child);
    for (const c of [...children]) await stopProc(c);
  }
  process.stdout.write(`${fmt(rows)}\n`);
  if (!precise) process.stdout.write('precise (KV events): missing — the precise-prefix scorer is not in this build\n');
}

await main();
