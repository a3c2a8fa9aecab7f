/**
 * AIBrix's heterogeneous-GPU SLO scenario (npm run bench:slo): ShareGPT at 7 req/s mixed with BIRD
 * text-to-SQL at 4 req/s on one A10 and four L20s, SLO = P99 TPOT <= 50 ms, at load multipliers
 * 1x, 1.5x, 2x and 3x (both rates scaled), plus a homogeneous control fleet (five L20s). Every
 * policy runs as a user would run it: `router simulate --mix ... --policy P` with no tables given,
 * so the slo* policies derive theirs from the deployment profiles (cached; the bench first times
 * one cold and one warm derivation in a fresh cache directory).
 *
 * Per policy and load it prints: P99 latency per token (E2E / output tokens, AIBrix's figure),
 * SLO attainment counting every rejected request as a miss, goodput (requests meeting the SLO per
 * second), rejected requests, and cost. Prints figures; asserts nothing. AIBrix's published
 * figures (real A10+L20, 1x): slo 0.032 s, slo-pack-load 0.044 s, least-request ~0.12 s P99
 * latency per token.
 *
 *   npm run bench:slo -- [--data DIR] [--duration S] [--out DIR] [--loads 1,1.5,2,3]
 *                        [--policies a,b:opt=v] [--fleets a10:1,l20:4,l20:5] [--jobs N]
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse } from 'csv-parse/sync';
import { quantile } from '../src/util/stats.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const SLO = 'tpot_ms=50,percentile=99';

const { values: flags } = parseArgs({
  options: {
    data: { type: 'string' },
    duration: { type: 'string', default: '600' },
    out: { type: 'string', default: join(tmpdir(), 'router-slo-scenario') },
    loads: { type: 'string', default: '1,1.5,2,3' },
    policies: { type: 'string', default: 'slo,slo-least-load,slo-pack-load,least-request,prefix-cache,random' },
    fleets: { type: 'string', default: 'a10:1,l20:4;l20:5' },
    seed: { type: 'string', default: '42' },
    jobs: { type: 'string', default: '2' },
    'sharegpt-rps': { type: 'string', default: '7' },
    'bird-rps': { type: 'string', default: '4' },
  },
});

function fail(message: string): never {
  process.stderr.write(`bench:slo: ${message}\n`);
  process.exit(1);
}

const data = flags.data ?? [resolve(ROOT, '..', 'shared', 'data'), resolve(ROOT, '..', '..', 'shared', 'data')].find((d) => existsSync(d));
if (!data) fail('no shared data directory (../shared/data beside the checkout); pass --data DIR holding sharegpt/ and bird/');
const sharegpt = join(data, 'sharegpt', 'sharegpt_v3_sample1000.json');
const bird = join(data, 'bird', 'dev.json');
for (const f of [sharegpt, bird]) if (!existsSync(f)) fail(`${f} is missing`);
mkdirSync(flags.out, { recursive: true });

// Cold and warm derivation of the scenario fleet's tables, in a fresh cache directory.
{
  const cache = mkdtempSync(join(tmpdir(), 'router-slo-cache-'));
  const times: number[] = [];
  for (let i = 0; i < 2; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [CLI, 'simulate', '--limit', '1', '--fleet', 'a10:1,l20:4', '--policy', 'slo', '--slo', SLO, '--json'], { encoding: 'utf8', env: { ...process.env, ROUTER_CACHE_DIR: cache, CI: 'true' } });
    if (r.status !== 0) fail(`derivation run failed:\n${r.stderr}`);
    times.push((performance.now() - t0) / 1e3);
  }
  rmSync(cache, { recursive: true, force: true });
  process.stdout.write(`derived tables for a10 + l20 (one-request simulate, whole process): cold cache ${times[0].toFixed(2)} s, warm cache ${times[1].toFixed(2)} s\n`);
}

interface Row {
  fleet: string;
  load: number;
  label: string;
  requests: number;
  rejected: number;
  /** Admitted requests that missed the SLO, per GPU type (`a10 12 l20 3`): why a cell is lost besides rejections. */
  missed: string;
  perTokenP99: number;
  attainment: number;
  goodput: number;
  cost: number;
}

interface Job {
  fleet: string;
  load: number;
  spec: string;
  dir: string;
  args: string[];
}

const jobs: Job[] = [];
for (const fleet of flags.fleets.split(';')) {
  for (const load of flags.loads.split(',').map(Number)) {
    const mix = `${sharegpt}:${Number(flags['sharegpt-rps']) * load},${bird}:${Number(flags['bird-rps']) * load}`;
    for (const spec of flags.policies.split(',')) {
      const [policy, ...opts] = spec.split(':');
      const dir = join(flags.out, `${fleet.replace(/[^A-Za-z0-9]/g, '_')}-x${load}-${spec.replace(/[^A-Za-z0-9_-]/g, '_')}`);
      const args = ['simulate', '--mix', mix, '--duration', flags.duration, '--fleet', fleet, '--slo', SLO, '--policy', policy, '--seed', flags.seed, '--json', '--out', dir];
      for (const o of opts) args.push('--policy-opt', o);
      jobs.push({ fleet, load, spec, dir, args });
    }
  }
}

function run(j: Job): Promise<Row> {
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, [CLI, ...j.args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: 'true' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`router ${j.args.join(' ')} failed (${String(code)}):\n${err}`));
        return;
      }
      const s = JSON.parse(out) as { requests: number; rejected: number; duration_s: number; cost_usd: number };
      const reqs = parse<Record<string, string>>(readFileSync(join(j.dir, 'requests.csv')), { columns: true });
      // AIBrix's "latency per token": end-to-end latency over output tokens, per completed request.
      const perToken = Float64Array.from(reqs.filter((r) => r.status === 'ok' && Number(r.output_tokens) > 0).map((r) => Number(r.e2e_ms) / Number(r.output_tokens))).sort();
      // Every request counts: a rejected one is a miss.
      const met = reqs.filter((r) => r.status === 'ok' && r.slo_met === 'true').length;
      const missedBy = new Map<string, number>();
      for (const r of reqs) {
        if (r.status !== 'ok') continue;
        const gpu = r.worker.replace(/-\d+$/, '');
        missedBy.set(gpu, (missedBy.get(gpu) ?? 0) + (r.slo_met === 'true' ? 0 : 1));
      }
      const missed = [...missedBy].sort(([a], [b]) => a.localeCompare(b)).map(([g, n]) => `${g} ${n}`).join(' ');
      done({ fleet: j.fleet, load: j.load, label: j.spec, requests: reqs.length, rejected: s.rejected, missed, perTokenP99: quantile(perToken, 0.99), attainment: met / reqs.length, goodput: met / s.duration_s, cost: s.cost_usd });
    });
  });
}

const rows = new Array<Row>(jobs.length);
let next = 0;
const lanes = Array.from({ length: Math.max(1, Number(flags.jobs)) }, async () => {
  while (next < jobs.length) {
    const k = next++;
    process.stderr.write(`[${k + 1}/${jobs.length}] router ${jobs[k].args.join(' ')}\n`);
    rows[k] = await run(jobs[k]);
  }
});
await Promise.all(lanes).catch((e: unknown) => fail(e instanceof Error ? e.message : String(e)));

const head = ['fleet', 'load', 'policy', 'requests', 'rejected', 'admitted missed', 'E2E/token p99 ms', 'SLO attain.', 'goodput req/s', 'cost $'];
const body = rows.map((r) => [r.fleet, `${r.load}x`, r.label, String(r.requests), String(r.rejected), r.missed, r.perTokenP99.toFixed(1), `${(r.attainment * 100).toFixed(1)}%`, r.goodput.toFixed(2), r.cost.toFixed(3)]);
const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
const line = (cells: string[]): string => cells.map((c, i) => (i < 3 || i === 5 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
process.stdout.write(`AIBrix SLO scenario: --mix sharegpt:${flags['sharegpt-rps']},bird:${flags['bird-rps']} (x load) --duration ${flags.duration} --slo ${SLO}; attainment counts rejected requests as misses\n`);
process.stdout.write(`${line(head)}\n${body.map(line).join('\n')}\n`);
process.stdout.write('AIBrix (real A10+L20, 1x): P99 latency per token slo 32 ms, slo-pack-load 44 ms, least-request ~120 ms\n');
