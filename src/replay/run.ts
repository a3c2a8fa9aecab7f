import type { Agent } from 'undici';
import { RequestLog } from '../metrics/request-log.js';
import { Column } from '../util/stats.js';
import { effectiveSlo, type SloSpec } from '../metrics/slo.js';
import { latencyMeetsSlo, requestLatency } from '../metrics/latency.js';
import { latencyStats, summarize, type Summary, type WorkerSummary } from '../metrics/summary.js';
import type { Request } from '../workload/request.js';
import { createAgent, discoverModel, streamCompletion, type ApiKind, type StreamResult } from './client.js';
import { promptText } from './prompt.js';

/**
 * When requests are sent: at their arrival times (the trace's, or an arrival process the workload
 * imposed, exactly as `simulate` draws it), or as fast as a concurrency cap allows.
 */
export type Pacing = { kind: 'trace' } | { kind: 'none' };

export interface ReplayOptions {
  requests: AsyncIterable<Request> | Iterable<Request>;
  target: string;
  pacing: Pacing;
  /** At most this many requests in flight (a closed loop when pacing is 'none'). */
  concurrency?: number;
  /** Stop sending after this many seconds and cut what is still in flight. */
  durationS?: number;
  api: ApiKind;
  /** Model name to send; discovered from /v1/models when absent. */
  model?: string;
  slo?: SloSpec;
  /** Name for the summary's policy column. */
  label: string;
  requestTimeoutS: number;
  progressIntervalS: number;
  onProgress?: (p: ReplayProgress) => void;
  /** Called with every finished request (profile measure reads the raw timings). */
  onResult?: (req: Request, r: StreamResult) => void;
  /**
   * The target runs this many times faster than real time (mock workers with `--speedup`): the
   * schedule is compressed by it and measured times are scaled back up, so the report reads in
   * the target's own time, comparable with `simulate`.
   */
  speedup?: number;
}

export interface ReplayProgress {
  elapsedS: number;
  sent: number;
  completed: number;
  failed: number;
  inFlight: number;
}

export interface ReplayResult {
  summary: Summary;
  log: RequestLog;
  /** The first few distinct failure messages, for the report. */
  errors: string[];
}

/**
 * A load generator in the manner of `vllm bench serve`: streams every request, measures TTFT,
 * TPOT and E2E at the client, and summarises them in the same schema as `simulate`.
 */
export async function runReplay(o: ReplayOptions): Promise<ReplayResult> {
  const k = o.speedup ?? 1;
  const now = (): number => (performance.now() / 1e3) * k;
  const sleep = (s: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, Math.ceil((s / k) * 1e3))));
  const agent: Agent = createAgent();
  const model = o.model ?? (await discoverModel(agent, o.target));
  const log = new RequestLog();
  const itlMs = new Column();
  const errors: string[] = [];
  // The schedule's clock starts when the first request is in hand: opening the trace (format
  // detection, tokenizer, first parse) must not eat into the schedule and then burst.
  let t0 = now();
  let deadline = Infinity;
  const cut = new AbortController();
  const inFlight = new Set<Promise<void>>();
  const perWorker = new Map<string, { requests: number; input: number; output: number; cached: number; prompt: number }>();
  let sent = 0;
  let failed = 0;
  let firstArrival = NaN;
  let lastEnd = t0;
  let hits = 0;
  let queries = 0;
  let lastProgress = t0;
  const defaultWorker = new URL(o.target).host;

  const progress = (): void => {
    if (!o.onProgress) return;
    const t = now();
    if (t - lastProgress < o.progressIntervalS * k * 0.9) return;
    lastProgress = t;
    o.onProgress({ elapsedS: (t - t0) / k, sent, completed: log.completed, failed, inFlight: inFlight.size });
  };
  const ticker = setInterval(progress, Math.max(100, o.progressIntervalS * 1000));

  const record = (req: Request, arrivalS: number, r: StreamResult): void => {
    o.onResult?.(req, r);
    lastEnd = Math.max(lastEnd, r.endAt);
    const worker = r.worker ?? defaultWorker;
    if (!r.ok) {
      failed++;
      const msg = r.error ?? `HTTP ${r.status}`;
      if (errors.length < 5 && !errors.includes(msg)) errors.push(msg);
      log.add({
        requestId: req.id, arrivalS, worker, queueMs: NaN, ttftMs: NaN, tpotMs: NaN, e2eMs: NaN,
        inputTokens: req.inputTokens, cachedTokens: 0, outputTokens: 0, preemptions: NaN,
        sloMet: effectiveSlo(o.slo, req.slo) ? 0 : NaN, status: 'rejected', reason: msg,
      });
      return;
    }
    // ITL as `vllm bench serve` measures it: every gap between successive text chunks.
    for (let i = 1; i < r.tokenTimes.length; i++) itlMs.push((r.tokenTimes[i] - r.tokenTimes[i - 1]) * 1e3);
    const out = r.outputTokens;
    const lat = requestLatency(r.sentAt, r.firstTokenAt, r.endAt, out);
    const input = r.promptTokens ?? req.inputTokens;
    const slo = effectiveSlo(o.slo, req.slo);
    const sloMet = slo ? (latencyMeetsSlo(slo, lat, input, out) ? 1 : 0) : NaN;
    log.add({
      requestId: req.id, arrivalS, worker, queueMs: NaN, ttftMs: lat.ttftMs, tpotMs: lat.tpotMs, e2eMs: lat.e2eMs,
      inputTokens: input, cachedTokens: r.cachedTokens ?? NaN, outputTokens: out, preemptions: NaN, sloMet, status: 'ok',
    });
    let w = perWorker.get(worker);
    if (!w) perWorker.set(worker, (w = { requests: 0, input: 0, output: 0, cached: 0, prompt: 0 }));
    w.requests++;
    w.input += input;
    w.output += out;
    if (r.cachedTokens !== undefined) {
      w.cached += r.cachedTokens;
      w.prompt += input;
      hits += r.cachedTokens;
      queries += input;
    }
  };

  const launch = (req: Request): void => {
    const sentAt = now();
    const arrivalS = o.pacing.kind === 'trace' ? firstArrival + (sentAt - t0) : sentAt - t0;
    const signal = AbortSignal.any([cut.signal, AbortSignal.timeout(o.requestTimeoutS * 1000)]);
    sent++;
    const p = streamCompletion(agent, { base: o.target, api: o.api, model, prompt: promptText(req), maxTokens: req.outputTokens, signal, keepTokenTimes: true }, now)
      .then((r) => {
        if (r.error === 'aborted' && cut.signal.aborted) r.error = 'cut by --duration';
        record(req, arrivalS, r);
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };

  try {
    for await (const req of o.requests) {
      if (Number.isNaN(firstArrival)) {
        firstArrival = req.arrivalS;
        t0 = now();
        lastEnd = t0;
        lastProgress = t0;
        if (o.durationS !== undefined) deadline = t0 + o.durationS * k;
      }
      const sendAt = o.pacing.kind === 'trace' ? t0 + (req.arrivalS - firstArrival) : t0;
      if (sendAt >= deadline) break;
      // Timers run on a millisecond clock and may fire a little early: never send before the time.
      for (let wait = sendAt - now(); wait > 0; wait = sendAt - now()) await sleep(wait);
      while (o.concurrency !== undefined && inFlight.size >= o.concurrency && now() < deadline) {
        await Promise.race(deadline === Infinity ? [...inFlight] : [...inFlight, sleep(deadline - now())]);
      }
      if (now() >= deadline) break;
      launch(req);
    }
    if (inFlight.size > 0 && deadline < Infinity) {
      const left = deadline - now();
      const timer = setTimeout(() => cut.abort(), Math.max(0, (left / k) * 1e3));
      await Promise.all(inFlight);
      clearTimeout(timer);
    } else await Promise.all(inFlight);
  } finally {
    clearInterval(ticker);
    cut.abort();
    await Promise.all(inFlight);
    await agent.close();
  }
  const durationS = Math.max(0, lastEnd - t0);
  const workers: WorkerSummary[] = [...perWorker.entries()]
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([name, w]) => ({
      name, gpu: '', model: model ?? '', requests: w.requests, input_tokens: w.input, output_tokens: w.output,
      // A client does not know the GPUs behind the target, so their price is unknown, not zero.
      prefix_hit_rate: w.prompt > 0 ? w.cached / w.prompt : 0, preemptions: 0, cost_usd: NaN,
    }));
  const summary = summarize({ policy: o.label, log, durationS, wallS: (now() - t0) / k, prefixHits: hits, prefixQueries: queries, workers, sloGiven: o.slo !== undefined, itl: latencyStats(itlMs.view()) });
  return { summary, log, errors };
}
