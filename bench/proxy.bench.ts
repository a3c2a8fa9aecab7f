/**
 * Proxy overhead (npm run bench:proxy): requests/s, p50/p99 latency and proxy CPU µs per request
 * (process CPU time / requests) of the same loopback backends called directly, through
 * `router serve`, through a minimal node:http + undici proxy (bench/min-proxy.ts) and through
 * nginx when it is installed (skipped with a message otherwise),
 * at concurrency 32 and 128, non-streaming and streaming. Prints a table; asserts nothing.
 * Every run is bounded by a request count and a time limit.
 *
 * Each cell is measured in `--rounds` slices with the targets taking turns, so the machine's
 * load (shared) weighs on serve and on the minimal proxy alike.
 *
 * `--probe` loads bench/proxy-probe.ts into serve and into the minimal proxy and prints, per cell,
 * their event-loop delay and garbage collections during their slices (where a tail comes from):
 * pauses, scavenges and mark-compacts, and young bytes allocated, surviving and promoted per
 * request. It costs each a 1 ms timer and V8's GC profiler, so take CPU figures without it.
 *
 * For A/B runs of a change: `--base DIR` adds a target "base", `router serve` from another
 * checkout's build (DIR/dist/src/cli/main.js, e.g. main built in a spare worktree), started with the
 * same flags and measured in the same interleaved rounds; `--serve-node-args "ARGS"` and
 * `--base-node-args "ARGS"` pass node options to one of them (e.g. a V8 flag under test); `--conc 128` and `--mode json|stream` run a
 * subset of the cells; `--targets serve,base,node-min` a subset of the targets.
 *
 *   node dist/bench/proxy.bench.js [--requests N] [--seconds S] [--backends K] [--rounds R] [--probe]
 *     [--base DIR] [--serve-node-args ARGS] [--base-node-args ARGS] [--conc C] [--mode json|stream] [--targets A,B]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { quantile } from '../src/util/stats.js';
import { numberArg } from './args.js';
import { freePort } from './ports.js';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '../src/cli/main.js');
const UPSTREAM = join(here, '../test/serve/fixtures/upstream-main.js');
const MIN_PROXY = join(here, 'min-proxy.js');
const PROBE_JS = join(here, 'proxy-probe.js');
const PROBE = process.argv.includes('--probe');

const REQUESTS = numberArg('--requests', 6000);
const SECONDS = numberArg('--seconds', 8);
const BACKENDS = numberArg('--backends', 2);
/** Slices per cell, the targets taking turns (see main). */
const ROUNDS = numberArg('--rounds', 3);
const WARMUP = 500;
function stringArg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const BASE = stringArg('--base');
const nodeArgs = (flag: string): string[] => (stringArg(flag) ?? '').split(' ').filter((a) => a !== '');
const SERVE_NODE_ARGS = nodeArgs('--serve-node-args');
const BASE_NODE_ARGS = nodeArgs('--base-node-args');
const CONCURRENCIES = stringArg('--conc') !== undefined ? [numberArg('--conc', 128)] : [32, 128];
const MODES = stringArg('--mode') !== undefined ? [stringArg('--mode') === 'stream'] : [false, true];
const ONLY = stringArg('--targets')?.split(',');
const WARMUP_ROUND = 3000;

const children: ChildProcess[] = [];
/** A process the harness started: the whole child list, for cleanup. */

let lastPid = 0;

/** Starts a process and resolves with the first match of `ready` in its output. */
function start(cmd: string, args: string[], ready: RegExp): Promise<RegExpExecArray> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  lastPid = child.pid ?? 0;
  let seen = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start within 60 s: ${seen}`)), 60_000);
    const on = (c: Buffer): void => {
      seen += c.toString();
      const m = ready.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.on('exit', (code) => reject(new Error(`${cmd} exited ${code}: ${seen}`)));
  });
}

async function waitHttp(port: number, path = '/health'): Promise<void> {
  const pool = new Pool(`http://127.0.0.1:${port}`);
  for (let i = 0; i < 100; i++) {
    try {
      const r = await pool.request({ method: 'GET', path });
      await r.body.text();
      if (r.statusCode < 500) break;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await pool.close();
}

function nginxConfig(dir: string, port: number, backends: number[]): string {
  return `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream backends {
${backends.map((p) => `    server 127.0.0.1:${p};`).join('\n')}
    keepalive 256;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`;
}

/** CPU seconds (user + system) used so far by a process and its direct children (Linux /proc). */
function cpuSeconds(pid: number): number {
  const read = (p: number): number => {
    try {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      return 0;
    }
  };
  let total = read(pid);
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const f = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(f.slice(f.lastIndexOf(')') + 2).split(' ')[1]) === pid) total += read(Number(d));
    } catch {
      // gone
    }
  }
  return total;
}

interface Result {
  target: string;
  stream: boolean;
  concurrency: number;
  requests: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
  /** Proxy CPU milliseconds per request (undefined for direct). */
  cpuMs?: number;
}

/** What bench/proxy-probe.ts reports for one slice. */
interface ProbeStats {
  delayP50: number;
  delayP99: number;
  delayMax: number;
  gcCount: number;
  gcMajor: number;
  gcScavenges: number;
  gcTotalMs: number;
  gcMaxMs: number;
  allocatedBytes: number;
  survivedBytes: number;
  promotedBytes: number;
  oldAllocatedBytes: number;
}

/** A probed proxy: a SIGUSR2 makes it print the stats since the previous one (one line per signal, in order). */
interface Probe {
  pid: number;
  waiting: ((p: ProbeStats) => void)[];
}

/** Reads the probe lines of the process `start` launched last. */
function attachProbe(): Probe {
  const p: Probe = { pid: lastPid, waiting: [] };
  let buf = '';
  children[children.length - 1].stderr?.on('data', (c: Buffer) => {
    buf += c.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.startsWith('probe ')) p.waiting.shift()?.(JSON.parse(line.slice(6)) as ProbeStats);
    }
  });
  return p;
}

function probeSignal(p: Probe): Promise<ProbeStats> {
  return new Promise((resolve) => {
    p.waiting.push(resolve);
    process.kill(p.pid, 'SIGUSR2');
  });
}

/** One measured run of a target: its latencies, wall time, errors and the proxy's CPU seconds. */
interface Slice {
  lat: number[];
  wallS: number;
  errors: number;
  cpuS?: number;
  probe?: ProbeStats;
}

/** A cell's slices as one result. */
function merge(target: string, stream: boolean, concurrency: number, slices: readonly Slice[]): Result {
  const lat = slices.flatMap((x) => x.lat);
  const wall = slices.reduce((a, x) => a + x.wallS, 0);
  const cpuS = slices.every((x) => x.cpuS !== undefined) ? slices.reduce((a, x) => a + (x.cpuS ?? 0), 0) : undefined;
  const sorted = Float64Array.from(lat).sort();
  return {
    target,
    stream,
    concurrency,
    requests: lat.length,
    errors: slices.reduce((a, x) => a + x.errors, 0),
    rps: lat.length / wall,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    cpuMs: cpuS !== undefined ? (cpuS * 1000) / lat.length : undefined,
  };
}

/** Closed-loop load: `concurrency` clients, each sending its next request when the last ends. */
async function load(target: string, ports: number[], stream: boolean, concurrency: number, requests = REQUESTS, proxyPid?: number, seconds = SECONDS, probe?: Probe): Promise<Slice> {
  const pools = ports.map((p) => new Pool(`http://127.0.0.1:${p}`, { connections: Math.ceil(concurrency / ports.length) + 1, pipelining: 1 }));
  const lat: number[] = [];
  let sent = 0;
  let errors = 0;
  let cpu0 = 0;
  let measuring = false;
  const total = WARMUP + requests;
  let t0 = 0;
  let deadline = Infinity;
  const one = async (i: number): Promise<void> => {
    const body = JSON.stringify({ model: 'fixture-model', messages: [{ role: 'user', content: `benchmark request ${i % 64} about routing` }], max_tokens: 16, stream });
    const started = performance.now();
    try {
      const r = await pools[i % pools.length].request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body });
      await r.body.arrayBuffer();
      if (r.statusCode !== 200) errors++;
    } catch {
      errors++;
    }
    if (measuring) lat.push(performance.now() - started);
  };
  const client = async (): Promise<void> => {
    while (sent < total && performance.now() < deadline) {
      const i = sent++;
      if (i === WARMUP) {
        measuring = true;
        t0 = performance.now();
        if (proxyPid) cpu0 = cpuSeconds(proxyPid);
        // Starts the probe's window (the line it prints covers the warm-up: dropped).
        if (probe) void probeSignal(probe);
        deadline = t0 + seconds * 1000;
      }
      await one(i);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  const wallS = (performance.now() - t0) / 1000;
  const cpuS = proxyPid ? cpuSeconds(proxyPid) - cpu0 : undefined;
  const probed = probe ? await probeSignal(probe) : undefined;
  await Promise.all(pools.map((p) => p.close()));
  return { lat, wallS, errors, cpuS, probe: probed };
}

async function main(): Promise<void> {
  const backendPorts: number[] = [];
  for (let i = 0; i < BACKENDS; i++) {
    const port = Number((await start(process.execPath, [UPSTREAM, '--listen', '0'], /port (\d+)/))[1]);
    backendPorts.push(port);
  }
  const targets: { name: string; ports: number[]; pid?: number; probe?: Probe }[] = [{ name: 'direct', ports: backendPorts }];
  const workers = backendPorts.map((p) => `http://127.0.0.1:${p}`).join(',');
  const serves: [string, string, string[]][] = [['serve', CLI, SERVE_NODE_ARGS]];
  if (BASE !== undefined) serves.push(['base', join(BASE, 'dist/src/cli/main.js'), BASE_NODE_ARGS]);
  for (const [name, cli, nodeArgv] of serves) {
    const port = await freePort();
    await start(process.execPath, [...nodeArgv, ...(PROBE ? ['--import', PROBE_JS] : []), cli, 'serve', '--port', String(port), '--workers', workers, '--policy', 'least-request', '--log', 'off'], /listening on/);
    const pid = lastPid;
    const probe = PROBE ? attachProbe() : undefined;
    await waitHttp(port);
    targets.push({ name, ports: [port], pid, probe });
  }
  const minPort = await freePort();
  await start(process.execPath, [...(PROBE ? ['--import', PROBE_JS] : []), MIN_PROXY, String(minPort), ...backendPorts.map(String)], /listening on/);
  targets.push({ name: 'node-min', ports: [minPort], pid: lastPid, probe: PROBE ? attachProbe() : undefined });
  let tmp: string | undefined;
  const nginx = spawnSync('nginx', ['-v'], { encoding: 'utf8' });
  if (nginx.status === 0) {
    tmp = mkdtempSync(join(tmpdir(), 'bench-nginx-'));
    const port = await freePort();
    writeFileSync(join(tmp, 'nginx.conf'), nginxConfig(tmp, port, backendPorts));
    const master = spawn('nginx', ['-c', join(tmp, 'nginx.conf'), '-p', tmp], { stdio: 'ignore' });
    children.push(master);
    await waitHttp(port, '/health');
    targets.push({ name: 'nginx', ports: [port], pid: master.pid });
  } else {
    process.stderr.write('nginx not installed: comparing direct and serve only (apt-get install -y nginx)\n');
  }

  if (ONLY) targets.splice(0, targets.length, ...targets.filter((t) => ONLY.includes(t.name) || t.name === 'direct'));
  // Warm every process's JIT (backends, serve, the load generator) before any cell is measured.
  for (const t of targets) for (const stream of MODES) await load(t.name, t.ports, stream, 64, WARMUP_ROUND);

  // Each cell runs in ROUNDS slices, the targets taking turns, so a change in the machine's load
  // (it is shared) falls on every target alike and the serve / node-min ratio stays fair.
  const results: Result[] = [];
  const probeRows: { target: string; stream: boolean; concurrency: number; requests: number; probes: ProbeStats[] }[] = [];
  for (const stream of MODES) {
    for (const concurrency of CONCURRENCIES) {
      const slices = new Map<string, Slice[]>(targets.map((t) => [t.name, []]));
      for (let round = 0; round < ROUNDS; round++) {
        for (const t of targets) slices.get(t.name)?.push(await load(t.name, t.ports, stream, concurrency, Math.ceil(REQUESTS / ROUNDS), t.pid, SECONDS / ROUNDS, t.probe));
      }
      for (const t of targets) {
        const own = slices.get(t.name) ?? [];
        const probes = own.flatMap((x) => (x.probe ? [x.probe] : []));
        if (probes.length > 0) probeRows.push({ target: t.name, stream, concurrency, requests: own.reduce((a, x) => a + x.lat.length, 0), probes });
      }
      for (const t of targets) {
        const r = merge(t.name, stream, concurrency, slices.get(t.name) ?? []);
        results.push(r);
        process.stderr.write(`${t.name.padEnd(6)} ${stream ? 'stream' : 'json  '} c=${concurrency}: ${r.rps.toFixed(0)} req/s p50 ${r.p50.toFixed(2)} ms p99 ${r.p99.toFixed(2)} ms${r.cpuMs !== undefined ? ` cpu ${r.cpuMs.toFixed(3)} ms/req` : ''}\n`);
      }
    }
  }

  const rows: string[] = [];
  rows.push(`backends: ${BACKENDS} fixture upstreams on loopback (16 output tokens; SSE chunks back to back); ${REQUESTS} requests or ${SECONDS} s per cell in ${ROUNDS} interleaved slices, each after ${WARMUP} warm-up (and ${WARMUP_ROUND} per target and mode before the first cell)`);
  rows.push('');
  rows.push('| mode | conc | target | req/s | p50 ms | p99 ms | added p50 ms | proxy CPU ms/req | errors |');
  rows.push('|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const direct = results.find((d) => d.target === 'direct' && d.stream === r.stream && d.concurrency === r.concurrency)!;
    const added = r.target === 'direct' ? '' : (r.p50 - direct.p50).toFixed(2);
    rows.push(`| ${r.stream ? 'stream' : 'json'} | ${r.concurrency} | ${r.target} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${added} | ${r.cpuMs !== undefined ? r.cpuMs.toFixed(3) : ''} | ${r.errors} |`);
  }
  // Side by side: proxy CPU per request (process CPU time / requests) and serve's tail at 128.
  const names = targets.filter((t) => t.name !== 'direct').map((t) => t.name);
  const at = (name: string, stream: boolean, c: number): Result | undefined => results.find((x) => x.target === name && x.stream === stream && x.concurrency === c);
  /** serve's CPU per request over node-min's, measured in the same run (the machine is shared: the ratio is the fair figure). */
  const vsMin = (stream: boolean, c: number): number => (at('serve', stream, c)?.cpuMs ?? NaN) / (at('node-min', stream, c)?.cpuMs ?? NaN);
  rows.push('');
  rows.push(`| mode | conc | ${names.map((n) => `${n} CPU µs/req`).join(' | ')} | serve / node-min CPU | ${names.map((n) => `${n} p50/p99 ms`).join(' | ')} | ${names.map((n) => `${n} p99/p50`).join(' | ')} |`);
  rows.push(`|---|---|${names.map(() => '---|').join('')}---|${names.map(() => '---|').join('')}${names.map(() => '---|').join('')}`);
  for (const stream of MODES) {
    for (const concurrency of CONCURRENCIES) {
      const cells = names.map((n) => at(n, stream, concurrency));
      rows.push(
        `| ${stream ? 'stream (16 events)' : 'json'} | ${concurrency} | ${cells.map((c) => (c?.cpuMs !== undefined ? (c.cpuMs * 1000).toFixed(0) : '-')).join(' | ')} | ${vsMin(stream, concurrency).toFixed(2)}x | ${cells.map((c) => (c ? `${c.p50.toFixed(2)} / ${c.p99.toFixed(2)}` : '-')).join(' | ')} | ${cells.map((c) => (c ? `${(c.p99 / c.p50).toFixed(1)}x` : '-')).join(' | ')} |`,
      );
    }
  }
  const sj = at('serve', false, 128);
  const ss = at('serve', true, 128);
  const cpu = (stream: boolean): number => Math.max(...CONCURRENCIES.map((c) => (at('serve', stream, c)?.cpuMs ?? NaN) * 1000));
  const ratio = (stream: boolean): number => Math.max(...CONCURRENCIES.map((c) => vsMin(stream, c)));
  rows.push('');
  rows.push(
    `targets (issue 11): serve CPU ≤ 100 µs/json request: ${cpu(false).toFixed(0)} µs (${ratio(false).toFixed(2)}x node-min, aim ≤ 1.2x); ≤ 200 µs/16-event stream: ${cpu(true).toFixed(0)} µs (${ratio(true).toFixed(2)}x node-min); p99 ≤ 3× p50 at 128 connections: json ${sj ? (sj.p99 / sj.p50).toFixed(1) : '-'}x, stream ${ss ? (ss.p99 / ss.p50).toFixed(1) : '-'}x`,
  );
  if (probeRows.length > 0) {
    // Percentiles of the slices are not merged: the worst slice's is shown. Bytes are per request.
    rows.push('');
    rows.push('| mode | conc | proxy | event-loop delay p50 / p99 / max ms (worst slice) | GC pauses: count (mark-compacts) | GC ms per 1000 req | longest GC ms | scavenges per 1000 req | young KB allocated / req | KB surviving per scavenge | bytes promoted / req | bytes allocated old / req |');
    rows.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const { target, stream, concurrency, requests, probes } of probeRows) {
      const worst = (f: (p: ProbeStats) => number): number => Math.max(...probes.map(f));
      const sum = (f: (p: ProbeStats) => number): number => probes.reduce((a, p) => a + f(p), 0);
      const perK = (x: number): string => ((x * 1000) / requests).toFixed(1);
      const scav = sum((p) => p.gcScavenges);
      rows.push(
        `| ${stream ? 'stream' : 'json'} | ${concurrency} | ${target} | ${worst((p) => p.delayP50).toFixed(2)} / ${worst((p) => p.delayP99).toFixed(2)} / ${worst((p) => p.delayMax).toFixed(1)} | ${sum((p) => p.gcCount)} (${sum((p) => p.gcMajor)}) | ${perK(sum((p) => p.gcTotalMs))} | ${worst((p) => p.gcMaxMs).toFixed(1)} | ${perK(scav)} | ${(sum((p) => p.allocatedBytes) / requests / 1024).toFixed(1)} | ${scav > 0 ? (sum((p) => p.survivedBytes) / scav / 1024).toFixed(0) : '-'} | ${(sum((p) => p.promotedBytes) / requests).toFixed(0)} | ${(sum((p) => p.oldAllocatedBytes) / requests).toFixed(0)} |`,
      );
    }
  }
  if (targets.some((t) => t.name === 'nginx')) {
    rows.push('');
    rows.push('| mode | conc | serve/nginx throughput | serve/nginx added p50 |');
    rows.push('|---|---|---|---|');
    for (const stream of [false, true]) {
      for (const concurrency of [32, 128]) {
        const get = (t: string): Result | undefined => results.find((x) => x.target === t && x.stream === stream && x.concurrency === concurrency);
        const [d, s, n] = [get('direct'), get('serve'), get('nginx')];
        if (!d || !s || !n) continue;
        const addedRatio = n.p50 - d.p50 > 0 ? `${((s.p50 - d.p50) / (n.p50 - d.p50)).toFixed(2)}x` : 'n/a (nginx added nothing)';
        rows.push(`| ${stream ? 'stream' : 'json'} | ${concurrency} | ${(s.rps / n.rps).toFixed(2)}x | ${addedRatio} |`);
      }
    }
  }
  process.stdout.write(rows.join('\n') + '\n');
  await stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}

/**
 * Stops every child and waits (at most 10 s each) until it has exited. nginx's master gets
 * SIGTERM, its fast shutdown: a SIGKILL would leave its worker process running, orphaned.
 */
async function stopAll(): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) {
            resolve();
            return;
          }
          const t = setTimeout(() => {
            c.kill('SIGKILL');
            resolve();
          }, 10_000);
          c.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          c.kill(c.spawnfile === 'nginx' ? 'SIGTERM' : 'SIGKILL');
        }),
    ),
  );
}

main().catch(async (err: unknown) => {
  await stopAll();
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
