import { randomBytes } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { Router, type RouterSink } from '../../routing/router.js';
import type { Policy, WorkerView } from '../../routing/types.js';
import type { Request } from '../../workload/request.js';
import { childRng } from '../../util/rng.js';
import type { Clock } from '../../util/clock.js';
import { HttpError } from '../openai-error.js';
import { isRetryableStatus } from '../backoff.js';
import { ExcludingPolicy } from '../exclude-policy.js';
import { Fleet } from '../fleet.js';
import { ServeWorker, type WorkerRuntimeOptions } from '../worker.js';
import type { WorkerSpec } from '../worker-spec.js';
import type { RequestLifecycle } from '../lifecycle.js';
import { PdDecider } from './decider.js';
import { PdMetrics } from './metrics.js';
import type { Registry } from 'prom-client';
import { kvParamsOfPrefillResponse, roomFromBits, sglangBody, vllmDecodeBody, vllmPrefillBody, type PdProtocol } from './wire.js';

/** Disaggregated serving as configured (`--prefill`, `--pd-protocol`, `--prefill-policy`, `--pd-threshold`). */
export interface PdOptions {
  protocol: PdProtocol;
  /** The prefill pool; `bootstrapPort` matters to SGLang only. */
  prefill: WorkerSpec[];
  prefillPolicy: Policy;
  /** Uncached prompt tokens from which a request is disaggregated (0 = always; vLLM only). */
  thresholdTokens: number;
  /** Block size of the decider's prefix estimate. */
  blockSize: number;
}

/** What the coordinator needs from serve. */
export interface PdHost {
  readonly clock: Clock;
  readonly maxAttempts: number;
  retryDelayMs(retry: number): number;
  note(line: string): void;
}

type Json = Record<string, unknown>;

/** One pairing of a request with a decode worker (a decode failure before the first byte makes a new one). */
interface Pairing {
  readonly lc: RequestLifecycle;
  readonly decode: ServeWorker;
  readonly client: Json;
  /** Prefill attempts made for this pairing. */
  tries: number;
  /** The decode attempt this pairing started (SGLang: aborted if its prefill fails first). */
  decodeAttempt?: number;
}

/** A prefill request in flight. */
interface PrefillCall {
  readonly pairing: Pairing;
  readonly req: Request;
  readonly worker: ServeWorker;
  readonly abort: AbortController;
  readonly startS: number;
}

/** Per client request: prefill workers that failed it (kept across re-run pairs), calls in flight. */
interface RequestState {
  readonly excluded: Set<number>;
  readonly calls: Set<PrefillCall>;
}

/** SGLang's default bootstrap port on the prefill side. */
export const DEFAULT_BOOTSTRAP_PORT = 8998;

const PAIR_ABORT = new Error('the prefill of this pair failed');

/**
 * Disaggregated prefill/decode routing. Two Routers, one per pool: the decode pool is serve's own
 * Router (its workers are `--decode`/`both` workers, and the client's response comes from them,
 * so retries, streaming and load accounting stay the lifecycle's), and this coordinator owns a
 * second Router over the prefill workers with its own policy. Two Routers rather than one
 * registry with roles because every policy (prefix indexes, round-robin cursors, load counts)
 * must see one pool only, exactly as sgl-router's separate prefill and decode policies do.
 *
 * Per request, once the decode Router has placed it: vLLM runs the prefill (one token, no stream)
 * and then starts the decode attempt with the returned `kv_transfer_params`; SGLang starts both at
 * once with the same bootstrap fields and drains the prefill's answer. A failed prefill is retried
 * on another prefill worker (vLLM), or aborts the not-yet-answering decode so the lifecycle
 * re-runs the pair (SGLang, whose decode waits on that prefill's bootstrap room); a decode that
 * fails before its first byte re-runs the pair through the lifecycle's own retry.
 */
export class PdCoordinator implements RouterSink {
  readonly router: Router;
  readonly fleet: Fleet;
  readonly decider: PdDecider;
  private readonly policy: ExcludingPolicy;
  private readonly byId = new Map<number, ServeWorker>();
  private readonly pending = new Map<string, Pairing>();
  private readonly states = new Map<string, RequestState>();
  private readonly sharedExcluded = new Map<string, Set<number>>();
  private seq = 0;
  /** Requests disaggregated, and run on their decode worker alone (decider). */
  readonly counts = { disaggregated: 0, local: 0, prefillRetries: 0, pairAborts: 0 };
  private metrics?: PdMetrics;

  constructor(
    private readonly host: PdHost,
    readonly o: PdOptions,
    runtime: WorkerRuntimeOptions,
    seed: number,
  ) {
    this.policy = new ExcludingPolicy(o.prefillPolicy, this.sharedExcluded);
    this.router = new Router({ policy: this.policy, clock: host.clock, rng: childRng(seed, 'pd-prefill-router'), sink: this });
    this.fleet = new Fleet({ stallTimeoutS: 0, nowS: () => host.clock.now(), onAvailable: () => this.router.dispatchWaiting(), note: (l) => host.note(l) });
    this.decider = new PdDecider(o.thresholdTokens, o.blockSize);
    this.runtime = runtime;
    this.events = {
      admissionChanged: () => this.fleet.recompute(),
      scraped: (w: ServeWorker, m: Parameters<Router['onScrape']>[1]) => this.router.onScrape(w.view.index, m),
      note: (l: string) => host.note(l),
    };
    for (const spec of o.prefill) this.addWorker(spec);
  }

  private readonly runtime: WorkerRuntimeOptions;
  private readonly events: ConstructorParameters<typeof ServeWorker>[2];

  /** Adds a prefill worker (at start, or `POST /workers` with role=prefill); the caller starts it. */
  addWorker(spec: WorkerSpec): ServeWorker {
    const w = new ServeWorker(spec, this.runtime, this.events);
    this.router.addWorker(w.view);
    this.byId.set(w.view.id, w);
    this.fleet.add(w);
    return w;
  }

  owns(w: ServeWorker): boolean {
    return this.byId.get(w.view.id) === w;
  }

  /** Takes prefill worker `w` out: no new prefills; its pool closes once its calls in flight end. */
  removeWorker(w: ServeWorker): void {
    if (w.removed) return;
    w.retire();
    this.fleet.remove(w);
    const id = w.view.id;
    const off = this.router.onWorkerEvent((e) => {
      if (e.type !== 'removed' || e.worker.id !== id) return;
      off();
      this.byId.delete(id);
      void w.close().catch(() => undefined);
    });
    this.router.removeWorker(id);
  }

  /** Adds the PD series to serve's `/metrics`. */
  attachMetrics(registry: Registry): void {
    this.metrics = new PdMetrics(registry, () => this.fleet.live);
  }

  get workers(): readonly ServeWorker[] {
    return this.fleet.live;
  }

  /** First health checks of every prefill worker. */
  async start(): Promise<void> {
    await Promise.all(this.fleet.live.map((w) => w.start()));
  }

  async close(): Promise<void> {
    for (const st of this.states.values()) for (const c of st.calls) c.abort.abort();
    for (const w of this.byId.values()) w.stop();
    await Promise.all([...this.byId.values()].map((w) => w.close().catch(() => undefined)));
  }

  /** A decode worker left serve's Router: forget what the decider assumed it holds. */
  decodeWorkerRemoved(v: WorkerView): void {
    this.decider.removeWorker(v);
  }

  /** The decode Router placed `lc` on `decode`: run the pair (or the decode alone, per the decider). */
  run(lc: RequestLifecycle, decode: ServeWorker): void {
    if (lc.phase !== 'dispatched') return;
    if (!this.decider.disaggregate(lc.request, decode.view)) {
      this.counts.local++;
      this.metrics?.requests.inc({ path: 'local' });
      lc.start(decode);
      return;
    }
    this.counts.disaggregated++;
    this.metrics?.requests.inc({ path: 'disaggregated' });
    const client = JSON.parse((lc.body as Buffer).toString('utf8')) as Json;
    this.stateOf(lc);
    this.submitPrefill({ lc, decode, client, tries: 0 });
  }

  private stateOf(lc: RequestLifecycle): RequestState {
    let st = this.states.get(lc.id);
    if (!st) {
      const fresh: RequestState = { excluded: new Set(), calls: new Set() };
      st = fresh;
      this.states.set(lc.id, fresh);
      // The response ended (failed, client gone): prefills still running are moot. An SGLang
      // prefill whose decode completed is finishing too: its answer is still read to the end.
      lc.res.once('close', () => {
        this.states.delete(lc.id);
        if (this.o.protocol === 'sglang' && lc.end === 'completed') return;
        for (const c of fresh.calls) c.abort.abort();
      });
    }
    return st;
  }

  private submitPrefill(p: Pairing): void {
    p.tries++;
    const id = `${p.lc.id}~p${++this.seq}`;
    const st = this.stateOf(p.lc);
    this.sharedExcluded.set(id, st.excluded);
    this.pending.set(id, p);
    this.router.submit({ ...p.lc.request, id });
  }

  // ---- prefill Router sink -----------------------------------------------------------------

  dispatch(req: Request, view: WorkerView): void {
    const p = this.pending.get(req.id);
    this.pending.delete(req.id);
    const w = this.byId.get(view.id);
    if (!p || !w || p.lc.phase !== 'dispatched') {
      this.sharedExcluded.delete(req.id);
      queueMicrotask(() => this.router.onComplete(req, { ok: false, outputTokens: 0 }, false));
      return;
    }
    // Deferred, as serve's own dispatch: the Router may dispatch from inside onComplete.
    queueMicrotask(() => this.prefill(p, req, w));
  }

  reject(req: Request, reason: string): void {
    const p = this.pending.get(req.id);
    this.pending.delete(req.id);
    this.sharedExcluded.delete(req.id);
    if (!p || p.lc.phase !== 'dispatched') return;
    p.lc.failDispatched(new HttpError(503, `no prefill worker can take the request: ${reason}`, 'no_prefill_worker', null, { 'retry-after': '1' }), 'rejected');
  }

  // ---- one prefill call ---------------------------------------------------------------------

  private prefill(p: Pairing, req: Request, w: ServeWorker): void {
    const lc = p.lc;
    if (lc.phase !== 'dispatched') {
      this.done(req, w, false, 'neutral');
      return;
    }
    let body: Buffer;
    if (this.o.protocol === 'vllm') {
      body = vllmPrefillBody(p.client);
    } else {
      const r = randomBytes(8);
      body = sglangBody(p.client, { host: new URL(w.spec.url).hostname, port: w.spec.bootstrapPort ?? DEFAULT_BOOTSTRAP_PORT, room: roomFromBits(r.readUInt32BE(0), r.readUInt32BE(4)) });
      // Both at once: the decode attempt waits on the prefill's bootstrap room.
      lc.start(p.decode, body);
      p.decodeAttempt = lc.attempts;
    }
    const call: PrefillCall = { pairing: p, req, worker: w, abort: new AbortController(), startS: this.host.clock.now() };
    const st = this.stateOf(lc);
    st.calls.add(call);
    const headers: Record<string, string> = { ...lc.upstreamHeaders, 'content-type': 'application/json' };
    if (w.spec.apiKey) headers.authorization = `Bearer ${w.spec.apiKey}`;
    const opts: Dispatcher.RequestOptions = { method: 'POST', path: w.basePath + lc.path, headers, body, signal: call.abort.signal };
    w.pool.request(opts).then(
      async (res) => {
        const text = await res.body.text();
        return { status: res.statusCode, text };
      },
    ).then(
      ({ status, text }) => {
        st.calls.delete(call);
        this.answered(call, status, text);
      },
      (err: unknown) => {
        st.calls.delete(call);
        this.failed(call, call.abort.signal.aborted ? 'aborted' : errorCode(err));
      },
    );
  }

  private answered(call: PrefillCall, status: number, text: string): void {
    const { pairing: p, worker: w, req } = call;
    w.progress();
    this.metrics?.prefillSeconds.observe(this.host.clock.now() - call.startS);
    if (status >= 200 && status < 300) {
      if (this.o.protocol === 'sglang') {
        this.done(req, w, true);
        return;
      }
      const params = kvParamsOfPrefillResponse(text);
      if (typeof params === 'string') {
        this.done(req, w, false);
        this.giveUp(p, new HttpError(502, `prefill worker ${w.name}: ${params}`, 'prefill_protocol'));
        return;
      }
      this.done(req, w, true);
      if (p.lc.phase === 'dispatched') p.lc.start(p.decode, vllmDecodeBody(p.client, params));
      return;
    }
    if (isRetryableStatus(status)) {
      this.failed(call, `upstream_status_${status}`);
      return;
    }
    // The engine refused the request itself (4xx): another prefill worker would too.
    this.done(req, w, false, 'neutral');
    this.giveUp(p, new HttpError(status, `prefill worker ${w.name} answered ${status}: ${upstreamMessage(text)}`, 'prefill_refused'));
  }

  private failed(call: PrefillCall, why: string): void {
    const { pairing: p, worker: w, req } = call;
    const aborted = why === 'aborted';
    this.done(req, w, false, aborted ? 'neutral' : 'failure');
    const lc = p.lc;
    if (aborted || lc.phase === 'done') return;
    this.stateOf(lc).excluded.add(w.view.index);
    this.metrics?.prefillFailures.inc({ worker: w.name });
    this.host.note(`prefill worker ${w.name} failed request ${lc.id} (${why})`);
    if (this.o.protocol === 'sglang') {
      // The decode attempt of this pair waits for a transfer that will not come.
      if (lc.phase === 'upstream' && lc.attempts === p.decodeAttempt) {
        this.counts.pairAborts++;
        this.metrics?.pairAborts.inc();
        lc.abortPair(PAIR_ABORT);
      }
      return;
    }
    if (lc.phase !== 'dispatched') return;
    if (p.tries >= this.host.maxAttempts) {
      this.giveUp(p, new HttpError(502, `no prefill worker answered after ${p.tries} attempt(s) (last: ${w.name}, ${why})`, 'prefill_unreachable'));
      return;
    }
    this.counts.prefillRetries++;
    this.metrics?.prefillRetries.inc();
    setTimeout(() => {
      if (lc.phase === 'dispatched') this.submitPrefill(p);
    }, this.host.retryDelayMs(p.tries - 1)).unref();
  }

  private giveUp(p: Pairing, e: HttpError): void {
    if (p.lc.phase === 'dispatched') p.lc.failDispatched(e, e.status === 503 ? 'rejected' : 'unreachable');
  }

  /** The prefill call is over: its load is released and its worker's breaker hears how it went. */
  private done(req: Request, w: ServeWorker, ok: boolean, breaker: 'failure' | 'neutral' = 'failure'): void {
    this.sharedExcluded.delete(req.id);
    if (ok) w.breaker.success();
    else if (breaker === 'failure') w.breaker.failure();
    else w.breaker.neutral();
    w.refresh();
    this.router.onComplete(req, { ok, outputTokens: ok ? 1 : 0 }, ok);
  }

  /** What the coordinator keeps per request (leak checks). */
  retainedState(): Record<string, number> {
    return { pdPending: this.pending.size, pdRequests: this.states.size, pdExcluded: this.sharedExcluded.size, pdInFlight: this.router.inFlightTotal };
  }
}

function errorCode(err: unknown): string {
  const code = (err as { code?: string } | undefined)?.code;
  return code ?? (err as Error | undefined)?.message ?? 'error';
}

function upstreamMessage(text: string): string {
  try {
    const m = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    if (typeof m === 'string') return m.slice(0, 500);
  } catch {
    // not JSON: the raw text says it
  }
  return text.slice(0, 500);
}
