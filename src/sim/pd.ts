import type { Engine, Sequence } from '../engine/engine.js';
import { kvTransferSeconds, kvWireSeconds } from '../engine/kv-transfer.js';
import type { FleetWorker } from '../profiles/fleet.js';
import type { WorkerRole } from '../profiles/fleet-pd.js';
import { Router } from '../routing/router.js';
import type { SimRouter } from './replicas.js';
import type { Policy, WorkerView } from '../routing/types.js';
import type { WorkerInit } from '../routing/worker-registry.js';
import type { VirtualClock } from '../util/clock.js';
import type { Rng } from '../util/rng.js';
import { cachedContentHashes } from '../workload/block-hash.js';
import type { Request } from '../workload/request.js';
import { latencyStats, type PdSummary } from '../metrics/summary.js';
import type { RequestLog } from '../metrics/request-log.js';
import { Column } from '../util/stats.js';
import { kvBytesPerGpuToken, nodeOf, resolveKvLink, type ResolvedKvLink } from './pd-links.js';

/** Disaggregation options of a simulation (`--prefill-policy`, `--pd-threshold`). */
export interface PdOptions {
  /** Routes among the prefill workers (the decode pool uses the run's policy). */
  prefillPolicy: Policy;
  /** Uncached prompt tokens (on the chosen decode worker) from which a request is disaggregated. */
  thresholdTokens: number;
}

/** What the coordinator needs of the simulator that hosts it. */
export interface PdHost {
  readonly clock: VirtualClock;
  /** Engine of fleet worker `i`. */
  engine(i: number): Engine;
  /** The decode pool's router: every request enters and completes there. */
  readonly router: SimRouter;
  /** Schedules `onTransferDone(id)` at `time`. */
  pushTransfer(time: number, id: number): void;
  /** The engine's next step time may have changed. */
  sync(worker: number): void;
  /** The request ends without being served (recorded as rejected). */
  reject(req: Request, worker: string, reason: string): void;
  /** A prefill worker finished computing a prompt (its served counters). */
  servedPrefill(worker: number, req: Request): void;
}

/** The coordinator's state now, for the live dashboard (read only; counters are cumulative). */
export interface PdLiveState {
  roles: readonly WorkerRole[];
  prefillPolicy: string;
  /** Moved requests dispatched to (or queued for) a prefill worker, not yet prefilled. */
  prefilling: number;
  /** Prefilled, waiting for free blocks on their decode worker. */
  waitingForBlocks: number;
  /** KV on the wire. */
  inTransfer: number;
  /** Received, waiting for a running slot (max_num_seqs) on their decode worker. */
  waitingForSlot: number;
  disaggregated: number;
  local: number;
  transferredBytes: number;
  /** Σ over transfers of bytes / link bandwidth: seconds the links spent sending (latency excluded). */
  wireS: number;
}

/** One disaggregated request from its prefill dispatch until the decode worker runs it. */
interface Job {
  readonly req: Request;
  readonly prefillReq: Request;
  readonly decode: number;
  prefill: number;
  prefillSeq?: Sequence;
  prefillEndS: number;
  /** Decode-side blocks held for the received KV. */
  blocks: number[];
  /** Leading blocks the decode worker already cached (not transferred). */
  localBlocks: number;
  transferStartS: number;
}

/**
 * Prefill/decode disaggregation in the simulator, following llm-d's `disagg` profile: the decode
 * pool's router picks the decode worker first; a prefix-based decider sends the request to the
 * prefill pool (its own router and policy) only when the prompt tokens the decode worker has not
 * cached reach the threshold, else the decode worker prefills it itself. The prefill worker
 * computes the prompt (a `max_tokens: 1` request, as vLLM's NIXL proxy sends); the decode worker
 * then needs free blocks for the prompt — requests wait for them in FCFS order, as vLLM's NIXL
 * connector keeps them waiting for remote KV — receives the KV it does not already cache over the
 * pair's link, and computes the last prompt token to sample the first output token (vLLM recomputes
 * it for its logits). TTFT = queue + prefill + wait for blocks + transfer + that first decode step.
 *
 * The decider reads the decode worker's cache as KV events would report it (exact, not a guess).
 * The prefill worker frees its blocks when its prompt is done (they stay in its prefix cache).
 */
export class PdCoordinator {
  readonly prefillRouter: Router;
  private readonly roles: WorkerRole[];
  private readonly nodes: number[];
  private readonly links = new Map<number, ResolvedKvLink>();
  /** Slot → fleet index, per pool. */
  private readonly decodeSlots: number[] = [];
  private readonly prefillSlots: number[] = [];
  private readonly prefillCount: number;
  private readonly jobs = new Map<string, Job>();
  private readonly inTransfer = new Map<number, Job>();
  private nextTransfer = 0;
  /** Per decode worker: prompts waiting for blocks (FCFS), and received ones waiting for a running slot. */
  private readonly receiving: Job[][];
  private readonly ready: Sequence[][];
  // Statistics for the summary.
  private disaggregated = 0;
  private local = 0;
  private readonly transferMs: number[] = [];
  private readonly waitMs: number[] = [];
  private transferredBytes = 0;
  private transferredTokens = 0;
  private localHitTokens = 0;
  private wireS = 0;
  /** Per moved request, for requests.csv: prefill worker, transfer start and end (sim s), bytes. */
  private readonly moved = new Map<string, { prefill: number; startS: number; endS: number; bytes: number }>();

  constructor(
    private readonly host: PdHost,
    private readonly fleet: readonly FleetWorker[],
    private readonly o: PdOptions,
    rng: Rng,
  ) {
    if (o.prefillPolicy.mode === 'pull') throw new Error(`--prefill-policy ${o.prefillPolicy.name}: pull-mode policies route only the decode pool`);
    this.roles = fleet.map((w) => w.role ?? 'both');
    this.nodes = nodeOf(fleet);
    this.prefillCount = this.roles.filter((r) => r === 'prefill').length;
    this.prefillRouter = new Router({
      policy: o.prefillPolicy,
      clock: host.clock,
      rng,
      sink: {
        dispatch: (req, w) => this.dispatchPrefill(req, w),
        reject: (req, reason) => this.prefillRejected(req, reason),
      },
    });
    this.receiving = fleet.map(() => []);
    this.ready = fleet.map(() => []);
  }

  /** Registers fleet worker `i` with its pool's router (fleet order, so slots follow it). */
  addWorker(i: number, init: WorkerInit, decodeRouter: SimRouter): WorkerView {
    const prefill = this.roles[i] === 'prefill';
    const view = (prefill ? this.prefillRouter : decodeRouter).addWorker(init);
    (prefill ? this.prefillSlots : this.decodeSlots)[view.index] = i;
    return view;
  }

  /** Hooks the decode-capable engines: received KV is taken in at their step boundaries. */
  attachEngines(): void {
    this.roles.forEach((r, i) => {
      if (r !== 'prefill') this.host.engine(i).beforeSchedule = (now) => this.atStepBoundary(i, now);
    });
  }

  isPrefill(worker: number): boolean {
    return this.roles[worker] === 'prefill';
  }

  role(worker: number): WorkerRole {
    return this.roles[worker];
  }

  routerOf(worker: number): SimRouter {
    return this.isPrefill(worker) ? this.prefillRouter : this.host.router;
  }

  /** Requests between prefill dispatch and decode adoption (a stopped run reports them unfinished). */
  pending(): { req: Request; worker: number }[] {
    const out: { req: Request; worker: number }[] = [];
    for (const j of this.jobs.values()) if (j.prefillSeq !== undefined && !Number.isNaN(j.prefillEndS)) out.push({ req: j.req, worker: j.decode });
    for (const r of this.ready) for (const s of r) out.push({ req: s.req, worker: this.decodeOf(s) });
    return out;
  }

  /** The decode pool's router chose `w`: disaggregate or prefill locally. */
  dispatchDecode(req: Request, w: WorkerView): boolean {
    const d = this.decodeSlots[w.index];
    const engine = this.host.engine(d);
    if (this.prefillCount === 0 || this.uncachedOn(engine, req) < this.o.thresholdTokens) {
      this.local++;
      return false;
    }
    this.disaggregated++;
    const prefillReq: Request = {
      id: req.id,
      arrivalS: req.arrivalS,
      inputTokens: req.inputTokens,
      prefix: req.prefix,
      text: req.text,
      sessionId: req.sessionId,
      userId: req.userId,
      slo: req.slo,
      source: req.source,
      outputTokens: 1,
    };
    this.jobs.set(req.id, { req, prefillReq, decode: d, prefill: -1, prefillEndS: NaN, blocks: [], localBlocks: 0, transferStartS: NaN });
    this.prefillRouter.submit(prefillReq);
    return true;
  }

  /** A prefill worker's engine event (first token of the 1-token request, or its end). */
  prefillEvent(seq: Sequence, worker: number, first: boolean, now: number): void {
    const req = seq.req;
    if (first) {
      this.prefillRouter.onFirstToken(req);
      return;
    }
    this.prefillRouter.onComplete(req, { ok: true, outputTokens: 1, ttftS: now - req.arrivalS, e2eS: now - req.arrivalS }, true);
    this.host.servedPrefill(worker, req);
    const job = this.jobs.get(req.id);
    if (!job) return;
    job.prefillSeq = seq;
    job.prefillEndS = now;
    this.receiving[job.decode].push(job);
    this.host.engine(job.decode).interrupt(now);
    this.receive(job.decode, now);
    this.host.sync(job.decode);
  }

  /** The KV of transfer `id` has arrived: the sequence joins its decode worker's running set. */
  onTransferDone(id: number, now: number): void {
    const job = this.inTransfer.get(id);
    if (!job) return;
    this.inTransfer.delete(id);
    this.jobs.delete(job.req.id);
    const engine = this.host.engine(job.decode);
    const bs = engine.config.blockSize;
    const p = job.prefillSeq as Sequence;
    const seq: Sequence = {
      req: job.req,
      inputTokens: job.req.inputTokens,
      outputTokens: job.req.outputTokens,
      lastTokenAt: NaN,
      aborted: false,
      enqueuedAt: job.transferStartS,
      numComputed: job.req.inputTokens - 1,
      numOutput: 0,
      blocks: job.blocks,
      numBlocks: job.blocks.length,
      registered: job.localBlocks,
      firstScheduledAt: p.firstScheduledAt,
      firstTokenAt: NaN,
      finishedAt: NaN,
      cachedTokens: Math.max(p.cachedTokens, job.localBlocks * bs),
      preemptions: p.preemptions,
      shared: engine.config.enablePrefixCaching ? cachedContentHashes(job.req, bs) : undefined,
    };
    if (engine.numRunning < engine.config.maxNumSeqs) engine.adoptPrefilled(seq, now);
    else this.ready[job.decode].push(seq);
    this.host.sync(job.decode);
  }

  live(): PdLiveState {
    let waitingForBlocks = 0;
    for (const q of this.receiving) waitingForBlocks += q.length;
    let waitingForSlot = 0;
    for (const r of this.ready) waitingForSlot += r.length;
    return {
      roles: this.roles,
      prefillPolicy: this.prefillRouter.policyName,
      prefilling: this.jobs.size - waitingForBlocks - this.inTransfer.size,
      waitingForBlocks,
      inTransfer: this.inTransfer.size,
      waitingForSlot,
      disaggregated: this.disaggregated,
      local: this.local,
      transferredBytes: this.transferredBytes,
      wireS: this.wireS,
    };
  }

  summary(): PdSummary {
    return {
      prefill_workers: this.prefillCount,
      decode_workers: this.roles.length - this.prefillCount,
      disaggregated: this.disaggregated,
      local: this.local,
      threshold_tokens: this.o.thresholdTokens,
      transfer_ms: latencyStats(this.transferMs),
      block_wait_ms: latencyStats(this.waitMs),
      transferred_gb: this.transferredBytes / 1e9,
      transferred_tokens: this.transferredTokens,
      decode_cached_tokens: this.localHitTokens,
      links: [...new Set([...this.links.values()].map((l) => `${l.kind} ${fmtGbps(l.gbps)} GB/s + ${l.latencyUs} µs${l.layerwise ? ' layerwise' : ''}`))].sort(),
    };
  }

  /** Gives the run's request log its PD columns (row for row; empty for requests not moved). */
  annotate(log: RequestLog, workerName: (i: number) => string): void {
    const cols = { prefillWorkers: [] as string[], transferStartMs: new Column(), transferEndMs: new Column(), transferBytes: new Column() };
    for (let i = 0; i < log.length; i++) {
      const m = this.moved.get(log.ids[i]);
      cols.prefillWorkers.push(m ? workerName(m.prefill) : '');
      cols.transferStartMs.push(m ? m.startS * 1e3 : NaN);
      cols.transferEndMs.push(m ? m.endS * 1e3 : NaN);
      cols.transferBytes.push(m ? m.bytes : NaN);
    }
    log.pd = cols;
  }

  private decodeOf(seq: Sequence): number {
    for (let i = 0; i < this.ready.length; i++) if (this.ready[i].includes(seq)) return i;
    return -1;
  }

  private dispatchPrefill(req: Request, w: WorkerView): void {
    const p = this.prefillSlots[w.index];
    const job = this.jobs.get(req.id) as Job;
    job.prefill = p;
    const engine = this.host.engine(p);
    const maxContext = this.fleet[p].deployment.model.max_position_embeddings;
    if (req.inputTokens + 1 > maxContext || !engine.fits(req)) {
      this.prefillRouter.onComplete(req, { ok: false, outputTokens: 0 }, false);
      this.fail(job, w.name, req.inputTokens + 1 > maxContext
        ? `prompt (${req.inputTokens} tokens) exceeds the prefill worker's maximum context length (${maxContext} tokens)`
        : `prompt (${req.inputTokens} tokens) exceeds the prefill worker's KV cache`);
      return;
    }
    engine.add(req, this.host.clock.now());
    this.host.sync(p);
  }

  private prefillRejected(req: Request, reason: string): void {
    const job = this.jobs.get(req.id);
    if (job) this.fail(job, '', `prefill pool: ${reason}`);
  }

  private fail(job: Job, worker: string, reason: string): void {
    this.jobs.delete(job.req.id);
    this.host.router.onComplete(job.req, { ok: false, outputTokens: 0 }, false);
    this.host.reject(job.req, worker, reason);
  }

  /** Prompt tokens the decode worker would have to compute or receive: the prompt past its cached leading blocks. */
  private uncachedOn(engine: Engine, req: Request): number {
    if (!engine.config.enablePrefixCaching) return req.inputTokens;
    const bs = engine.config.blockSize;
    const hashes = cachedContentHashes(req, bs);
    if (!hashes) return req.inputTokens;
    const max = Math.min(hashes.length, Math.floor((req.inputTokens - 1) / bs));
    let n = 0;
    while (n < max && engine.pool.lookup(hashes[n]) >= 0) n++;
    return req.inputTokens - n * bs;
  }

  private atStepBoundary(d: number, now: number): void {
    const engine = this.host.engine(d);
    const ready = this.ready[d];
    while (ready.length > 0 && engine.numRunning < engine.config.maxNumSeqs) engine.adoptPrefilled(ready.shift() as Sequence, now);
    if (this.receiving[d].length > 0) this.receive(d, now);
  }

  /**
   * Takes blocks for waiting prompts, first come first served (the head waits for blocks, and
   * so does everyone behind it), and starts their transfers. The engine has no stretch in flight.
   */
  private receive(d: number, now: number): void {
    const engine = this.host.engine(d);
    const pool = engine.pool;
    const bs = engine.config.blockSize;
    const queue = this.receiving[d];
    while (queue.length > 0) {
      const job = queue[0];
      const input = job.req.inputTokens;
      const hits: number[] = [];
      const hashes = engine.config.enablePrefixCaching ? cachedContentHashes(job.req, bs) : undefined;
      if (hashes) {
        const max = Math.min(hashes.length, Math.floor((input - 1) / bs));
        for (let i = 0; i < max; i++) {
          const b = pool.lookup(hashes[i]);
          if (b < 0) break;
          hits.push(b);
        }
      }
      const newBlocks = Math.ceil(input / bs) - hits.length;
      let idleHits = 0;
      for (const b of hits) if (pool.refCount(b) === 0) idleHits++;
      if (newBlocks + idleHits > pool.free) return;
      queue.shift();
      for (const b of hits) pool.touch(b);
      job.localBlocks = hits.length;
      const blocks = hits;
      for (let k = 0; k < newBlocks; k++) blocks.push(pool.allocate());
      job.blocks = blocks;
      this.startTransfer(job, now);
    }
  }

  private startTransfer(job: Job, now: number): void {
    const p = job.prefill;
    const d = job.decode;
    const key = p * this.fleet.length + d;
    let link = this.links.get(key);
    if (!link) {
      link = resolveKvLink(this.fleet, this.nodes, p, d);
      this.links.set(key, link);
    }
    const bs = this.host.engine(d).config.blockSize;
    const tokens = Math.max(0, job.req.inputTokens - 1 - job.localBlocks * bs);
    const perGpu = kvBytesPerGpuToken(this.fleet, p, d);
    const seq = job.prefillSeq as Sequence;
    // Layer-wise sending overlaps the prefill only if the decode side had blocks at once.
    const waited = now > job.prefillEndS;
    const overlap = link.layerwise && !waited ? { layers: this.fleet[p].deployment.model.num_layers, prefillS: job.prefillEndS - seq.firstScheduledAt } : undefined;
    const s = kvTransferSeconds(tokens, perGpu, link, overlap);
    job.transferStartS = now;
    this.transferMs.push(s * 1e3);
    this.waitMs.push((now - job.prefillEndS) * 1e3);
    this.transferredTokens += tokens;
    const bytes = tokens * this.fleet[p].deployment.model.kv_cache_bytes_per_token_bf16;
    this.transferredBytes += bytes;
    this.wireS += kvWireSeconds(tokens, perGpu, link);
    this.moved.set(job.req.id, { prefill: p, startS: now, endS: now + s, bytes });
    this.localHitTokens += job.localBlocks * bs;
    const id = this.nextTransfer++;
    this.inTransfer.set(id, job);
    this.host.pushTransfer(now + s, id);
  }
}

function fmtGbps(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}
