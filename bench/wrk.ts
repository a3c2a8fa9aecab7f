/**
 * wrk (https://github.com/wg/wrk, Debian package `wrk`) as bench:proxy's load generator: a C
 * event loop, so the tail it measures is the proxy's and not a Node load generator's GC or
 * scheduling. Closed loop like the Node generator: every connection sends its next request when
 * the last response has ended (chunked SSE streams included: wrk's HTTP parser completes a
 * response at its last chunk).
 *
 * The Lua script's done() hook prints one `wrk-json {...}` line: counts, errors and wrk's whole
 * latency histogram (1 µs buckets). wrk 4 "corrects" that histogram for coordinated omission
 * before done() sees it (stats_correct in wrk.c: every sample above twice the mean interval per
 * connection adds copies of itself minus one, two, ... intervals), so its percentiles are not the
 * latencies it measured; `uncorrect` undoes that exactly, and the result has as many samples as
 * wrk counted requests (checked). The histogram is read through LuaJIT's FFI from wrk's stats
 * struct (walking it through the `latency(i)` accessor costs seconds per run: each call scans
 * from the minimum), and the read is checked against the accessor's min, max and count, falling
 * back to the accessor when they disagree.
 */
import { spawn, spawnSync } from 'node:child_process';

/** wrk's version line (e.g. `wrk debian/4.1.0-3+b2 [epoll]`) when it is installed, else undefined. */
export function wrkVersion(): string | undefined {
  const r = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  // wrk prints its version and usage, and exits 1, for --version.
  return r.error === undefined ? /^wrk .*$/m.exec(`${r.stdout}${r.stderr}`)?.[0].replace(/\s*Copyright.*$/, '') : undefined;
}

/** What one wrk run measured. */
export interface WrkResult {
  /** Responses completed (any status). */
  requests: number;
  durationS: number;
  /** Bytes read, headers and bodies. */
  bytes: number;
  /** Responses with a status of 400 or more (wrk counts those only). */
  errStatus: number;
  /** Connect, read and write errors, and responses slower than the timeout. */
  errSocket: number;
  /** The measured latencies, ms, ascending (wrk's correction undone). */
  latMs: Float64Array;
  /** p50 and p99 of wrk's own, corrected histogram, ms (what wrk would print). */
  correctedP50: number;
  correctedP99: number;
}

/** Lua long-bracket string: no escaping needed unless the text holds the closing bracket. */
function luaString(s: string): string {
  let eq = '=';
  while (s.includes(`]${eq}]`)) eq += '=';
  return `[${eq}[${s}]${eq}]`;
}

/**
 * The Lua script: thread i talks to ports[i % ports.length] (one thread per port), requests
 * rotate over `bodies` (POSTed to `path` as JSON), done() prints the `wrk-json` line.
 */
export function wrkScript(ports: readonly number[], path: string, bodies: readonly string[]): string {
  return `local ffi = require("ffi")
local ports = { ${ports.join(', ')} }
local bodies = { ${bodies.map(luaString).join(',\n  ')} }
local threads = 0
function setup(thread)
  threads = threads + 1
  thread.addr = wrk.lookup("127.0.0.1", tostring(ports[(threads - 1) % #ports + 1]))[1]
  thread:set("port", ports[(threads - 1) % #ports + 1])
end
local reqs = {}
local n = 0
function init(args)
  for i, b in ipairs(bodies) do
    reqs[i] = wrk.format("POST", ${luaString(path)}, { ["Host"] = "127.0.0.1:" .. tostring(port), ["Content-Type"] = "application/json" }, b)
  end
end
function request()
  n = n + 1
  return reqs[(n - 1) % #reqs + 1]
end
-- wrk 4 stats: struct { uint64_t count, limit, min, max; uint64_t data[]; }, data[v] = samples of v µs.
local function histogram(latency)
  local ok, parts, total = pcall(function()
    local s = ffi.cast("uint64_t**", latency)[0]
    local count, min, max = tonumber(s[0]), tonumber(s[2]), tonumber(s[3])
    if count == 0 then return {}, 0 end
    if min ~= latency.min or max ~= latency.max then error("layout") end
    local first = latency(1)
    local out, sum = {}, 0
    for v = min, max do
      local c = tonumber(s[4 + v])
      if c > 0 then
        out[#out + 1] = v .. "," .. c
        sum = sum + c
      end
    end
    if sum ~= count or tonumber(s[4 + first]) == 0 then error("layout") end
    return out, sum
  end)
  if ok then return parts, total end
  parts, total = {}, 0
  for i = 1, #latency do
    local v, c = latency(i)
    parts[#parts + 1] = v .. "," .. c
    total = total + c
  end
  return parts, total
end
function done(summary, latency, requests)
  local parts = histogram(latency)
  local e = summary.errors
  io.write(string.format('wrk-json {"requests":%d,"durationUs":%d,"bytes":%d,"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"p50":%d,"p99":%d,"hist":[%s]}\\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), table.concat(parts, ",")))
end
`;
}

/** wrk's interval for its correction: durationUs / floor(requests / connections), integer divisions; 0 = none. */
function correctionInterval(durationUs: number, requests: number, connections: number): number {
  const perConn = Math.floor(requests / connections);
  return perConn === 0 ? 0 : Math.floor(durationUs / perConn);
}

/**
 * wrk 4's coordinated-omission correction (stats_correct): every value n above twice the
 * interval adds its count to n − interval, n − 2·interval, ... while that stays above the interval.
 */
export function correct(raw: ReadonlyMap<number, number>, durationUs: number, requests: number, connections: number): Map<number, number> {
  const interval = correctionInterval(durationUs, requests, connections);
  const out = new Map(raw);
  if (interval === 0) return out;
  for (const [n, c] of raw) {
    if (c === 0 || n < 2 * interval) continue;
    for (let m = n - interval; m > interval; m -= interval) out.set(m, (out.get(m) ?? 0) + c);
  }
  return out;
}

/**
 * wrk's histogram before its coordinated-omission correction (see `correct`). Values are
 * resolved from the top down: data[m] gained exactly the raw counts at m + k·interval (k ≥ 1)
 * when m > interval. `hist` is [value, count] pairs (any order); the result maps value → raw
 * count (zeros dropped). Throws when correcting the result does not give `hist` back.
 */
export function uncorrect(hist: ReadonlyArray<readonly [number, number]>, durationUs: number, requests: number, connections: number): Map<number, number> {
  const interval = correctionInterval(durationUs, requests, connections);
  const got = new Map<number, number>();
  for (const [v, c] of hist) if (c > 0) got.set(v, (got.get(v) ?? 0) + c);
  if (interval === 0) return got;
  const out = new Map<number, number>();
  const values = [...got.keys()].sort((a, b) => b - a);
  const max = values[0] ?? 0;
  for (const m of values) {
    let raw = got.get(m) ?? 0;
    if (m > interval) for (let n = m + interval; n <= max; n += interval) raw -= out.get(n) ?? 0;
    if (raw < 0) throw new Error(`wrk histogram is not a corrected one at ${m} µs (interval ${interval} µs)`);
    if (raw > 0) out.set(m, raw);
  }
  const again = correct(out, durationUs, requests, connections);
  if (again.size !== got.size || [...got].some(([v, c]) => again.get(v) !== c)) throw new Error(`wrk histogram is not a corrected one (interval ${interval} µs)`);
  return out;
}

/** A value → count histogram as ascending samples in ms. */
function samplesMs(hist: ReadonlyMap<number, number>): Float64Array {
  let n = 0;
  for (const c of hist.values()) n += c;
  const out = new Float64Array(n);
  let i = 0;
  for (const v of [...hist.keys()].sort((a, b) => a - b)) {
    const c = hist.get(v) ?? 0;
    out.fill(v / 1000, i, i + c);
    i += c;
  }
  return out;
}

interface WrkJson {
  requests: number;
  durationUs: number;
  bytes: number;
  status: number;
  connect: number;
  read: number;
  write: number;
  timeout: number;
  p50: number;
  p99: number;
  hist: number[];
}

/** Parses wrk's output (the `wrk-json` line of wrkScript's done()). */
export function parseWrk(stdout: string, connections: number): WrkResult {
  const line = stdout.split('\n').find((l) => l.startsWith('wrk-json '));
  if (line === undefined) throw new Error(`wrk printed no result line: ${stdout.slice(0, 500)}`);
  const j = JSON.parse(line.slice('wrk-json '.length)) as WrkJson;
  const pairs: [number, number][] = [];
  for (let i = 0; i + 1 < j.hist.length; i += 2) pairs.push([j.hist[i], j.hist[i + 1]]);
  const raw = uncorrect(pairs, j.durationUs, j.requests, connections);
  const latMs = samplesMs(raw);
  // Every completed response is one sample, except those over the timeout (counted as errors).
  if (latMs.length > j.requests || latMs.length < j.requests - j.timeout) {
    throw new Error(`wrk histogram has ${latMs.length} samples after undoing its correction, for ${j.requests} requests (${j.timeout} timeouts)`);
  }
  return {
    requests: j.requests,
    durationS: j.durationUs / 1e6,
    bytes: j.bytes,
    errStatus: j.status,
    errSocket: j.connect + j.read + j.write + j.timeout,
    latMs,
    correctedP50: j.p50 / 1000,
    correctedP99: j.p99 / 1000,
  };
}

export interface WrkRun {
  /** The command prefix that starts a process (e.g. `taskset -c 1`), or none. */
  prefix: readonly string[];
  scriptPath: string;
  /** One thread per port (wrkScript gives thread i port i). */
  threads: number;
  connections: number;
  seconds: number;
  timeoutS: number;
  /** The URL wrk parses (host and port are overridden per thread by the script). */
  url: string;
}

/** Runs wrk once and parses its result; rejects when it fails or exceeds its duration by far. */
export function runWrk(r: WrkRun): Promise<WrkResult> {
  const args = ['-t', String(r.threads), '-c', String(r.connections), '-d', `${r.seconds}s`, '--timeout', `${r.timeoutS}s`, '-s', r.scriptPath, r.url];
  const [cmd, ...pre] = [...r.prefix, 'wrk'];
  const child = spawn(cmd, [...pre, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve, reject) => {
    const limit = setTimeout(() => child.kill('SIGKILL'), (r.seconds + r.timeoutS + 30) * 1000);
    child.on('error', (e) => {
      clearTimeout(limit);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(limit);
      if (code !== 0) {
        reject(new Error(`wrk exited ${code ?? signal}: ${err.trim() || out.slice(0, 500)}`));
        return;
      }
      try {
        resolve(parseWrk(out, r.connections));
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}
