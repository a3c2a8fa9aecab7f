import { promptBlockHashes } from '../workload/block-hash.js';
import type { ServeWorker } from './worker.js';
import { sloClassName } from '../metrics/slo.js';
import { latencyMeetsSlo, requestLatency } from '../metrics/latency.js';
import type { SloClassCounter } from './slo-classes.js';
import type { AccessLog } from './access-log.js';
import type { ServeMetrics } from './prom.js';
import type { TraceRecorder } from './recorder.js';
import { RollingWindow } from './rolling.js';
import type { RequestLifecycle } from './lifecycle.js';

export interface Totals {
  requests: number;
  errors: number;
  retries: number;
  rejected: number;
}

export interface MeterOptions {
  metrics: ServeMetrics;
  log: AccessLog;
  recorder?: TraceRecorder;
  recordBlockTokens: number;
  sloClasses?: SloClassCounter;
  rollingWindowS: number;
  nowS: () => number;
}

/** Status a request ends with as the metrics and the log report it: a client that left is 499. */
export function reportedStatus(lc: RequestLifecycle): number {
  return lc.end === 'client_abort' ? 499 : lc.status;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function errorKind(error: string): string {
  return error.startsWith('upstream_status') ? 'upstream_status' : error.startsWith('rejected') ? 'rejected' : error;
}

/**
 * The end-of-request bookkeeping: Prometheus counters and histograms, the rolling windows of the
 * live snapshot, the JSON request log, `--record`. Only streamed inference responses have a
 * TTFT/TPOT (a non-streaming client sees its first token with the last); pass-through endpoints
 * are counted by route and status but are not inference (no latency histograms).
 */
export class RequestMeter {
  readonly totals: Totals = { requests: 0, errors: 0, retries: 0, rejected: 0 };
  readonly rolling: { ttft: RollingWindow; tpot: RollingWindow; e2e: RollingWindow };
  private readonly recordSeq = new Map<string, number>();

  constructor(private readonly o: MeterOptions) {
    const w = o.rollingWindowS;
    this.rolling = { ttft: new RollingWindow(w), tpot: new RollingWindow(w), e2e: new RollingWindow(w) };
  }

  arrived(lc: RequestLifecycle): void {
    this.totals.requests++;
    if (this.o.recorder && lc.route === 'inference') this.recordSeq.set(lc.id, this.o.recorder.arrive());
  }

  retried(worker: ServeWorker, why: string): void {
    this.totals.retries++;
    worker.errors++;
    this.o.metrics.retries.inc({ worker: worker.name });
    this.o.metrics.errors.inc({ kind: errorKind(why) });
  }

  /** A request serve answered itself before it became a lifecycle (4xx, auth, 413, ...). */
  refused(method: string | undefined, route: string, path: string, status: number, code: string): void {
    this.o.metrics.countRequest(route, status);
    this.o.metrics.errors.inc({ kind: status < 500 ? 'invalid' : 'internal' });
    if (this.o.log.enabled) this.o.log.log({ ts: new Date().toISOString(), method, path: path.slice(0, 200), status, error: code });
  }

  finished(lc: RequestLifecycle): void {
    const m = this.o.metrics;
    // The end was just read from the clock (finish sets it): the rolling windows take it as now.
    const now = lc.endS ?? this.o.nowS();
    const status = reportedStatus(lc);
    m.countRequest(lc.path, status);
    const inference = lc.route === 'inference';
    const endS = now;
    const e2eS = endS - lc.arrivalS;
    const out = lc.outputTokens;
    const ok = lc.end === 'completed';
    // Only a streamed inference response has a first token of its own; otherwise it comes with the last.
    const streamed = inference && lc.stream && lc.firstByteS !== undefined;
    const lat = requestLatency(lc.arrivalS, streamed ? (lc.firstByteS as number) : endS, endS, out ?? 0);
    const ttftS = streamed ? (lc.firstByteS as number) - lc.arrivalS : undefined;
    const tpotS = streamed && ok && !Number.isNaN(lat.tpotMs) ? lat.tpotMs / 1e3 : undefined;
    const w = lc.worker;
    // served: answered by this worker; errors: failed there (a failed attempt before a retry
    // is counted by `retried`), so the dashboard's two columns add up to the attempts it took.
    if (w) {
      if (ok) w.served++;
      else if (lc.end !== 'client_abort') w.errors++;
    }
    if (lc.error) {
      this.totals.errors++;
      m.errors.inc({ kind: errorKind(lc.error) });
    } else if (inference && ok) {
      m.e2e.observe(e2eS);
      this.rolling.e2e.add(now, lat.e2eMs);
      if (ttftS !== undefined) {
        m.ttft.observe(ttftS);
        this.rolling.ttft.add(now, lat.ttftMs);
      }
      if (tpotS !== undefined) {
        m.tpot.observe(tpotS);
        this.rolling.tpot.add(now, lat.tpotMs);
      }
    }
    if (lc.end === 'rejected') this.totals.rejected++;
    this.record(lc, out);
    // Every inference request held to an SLO is judged, a failed or rejected one as a miss. A
    // non-streaming client gets its first token with the last: its TTFT target is met by its E2E.
    const slo = inference ? lc.request.slo : undefined;
    let sloClass: string | undefined;
    let met = false;
    if (slo) {
      met = ok && latencyMeetsSlo(slo, lat, lc.request.inputTokens, out ?? 0);
      sloClass = sloClassName(slo);
      this.o.sloClasses?.observe(sloClass, met, lc.end === 'rejected');
    }
    if (!this.o.log.enabled) return;
    const entry: Record<string, unknown> = {
      ts: new Date().toISOString(),
      id: lc.upstreamHeaders['x-request-id'],
      method: lc.method,
      path: lc.path,
      status,
      worker: w?.name ?? null,
      attempts: lc.attempts,
      stream: lc.stream,
      input_tokens: inference ? lc.request.inputTokens : undefined,
      output_tokens: out,
      queue_ms: lc.dispatchS !== undefined ? round((lc.dispatchS - lc.arrivalS) * 1000) : undefined,
      ttft_ms: ttftS !== undefined ? round(lat.ttftMs) : undefined,
      tpot_ms: tpotS !== undefined ? round(lat.tpotMs) : undefined,
      e2e_ms: round(lat.e2eMs),
    };
    if (sloClass !== undefined) {
      entry.slo_met = met;
      entry.slo_class = sloClass;
    }
    if (lc.error) entry.error = lc.error;
    this.o.log.log(entry);
  }

  /** `--record`: the request as a trace line, prefix as block hashes, output as produced. */
  private record(lc: RequestLifecycle, outputTokens: number | undefined): void {
    const rec = this.o.recorder;
    if (!rec) return;
    const seq = this.recordSeq.get(lc.id);
    if (seq === undefined) return;
    this.recordSeq.delete(lc.id);
    const r = lc.request;
    const bt = this.o.recordBlockTokens;
    const prefix = r.prefix?.kind === 'tokens' ? { kind: 'blocks' as const, blockTokens: bt, hashIds: promptBlockHashes(r.prefix, r.inputTokens, bt) } : r.prefix;
    rec.finish(seq, { ...r, outputTokens: Math.max(1, outputTokens ?? r.outputTokens), prefix });
  }
}
