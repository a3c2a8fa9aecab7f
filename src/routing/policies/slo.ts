import { UserError } from '../../util/errors.js';
import type { Rng } from '../../util/rng.js';
import type { RouteRequest } from '../../workload/request.js';
import { argminRandomTie } from '../pick.js';
import { HistogramPredictor } from '../predictor/histogram.js';
import { OraclePredictor } from '../predictor/oracle.js';
import type { OutputPredictor } from '../predictor/predictor.js';
import { LoadTracker, WORKER_CAPACITY } from '../slo/load.js';
import type { ProfileTable } from '../slo/profile.js';
import { ComputedPromptTokens } from '../slo/prefix.js';
import { SloSubQueues, type SloEntry } from '../slo/queue.js';
import { sloRankOf, targetsFor } from '../slo/targets.js';
import { requestCell } from '../slo/cost.js';
import { createPolicyEnv } from '../env.js';
import type { Decision, Outcome, Policy, PolicyContext, PolicyEnv, PolicyFactory, PolicyOption, PullDecision, QueueLimits, QueuedRequest, WorkerView } from '../types.js';

/** AIBrix's SLO backends (pkg/plugins/gateway/algorithms/least_load.go, pack_load.go). */
export type SloBackend = 'least-load-pulling' | 'least-load' | 'pack-load';

/** Floating-point slack when comparing summed consumptions with the capacity. */
const CAPACITY_EPS = 1e-9;

interface Group {
  deployment: string;
  table: ProfileTable;
  workers: WorkerView[];
}

/** One worker of a GPU type as a request would meet it: its cell and Little's-law consumption there. */
interface Placement {
  worker: WorkerView;
  /** Infinity when the cell met the SLO at no rate. */
  c: number;
  /** The cell's mean E2E, seconds (the charge is re-estimated once the request outlives it). */
  e2e?: number;
}

interface Ranked {
  group: Group;
  rank: number;
  /** Workers of the group where the request is attainable (finite consumption). */
  places: Placement[];
}

/** Workers with a usable profile (throughput and E2E tables), by the deployment their table describes, in fleet order. */
function profiledGroups(candidates: readonly WorkerView[]): Group[] {
  const groups = new Map<string, Group>();
  for (const w of candidates) {
    const t = w.sloProfile;
    if (!t?.hasLoadModel) continue;
    // Grouped by table, not by the profile label: serve workers labelled only gpu=... all have
    // profile "unknown", and their tables were matched by GPU.
    let g = groups.get(t.deployment);
    if (!g) {
      g = { deployment: t.deployment, table: t, workers: [] };
      groups.set(t.deployment, g);
    }
    g.workers.push(w);
  }
  return [...groups.values()];
}

/**
 * AIBrix's SLO router (`slo.go` + `queue/slo_queue.go` + `queue_router.go`) on the Router's pull
 * mode. Requests wait in sub-queues by (log2 predicted output, log2 input); at every trigger the
 * sub-queue heads are ranked on every GPU type (`waited + expected − target`, TPOT > TTFT > TPAT >
 * E2E), the head closest to violating goes first, to its most relaxed GPU type (further types
 * only while their rank ≤ 0), and the backend places it by Little's-law load. With no usable
 * profile, or no SLO for the request, the fallback policy routes it.
 *
 * Differences from AIBrix, on purpose:
 * - a GPU type whose cell met the SLO at no rate is skipped (AIBrix rejects when it is the most
 *   relaxed); when every type fails, the request is served best-effort through the fallback on
 *   the most relaxed type (`unattainable=reject` refuses it, as AIBrix): a rejection is a certain
 *   miss, while the cell only says the SLO failed under a stream of requests of that one shape.
 *   Never rejected on a cold prediction either, so the predictor gets to learn that prompt size;
 * - cells are looked up, and consumption charged, by the prompt tokens each worker would compute
 *   (the part its prefix cache lacks, from a routing-time block index), not the whole prompt;
 * - a request's charge is the heavier of its computed-tokens cell and, with derived tables, its
 *   cached-context cell (the whole prompt decoded over as cached KV);
 * - the most relaxed GPU type and every type whose rank predicts the SLO met form one pool, and
 *   the least normalised load wins there (AIBrix tries the types one after another);
 * - a request consumes at most a whole worker (a cell holding under one request in flight), and
 *   such a request takes the least-loaded worker rather than waiting for an idle one (AIBrix would
 *   hold it until one is idle, in a busy fleet forever);
 * - a request that outlives its cell's E2E is re-estimated from the time it has run (see
 *   LoadTracker), so a long answer predicted short does not hold a short request's charge;
 * - the queue is bounded in length and wait (AIBrix's is not);
 * - requests the fallback dispatches to a profiled worker count towards its load, and in the
 *   pulling backends only go to workers with room for them.
 */
export class SloPolicy implements Policy {
  readonly mode = 'pull';
  private readonly subs = new SloSubQueues();
  private readonly load = new LoadTracker();
  /** Consumption decided by `next`/`pick`, booked when the Router dispatches. */
  private readonly chosen = new Map<string, { c: number; e2e?: number; viaFallback: boolean }>();
  private readonly viaFallback = new Set<string>();
  private readonly prefix: ComputedPromptTokens;
  /** Time of the decision being made (utilisation re-estimates requests that outlived their cell). */
  private nowS = 0;
  /** serve routes the slo* policies on token counts (no prompt ids), as it always has. */
  readonly usesPrefix = false;

  constructor(
    readonly name: string,
    private readonly backend: SloBackend,
    private readonly predictor: OutputPredictor,
    private readonly coldPrediction: number,
    private readonly fallback: Policy,
    readonly queueLimits: QueueLimits,
    /** 'fallback' (default): serve SLO-unattainable requests best-effort; 'reject' as AIBrix. */
    private readonly unattainable: 'reject' | 'fallback' = 'fallback',
    env: PolicyEnv = createPolicyEnv(),
  ) {
    this.prefix = new ComputedPromptTokens(env);
  }

  /** Normalised pending load of a worker (AIBrix `realtime_normalized_pendings`). */
  utilisation(worker: number, nowS = this.nowS): number {
    return this.load.utilisation(worker, nowS);
  }

  private predicted(entry: QueuedRequest, ctx: PolicyContext): SloEntry {
    const p = this.predictor.predict(entry.req, ctx.clock.now(), ctx.rng);
    return { entry, predictedOut: p ?? this.coldPrediction, cold: p === undefined };
  }

  onEnqueue(entry: QueuedRequest, ctx: PolicyContext): void {
    this.subs.add(this.predicted(entry, ctx));
  }

  onDequeue(entry: QueuedRequest): void {
    this.subs.remove(entry.req.id);
    this.prefix.forget(entry.req.id);
  }

  next(queue: ReadonlyMap<string, QueuedRequest>, candidates: readonly WorkerView[], ctx: PolicyContext): PullDecision | null {
    this.nowS = ctx.clock.now();
    const groups = profiledGroups(candidates);
    if (groups.length === 0) {
      // No profile applies: FIFO across the queue (its oldest entry is the oldest sub-queue head).
      const oldest = queue.values().next().value as QueuedRequest;
      const d = this.viaFallbackPick(oldest.req, candidates, ctx);
      return d ? { entry: oldest, decision: d } : null;
    }
    // A queue smaller than ours is one priority class of the Router's (src/routing/admission).
    return this.decide(queue.size === this.subs.size ? this.subs.heads() : this.subs.headsIn(queue), groups, candidates, ctx);
  }

  pick(req: RouteRequest, candidates: readonly WorkerView[], ctx: PolicyContext): Decision | null {
    this.nowS = ctx.clock.now();
    const groups = profiledGroups(candidates);
    if (groups.length === 0) return this.viaFallbackPick(req, candidates, ctx);
    const d = this.decide([this.predicted({ req, enqueuedS: ctx.clock.now() }, ctx)], groups, candidates, ctx);
    return d && 'decision' in d ? d.decision : null;
  }

  /**
   * Routes through the fallback policy. A worker with a profile is booked with the consumption of
   * the request's 1-token cell (its output is unknown here: the lightest honest guess), and in the
   * pulling backends only workers with room for it are offered, so the fallback never pushes a
   * worker past capacity either; null (wait) when none has room.
   */
  private viaFallbackPick(req: RouteRequest, candidates: readonly WorkerView[], ctx: PolicyContext): Decision | null {
    const cost = new Map<number, number>();
    const e2e = new Map<number, number | undefined>();
    for (const w of candidates) {
      if (!w.sloProfile?.hasLoadModel) continue;
      const cell = requestCell(w.sloProfile, 1, this.prefix.computedTokens(req, w), req.inputTokens);
      cost.set(w.index, cell.c !== undefined && Number.isFinite(cell.c) ? cell.c : 0);
      e2e.set(w.index, cell.e2e);
    }
    const open = this.backend === 'least-load' ? candidates : candidates.filter((w) => this.hasRoom(w, cost.get(w.index) ?? 0));
    if (open.length === 0) return null;
    const d = this.fallback.pick(req, open, ctx);
    if (!d) return null;
    this.chosen.set(req.id, { c: cost.get(d.worker) ?? 0, e2e: e2e.get(d.worker), viaFallback: true });
    return { worker: d.worker, branch: d.branch ?? 'slo-fallback' };
  }

  /** Capacity rule of the pulling backends; an idle worker always takes one request (or none ever could). */
  private hasRoom(w: WorkerView, c: number): boolean {
    const u = this.utilisation(w.index);
    return u + c <= WORKER_CAPACITY + CAPACITY_EPS || u === 0;
  }

  private decide(heads: readonly SloEntry[], groups: readonly Group[], candidates: readonly WorkerView[], ctx: PolicyContext): PullDecision | null {
    const now = ctx.clock.now();
    const ranked: { head: SloEntry; options: Ranked[] }[] = [];
    const unranked: SloEntry[] = [];
    for (const head of heads) {
      const req = head.entry.req;
      const options: Ranked[] = [];
      for (const group of groups) {
        const targets = targetsFor(req.slo, group.table.json.slos);
        // Each worker's cell is looked up by the prompt tokens it would compute (the uncached part).
        let rank: number | undefined;
        let rankAny: number | undefined;
        const places: Placement[] = [];
        for (const w of group.workers) {
          const cell = requestCell(group.table, head.predictedOut, this.prefix.computedTokens(req, w), req.inputTokens);
          const r = sloRankOf(cell, targets, head.predictedOut, req.inputTokens, now - head.entry.enqueuedS);
          if (r === undefined) continue;
          const c = cell.c;
          if (c === undefined) continue;
          rankAny = rankAny === undefined ? r : Math.min(rankAny, r);
          if (c === Infinity) continue;
          places.push({ worker: w, c, e2e: cell.e2e });
          rank = rank === undefined ? r : Math.min(rank, r);
        }
        if (rank !== undefined) options.push({ group, rank, places });
        else if (rankAny !== undefined) options.push({ group, rank: rankAny, places });
      }
      if (options.length === 0) unranked.push(head);
      else ranked.push({ head, options: options.sort((a, b) => a.rank - b.rank) });
    }
    // Least slack first: the head whose best GPU type predicts the worst violation.
    ranked.sort((a, b) => b.options[0].rank - a.options[0].rank || a.head.entry.enqueuedS - b.head.entry.enqueuedS);
    for (const { head, options } of ranked) {
      const usableOptions = options.filter((o) => o.places.length > 0);
      const usable = usableOptions.length;
      // The most relaxed GPU type, and every other type predicted to meet the SLO, compete as one
      // pool: Little's-law utilisation is normalised by each worker's own SLO capacity, so the
      // least-loaded worker of the pool is the one with the most slack, whatever its GPU.
      const pool = usableOptions.filter((o, i) => i === 0 || o.rank <= 0).flatMap((o) => o.places);
      const p = pool.length > 0 ? this.placeOn(pool, ctx.rng) : null;
      if (p) {
        this.chosen.set(head.entry.req.id, { c: p.c, e2e: p.e2e, viaFallback: false });
        return { entry: head.entry, decision: { worker: p.worker.index, branch: 'slo' } };
      }
      if (usable === 0 && (head.cold || this.unattainable === 'fallback')) {
        // A guess is no ground to refuse: serve it best-effort so the predictor learns this prompt
        // size (rejecting cold requests starves their input bucket of completions forever).
        const d = this.viaFallbackPick(head.entry.req, candidates, ctx);
        if (d) return { entry: head.entry, decision: d };
      } else if (usable === 0) {
        const req = head.entry.req;
        return {
          entry: head.entry,
          reject: `SLO unattainable: the profile cell for ~${head.predictedOut} output and ${req.inputTokens} input tokens met the SLO at no rate on ${options.map((o) => o.group.deployment).join(', ')}`,
        };
      }
    }
    // Requests with no SLO to rank by go through the fallback (AIBrix errNoSLO), oldest first.
    unranked.sort((a, b) => a.entry.enqueuedS - b.entry.enqueuedS);
    for (const head of unranked) {
      const d = this.viaFallbackPick(head.entry.req, candidates, ctx);
      if (d) return { entry: head.entry, decision: d };
    }
    return null;
  }

  /**
   * The backend: where in one GPU type's workers the request goes, or null when all are full.
   * Consumption is per worker (a worker holding the prompt's prefix computes less of it), so the
   * push backend minimises `util + consumption` too (AIBrix, with one consumption per type,
   * minimises `util`: the same choice there).
   */
  private placeOn(places: readonly Placement[], rng: Rng): Placement | null {
    let fits = this.backend === 'least-load' ? places : places.filter((p) => this.hasRoom(p.worker, p.c));
    // A request whose cell holds a whole worker (fewer than one such request in flight met the SLO
    // in the sweep: a tail effect of short outputs, not concurrency) would wait for an idle worker,
    // which a busy fleet never has; waiting cannot make it fit, so it takes the least-loaded one
    // (pack-load: the fullest) and is charged the whole worker there until it outlives its cell.
    if (fits.length === 0) fits = places.filter((p) => p.c >= WORKER_CAPACITY - CAPACITY_EPS);
    if (fits.length === 0) return null;
    const c = new Map(fits.map((p) => [p.worker.index, p]));
    const sign = this.backend === 'pack-load' ? -1 : 1;
    const w = argminRandomTie(fits.map((p) => p.worker), (x) => sign * (this.utilisation(x.index) + (c.get(x.index) as Placement).c), rng);
    return c.get(w.index) as Placement;
  }

  onDispatch(req: RouteRequest, worker: WorkerView, ctx: PolicyContext): void {
    const ch = this.chosen.get(req.id);
    this.chosen.delete(req.id);
    if (ch && ch.c > 0) this.load.add(req.id, worker.index, ch.c, ctx.clock.now(), ch.e2e);
    this.prefix.record(req, worker);
    if (ch?.viaFallback) {
      this.viaFallback.add(req.id);
      this.fallback.onDispatch?.(req, worker, ctx);
    }
  }

  onFirstToken(req: RouteRequest, worker: WorkerView, ctx: PolicyContext): void {
    if (this.viaFallback.has(req.id)) this.fallback.onFirstToken?.(req, worker, ctx);
  }

  onComplete(req: RouteRequest, worker: WorkerView, outcome: Outcome, ctx: PolicyContext): void {
    this.load.remove(req.id);
    if (outcome.ok) this.predictor.observe(req.inputTokens, outcome.outputTokens, ctx.clock.now());
    if (this.viaFallback.delete(req.id)) this.fallback.onComplete?.(req, worker, outcome, ctx);
  }

  onWorkerRemoved(worker: WorkerView): void {
    this.load.forgetWorker(worker.index);
    this.prefix.removeWorker(worker);
    this.fallback.onWorkerRemoved?.(worker);
  }
}

const OPTIONS: readonly PolicyOption[] = [
  { name: 'fallback', type: 'string', default: 'least-request', description: 'policy for requests no profile or SLO applies to (AIBrix: least-request)' },
  { name: 'predictor', type: 'string', default: 'histogram', description: "output-length predictor: 'histogram' (AIBrix's windowed log2 histogram) or 'oracle' (true lengths; simulation studies only)" },
  { name: 'cold_prediction', type: 'integer', default: 1, description: 'predicted output tokens before the histogram has seen the prompt size (AIBrix OptimisticColdPrediction: 1)' },
  { name: 'unattainable', type: 'string', default: 'fallback', description: "a request whose profile cell met the SLO at no rate on any GPU type: 'fallback' (serve it best-effort through the fallback policy, on the most relaxed GPU type) or 'reject' (429, as AIBrix)" },
  { name: 'queue_max', type: 'integer', default: 10000, description: 'most requests waiting in the router; more are rejected (429); 0 = unbounded as in AIBrix' },
  { name: 'queue_timeout_s', type: 'number', default: 60, description: 'seconds a request may wait in the router before it is rejected (429); 0 = forever as in AIBrix' },
];

const VARIANTS: readonly { name: string; backend: SloBackend; description: string }[] = [
  { name: 'slo', backend: 'least-load-pulling', description: 'AIBrix slo (= slo-least-load-pulling): SLO queue by least slack, most relaxed GPU type first, least Little\'s-law load; requests wait in the router until a worker has capacity (pull)' },
  { name: 'slo-least-load', backend: 'least-load', description: 'AIBrix slo-least-load: SLO queue, most relaxed GPU type first, least Little\'s-law load with no capacity check (push)' },
  { name: 'slo-pack-load', backend: 'pack-load', description: 'AIBrix slo-pack-load: SLO queue, most relaxed GPU type first, the fullest worker that still has capacity (bin-packing, pull)' },
];

/**
 * The `slo*` factories. `createFallback` builds the fallback policy by name (the registry passes
 * its own `createPolicy`, which keeps this module free of an import cycle).
 */
export function sloPolicyFactories(createFallback: (name: string) => Policy): PolicyFactory[] {
  return VARIANTS.map((v) => ({
    name: v.name,
    description: v.description,
    options: OPTIONS,
    create: (o, env) => {
      const fallbackName = String(o.fallback);
      if (fallbackName.startsWith('slo')) throw new UserError(`--policy-opt fallback=${fallbackName} (policy ${v.name}): the fallback must be a push policy, not an slo* policy`);
      let fallback: Policy;
      try {
        fallback = createFallback(fallbackName);
      } catch (err) {
        throw new UserError(`--policy-opt fallback=${fallbackName} (policy ${v.name}): ${(err as Error).message.replace(/^--policy \S+: /, '')}`);
      }
      const cold = Number(o.cold_prediction);
      if (cold < 1) throw new UserError(`--policy-opt cold_prediction (policy ${v.name}): expected at least 1, got ${cold}`);
      let predictor: OutputPredictor;
      if (o.predictor === 'histogram') predictor = new HistogramPredictor();
      else if (o.predictor === 'oracle') predictor = new OraclePredictor();
      else throw new UserError(`--policy-opt predictor (policy ${v.name}): expected histogram or oracle, got "${String(o.predictor)}"`);
      const unattainable = String(o.unattainable);
      if (unattainable !== 'reject' && unattainable !== 'fallback') throw new UserError(`--policy-opt unattainable (policy ${v.name}): expected reject or fallback, got "${unattainable}"`);
      const max = Number(o.queue_max);
      const timeout = Number(o.queue_timeout_s);
      if (max < 0) throw new UserError(`--policy-opt queue_max (policy ${v.name}): expected 0 (unbounded) or more, got ${max}`);
      if (timeout < 0) throw new UserError(`--policy-opt queue_timeout_s (policy ${v.name}): expected 0 (no timeout) or more, got ${timeout}`);
      const limits: QueueLimits = { maxLength: max === 0 ? Infinity : max, timeoutS: timeout === 0 ? Infinity : timeout };
      return new SloPolicy(v.name, v.backend, predictor, cold, fallback, limits, unattainable, env);
    },
  }));
}
