import type { Request } from '../workload/request.js';
import { cachedContentHashes } from '../workload/block-hash.js';
import type { EngineConfig } from './config.js';
import { BlockPool } from './block-pool.js';
import type { StepCost, StepShape } from './step-cost.js';
import type { KvOffloadTiers } from './kv-offload.js';
import { LoraSlots, type LoraInfo } from './lora.js';

/** One request inside an engine. Times are engine-clock seconds; NaN until they happen. */
export interface Sequence {
  readonly req: Request;
  /** `req`'s token counts, copied so the per-step loops read the sequence alone (one object, not two). */
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly enqueuedAt: number;
  numComputed: number;
  numOutput: number;
  /**
   * The sequence's KV blocks are `blocks[0..numBlocks)`. The array is sized once at admission for
   * the whole request (its prompt and output), so the blocks decode adds are stores into it: no
   * array growing and copying as the request goes, no empty array per preemption or finish.
   */
  blocks: number[];
  numBlocks: number;
  /** Leading blocks already registered in the prefix cache. */
  registered: number;
  /** Blocks and their generations when last preempted: private content that may still be cached. */
  leftBlocks?: number[];
  leftGens?: number[];
  firstScheduledAt: number;
  firstTokenAt: number;
  /** When the sequence's latest token was sampled (its next inter-token gap starts there); kept when the listener takes `tokenGap`. */
  lastTokenAt: number;
  finishedAt: number;
  /** Prompt tokens served from the prefix cache at first admission. */
  cachedTokens: number;
  preemptions: number;
  /** Set by `abort`: the sequence leaves at the next step boundary, reported as finished. */
  aborted: boolean;
  /** The request's shareable block hashes (`cachedContentHashes`), looked up once at `add`. */
  readonly shared: number[] | undefined;
}

export interface EngineListener {
  firstToken(seq: Sequence, t: number): void;
  finished(seq: Sequence, t: number): void;
  /**
   * `count` tokens after a sequence's first were sampled `seconds` after that sequence's previous
   * token (the inter-token latency a streaming client sees). Optional: without it the engine does
   * no per-token timing work.
   */
  tokenGap?: (seconds: number, count: number) => void;
}

/** What `/metrics` of a vLLM engine would say right now. */
export interface EngineSnapshot {
  running: number;
  waiting: number;
  kvUsage: number;
  prefixHits: number;
  prefixQueries: number;
  preemptions: number;
  promptTokens: number;
  generationTokens: number;
  finished: number;
  /** Adapters running and waiting (vLLM `lora_requests_info`), when the engine serves LoRA. */
  lora?: LoraInfo;
}

/**
 * Prefix-cache changes of one engine, for KV event publishers (mock-worker --kv-events, the
 * simulator's precise index): what vLLM reports as BlockStored / BlockRemoved.
 */
export interface KvCacheObserver {
  /** Blocks `from..to−1` of `seq`'s content newly entered the cache; `hashes[i]` is block i's content hash. */
  stored(seq: Sequence, from: number, to: number, hashes: readonly number[]): void;
  /** The cached block with this content hash was evicted. */
  removed(hash: number): void;
}

/** The blocks of a sequence that holds none (waiting or finished): never written (`numBlocks` is 0). */
const NO_BLOCKS: number[] = [];

/** Most decode steps priced ahead in one stretch. */
const MAX_STRETCH_STEPS = 64;

/**
 * The step in flight (one object per engine, reused: steps allocate nothing). Its batch is the
 * engine's first `batchLen` running sequences and their `batchTokens`. `extraDecodeSteps` further pure-decode steps with the same
 * batch follow the first one back to back; they are priced and applied in one go (see
 * `planStretch`), which is exact because nothing can change a pure-decode batch until a sequence
 * finishes, blocks run out or a request arrives (an arrival cuts the stretch, see `cut`).
 */
interface InFlight {
  active: boolean;
  start: number;
  end: number;
  shape: StepShape;
  extraDecodeSteps: number;
}

/**
 * A vLLM-v1-like continuous-batching engine: FCFS waiting queue, running set, chunked prefill
 * under a token budget, KV blocks with a prefix cache, preemption by recompute.
 * It is driven from outside: `add` a request, then call `advance(t)` when `nextEventTime` comes.
 */
export class Engine {
  readonly pool: BlockPool;
  private readonly waiting: Sequence[] = [];
  private running: Sequence[] = [];
  /**
   * The scheduled batch of the step in flight is the running set's first `batchLen` sequences
   * (`schedule` takes running sequences in order, preempts from the end and admits only after
   * taking all of them); these are their new tokens.
   */
  private readonly batchTokens: number[] = [];
  private batchLen = 0;
  /**
   * End times of a planned stretch's steps: `stepEnds[stretchAt]` ends the step in flight, the
   * next `extraDecodeSteps` entries end its extra steps. Priced once by `planStretch`, so a scrape
   * or a cut finds how far the stretch got without pricing its steps again.
   */
  private readonly stepEnds = new Float64Array(MAX_STRETCH_STEPS + 1);
  private stretchAt = 0;
  private readonly inFlight: InFlight = {
    active: false,
    start: 0,
    end: 0,
    shape: { tokens: 0, seqs: 0, prefillAttnPairs: 0, prefillKvTokens: 0, decodeKvTokens: 0, prefillChunks: 0 },
    extraDecodeSteps: 0,
  };
  /** A schedule that preempted skips admission, so the following step may admit: no stretch then. */
  private preemptedLastSchedule = false;
  readonly counters = { prefixHits: 0, prefixQueries: 0, preemptions: 0, promptTokens: 0, generationTokens: 0, finished: 0, steps: 0 };
  /** Lower KV tiers under the prefix cache (`attachOffload`); null = HBM only. */
  private offload: KvOffloadTiers | null = null;
  /** Seconds of lower-tier loads the next step waits for. */
  private pendingLoadS = 0;
  /** Called at every step boundary before scheduling (disaggregated decode receives KV there). */
  beforeSchedule: ((now: number) => void) | null = null;
  private scheduling = false;
  private kvObserver?: KvCacheObserver;
  /** LoRA adapter slots (config.lora); null when the engine serves the base model only. */
  readonly lora: LoraSlots | null;
  /** Adapter load time the step being scheduled pays (lora.ts). */
  private loadS = 0;
  /**
   * The step in flight is a pure-decode step of the whole running set (in running order) whose
   * sequences register no more blocks in the prefix cache: `applyFused` advances it, its stretch
   * and the finishes after it in one pass over the running set instead of five.
   */
  private fusedInFlight = false;
  /**
   * What the last fused pass found for the next schedule, valid while `readyLen` equals the
   * running set's length (anything that changes the set resets it to -1): every running sequence
   * decodes one token next, `needNext` (in running order) are those that need one more block for
   * it, `readyKv` is their Σ context, `readyMinLeft` the fewest tokens any still needs after it,
   * and `readyTok`/`readyBlk` each one's tokens and blocks after it (for `blocksForDecode`).
   */
  private readyLen = -1;
  private readyKv = 0;
  private readyMinLeft = 0;
  private readyTok = new Int32Array(0);
  private readyBlk = new Int32Array(0);
  private readonly needNext: Sequence[] = [];
  /** When the last fused pass's sequences sampled their last token (see `applyFused`'s `uniform`). */
  private fusedLast = NaN;
  /** Entries of `needNext` in use (the array is reused, not truncated: truncating frees its storage). */
  private needLen = 0;
  /** The batch's first `batchReady` entries are the ready running set (-1: it was not ready). */
  private batchReady = -1;
  /** Sequences of the batch that `applyBatch` last applied that sampled a token (all of them: every one decodes next). */
  private batchSampled = 0;
  /** Sequences a fused pass finished, reported after it in running order. */
  private readonly doneSeqs: Sequence[] = [];
  private doneLen = 0;
  /** The prefix hits of the sequence being admitted (`prefixHits`; reused, not one array per admission). */
  private readonly hits: number[] = [];

  constructor(
    readonly config: EngineConfig,
    private readonly cost: StepCost,
    private readonly listener: EngineListener,
    /** Stretches of pure decode are advanced in one computation; off only to test that it is exact. */
    private readonly fastDecode = true,
    /** Pure-decode steps of a fully registered running set are applied in one pass (`applyFused`); off only to test that it is exact. */
    private readonly fusedDecode = true,
  ) {
    this.pool = new BlockPool(config.numGpuBlocks, config.enablePrefixCaching);
    this.lora = config.lora ? new LoraSlots(config.lora) : null;
  }

  /** Reports prefix-cache stores and evictions to `o` from now on. */
  observeKvCache(o: KvCacheObserver): void {
    this.kvObserver = o;
    this.addEvictListener((h) => o.removed(h));
  }

  /** End of the step in flight, or NaN when idle. */
  get nextEventTime(): number {
    return this.inFlight.active ? this.inFlight.end : NaN;
  }

  get numRunning(): number {
    return this.running.length;
  }

  get numWaiting(): number {
    return this.waiting.length;
  }

  /** Sequences in the running set (admitted, not finished, not preempted). */
  runningSequences(): readonly Sequence[] {
    return this.running;
  }

  /** Sequences admitted or waiting and not finished (a stopped run reports them as unfinished). */
  unfinished(): readonly Sequence[] {
    return [...this.running, ...this.waiting];
  }

  /** Whether a request can ever run here: its prompt and output must fit in the KV cache. */
  fits(req: Request): boolean {
    return Math.ceil((req.inputTokens + req.outputTokens) / this.config.blockSize) <= this.pool.total;
  }

  /**
   * Queues a request at time `now` (check `fits` first). The next step boundary admits it; a
   * decode stretch in flight is cut for it.
   */
  add(req: Request, now: number): Sequence {
    // What every decode step reads and writes first and together: one or two cache lines, not three.
    const seq: Sequence = {
      numComputed: 0,
      numOutput: 0,
      outputTokens: req.outputTokens,
      aborted: false,
      blocks: NO_BLOCKS,
      numBlocks: 0,
      lastTokenAt: NaN,
      inputTokens: req.inputTokens,
      registered: 0,
      req,
      enqueuedAt: now,
      firstScheduledAt: NaN,
      firstTokenAt: NaN,
      finishedAt: NaN,
      cachedTokens: 0,
      preemptions: 0,
      leftBlocks: undefined,
      leftGens: undefined,
      shared: this.config.enablePrefixCaching ? cachedContentHashes(req, this.config.blockSize) : undefined,
    };
    this.waiting.push(seq);
    if (this.inFlight.active) this.cut(now);
    else this.startStep(now);
    return seq;
  }

  /**
   * Drops a request whose client went away (the live mock uses this; the simulator never aborts).
   * A waiting request leaves at once; a running one at the end of the step in flight (its work
   * in that step is already spent), when the listener reports it finished with `aborted` set.
   */
  abort(seq: Sequence, now: number): void {
    if (seq.aborted || !Number.isNaN(seq.finishedAt)) return;
    seq.aborted = true;
    const w = this.waiting.indexOf(seq);
    if (w >= 0) {
      this.waiting.splice(w, 1);
      seq.finishedAt = now;
      this.listener.finished(seq, now);
      return;
    }
    if (this.inFlight.active) this.cut(now);
  }

  /** Gives the worker CPU/disk tiers: evicted prefix blocks go down, admissions load hits back (priced). */
  attachOffload(tiers: KvOffloadTiers): void {
    this.offload = tiers;
    this.addEvictListener((h) => tiers.store(h));
  }

  /** Both offload tiers and a KV-event publisher may hear evictions. */
  private addEvictListener(fn: (h: number) => void): void {
    const prev = this.pool.onEvict;
    this.pool.onEvict = prev === null ? fn : (h) => {
      prev(h);
      fn(h);
    };
  }

  get offloadTiers(): KvOffloadTiers | null {
    return this.offload;
  }

  /**
   * Ends a decode stretch after the step in flight, so blocks may be taken from the pool (the
   * stretch counted on them) or a sequence added to the running set.
   */
  interrupt(now: number): void {
    if (this.inFlight.active) this.cut(now);
  }

  /**
   * Disaggregated decode: a sequence whose prompt KV was received (its blocks held, `numComputed`
   * set) joins the running set, computing its last prompt token in the next step.
   */
  adoptPrefilled(seq: Sequence, now: number): void {
    // Before the push: a stretch applies its remaining steps to the whole running set.
    if (this.inFlight.active) this.cut(now);
    this.running.push(seq);
    // The batch in flight is no longer the running set.
    this.fusedInFlight = false;
    this.readyLen = -1;
    if (!this.inFlight.active && !this.scheduling) this.startStep(now);
  }

  /** Finishes the step in flight (it must end at `now`) and starts the next one if there is work. */
  advance(now: number): void {
    const f = this.inFlight;
    if (!f.active || f.end !== now) throw new Error(`Engine.advance(${now}) but the step in flight ends at ${f.active ? f.end : undefined}`);
    f.active = false;
    // A stretch's first step ended before `now`; its extra steps follow it back to back.
    const firstEnd = f.extraDecodeSteps > 0 ? this.stepEnds[this.stretchAt] : now;
    if (this.fusedInFlight) {
      const b = this.running.length;
      this.applyFused(firstEnd, f.extraDecodeSteps, now, true);
      const kept = this.readyLen;
      this.reportDone(now);
      // Drops the finished entries after the kept ones (a listener may have appended since); when
      // none finished, not even a same-length store (the length setter is a call).
      if (kept !== b) {
        if (this.running.length === b) this.running.length = kept;
        else this.running.splice(kept, b - kept);
      }
    } else {
      this.readyLen = -1;
      this.applyBatch(firstEnd);
      if (f.extraDecodeSteps > 0) this.applyDecodeSteps(f.extraDecodeSteps);
      this.finishCompleted(now);
    }
    this.startStep(now);
  }

  /** Applies the decode steps of a stretch that have ended by `now`, so a scrape sees exact state. */
  materialize(now: number): void {
    const f = this.inFlight;
    if (!f.active || f.extraDecodeSteps === 0 || now >= f.end) return;
    const ends = this.stepEnds;
    const at = this.stretchAt;
    if (ends[at] > now) return;
    // Step 1 (the scheduled batch) has ended; find how many extra steps have too.
    let done = 0;
    while (done < f.extraDecodeSteps - 1 && ends[at + done + 1] <= now) done++;
    const t = ends[at + done];
    // The step in flight at `now` becomes step 1 of the rest of the stretch (the same batch, one
    // token each); its blocks were due at t.
    const rest = f.extraDecodeSteps - done - 1;
    if (this.fusedInFlight) {
      this.applyFused(ends[at], done, t, false);
      const need = this.needNext;
      for (let k = 0; k < this.needLen; k++) {
        const s = need[k];
        s.blocks[s.numBlocks++] = this.pool.allocatePrivate();
      }
      this.needLen = 0;
      this.readyLen = -1;
      const s = f.shape;
      s.tokens = s.seqs = this.running.length;
      s.prefillAttnPairs = s.prefillKvTokens = s.prefillChunks = 0;
      s.decodeKvTokens = this.readyKv;
    } else {
      this.applyBatch(ends[at]);
      if (done > 0) this.applyDecodeSteps(done);
      this.allocateDecode(1);
      this.decodeShape(f.shape);
    }
    f.start = t;
    f.extraDecodeSteps = rest;
    this.stretchAt = at + done + 1;
  }

  /** Fraction of KV blocks in use (as `snapshot().kvUsage`, without building a snapshot). */
  get kvUsage(): number {
    return this.pool.total > 0 ? this.pool.used / this.pool.total : 0;
  }

  snapshot(): EngineSnapshot {
    const c = this.counters;
    return {
      running: this.running.length,
      waiting: this.waiting.length,
      kvUsage: this.kvUsage,
      prefixHits: c.prefixHits,
      prefixQueries: c.prefixQueries,
      preemptions: c.preemptions,
      promptTokens: c.promptTokens,
      generationTokens: c.generationTokens,
      finished: c.finished,
      ...(this.lora ? { lora: this.loraInfo(this.lora) } : {}),
    };
  }

  /** What `vllm:lora_requests_info` would say now (running and waiting adapters, max_lora). */
  loraInfo(lora: LoraSlots): LoraInfo {
    const running = lora.running();
    const waiting = new Set<string>();
    for (const s of this.waiting) if (s.req.adapter !== undefined && !running.includes(s.req.adapter)) waiting.add(s.req.adapter);
    return { running, waiting: [...waiting], maxLoras: lora.config.maxLoras };
  }

  /** Shortens a decode stretch to the step in flight at `now`, so a new arrival joins the next step. */
  private cut(now: number): void {
    const f = this.inFlight;
    // At the stretch's end there is nothing left to cut: shortening it then would move its end
    // back to its first step's, in the past, and drop the steps that have already run.
    if (!f.active || f.extraDecodeSteps === 0 || now >= f.end) return;
    this.materialize(now);
    if (f.extraDecodeSteps === 0) return;
    f.extraDecodeSteps = 0;
    // = f.start + seconds(f.shape): planStretch priced this step with the same shape.
    f.end = this.stepEnds[this.stretchAt];
  }

  private startStep(now: number): void {
    if (this.beforeSchedule !== null) {
      this.scheduling = true;
      this.beforeSchedule(now);
      this.scheduling = false;
    }
    this.loadS = 0;
    this.schedule(now);
    if (this.batchLen === 0) return;
    const f = this.inFlight;
    const shape = f.shape;
    this.shapeOf(shape);
    f.start = now;
    f.end = now + this.cost.seconds(shape) + this.loadS;
    if (this.pendingLoadS > 0) {
      f.end += this.pendingLoadS;
      this.pendingLoadS = 0;
    }
    f.extraDecodeSteps = 0;
    f.active = true;
    const pureDecode = shape.prefillKvTokens === 0 && this.batchLen === this.running.length && !this.preemptedLastSchedule;
    this.fusedInFlight = false;
    if (this.fastDecode && pureDecode) this.planStretch(f);
    this.counters.steps++;
  }

  /**
   * Extends a pure-decode step by the further identical decode steps that must follow it: up to
   * the step in which the first sequence finishes, and only while the blocks those steps allocate
   * fit. Waiting requests cannot be admitted in between: the batch size, the token budget and the
   * free blocks only stay equal or shrink until something finishes. `advance` at the stretch's
   * end reports the sequences that finished in its last step, as the general path would.
   */
  private planStretch(f: InFlight): void {
    const b = this.batchLen;
    const seqs = this.running;
    const ready = this.batchReady === b;
    let minLeft = Infinity;
    let registered = true;
    if (ready) minLeft = this.readyMinLeft;
    else {
      for (let i = 0; i < b; i++) {
        const seq = seqs[i];
        minLeft = Math.min(minLeft, seq.outputTokens - seq.numOutput - 1);
        if (registered && !this.registeredAll(seq)) registered = false;
      }
    }
    // The batch is the running set in order (pure decode): a fused pass can apply it.
    this.fusedInFlight = this.fusedDecode && registered;
    // After step 1 each sequence still needs `left` tokens.
    // Capped: an arrival usually cuts a long stretch early, and pricing steps that never run made
    // planning cost O(output length) per arrival on a lightly loaded worker. A stretch that runs
    // to its end is followed by the next one, with the same steps at the same times.
    let m = Math.min(minLeft, MAX_STRETCH_STEPS);
    if (m <= 0) return;
    const free = this.pool.free;
    if (this.blocksForDecode(m, ready) > free) {
      let lo = 0;
      let hi = m;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (this.blocksForDecode(mid, ready) <= free) lo = mid;
        else hi = mid - 1;
      }
      m = lo;
    }
    if (m <= 0) return;
    let t = f.end;
    let kv = f.shape.decodeKvTokens + b;
    const ends = this.stepEnds;
    ends[0] = t;
    const cost = this.cost;
    if (cost.decodeEnds !== undefined) t = cost.decodeEnds(b, kv, m, ends);
    else {
      for (let i = 1; i <= m; i++) {
        t += cost.decodeSeconds(b, kv);
        ends[i] = t;
        kv += b;
      }
    }
    this.stretchAt = 0;
    f.extraDecodeSteps = m;
    f.end = t;
  }

  /** Blocks the batch must allocate for `m` decode steps after the step in flight (`ready`: read `readyTok`/`readyBlk`). */
  private blocksForDecode(m: number, ready: boolean): number {
    const bs = this.config.blockSize;
    if (ready) {
      const tok = this.readyTok;
      const blk = this.readyBlk;
      let n = 0;
      for (let i = 0; i < this.batchLen; i++) {
        const extra = Math.ceil((tok[i] + m) / bs) - blk[i];
        if (extra > 0) n += extra;
      }
      return n;
    }
    const seqs = this.running;
    let need = 0;
    for (let i = 0; i < this.batchLen; i++) {
      const seq = seqs[i];
      // After step 1 the sequence holds numComputed+1 computed tokens; step i computes token numComputed+1+i.
      const tokens = seq.numComputed + 1 + m;
      const extra = Math.ceil(tokens / bs) - seq.numBlocks;
      if (extra > 0) need += extra;
    }
    return need;
  }

  /** Fills `batchTokens`/`batchLen` with the next step's batch (the running set's first `batchLen`). */
  private schedule(now: number): void {
    const cfg = this.config;
    const toks = this.batchTokens;
    let len = 0;
    let budget = cfg.maxNumBatchedTokens;
    let preempted = false;
    let i = 0;
    this.batchReady = -1;
    const ready = this.readyLen;
    this.readyLen = -1;
    const need = this.needNext;
    if (ready === this.running.length && ready <= budget && this.needLen <= this.pool.free) {
      // Every running sequence decodes one token and the blocks it needs are free: what the loop
      // below would do, allocating in the same (running) order.
      for (let k = 0; k < this.needLen; k++) {
        const s = need[k];
        s.blocks[s.numBlocks++] = this.pool.allocatePrivate();
      }
      for (; i < ready; i++) toks[i] = 1;
      len = ready;
      budget -= ready;
      this.batchReady = ready;
    }
    this.needLen = 0;
    while (i < this.running.length && budget > 0) {
      const seq = this.running[i];
      const n = Math.min(this.numTokens(seq) - seq.numComputed, budget);
      let scheduledSelf = true;
      for (;;) {
        const need = Math.ceil((seq.numComputed + n) / cfg.blockSize) - seq.numBlocks;
        if (need <= this.pool.free) {
          for (let k = 0; k < need; k++) seq.blocks[seq.numBlocks++] = this.pool.allocatePrivate();
          break;
        }
        const victim = this.running.pop() as Sequence;
        this.preempt(victim);
        preempted = true;
        if (victim === seq) {
          scheduledSelf = false;
          break;
        }
      }
      if (!scheduledSelf) break;
      toks[len] = n;
      len++;
      budget -= n;
      i++;
    }
    this.preemptedLastSchedule = preempted;
    if (preempted) {
      this.batchLen = len;
      return;
    }
    const lora = this.lora;
    // Position in the waiting queue: LoRA skips a request whose adapter would exceed max_loras.
    let j = 0;
    while (j < this.waiting.length && budget > 0 && this.running.length < cfg.maxNumSeqs) {
      const seq = this.waiting[j];
      const adapter = lora ? seq.req.adapter : undefined;
      if (adapter !== undefined && !(lora as LoraSlots).canRun(adapter)) {
        j++;
        continue;
      }
      const total = this.numTokens(seq);
      const hits = this.hits;
      const nHits = this.prefixHits(seq, total);
      const lower = this.offload === null ? 0 : this.lowerTierHits(seq, nHits, total);
      const hitTokens = (nHits + lower) * cfg.blockSize;
      const n = Math.min(total - hitTokens, budget);
      const reserveTo = cfg.reserveFullPrompt ? total : hitTokens + n;
      const newBlocks = Math.ceil(reserveTo / cfg.blockSize) - nHits;
      let idleHits = 0;
      // A hit on a block nobody references takes it off the free queue, so it counts against `free`.
      for (let k = 0; k < nHits; k++) if (this.pool.refCount(hits[k]) === 0) idleHits++;
      if (newBlocks + idleHits > this.pool.free) break;
      for (let k = 0; k < nHits; k++) this.pool.touch(hits[k]);
      // Loaded blocks are refreshed in their tier before the allocations below evict into it.
      if (lower > 0) this.pendingLoadS += (this.offload as KvOffloadTiers).load(seq.shared as number[], nHits, lower, cfg.blockSize);
      seq.registered = nHits;
      // Room for every block the request can hold (see `Sequence.blocks`).
      const blocks = new Array<number>(Math.max(Math.ceil((seq.inputTokens + seq.outputTokens) / cfg.blockSize), nHits + newBlocks));
      for (let k = 0; k < nHits; k++) blocks[k] = hits[k];
      for (let k = 0; k < newBlocks; k++) blocks[nHits + k] = this.pool.allocatePrivate();
      seq.blocks = blocks;
      seq.numBlocks = nHits + newBlocks;
      if (lower > 0) this.registerLoaded(seq, lower);
      seq.numComputed = hitTokens;
      this.counters.prefixQueries += total;
      // vLLM's prefix-cache counters are HBM hits; lower-tier hits are counted by their tier.
      this.counters.prefixHits += hitTokens - lower * cfg.blockSize;
      if (Number.isNaN(seq.firstScheduledAt)) {
        seq.firstScheduledAt = now;
        seq.cachedTokens = hitTokens;
      }
      if (adapter !== undefined) this.loadS += (lora as LoraSlots).admit(adapter);
      if (j === 0) this.waiting.shift();
      else this.waiting.splice(j, 1);
      this.running.push(seq);
      toks[len] = n;
      len++;
      budget -= n;
    }
    this.batchLen = len;
  }

  /**
   * Longest run of cached leading blocks, leaving at least one token to compute (as vLLM does):
   * written to `hits`, their count returned.
   */
  private prefixHits(seq: Sequence, total: number): number {
    const hits = this.hits;
    let n = 0;
    if (!this.config.enablePrefixCaching) return n;
    const maxBlocks = Math.floor((total - 1) / this.config.blockSize);
    const shared = seq.shared;
    const nShared = shared ? Math.min(shared.length, maxBlocks) : 0;
    for (let i = 0; i < nShared; i++) {
      const b = this.pool.lookup((shared as number[])[i]);
      if (b < 0) return n;
      hits[n++] = b;
    }
    const left = seq.leftBlocks;
    const gens = seq.leftGens as number[];
    if (left) {
      for (let i = nShared; i < Math.min(maxBlocks, left.length); i++) {
        if (!this.pool.holds(left[i], gens[i])) break;
        hits[n++] = left[i];
      }
    }
    return n;
  }


  /** Blocks after the HBM hit that the lower tiers continue the prompt with (leaving one token to compute). */
  private lowerTierHits(seq: Sequence, from: number, total: number): number {
    const shared = seq.shared;
    if (!shared) return 0;
    return (this.offload as KvOffloadTiers).match(shared, from, Math.floor((total - 1) / this.config.blockSize));
  }

  /** The fresh blocks a lower-tier hit was loaded into hold that content: cache them under it. */
  private registerLoaded(seq: Sequence, count: number): void {
    const shared = seq.shared as number[];
    const from = seq.registered;
    for (let i = from; i < from + count; i++) this.pool.register(seq.blocks[i], shared[i]);
    seq.registered = from + count;
  }

  private numTokens(seq: Sequence): number {
    return seq.inputTokens + seq.numOutput;
  }

  private preempt(seq: Sequence): void {
    if (this.config.enablePrefixCaching) {
      seq.leftBlocks = seq.blocks.slice(0, seq.numBlocks);
      seq.leftGens = seq.leftBlocks.map((b) => this.pool.generation(b));
    }
    // Its private blocks' records were not kept (`allocatePrivate`): they are released as a preemption's.
    this.pool.release(seq.blocks, seq.registered, true, seq.numBlocks);
    seq.blocks = NO_BLOCKS;
    seq.numBlocks = 0;
    seq.registered = 0;
    seq.numComputed = 0;
    seq.preemptions++;
    this.counters.preemptions++;
    this.readyLen = -1;
    if (this.lora && seq.req.adapter !== undefined) this.lora.release(seq.req.adapter);
    this.waiting.unshift(seq);
  }

  /** Writes the shape of the scheduled batch into `out`. */
  private shapeOf(out: StepShape): void {
    let tokens = 0;
    let pairs = 0;
    let pfKv = 0;
    let dcKv = 0;
    let chunks = 0;
    const seqs = this.running;
    const toks = this.batchTokens;
    const len = this.batchLen;
    let i = 0;
    if (this.batchReady >= 0) {
      // The ready running set decodes: one token each, Σ context known (integer sums, so exact in any order).
      i = tokens = this.batchReady;
      dcKv = this.readyKv;
    }
    for (; i < len; i++) {
      const seq = seqs[i];
      const n = toks[i];
      tokens += n;
      const c = seq.numComputed;
      if (n === 1 && seq.numOutput > 0 && c + 1 === this.numTokens(seq)) {
        dcKv += c + 1;
      } else {
        pairs += n * (c + n / 2);
        pfKv += c + n;
        chunks++;
      }
    }
    out.tokens = tokens;
    out.seqs = len;
    out.prefillAttnPairs = pairs;
    out.prefillKvTokens = pfKv;
    out.decodeKvTokens = dcKv;
    out.prefillChunks = chunks;
  }

  /** Writes the shape of one decode step of the scheduled batch (one token each) into `out`. */
  private decodeShape(out: StepShape): void {
    const seqs = this.running;
    const len = this.batchLen;
    const toks = this.batchTokens;
    let kv = 0;
    for (let i = 0; i < len; i++) {
      kv += seqs[i].numComputed + 1;
      toks[i] = 1;
    }
    out.tokens = len;
    out.seqs = len;
    out.prefillAttnPairs = 0;
    out.prefillKvTokens = 0;
    out.decodeKvTokens = kv;
    out.prefillChunks = 0;
  }

  /** Applies one scheduled step ending at `end`: computed tokens, newly full blocks into the cache, sampled tokens. */
  private applyBatch(end: number): void {
    const seqs = this.running;
    const toks = this.batchTokens;
    const gap = this.listener.tokenGap;
    let runFrom = NaN;
    let runCount = 0;
    let sampled = 0;
    for (let i = 0; i < this.batchLen; i++) {
      const seq = seqs[i];
      const tokens = toks[i];
      const decode = tokens === 1 && seq.numOutput > 0 && seq.numComputed + 1 === this.numTokens(seq);
      if (!decode) this.counters.promptTokens += tokens;
      seq.numComputed += tokens;
      this.registerFull(seq);
      if (seq.numComputed === this.numTokens(seq)) {
        // A resumed (preempted) sequence's gap spans its wait, as its client sees it. Sequences
        // that sampled together last time share a gap: reported once with their count.
        if (gap && seq.numOutput > 0) {
          if (seq.lastTokenAt === runFrom) runCount++;
          else {
            if (runCount > 0) gap(end - runFrom, runCount);
            runFrom = seq.lastTokenAt;
            runCount = 1;
          }
        }
        seq.lastTokenAt = end;
        seq.numOutput++;
        this.counters.generationTokens++;
        sampled++;
      }
    }
    if (gap && runCount > 0) gap(end - runFrom, runCount);
    this.batchSampled = sampled;
  }

  /**
   * Applies `m` decode steps to the whole running batch at once (each sequence gains m tokens):
   * the stretch's steps after the one ending at `stepEnds[stretchAt]`.
   */
  private applyDecodeSteps(m: number): void {
    this.allocateDecode(m);
    const b = this.running.length;
    const ends = this.stepEnds;
    const at = this.stretchAt;
    const gap = this.listener.tokenGap;
    // Every sequence of a pure-decode batch samples once per step: each step's length is one gap
    // for each of them.
    if (gap) for (let j = at; j < at + m; j++) gap(ends[j + 1] - ends[j], b);
    const last = ends[at + m];
    for (const seq of this.running) {
      seq.numComputed += m;
      seq.numOutput += m;
      seq.lastTokenAt = last;
      this.registerFull(seq);
    }
    this.counters.generationTokens += m * b;
  }

  /**
   * Applies the pure-decode step in flight (ending at `firstEnd`) and the `m` stretch steps after
   * it (the last ending at `last`) to the running set in one pass: what `applyBatch`,
   * `applyDecodeSteps` and (with `finish`) `finishCompleted` do one after the other, in the same
   * order wherever the order shows. Blocks are allocated in running order, each sequence's `m`
   * steps at once, as `allocateDecode` does; the sequences register nothing (`fusedInFlight`), so
   * no prefix-cache entry can be taken between two allocations; token gaps are reported in the
   * same calls; finished sequences are moved out of the running set's first `readyLen` entries here
   * but are released and reported by `reportDone` afterwards, in running order, as
   * `finishCompleted` does after all allocations.
   * It also prepares the next schedule (`readyLen` and the rest) for the sequences that stay.
   */
  private applyFused(firstEnd: number, m: number, last: number, finish: boolean): void {
    const bs = this.config.blockSize;
    const pool = this.pool;
    const running = this.running;
    const b = running.length;
    if (this.readyTok.length < b) this.growReady(b);
    // The ready running set, scheduled whole from the last fused pass: `readyTok`/`readyBlk` hold
    // each one's tokens and blocks, and all sampled their last token at `fusedLast`. Reading those
    // instead of the sequence's block list and its (boxed) token time saves two loads per sequence
    // that are usually cache misses.
    const uniform = this.batchReady === b;
    const tok = this.readyTok;
    const blk = this.readyBlk;
    const need = this.needNext;
    const done = this.doneSeqs;
    let needLen = 0;
    let doneLen = 0;
    const gap = this.listener.tokenGap;
    let runFrom = NaN;
    let runCount = 0;
    const adv = 1 + m;
    let w = 0;
    let kv = 0;
    let minLeft = Infinity;
    if (uniform && gap && b > 0) {
      runFrom = this.fusedLast;
      runCount = b;
    }
    for (let r = 0; r < b; r++) {
      const seq = running[r];
      let c: number;
      let have: number;
      if (uniform) {
        c = tok[r] - 1 + adv;
        have = blk[r];
      } else {
        if (gap) {
          if (seq.lastTokenAt === runFrom) runCount++;
          else {
            if (runCount > 0) gap(firstEnd - runFrom, runCount);
            runFrom = seq.lastTokenAt;
            runCount = 1;
          }
        }
        c = seq.numComputed + adv;
        have = seq.numBlocks;
      }
      seq.numComputed = c;
      const out = seq.numOutput + adv;
      seq.numOutput = out;
      seq.lastTokenAt = last;
      // The step in flight's block was allocated when it was scheduled; the stretch's are due now.
      // Integer compares instead of Math.ceil(c / bs) > have (the same for positive integers), so
      // a sequence whose blocks suffice pays no division.
      if (c > have * bs) {
        const extra = Math.ceil(c / bs) - have;
        const blocks = seq.blocks;
        for (let k = 0; k < extra; k++) blocks[have + k] = pool.allocatePrivate();
        have += extra;
        seq.numBlocks = have;
      }
      if (finish && (out >= seq.outputTokens || seq.aborted)) {
        done[doneLen++] = seq;
        continue;
      }
      // Only when something before it finished: a sequence still in young space would cost a
      // write barrier's slow path for storing itself where it already is.
      if (w !== r) running[w] = seq;
      const next = c + 1;
      if (next > have * bs) {
        need[needLen++] = seq;
        have++;
      }
      tok[w] = next;
      blk[w] = have;
      kv += next;
      const left = seq.outputTokens - out - 1;
      if (left < minLeft) minLeft = left;
      w++;
    }
    if (gap) {
      if (runCount > 0) gap(firstEnd - runFrom, runCount);
      const ends = this.stepEnds;
      const at = this.stretchAt;
      for (let j = at; j < at + m; j++) gap(ends[j + 1] - ends[j], b);
    }
    this.counters.generationTokens += adv * b;
    // The running set keeps its length until `reportDone` has reported the finished (as `finishCompleted`).
    this.readyLen = w;
    this.needLen = needLen;
    this.doneLen = doneLen;
    this.readyKv = kv;
    this.readyMinLeft = minLeft;
    this.fusedLast = last;
  }

  /** Room in `readyTok`/`readyBlk` for a running set of `b`. */
  private growReady(b: number): void {
    const tokens = new Int32Array(Math.max(b, 2 * this.readyTok.length, 16));
    const blocks = new Int32Array(tokens.length);
    tokens.set(this.readyTok);
    blocks.set(this.readyBlk);
    this.readyTok = tokens;
    this.readyBlk = blocks;
  }

  /** Releases and reports the sequences the last fused pass finished, in running order (as `finishCompleted`). */
  private reportDone(now: number): void {
    const done = this.doneSeqs;
    for (let i = 0; i < this.doneLen; i++) {
      const seq = done[i];
      this.finish(seq, now);
    }
    this.doneLen = 0;
  }

  /** Ends a finished sequence: frees its blocks and adapter slot, counts and reports it. */
  private finish(seq: Sequence, now: number): void {
    seq.finishedAt = now;
    // Blocks past the registered ones were allocated for the sequence and never cached (see `release`).
    this.pool.release(seq.blocks, seq.registered, false, seq.numBlocks);
    seq.blocks = NO_BLOCKS;
    seq.numBlocks = 0;
    this.counters.finished++;
    if (this.lora && seq.req.adapter !== undefined) this.lora.release(seq.req.adapter);
    this.listener.finished(seq, now);
  }

  /** Whether `seq` has no more blocks to put into the prefix cache (`registerFull` would do nothing, now and later). */
  private registeredAll(seq: Sequence): boolean {
    if (!this.config.enablePrefixCaching) return true;
    const shared = seq.shared;
    return shared === undefined || seq.registered >= shared.length;
  }

  /** Allocates the blocks `m` more decode steps of the running batch will fill. */
  private allocateDecode(m: number): void {
    const bs = this.config.blockSize;
    for (const seq of this.running) {
      const need = Math.ceil((seq.numComputed + m) / bs) - seq.numBlocks;
      for (let k = 0; k < need; k++) seq.blocks[seq.numBlocks++] = this.pool.allocatePrivate();
    }
  }

  /** Puts newly full blocks with shareable content (prompt identity, known answer ids) into the prefix cache. */
  private registerFull(seq: Sequence): void {
    if (!this.config.enablePrefixCaching) return;
    const shared = seq.shared;
    if (!shared) return;
    const full = Math.min(Math.floor(seq.numComputed / this.config.blockSize), shared.length);
    const obs = this.kvObserver;
    if (obs === undefined) {
      for (let i = seq.registered; i < full; i++) this.pool.register(seq.blocks[i], shared[i]);
    } else {
      // Runs of newly cached blocks, as vLLM reports them (a block another one already caches is not new).
      let from = -1;
      for (let i = seq.registered; i < full; i++) {
        if (this.pool.register(seq.blocks[i], shared[i])) {
          if (from < 0) from = i;
        } else if (from >= 0) {
          obs.stored(seq, from, i, shared);
          from = -1;
        }
      }
      if (from >= 0) obs.stored(seq, from, full, shared);
    }
    if (full > seq.registered) seq.registered = full;
  }

  /**
   * Reports first tokens and finishes after a step that was not a fused pass, in running order.
   * When the whole running set took part in the step and every sequence that stays sampled in it
   * (so decodes next, its last token at `now`) and registers nothing more, it also prepares the
   * next schedule as `applyFused` does (`readyLen` and the rest): the step after a prefill is then
   * scheduled, priced and planned from that state, and its stretch runs as uniform fused passes.
   */
  private finishCompleted(now: number): void {
    let w = 0;
    const running = this.running;
    const b = running.length;
    // The batch is always a prefix of the running set (schedule takes running sequences in order, then appends admissions).
    let ready = this.fusedDecode && this.batchLen === b && this.batchSampled === b;
    if (ready && this.readyTok.length < b) this.growReady(b);
    const bs = this.config.blockSize;
    const tok = this.readyTok;
    const blk = this.readyBlk;
    const need = this.needNext;
    let needLen = 0;
    let kv = 0;
    let minLeft = Infinity;
    // `running.length`, not `b`: a listener that adds a request may start a step and admit it meanwhile.
    for (let r = 0; r < running.length; r++) {
      const seq = running[r];
      const out = seq.numOutput;
      if (out === 1 && Number.isNaN(seq.firstTokenAt)) {
        seq.firstTokenAt = now;
        this.listener.firstToken(seq, now);
      }
      if (out >= seq.outputTokens || seq.aborted) {
        this.finish(seq, now);
        continue;
      }
      if (w !== r) running[w] = seq;
      if (ready) {
        // It sampled in the step (`batchSampled`), so it decodes next.
        const next = seq.numComputed + 1;
        if (!this.registeredAll(seq)) ready = false;
        else {
          let have = seq.numBlocks;
          if (next > have * bs) {
            need[needLen++] = seq;
            have++;
          }
          tok[w] = next;
          blk[w] = have;
          kv += next;
          const left = seq.outputTokens - out - 1;
          if (left < minLeft) minLeft = left;
        }
      }
      w++;
    }
    if (running.length !== b || this.inFlight.active) ready = false;
    if (w !== running.length) running.length = w;
    if (ready) {
      this.readyLen = w;
      this.needLen = needLen;
      this.readyKv = kv;
      this.readyMinLeft = minLeft;
      this.fusedLast = now;
    }
  }
}
