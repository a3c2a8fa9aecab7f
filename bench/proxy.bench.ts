/**
 * Proxy overhead (npm run bench:proxy): requests/s, p50/p99 latency and proxy CPU µs per request
 * (process CPU time / requests) of the same loopback backends called directly, through
 * `router serve`, through a minimal node:http + undici proxy (bench/min-proxy.ts) and through
 * nginx when it is installed (skipped with a message otherwise),
 * at concurrency 32 and 128, non-streaming and streaming. Prints tables; asserts nothing.
 * Every run is bounded by a time limit (and, with the Node load generator, a request count).
 *
 * Load generator: wrk (bench/wrk.ts; `apt-get install -y wrk`), closed loop, one thread per
 * port, latencies as measured (wrk's coordinated-omission correction undone); when wrk is missing
 * the bench says so and uses its Node generator (undici Pool), which `--loadgen node` selects.
 * Processes are pinned with taskset (bench/cores.ts): the proxy under test alone on CPU 0, the
 * load generator, the backends and this harness on the others (`--no-pin` turns it off), the
 * same for serve, node-min and nginx (one worker process).
 *
 * Each cell is measured in `--rounds` slices with the targets taking turns, so the machine's
 * load (shared) weighs on serve and on the minimal proxy alike. The tail is reported per slice:
 * the median of the slices' p99/p50 next to their min and max, so one slice that caught a
 * hiccup of the machine does not decide the figure.
 *
 * `--probe` loads bench/proxy-probe.ts into serve and into the minimal proxy and prints, per cell,
 * their event-loop delay and garbage collections during their slices (where a tail comes from):
 * pauses, scavenges and mark-compacts, and young bytes allocated, surviving and promoted per
 * request. It costs each a 1 ms timer and V8's GC profiler, so take CPU figures without it.
 *
 * Backends (`--backend net|fixture`): by default bench/upstream-net.ts, the fixture upstream's
 * answers byte for byte (headers, chunked SSE framing, 16 events, the usage chunk when asked
 * for, [DONE]; test/bench/upstream-net.test.ts) on raw node:net with responses prebuilt per
 * body, so the backends, which share a CPU with wrk, cost a fraction of what the node:http
 * fixture (`--backend fixture`) costs and the direct run's tail is the network's, not theirs.
 * It differs from the fixture only where the bench does not look (no control endpoints or fault
 * modes; see its header). The backends' CPU per request is printed next to the proxy's.
 *
 * The machine is shared: next to each proxy's figures the bench prints its run-queue wait (ms per
 * second of slice that it was runnable but another process had its CPU, from schedstat; median
 * slice) and the load average at the start and end, so a tail taken under load says so, and
 * the median p99/p50 of the calmer half of the slices (run-queue wait at most the median's).
 *
 * For A/B runs of a change: `--base DIR` adds a target "base", `router serve` from another
 * checkout's build (DIR/dist/src/cli/main.js, e.g. main built in a spare worktree), started with the
 * same flags and measured in the same interleaved rounds; `--serve-node-args "ARGS"` and
 * `--base-node-args "ARGS"` pass node options to one of them (e.g. a V8 flag under test), `--min-node-args "ARGS"`
 * to the minimal proxy (serve sets V8's heap growing factor itself, src/serve/gc-tuning.ts: node-min can be
 * given the same `--heap-growing-percent=200` to compare like with like); `--conc 128` and `--mode json|stream` run a
 * subset of the cells; `--targets serve,base,node-min` a subset of the targets.
 *
 *   node dist/bench/proxy.bench.js [--seconds S] [--rounds R] [--backends K] [--backend net|fixture] [--probe] [--loadgen wrk|node] [--no-pin]
 *     [--requests N (node loadgen)] [--base DIR] [--serve-node-args ARGS] [--base-node-args ARGS] [--min-node-args ARGS] [--conc C] [--mode json|stream] [--targets A,B]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { quantile } from '../src/util/stats.js';
import { numberArg } from './args.js';
import { placement } from './cores.js';
import { proxyBodies } from './proxy-bodies.js';
import { freePort } from './ports.js';
import { runWrk, wrkScript, wrkVersion } from './wrk.js';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '../src/cli/main.js');
const FIXTURE_UPSTREAM = join(here, '../test/serve/fixtures/upstream-main.js');
const NET_UPSTREAM = join(here, 'upstream-net.js');
const MIN_PROXY = join(here, 'min-proxy.js');
const PROBE_JS = join(here, 'proxy-probe.js');
const PROBE = process.argv.includes('--probe');

function stringArg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const WRK_VERSION = stringArg('--loadgen') === 'node' ? undefined : wrkVersion();
if (WRK_VERSION === undefined && stringArg('--loadgen') !== 'node') process.stderr.write('wrk not installed: using the Node load generator (apt-get install -y wrk)\n');
const WRK = WRK_VERSION !== undefined;
const PLACE = placement(!process.argv.includes('--no-pin'));
const REQUESTS = numberArg('--requests', WRK ? Infinity : 6000);
const SECONDS = numberArg('--seconds', 8);
const BACKENDS = numberArg('--backends', 2);
/** net: bench/upstream-net.ts (the default); fixture: the node:http fixture upstream. */
const BACKEND_KIND = stringArg('--backend') ?? 'net';
if (BACKEND_KIND !== 'net' && BACKEND_KIND !== 'fixture') {
  process.stderr.write(`--backend: expected net or fixture, got ${BACKEND_KIND}\n`);
  process.exit(2);
}
const UPSTREAM = BACKEND_KIND === 'net' ? NET_UPSTREAM : FIXTURE_UPSTREAM;
const BACKEND_NOTE =
  BACKEND_KIND === 'net'
    ? "raw node:net upstreams (bench/upstream-net.ts: the fixture upstream's bytes, responses prebuilt per body, each stream's events in one write as the fixture's node:http corks them; --backend fixture for the fixture itself)"
    : 'fixture upstreams (test/serve/fixtures/upstream.ts on node:http; the default is --backend net)';
/** Slices per cell, the targets taking turns (see main). wrk takes whole seconds: 1 s slices. */
const ROUNDS = numberArg('--rounds', WRK ? 8 : 3);
/** Per slice, wrk runs whole seconds. */
const SLICE_S = WRK ? Math.max(1, Math.round(SECONDS / ROUNDS)) : SECONDS / ROUNDS;
/** wrk counts a response slower than this as a timeout error (and records no latency for it). */
const WRK_TIMEOUT_S = 5;
const WARMUP = 500;
const BASE = stringArg('--base');
const nodeArgs = (flag: string): string[] => (stringArg(flag) ?? '').split(' ').filter((a) => a !== '');
const SERVE_NODE_ARGS = nodeArgs('--serve-node-args');
const BASE_NODE_ARGS = nodeArgs('--base-node-args');
const MIN_NODE_ARGS = nodeArgs('--min-node-args');
const CONCURRENCIES = stringArg('--conc') !== undefined ? [numberArg('--conc', 128)] : [32, 128];
const MODES = stringArg('--mode') !== undefined ? [stringArg('--mode') === 'stream'] : [false, true];
const ONLY = stringArg('--targets')?.split(',');
const WARMUP_ROUND = 3000;
const LOAD_START = loadavg().map((x) => x.toFixed(2)).join(' ');

const children: ChildProcess[] = [];
/** The backends' PIDs, for their CPU time. */
const backendPids: number[] = [];
const backendCpu = (): number => backendPids.reduce((a, p) => a + cpuSeconds(p), 0);
/** A process the harness started: the whole child list, for cleanup. */

let lastPid = 0;

/** Processes stopped with SIGTERM (nginx's master: a SIGKILL would orphan its worker). */
const termOnly = new Set<ChildProcess>();

/** `cmd args` behind a placement prefix (`taskset -c N`, or nothing). */
function placed(prefix: readonly string[], cmd: string, args: readonly string[]): [string, string[]] {
  return prefix.length === 0 ? [cmd, [...args]] : [prefix[0], [...prefix.slice(1), cmd, ...args]];
}

/** Starts a process (behind `prefix`) and resolves with the first match of `ready` in its output. */
function start(prefix: readonly string[], command: string, argv: string[], ready: RegExp): Promise<RegExpExecArray> {
  const [cmd, args] = placed(prefix, command, argv);
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

/**
 * Seconds a process's main thread (and its direct children's: nginx's worker) spent runnable but
 * waiting for a CPU (/proc/PID/schedstat, second field): how much the machine's other load delayed it.
 */
function runqueueWaitS(pid: number): number {
  const pids = [pid];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const f = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(f.slice(f.lastIndexOf(')') + 2).split(' ')[1]) === pid) pids.push(Number(d));
    } catch {
      // gone
    }
  }
  // The main threads only: Node's GC and libuv helper threads wait in parallel with them.
  let ns = 0;
  for (const p of pids) {
    try {
      ns += Number(readFileSync(`/proc/${p}/schedstat`, 'utf8').split(' ')[1]);
    } catch {
      // gone, or no schedstat
    }
  }
  return ns / 1e9;
}

interface Result {
  target: string;
  stream: boolean;
  concurrency: number;
  requests: number;
  /** Responses with an error status (wrk: 400 or more; Node generator: not 200). */
  errStatus: number;
  /** Connections or requests that failed (connect, read, write, timeout). */
  errSocket: number;
  rps: number;
  p50: number;
  p99: number;
  /** The slices' p99/p50: median, min, max. */
  tailMedian: number;
  tailMin: number;
  tailMax: number;
  /** Median of the slices' p99/p50 in wrk's coordinated-omission-corrected histogram (wrk only). */
  correctedTail?: number;
  /** Bytes read per response, headers included (wrk only). */
  bytesPerResponse?: number;
  /** Proxy CPU milliseconds per request (undefined for direct). */
  cpuMs?: number;
  /** The backends' CPU milliseconds per request, summed over them. */
  backendCpuMs: number;
  /** Median over the slices of the proxy's run-queue wait per second of slice (ms/s), undefined for direct. */
  waitMsPerS?: number;
  /** Median p99/p50 of the calmer half of the slices: those whose run-queue wait is at most the median's. */
  calmTail?: number;
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
  /** Latencies, ms, ascending. */
  lat: Float64Array;
  /** Responses completed (wrk: may exceed lat.length by its timeouts). */
  requests: number;
  wallS: number;
  errStatus: number;
  errSocket: number;
  bytes?: number;
  correctedTail?: number;
  cpuS?: number;
  /** The backends' CPU seconds during the slice. */
  backendCpuS: number;
  /** The proxy's run-queue wait during the slice, seconds (wrk only). */
  waitS?: number;
  probe?: ProbeStats;
}

const median = (xs: readonly number[]): number => quantile(Float64Array.from(xs).sort(), 0.5);

/** A cell's slices as one result. */
function merge(target: string, stream: boolean, concurrency: number, slices: readonly Slice[]): Result {
  const n = slices.reduce((a, x) => a + x.lat.length, 0);
  const all = new Float64Array(n);
  let at = 0;
  for (const x of slices) {
    all.set(x.lat, at);
    at += x.lat.length;
  }
  all.sort();
  const requests = slices.reduce((a, x) => a + x.requests, 0);
  const wall = slices.reduce((a, x) => a + x.wallS, 0);
  const cpuS = slices.every((x) => x.cpuS !== undefined) ? slices.reduce((a, x) => a + (x.cpuS ?? 0), 0) : undefined;
  const waits = slices.every((x) => x.waitS !== undefined) ? slices.map((x) => ((x.waitS ?? 0) * 1000) / x.wallS) : undefined;
  const waitMedian = waits !== undefined ? median(waits) : undefined;
  const tails = slices.filter((x) => x.lat.length > 0).map((x) => quantile(x.lat, 0.99) / quantile(x.lat, 0.5));
  const corrected = slices.flatMap((x) => (x.correctedTail !== undefined ? [x.correctedTail] : []));
  const bytes = slices.every((x) => x.bytes !== undefined) ? slices.reduce((a, x) => a + (x.bytes ?? 0), 0) : undefined;
  return {
    target,
    stream,
    concurrency,
    requests,
    errStatus: slices.reduce((a, x) => a + x.errStatus, 0),
    errSocket: slices.reduce((a, x) => a + x.errSocket, 0),
    rps: requests / wall,
    p50: quantile(all, 0.5),
    p99: quantile(all, 0.99),
    tailMedian: median(tails),
    tailMin: Math.min(...tails),
    tailMax: Math.max(...tails),
    correctedTail: corrected.length > 0 ? median(corrected) : undefined,
    bytesPerResponse: bytes !== undefined && requests > 0 ? bytes / requests : undefined,
    cpuMs: cpuS !== undefined ? (cpuS * 1000) / requests : undefined,
    backendCpuMs: (slices.reduce((a, x) => a + x.backendCpuS, 0) * 1000) / requests,
    waitMsPerS: waitMedian,
    calmTail: waits !== undefined && waitMedian !== undefined ? median(slices.flatMap((x, i) => (x.lat.length > 0 && waits[i] <= waitMedian ? [quantile(x.lat, 0.99) / quantile(x.lat, 0.5)] : []))) : undefined,
  };
}

const bodies = proxyBodies;

/** A target under load: its ports (one per backend for direct), its PID for CPU time, its probe. */
interface Target {
  name: string;
  ports: number[];
  pid?: number;
  probe?: Probe;
}

let scriptDir: string | undefined;
const scripts = new Map<string, string>();

/** The wrk script for these ports and mode, written once into a temp dir. */
function scriptFor(ports: readonly number[], stream: boolean): string {
  const key = `${ports.join(',')}:${stream}`;
  let path = scripts.get(key);
  if (path === undefined) {
    scriptDir ??= mkdtempSync(join(tmpdir(), 'bench-wrk-'));
    path = join(scriptDir, `load-${scripts.size}.lua`);
    writeFileSync(path, wrkScript(ports, '/v1/chat/completions', bodies(stream)));
    scripts.set(key, path);
  }
  return path;
}

/** Closed-loop load by wrk for `seconds` (whole seconds), the proxy's CPU time read around it. */
async function loadWrk(t: Target, stream: boolean, concurrency: number, seconds: number, measureCpu: boolean): Promise<Slice> {
  // Starts the probe's window (the line it prints covers the time since the last slice: dropped).
  if (t.probe && measureCpu) await probeSignal(t.probe);
  const cpu0 = measureCpu && t.pid ? cpuSeconds(t.pid) : 0;
  const back0 = backendCpu();
  const wait0 = measureCpu && t.pid ? runqueueWaitS(t.pid) : 0;
  const r = await runWrk({
    prefix: PLACE.load,
    scriptPath: scriptFor(t.ports, stream),
    threads: t.ports.length,
    connections: Math.max(concurrency, t.ports.length),
    seconds: Math.max(1, Math.round(seconds)),
    timeoutS: WRK_TIMEOUT_S,
    url: `http://127.0.0.1:${t.ports[0]}/v1/chat/completions`,
  });
  const cpuS = measureCpu && t.pid ? cpuSeconds(t.pid) - cpu0 : undefined;
  const backendCpuS = backendCpu() - back0;
  const waitS = measureCpu && t.pid ? runqueueWaitS(t.pid) - wait0 : undefined;
  const probe = t.probe && measureCpu ? await probeSignal(t.probe) : undefined;
  return {
    lat: r.latMs,
    requests: r.requests,
    wallS: r.durationS,
    errStatus: r.errStatus,
    errSocket: r.errSocket,
    bytes: r.bytes,
    correctedTail: r.correctedP99 / r.correctedP50,
    cpuS,
    backendCpuS,
    waitS,
    probe,
  };
}

/** One slice with the configured generator; without `measureCpu` a warm-up (no CPU, no probe). */
function load(t: Target, stream: boolean, concurrency: number, requests: number, seconds: number, measureCpu: boolean): Promise<Slice> {
  if (WRK) return loadWrk(t, stream, concurrency, seconds, measureCpu);
  return loadNode(t.ports, stream, concurrency, requests, measureCpu ? t.pid : undefined, seconds, measureCpu ? t.probe : undefined);
}

/** Closed-loop load from this process (undici Pool): `concurrency` clients, each sending its next request when the last ends. */
async function loadNode(ports: number[], stream: boolean, concurrency: number, requests: number, proxyPid: number | undefined, seconds: number, probe?: Probe): Promise<Slice> {
  const pools = ports.map((p) => new Pool(`http://127.0.0.1:${p}`, { connections: Math.ceil(concurrency / ports.length) + 1, pipelining: 1 }));
  const lat: number[] = [];
  const payloads = bodies(stream);
  let sent = 0;
  let errStatus = 0;
  let errSocket = 0;
  let cpu0 = 0;
  let back0 = 0;
  let measuring = false;
  const total = WARMUP + requests;
  let t0 = 0;
  let deadline = Infinity;
  const one = async (i: number): Promise<void> => {
    const body = payloads[i % 64];
    const started = performance.now();
    try {
      const r = await pools[i % pools.length].request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body });
      await r.body.arrayBuffer();
      if (r.statusCode !== 200) errStatus++;
    } catch {
      errSocket++;
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
        back0 = backendCpu();
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
  const backendCpuS = backendCpu() - back0;
  const probed = probe ? await probeSignal(probe) : undefined;
  await Promise.all(pools.map((p) => p.close()));
  return { lat: Float64Array.from(lat).sort(), requests: lat.length, wallS, errStatus, errSocket, cpuS, backendCpuS, probe: probed };
}

async function main(): Promise<void> {
  // The harness (and with --loadgen node, the load itself) runs on the load side's CPUs.
  if (PLACE.loadCpus !== undefined) spawnSync('taskset', ['-a', '-p', '-c', PLACE.loadCpus, String(process.pid)], { stdio: 'ignore' });
  const backendPorts: number[] = [];
  for (let i = 0; i < BACKENDS; i++) {
    const port = Number((await start(PLACE.load, process.execPath, [UPSTREAM, '--listen', '0'], /port (\d+)/))[1]);
    backendPorts.push(port);
    backendPids.push(lastPid);
  }
  const targets: Target[] = [{ name: 'direct', ports: backendPorts }];
  const workers = backendPorts.map((p) => `http://127.0.0.1:${p}`).join(',');
  const serves: [string, string, string[]][] = [['serve', CLI, SERVE_NODE_ARGS]];
  if (BASE !== undefined) serves.push(['base', join(BASE, 'dist/src/cli/main.js'), BASE_NODE_ARGS]);
  for (const [name, cli, nodeArgv] of serves) {
    const port = await freePort();
    await start(PLACE.proxy, process.execPath, [...nodeArgv, ...(PROBE ? ['--import', PROBE_JS] : []), cli, 'serve', '--port', String(port), '--workers', workers, '--policy', 'least-request', '--log', 'off'], /listening on/);
    const pid = lastPid;
    const probe = PROBE ? attachProbe() : undefined;
    await waitHttp(port);
    targets.push({ name, ports: [port], pid, probe });
  }
  const minPort = await freePort();
  await start(PLACE.proxy, process.execPath, [...MIN_NODE_ARGS, ...(PROBE ? ['--import', PROBE_JS] : []), MIN_PROXY, String(minPort), ...backendPorts.map(String)], /listening on/);
  targets.push({ name: 'node-min', ports: [minPort], pid: lastPid, probe: PROBE ? attachProbe() : undefined });
  let tmp: string | undefined;
  const nginx = spawnSync('nginx', ['-v'], { encoding: 'utf8' });
  if (nginx.status === 0) {
    tmp = mkdtempSync(join(tmpdir(), 'bench-nginx-'));
    const port = await freePort();
    writeFileSync(join(tmp, 'nginx.conf'), nginxConfig(tmp, port, backendPorts));
    const [cmd, args] = placed(PLACE.proxy, 'nginx', ['-c', join(tmp, 'nginx.conf'), '-p', tmp]);
    const master = spawn(cmd, args, { stdio: 'ignore' });
    children.push(master);
    termOnly.add(master);
    await waitHttp(port, '/health');
    targets.push({ name: 'nginx', ports: [port], pid: master.pid });
  } else {
    process.stderr.write('nginx not installed: comparing direct and serve only (apt-get install -y nginx)\n');
  }

  if (ONLY) targets.splice(0, targets.length, ...targets.filter((t) => ONLY.includes(t.name) || t.name === 'direct'));
  // Warm every process's JIT (backends, serve, the load generator) before any cell is measured.
  for (const t of targets) for (const stream of MODES) await load(t, stream, 64, WARMUP_ROUND, 1, false);

  // Each cell runs in ROUNDS slices, the targets taking turns, so a change in the machine's load
  // (it is shared) falls on every target alike and the serve / node-min ratio stays fair.
  const results: Result[] = [];
  const probeRows: { target: string; stream: boolean; concurrency: number; requests: number; probes: ProbeStats[] }[] = [];
  for (const stream of MODES) {
    for (const concurrency of CONCURRENCIES) {
      const slices = new Map<string, Slice[]>(targets.map((t) => [t.name, []]));
      for (let round = 0; round < ROUNDS; round++) {
        for (const t of targets) slices.get(t.name)?.push(await load(t, stream, concurrency, Math.ceil(REQUESTS / ROUNDS), SLICE_S, true));
      }
      for (const t of targets) {
        const own = slices.get(t.name) ?? [];
        const probes = own.flatMap((x) => (x.probe ? [x.probe] : []));
        if (probes.length > 0) probeRows.push({ target: t.name, stream, concurrency, requests: own.reduce((a, x) => a + x.requests, 0), probes });
      }
      for (const t of targets) {
        const r = merge(t.name, stream, concurrency, slices.get(t.name) ?? []);
        results.push(r);
        process.stderr.write(
          `${t.name.padEnd(8)} ${stream ? 'stream' : 'json  '} c=${concurrency}: ${r.rps.toFixed(0)} req/s p50 ${r.p50.toFixed(2)} ms p99 ${r.p99.toFixed(2)} ms, slices' p99/p50 median ${r.tailMedian.toFixed(1)}x (${r.tailMin.toFixed(1)}-${r.tailMax.toFixed(1)})${r.cpuMs !== undefined ? ` cpu ${(r.cpuMs * 1000).toFixed(0)} µs/req` : ''} backends ${(r.backendCpuMs * 1000).toFixed(0)} µs/req${r.waitMsPerS !== undefined ? ` run-queue wait ${r.waitMsPerS.toFixed(0)} ms/s, calmer half's p99/p50 ${(r.calmTail ?? NaN).toFixed(1)}x` : ''}${r.errStatus + r.errSocket > 0 ? ` errors ${r.errStatus} status / ${r.errSocket} socket` : ''}\n`,
        );
      }
    }
  }

  const rows: string[] = [];
  const gen = WRK ? `${WRK_VERSION ?? 'wrk'}, one thread per port, closed loop, latencies as measured (wrk's coordinated-omission correction undone), ${SLICE_S} s slices, 1 s warm-up per target and mode` : `Node (undici Pool in the harness), closed loop, ${REQUESTS} requests or ${SECONDS / ROUNDS} s per slice, each after ${WARMUP} warm-up (and ${WARMUP_ROUND} per target and mode before the first cell)`;
  rows.push(`backends: ${BACKENDS} ${BACKEND_NOTE} on loopback (16 output tokens; SSE chunks back to back); ${ROUNDS} interleaved slices per target and cell`);
  rows.push(`load average at the start / end: ${LOAD_START} / ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  rows.push(`load generator: ${gen}`);
  rows.push(`placement: ${PLACE.note}`);
  rows.push('');
  rows.push(`| mode | conc | target | requests | req/s | p50 ms | p99 ms | added p50 ms | proxy CPU µs/req | backends' CPU µs/req | proxy run-queue wait ms/s (median slice) | slices' p99/p50: median (min-max) | p99/p50 median of the calmer half (less run-queue wait) |${WRK ? " wrk-corrected p99/p50 (median) | bytes/response |" : ''} errors: ${WRK ? 'HTTP ≥ 400' : 'non-200'} / socket |`);
  rows.push(`|---|---|---|---|---|---|---|---|---|---|---|---|---|${WRK ? '---|---|' : ''}---|`);
  for (const r of results) {
    const direct = results.find((d) => d.target === 'direct' && d.stream === r.stream && d.concurrency === r.concurrency)!;
    const added = r.target === 'direct' ? '' : (r.p50 - direct.p50).toFixed(2);
    const wrkCols = WRK ? ` ${r.correctedTail !== undefined ? `${r.correctedTail.toFixed(1)}x` : '-'} | ${r.bytesPerResponse !== undefined ? r.bytesPerResponse.toFixed(0) : '-'} |` : '';
    rows.push(
      `| ${r.stream ? 'stream' : 'json'} | ${r.concurrency} | ${r.target} | ${r.requests} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${added} | ${r.cpuMs !== undefined ? (r.cpuMs * 1000).toFixed(0) : ''} | ${(r.backendCpuMs * 1000).toFixed(0)} | ${r.waitMsPerS !== undefined ? r.waitMsPerS.toFixed(0) : ''} | ${r.tailMedian.toFixed(1)}x (${r.tailMin.toFixed(1)}-${r.tailMax.toFixed(1)}) | ${r.calmTail !== undefined ? `${r.calmTail.toFixed(1)}x` : ''} |${wrkCols} ${r.errStatus} / ${r.errSocket} |`,
    );
  }
  // Side by side: proxy CPU per request (process CPU time / requests) and the per-slice tail.
  const names = targets.filter((t) => t.name !== 'direct').map((t) => t.name);
  const at = (name: string, stream: boolean, c: number): Result | undefined => results.find((x) => x.target === name && x.stream === stream && x.concurrency === c);
  /** serve's CPU per request over node-min's, measured in the same run (the machine is shared: the ratio is the fair figure). */
  const vsMin = (stream: boolean, c: number): number => (at('serve', stream, c)?.cpuMs ?? NaN) / (at('node-min', stream, c)?.cpuMs ?? NaN);
  const tail = (r: Result | undefined): string => (r ? `${r.tailMedian.toFixed(1)}x (${r.tailMin.toFixed(1)}-${r.tailMax.toFixed(1)})` : '-');
  rows.push('');
  rows.push(`| mode | conc | ${names.map((n) => `${n} CPU µs/req`).join(' | ')} | serve / node-min CPU | ${names.map((n) => `${n} p99/p50 median (min-max)`).join(' | ')} |`);
  rows.push(`|---|---|${names.map(() => '---|').join('')}---|${names.map(() => '---|').join('')}`);
  for (const stream of MODES) {
    for (const concurrency of CONCURRENCIES) {
      const cells = names.map((n) => at(n, stream, concurrency));
      rows.push(
        `| ${stream ? 'stream (16 events)' : 'json'} | ${concurrency} | ${cells.map((c) => (c?.cpuMs !== undefined ? (c.cpuMs * 1000).toFixed(0) : '-')).join(' | ')} | ${vsMin(stream, concurrency).toFixed(2)}x | ${cells.map(tail).join(' | ')} |`,
      );
    }
  }
  const cpu = (stream: boolean): number => Math.max(...CONCURRENCIES.map((c) => (at('serve', stream, c)?.cpuMs ?? NaN) * 1000));
  const ratio = (stream: boolean): number => Math.max(...CONCURRENCIES.map((c) => vsMin(stream, c)));
  const tail128 = (name: string, stream: boolean): string => {
    const r = at(name, stream, 128);
    return r ? `${r.tailMedian.toFixed(1)}x` : '-';
  };
  rows.push('');
  rows.push(
    `targets (issue 11): serve CPU ≤ 100 µs/json request: ${cpu(false).toFixed(0)} µs (${ratio(false).toFixed(2)}x node-min, aim ≤ 1.2x); ≤ 200 µs/16-event stream: ${cpu(true).toFixed(0)} µs (${ratio(true).toFixed(2)}x node-min); p99 ≤ 3× p50 at 128 connections (median of ${ROUNDS} slices): json ${tail128('serve', false)} (node-min ${tail128('node-min', false)}), stream ${tail128('serve', true)} (node-min ${tail128('node-min', true)})`,
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
  if (scriptDir) rmSync(scriptDir, { recursive: true, force: true });
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
          c.kill(termOnly.has(c) ? 'SIGTERM' : 'SIGKILL');
        }),
    ),
  );
}

main().catch(async (err: unknown) => {
  await stopAll();
  if (scriptDir) rmSync(scriptDir, { recursive: true, force: true });
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
