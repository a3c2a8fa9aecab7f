/**
 * Decision latency of every registered policy, and the cost of the cache-aware radix tree.
 *   npm run bench:policies        (node --expose-gc, so the tree's memory can be measured)
 *
 * Per policy and fleet size (8, 64, 512 workers): ns per routed request, measured over a steady
 * stream where each request is picked, dispatched (the Router's bookkeeping and `onDispatch`),
 * and an older request is completed (`onFirstToken`, `onComplete`), so index updates and
 * lifecycle hooks are paid as a real router pays them. Prompts are 2 KB texts drawn from 64
 * shared 1.5 KB system prompts plus a unique 0.5 KB question; scraped metrics change every 1000
 * requests. Each measurement runs ≥ 0.25 s of CPU time after a warm-up that fills the indexes.
 * Times are this process's CPU time (the machine is shared), and include hashing each new
 * prompt once (text → block hashes), which a real router pays per request too.
 *
 * Radix tree: insert and match of 2 KB prompts (100 shared system prompts of 0–1.5 KB + a unique
 * tail) into a tree holding 10,000 entries, for 10 and 500 workers, and the heap it takes.
 */
import { createPolicy, policyFactories } from '../src/routing/registry.js';
import type { Policy, PolicyContext, WorkerView } from '../src/routing/types.js';
import { RadixTree } from '../src/routing/prefix/radix-tree.js';
import { VirtualClock } from '../src/util/clock.js';
import { createRng, type Rng } from '../src/util/rng.js';
import type { Request } from '../src/workload/request.js';

const FLEETS = [8, 64, 512];
const MIN_S = 0.25;

/** A flat (non-rope) copy, as strings parsed from a request body are. */
function flat(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}

function randomText(rng: Rng, n: number): string {
  const words = ['select', 'from', 'where', 'table', 'the', 'user', 'query', 'order', 'group', 'by', 'count', 'name', 'id', 'value', 'join', 'on'];
  let s = '';
  while (s.length < n) s += `${words[rng.int(words.length)]}${rng.int(1000)} `;
  return flat(s.slice(0, n));
}

function makeRequests(rng: Rng, count: number): Request[] {
  const systems = Array.from({ length: 64 }, () => randomText(rng, 1536));
  return Array.from({ length: count }, (_, i) => {
    const text = flat(systems[rng.int(systems.length)] + randomText(rng, 512));
    return {
      id: `b${i}`,
      arrivalS: i * 0.001,
      inputTokens: 512,
      outputTokens: 128,
      text,
      sessionId: `s${rng.int(2000)}`,
      userId: `u${rng.int(200)}`,
    };
  });
}

function makeWorkers(n: number): WorkerView[] {
  return Array.from({ length: n }, (_, i) => ({
    id: i,
    index: i,
    name: `w-${i}`,
    gpu: 'h100-sxm',
    model: 'llama-3.1-8b',
    profile: 'llama-3.1-8b@h100-sxm',
    costUsdPerHour: 12,
    kvCapacityTokens: 454_176,
    blockSize: 16,
    healthy: true,
    inFlight: 0,
    inFlightPromptTokens: 0,
    inPrefill: 0,
  }));
}

function scrape(ws: WorkerView[], rng: Rng, t: number): void {
  for (const w of ws) w.scraped = { running: rng.int(64), waiting: rng.int(8), kvUsage: rng.next(), atS: t };
}

/** In-flight requests, oldest first, in a ring (Array.shift would cost O(n) per request). */
class Ring {
  private readonly reqs: Request[];
  private readonly ws: WorkerView[];
  private head = 0;
  size = 0;
  constructor(readonly cap: number) {
    this.reqs = new Array<Request>(cap);
    this.ws = new Array<WorkerView>(cap);
  }
  push(req: Request, w: WorkerView): void {
    const at = (this.head + this.size++) % this.cap;
    this.reqs[at] = req;
    this.ws[at] = w;
  }
  shift(): { req: Request; w: WorkerView } {
    const out = { req: this.reqs[this.head], w: this.ws[this.head] };
    this.head = (this.head + 1) % this.cap;
    this.size--;
    return out;
  }
}

/** Runs `count` requests through the policy as the Router would. */
function drive(p: Policy, ws: WorkerView[], reqs: Request[], from: number, count: number, c: PolicyContext & { clock: VirtualClock }, rng: Rng, inflight: Ring): void {
  const depth = inflight.cap - 1;
  for (let i = 0; i < count; i++) {
    const req = reqs[(from + i) % reqs.length];
    const t = (from + i) * 0.001;
    c.clock.set(t);
    if ((from + i) % 1000 === 0) scrape(ws, rng, t);
    const d = p.pick(req, ws, c);
    if (d) {
      const w = ws[d.worker];
      w.inFlight++;
      w.inFlightPromptTokens += req.inputTokens;
      w.inPrefill++;
      p.onDispatch?.(req, w, c);
      inflight.push(req, w);
    }
    if (inflight.size > depth) {
      const old = inflight.shift();
      old.w.inPrefill--;
      p.onFirstToken?.(old.req, old.w, c);
      old.w.inFlight--;
      old.w.inFlightPromptTokens -= old.req.inputTokens;
      p.onComplete?.(old.req, old.w, { ok: true, outputTokens: 128, ttftS: 0.05, e2eS: 1.5 }, c);
    }
  }
}

function benchPolicy(name: string, n: number, reqs: Request[]): number {
  const p = createPolicy(name);
  const ws = makeWorkers(n);
  const rng = createRng(`bench/${name}/${n}`);
  const c = { clock: new VirtualClock(), rng };
  const inflight = new Ring(n * 4 + 1);
  const warm = Math.max(5000, n * 20);
  drive(p, ws, reqs, 0, warm, c, rng, inflight);
  let done = 0;
  let batch = 1000;
  const t0 = cpuNs();
  let elapsed = 0;
  while (elapsed < MIN_S * 1e9) {
    drive(p, ws, reqs, warm + done, batch, c, rng, inflight);
    done += batch;
    elapsed = cpuNs() - t0;
    if (elapsed < 0.05e9) batch *= 2;
  }
  return elapsed / done;
}

/**
 * CPU time of this process in ns. The benchmark machine is shared (other jobs run on its two
 * cores), so wall time would count time spent waiting for a core; CPU time does not.
 */
function cpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((x, c) => (c === 0 ? x.padEnd(widths[c]) : x.padStart(widths[c]))).join('  ')).join('\n');
}

function heapUsed(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  return process.memoryUsage().heapUsed;
}

function benchTree(workers: number): string[] {
  const rng = createRng(`tree/${workers}`);
  const systems = Array.from({ length: 100 }, () => randomText(rng, rng.int(1536)));
  const prompt = (): string => {
    const s = systems[rng.int(systems.length)];
    return flat(s + randomText(rng, 2048 - s.length));
  };
  const queries = Array.from({ length: 10_000 }, prompt);
  // Measured from before the entries exist: the tree keeps (slices of) their text alive.
  const before = heapUsed();
  const entries = Array.from({ length: 10_000 }, prompt);
  const tree = new RadixTree(2 ** 26);
  let t0 = cpuNs();
  for (let i = 0; i < entries.length; i++) tree.insert(entries[i], i % workers);
  const insertNs = (cpuNs() - t0) / entries.length;
  entries.length = 0;
  const bytes = heapUsed() - before;
  const all = (): boolean => true;
  let matched = 0;
  t0 = cpuNs();
  for (const q of queries) matched += tree.match(q, all).matched;
  const matchNs = (cpuNs() - t0) / queries.length;
  // Matching and inserting the same prompt again, as cache-aware does per request.
  t0 = cpuNs();
  for (let i = 0; i < 5000; i++) {
    const q = queries[i];
    tree.match(q, all);
    tree.insert(q, i % workers);
  }
  const bothNs = (cpuNs() - t0) / 5000;
  let chars = 0;
  for (let w = 0; w < workers; w++) chars += tree.tenantChars(w);
  return [
    String(workers),
    (insertNs / 1000).toFixed(1),
    (matchNs / 1000).toFixed(1),
    (bothNs / 1000).toFixed(1),
    (matched / queries.length).toFixed(0),
    String(tree.nodeCount),
    (chars / 1e6).toFixed(1),
    (bytes / 2 ** 20).toFixed(1),
  ];
}

const reqs = makeRequests(createRng('bench/requests'), 20_000);
const names = process.argv.includes('--policies') ? process.argv[process.argv.indexOf('--policies') + 1].split(',') : policyFactories().map((f) => f.name);
const rows: string[][] = [['policy', ...FLEETS.map((n) => `${n} workers`)]];
for (const name of names) {
  const cells = [name];
  for (const n of FLEETS) cells.push(`${Math.round(benchPolicy(name, n, reqs))} ns`);
  rows.push(cells);
  process.stderr.write(`  ${name} done\n`);
}
process.stdout.write(`ns per routed request (pick + dispatch bookkeeping + completion hooks; 2 KB prompts; in flight ≈ 4 × workers)\n\n${table(rows)}\n\n`);
const treeRows: string[][] = [['workers', 'insert µs', 'match µs', 'match+insert µs', 'mean match chars', 'nodes', 'chars held (M)', 'heap MiB']];
for (const w of [10, 500]) treeRows.push(benchTree(w));
process.stdout.write(`radix tree, 10,000 cached 2 KB prompts (100 shared system prompts of 0–1.5 KB + unique tails)\n\n${table(treeRows)}\n`);
if (!(globalThis as { gc?: () => void }).gc) process.stdout.write('(run with node --expose-gc for exact heap figures)\n');
