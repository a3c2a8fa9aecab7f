/**
 * serve's upstream-side CPU per request, A/B (npm run bench:upstream): the same loopback fixture
 * backends called through this tree's `router serve`, through another build's (`--base DIR`, a
 * checkout of main built into DIR) and through the minimal Node proxy (bench/min-proxy.ts), in
 * interleaved rounds so the machine's load (shared) falls on every target alike. Prints, per
 * mode, CPU µs per request (process CPU time / requests) and the ratios this / base and
 * this / node-min, which are the load-robust figures. `--cpu-prof DIR` runs every proxy under
 * `node --cpu-prof` and leaves the profiles in DIR (taken with the profiler's overhead: use them
 * for shares, not for totals). Asserts nothing; every run is bounded by a count and a time limit.
 *
 *   node dist/bench/upstream.bench.js [--base DIR] [--requests N] [--seconds S] [--rounds R] [--conc C] [--modes json,stream] [--undici] [--cpu-prof DIR]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { quantile } from '../src/util/stats.js';
import { numberArg } from './args.js';
import { freePort } from './ports.js';

const here = dirname(fileURLToPath(import.meta.url));
const UPSTREAM = join(here, '../test/serve/fixtures/upstream-main.js');
const MIN_PROXY = join(here, 'min-proxy.js');

function stringArg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const REQUESTS = numberArg('--requests', 4000);
const SECONDS = numberArg('--seconds', 6);
const ROUNDS = numberArg('--rounds', 4);
const CONC = numberArg('--conc', 32);
const BASE = stringArg('--base');
const PROF = stringArg('--cpu-prof');
/** Also this build with `--upstream-client undici` (target serve-undici): the client's share in one build. */
const UNDICI = process.argv.includes('--undici');
const MODES = (stringArg('--modes') ?? 'json,stream').split(',').map((m) => m === 'stream');
const WARMUP = 300;

const children: ChildProcess[] = [];

function start(args: string[], ready: RegExp): Promise<{ m: RegExpExecArray; child: ChildProcess }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let seen = '';
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${args.join(' ')} did not start within 60 s: ${seen}`)), 60_000);
    const on = (c: Buffer): void => {
      seen += c.toString();
      const m = ready.exec(seen);
      if (m) {
        clearTimeout(timer);
        res({ m, child });
      }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.on('exit', (code) => rej(new Error(`${args.join(' ')} exited ${code}: ${seen}`)));
  });
}

/** CPU seconds (user + system) used so far by a process (Linux /proc). */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Target {
  name: string;
  port: number;
  child: ChildProcess;
}

interface Slice {
  lat: number[];
  cpuS: number;
  errors: number;
}

async function load(t: Target, stream: boolean, requests: number, seconds: number): Promise<Slice> {
  const pool = new Pool(`http://127.0.0.1:${t.port}`, { connections: CONC + 1, pipelining: 1 });
  const lat: number[] = [];
  let sent = 0;
  let errors = 0;
  let cpu0 = 0;
  let measuring = false;
  let deadline = Infinity;
  const pid = t.child.pid ?? 0;
  const one = async (i: number): Promise<void> => {
    const body = JSON.stringify({ model: 'fixture-model', messages: [{ role: 'user', content: `benchmark request ${i % 64} about routing` }], max_tokens: 16, stream });
    const t0 = performance.now();
    try {
      const r = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body });
      await r.body.arrayBuffer();
      if (r.statusCode !== 200) errors++;
    } catch {
      errors++;
    }
    if (measuring) lat.push(performance.now() - t0);
  };
  const total = WARMUP + requests;
  const client = async (): Promise<void> => {
    while (sent < total && performance.now() < deadline) {
      const i = sent++;
      if (i === WARMUP) {
        measuring = true;
        cpu0 = cpuSeconds(pid);
        deadline = performance.now() + seconds * 1000;
      }
      await one(i);
    }
  };
  await Promise.all(Array.from({ length: CONC }, client));
  const cpuS = cpuSeconds(pid) - cpu0;
  await pool.close();
  return { lat, cpuS, errors };
}

async function main(): Promise<void> {
  const backends: number[] = [];
  for (let i = 0; i < 2; i++) backends.push(Number((await start([UPSTREAM, '--listen', '0'], /port (\d+)/)).m[1]));
  // node-min has no SIGINT handler: the profiler writes only on a normal exit.
  const prof = PROF ? ['--cpu-prof', '--cpu-prof-dir', resolve(PROF), '--import', "data:text/javascript,process.once('SIGINT',()=>process.exit(0))"] : [];
  const workers = backends.map((p) => `http://127.0.0.1:${p}`).join(',');
  const targets: Target[] = [];
  const serveFrom = async (name: string, root: string, extra: string[] = []): Promise<void> => {
    const port = await freePort();
    const { child } = await start([...prof, join(root, 'src/cli/main.js'), 'serve', '--port', String(port), '--workers', workers, '--policy', 'least-request', '--log', 'off', ...extra], /listening on/);
    targets.push({ name, port, child });
  };
  await serveFrom('serve', join(here, '..'));
  if (UNDICI) await serveFrom('serve-undici', join(here, '..'), ['--upstream-client', 'undici']);
  if (BASE) await serveFrom('base', join(resolve(BASE), 'dist'));
  const minPort = await freePort();
  targets.push({ name: 'node-min', port: minPort, child: (await start([...prof, MIN_PROXY, String(minPort), ...backends.map(String)], /listening on/)).child });

  for (const t of targets) for (const stream of MODES) await load(t, stream, 1500, 30);

  const rows = ['| mode | target | req | CPU µs/req | p50 ms | p99 ms | errors |', '|---|---|---|---|---|---|---|'];
  const ratios: string[] = [];
  for (const stream of MODES) {
    const slices = new Map<string, Slice[]>(targets.map((t) => [t.name, []]));
    for (let r = 0; r < ROUNDS; r++) for (const t of r % 2 === 0 ? targets : [...targets].reverse()) slices.get(t.name)?.push(await load(t, stream, Math.ceil(REQUESTS / ROUNDS), SECONDS / ROUNDS));
    const us = new Map<string, number>();
    for (const t of targets) {
      const s = slices.get(t.name) ?? [];
      const lat = Float64Array.from(s.flatMap((x) => x.lat)).sort();
      const cpu = s.reduce((a, x) => a + x.cpuS, 0);
      us.set(t.name, (cpu * 1e6) / lat.length);
      rows.push(`| ${stream ? 'stream' : 'json'} | ${t.name} | ${lat.length} | ${((cpu * 1e6) / lat.length).toFixed(1)} | ${quantile(lat, 0.5).toFixed(2)} | ${quantile(lat, 0.99).toFixed(2)} | ${s.reduce((a, x) => a + x.errors, 0)} |`);
    }
    const me = us.get('serve') ?? NaN;
    ratios.push(
      `${stream ? 'stream' : 'json'} c=${CONC}: serve/node-min ${(me / (us.get('node-min') ?? NaN)).toFixed(2)}x${UNDICI ? `, serve/serve-undici ${(me / (us.get('serve-undici') ?? NaN)).toFixed(3)}x` : ''}${BASE ? `, serve/base ${(me / (us.get('base') ?? NaN)).toFixed(3)}x` : ''}`,
    );
  }
  process.stdout.write(`${rows.join('\n')}\n\n${ratios.join('\n')}\n`);
  // SIGINT lets serve drain and exit normally (and write its --cpu-prof profile).
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((res) => {
          if (c.exitCode !== null) {
            res();
            return;
          }
          const kill = setTimeout(() => c.kill('SIGKILL'), 10_000);
          c.once('exit', () => {
            clearTimeout(kill);
            res();
          });
          c.kill('SIGINT');
        }),
    ),
  );
}

main().catch((err: unknown) => {
  for (const c of children) c.kill('SIGKILL');
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
