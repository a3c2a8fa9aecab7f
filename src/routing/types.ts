import type { Clock } from '../util/clock.js';
import type { Rng } from '../util/rng.js';
import type { RouteRequest } from '../workload/request.js';
import type { ProfileTable } from './slo/profile.js';

/** Engine metrics as last scraped (vLLM `/metrics` or the simulator's equivalent). */
export interface ScrapedMetrics {
  running: number;
  waiting: number;
  /** Fraction of KV blocks in use, 0..1. */
  kvUsage: number;
  /** Prefix-cache hit rate over the last scrape interval, 0..1, when the engine reports it. */
  prefixHitRate?: number;
  /** When these were scraped (router clock, seconds). */
  atS: number;
  /** LoRA adapters (vLLM `lora_requests_info`), when the engine serves LoRA. */
  lora?: ScrapedLora;
}

/** vLLM's `vllm:lora_requests_info{running_lora_adapters, waiting_lora_adapters, max_lora}`. */
export interface ScrapedLora {
  running: readonly string[];
  waiting: readonly string[];
  maxLoras: number;
}

/**
 * What the router knows about one worker: its own in-flight bookkeeping (always current) and the
 * engine's scraped metrics (as stale as the scrape interval makes them).
 */
export interface WorkerView {
  /** Stable id, never reused (WorkerRegistry). */
  readonly id: number;
  /**
   * Slot in the router's registry: stable for the worker's life, dense, and reused after the
   * worker is removed (per-worker policy state lives in arrays by slot; see WorkerRegistry).
   */
  readonly index: number;
  readonly name: string;
  /** Base URL of a live worker (serve); absent in the simulator. */
  readonly url?: string;
  readonly gpu: string;
  readonly model: string;
  /** Other names requests may use for `model` (catalog id, Hugging Face name); the drivers fill it. */
  readonly modelAliases?: readonly string[];
  readonly profile: string;
  readonly costUsdPerHour: number;
  /** KV capacity in tokens (blocks × block size), when known (serve learns it from a scrape). */
  kvCapacityTokens?: number;
  blockSize?: number;
  /** Set only through `setHealthy` (worker-registry.ts), which keeps the routers' candidate lists current. */
  readonly healthy: boolean;
  /** Requests dispatched and not yet completed. */
  inFlight: number;
  /** Prompt tokens of in-flight requests. */
  inFlightPromptTokens: number;
  /** Requests dispatched whose first token has not arrived (still in prefill/queue). */
  inPrefill: number;
  scraped?: ScrapedMetrics;
  /**
   * AIBrix-style SLO profile tables of this worker's deployment (throughput and latency by
   * (output, input) bucket), when the operator supplied them; the `slo*` policies read them.
   */
  sloProfile?: ProfileTable;
  /**
   * Load other router replicas hold on this worker, as last synced (shared-state.ts); already
   * included in `inFlight`, `inFlightPromptTokens` and `inPrefill`. Absent with one replica.
   */
  remote?: RemoteLoad;
}

/** What the other router replicas hold on one worker, as last synced. */
export interface RemoteLoad {
  readonly inFlight: number;
  readonly promptTokens: number;
  readonly inPrefill: number;
}

/**
 * Session pins shared by router replicas, by worker key (`url`, else name: slots differ between
 * replicas). Synchronous, since routing is: an implementation keeps a local mirror and syncs it
 * in the background, so a pin set by another replica becomes visible after the sync delay.
 */
export interface SessionPinStore {
  /** The worker key the session is pinned to, when a replica routed it there within the last `idleTtlS` seconds. */
  get(session: string, idleTtlS: number): string | undefined;
  /** This replica routed the session to `worker` now. */
  set(session: string, worker: string): void;
}

/** The router's in-flight index over a candidate list (src/routing/load-index.ts). */
export interface InFlightLookup {
  /** `loadRange(list, inFlight)`. */
  range(): { min: number; max: number };
  /** `argminRandomTie(list, inFlight, rng)`: same pick, same draws. */
  argminRandomTie(rng: Rng): WorkerView;
  /** Σ inFlight over the list (a scan's sum), or undefined when the index cannot promise the scan's value. */
  total(): number | undefined;
  /** Σ inFlight² over the list, as `total`. */
  sumSquares(): number | undefined;
}

export interface PolicyContext {
  readonly clock: Clock;
  readonly rng: Rng;
  /**
   * The router's index of in-flight counts over `candidates` (least-loaded with the scan's
   * tie-break, min/max in O(log n)), or undefined when `candidates` is not the list the router
   * indexes (a policy's own subset) and the caller scans.
   */
  readonly inFlightIndex?: (candidates: readonly WorkerView[]) => InFlightLookup | undefined;
}

/** How a routing decision ended; `branch` labels it for metrics (e.g. "cache-hit", "imbalanced"). */
export interface Decision {
  worker: number;
  branch?: string;
}

/**
 * A routing policy. `pick` chooses among `candidates` (healthy workers, never empty); returning
 * null means "none now": in pull mode the request waits, in push mode it is rejected.
 * Hooks let stateful policies (prefix indexes, load estimates) follow the request's life.
 */
export interface Policy {
  readonly name: string;
  /**
   * Whether routing reads the prompt's content (`req.prefix`), not only counts, load and keys:
   * serve computes a prompt's token ids only for a policy that does. Absent means it does.
   */
  readonly usesPrefix?: boolean;
  pick(req: RouteRequest, candidates: readonly WorkerView[], ctx: PolicyContext): Decision | null;
  onDispatch?(req: RouteRequest, worker: WorkerView, ctx: PolicyContext): void;
  onFirstToken?(req: RouteRequest, worker: WorkerView, ctx: PolicyContext): void;
  onComplete?(req: RouteRequest, worker: WorkerView, outcome: Outcome, ctx: PolicyContext): void;
  /** A worker joined the registry (its slot may be one a removed worker had). */
  onWorkerAdded?(worker: WorkerView): void;
  /**
   * A worker left the registry, with nothing in flight on it: free every piece of state kept for
   * it (its slot will be reused by the next worker added).
   */
  onWorkerRemoved?(worker: WorkerView): void;

  // --- Pull mode (optional; a policy without `mode: 'pull'` is routed push-style) ---
  /**
   * 'pull': a request the policy cannot place now (`pick`/`next` → null) waits in the Router's
   * queue and is retried on every completion and arrival; 'push' (default): it is rejected.
   */
  readonly mode?: 'push' | 'pull';
  /** Bounds of the Router's queue in pull mode (the Router's own options override them). */
  readonly queueLimits?: QueueLimits;
  /** Pull mode: the request entered the Router's queue. */
  onEnqueue?(entry: QueuedRequest, ctx: PolicyContext): void;
  /** Pull mode: the request left the queue (dispatched, timed out, rejected). */
  onDequeue?(entry: QueuedRequest, ctx: PolicyContext): void;
  /**
   * Pull mode: which queued request to dispatch next and where, or null when nothing can go now;
   * a `reject` answer ends that request with the reason. Without `next`, the Router tries the
   * oldest queued request with `pick` and waits while it does not fit (FIFO, head of line).
   */
  next?(queue: ReadonlyMap<string, QueuedRequest>, candidates: readonly WorkerView[], ctx: PolicyContext): PullDecision | null;
}

/** A request waiting in the Router's pull-mode queue. */
export interface QueuedRequest {
  readonly req: RouteRequest;
  /** Router clock when it was queued (seconds). */
  readonly enqueuedS: number;
}

export type PullDecision = { entry: QueuedRequest; decision: Decision } | { entry: QueuedRequest; reject: string };

/** Pull-mode queue bounds: beyond them a request ends with a 429-style rejection. */
export interface QueueLimits {
  /** Most requests waiting at once; a request arriving to a full queue is rejected. */
  maxLength: number;
  /** Seconds a request may wait before it is rejected. */
  timeoutS: number;
}

export interface Outcome {
  ok: boolean;
  outputTokens: number;
  /** Seconds from dispatch to first token / to completion, when known. */
  ttftS?: number;
  e2eS?: number;
}

/**
 * An option a policy or plugin accepts: its one declaration (see options.ts), read by parsing,
 * validation, `router policies [--json]` and the docs.
 */
export interface PolicyOption {
  readonly name: string;
  readonly type: 'number' | 'integer' | 'boolean' | 'string';
  /** The default: declared here only. */
  readonly default: number | boolean | string;
  readonly description: string;
  /** Inclusive bounds of a number/integer option. */
  readonly min?: number;
  readonly max?: number;
  /** The accepted values of a string option (an enum). */
  readonly values?: readonly string[];
}

export interface PolicyFactory {
  readonly name: string;
  readonly description: string;
  readonly options: readonly PolicyOption[];
  /**
   * Builds the policy from resolved options (defaults applied, types and ranges checked).
   * `env` hands out shared services, such as the prefix index; absent, a fresh default one.
   */
  create(options: Record<string, number | boolean | string>, env?: PolicyEnv): Policy;
  /** For presets: the profile the policy runs (shown by `router policies`). */
  readonly profile?: (options: Record<string, number | boolean | string>) => ProfileSpec;
}

/** A plugin named in a profile, with its options (checked against the plugin's schema). */
export interface PluginRef {
  readonly type: string;
  readonly options?: Readonly<Record<string, unknown>>;
}

export interface ScorerRef extends PluginRef {
  /** Weight of the scorer's [0, 1] score in the sum (llm-d: unweighted = 1). */
  readonly weight: number;
}

/**
 * A scheduling profile, llm-d style: filters in order, then Σ weight × score over the scorers,
 * then the picker. Declared in YAML/JSON (`--policy-config`) or built by a preset policy.
 */
export interface ProfileSpec {
  readonly name: string;
  readonly description?: string;
  readonly filters: readonly PluginRef[];
  readonly scorers: readonly ScorerRef[];
  readonly picker: PluginRef;
}

/** Shared services a policy's plugins draw on (one instance per policy; see env.ts). */
export interface PolicyEnv {
  /** The prefix index for this block size and capacity, shared by every plugin that asks for the same. */
  prefixIndex(spec: PrefixIndexSpec): PrefixIndex;
  /** Records a dispatch in every prefix index handed out (once per dispatch, whoever asks). */
  recordRouted(req: RouteRequest, worker: WorkerView): void;
  /** Forgets a removed worker in every prefix index handed out. */
  removeWorker(worker: WorkerView): void;
  /** Session pins shared with other router replicas (serve --state, simulate --shared-state); absent = local only. */
  sessionPins?: SessionPinStore;
}

/** How a prefix index is cut and sized. */
export interface PrefixIndexSpec {
  /** Tokens per block. */
  readonly blockSize: number;
  /** Blocks kept per worker; 0 = the worker's KV capacity / blockSize (31,250 when unknown). */
  readonly lruBlocks: number;
  /**
   * What feeds it: 'routing' (default) = routing decisions (approximate); 'kv-events' = the
   * engines' KV events (prefix/precise-index.ts), when the driver supplies them, else approximate.
   */
  readonly source?: 'routing' | 'kv-events';
  /** kv-events: seconds a routing decision counts as cached before the engine's events confirm it. */
  readonly speculativeTtlS?: number;
}

/**
 * Which prompt blocks each worker holds, for every prefix-aware policy and plugin. The
 * approximate implementation (prefix/approximate-index.ts) learns from routing decisions; a
 * KV-event implementation would learn from the engines and may ignore `recordRouted`.
 */
export interface PrefixIndex {
  readonly spec: PrefixIndexSpec;
  /** Chained hashes of the request's full blocks (a match is counted out of these). */
  blocks(req: RouteRequest): readonly number[];
  /**
   * Contiguous prefix match: `out[i]` = leading blocks of the request that `candidates[i]` holds.
   * Returns how many candidates hold at least the first block.
   */
  match(req: RouteRequest, candidates: readonly WorkerView[], out: number[] | Float64Array): number;
  /** Routing time: the request was dispatched to `worker`. */
  recordRouted(req: RouteRequest, worker: WorkerView): void;
  /** The worker left: drop everything held for it. */
  removeWorker(worker: WorkerView): void;
  /**
   * Router replicas (shared-state.ts): the block hashes another replica needs to replay this
   * routing decision, added to `out` by block size (tokens per block → chained hashes).
   */
  routedBlocks?(req: RouteRequest, worker: WorkerView, out: Map<number, readonly number[]>): void;
  /** Another router replica routed a prompt with these blocks (block size → hashes) to `worker`. */
  recordRemote?(blocks: ReadonlyMap<number, readonly number[]>, worker: WorkerView): void;
  /** Most blocks kept for `worker`. */
  capacity(worker: WorkerView): number;
  /** Blocks held for the worker in slot `index` now. */
  size(index: number): number;
  /** Workers the index holds anything for (leak tests). */
  workerCount(): number;
}
