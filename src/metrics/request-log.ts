import { Column } from '../util/stats.js';

/** `unfinished`: still queued or running when the run was stopped (dashboard `q`). */
export type RequestStatus = 'ok' | 'rejected' | 'unfinished';

/** One finished request, as written to requests.csv. Times in ms; NaN where not applicable. */
export interface RequestRecord {
  requestId: string;
  arrivalS: number;
  worker: string;
  queueMs: number;
  ttftMs: number;
  tpotMs: number;
  e2eMs: number;
  inputTokens: number;
  cachedTokens: number;
  outputTokens: number;
  preemptions: number;
  /** 1 met, 0 missed, NaN when no SLO applies. */
  sloMet: number;
  status: RequestStatus;
  /** Why a rejected request was rejected. */
  reason?: string;
  sloClass?: string;
  /** 429 when the router's pull-mode queue turned the request away (full, timeout, SLO unattainable). */
  httpStatus?: 429 | 503;
}

/**
 * A disaggregated run's per-request KV transfer, row for row with the log; requests prefilled by
 * their decode worker (or never transferred) have an empty prefill worker and NaN times/bytes.
 */
export interface PdRequestColumns {
  readonly prefillWorkers: string[];
  /** Sim ms from the trace start when the transfer began (decode blocks held) and ended. */
  readonly transferStartMs: Column;
  readonly transferEndMs: Column;
  readonly transferBytes: Column;
}

/**
 * Per-request results in columns (a million requests cost ~100 MB, not a million objects),
 * in the order requests ended.
 */
export class RequestLog {
  readonly ids: string[] = [];
  readonly workers: string[] = [];
  readonly statuses: RequestStatus[] = [];
  readonly reasons: (string | undefined)[] = [];
  /** The SLO class each request was judged in (`sloClassName`), undefined when no SLO applied. */
  readonly sloClasses: (string | undefined)[] = [];
  readonly arrivalS = new Column();
  readonly queueMs = new Column();
  readonly ttftMs = new Column();
  readonly tpotMs = new Column();
  readonly e2eMs = new Column();
  readonly inputTokens = new Column();
  readonly cachedTokens = new Column();
  readonly outputTokens = new Column();
  readonly preemptions = new Column();
  readonly sloMet = new Column();
  /** Disaggregated runs only: per-request KV transfer columns (requests.csv gains them). */
  pd: PdRequestColumns | null = null;
  completed = 0;
  rejected = 0;
  unfinished = 0;
  /** Rejections by the router's queue (429-equivalent), a subset of `rejected`. */
  rejected429 = 0;

  get length(): number {
    return this.ids.length;
  }

  add(r: RequestRecord): void {
    this.ids.push(r.requestId);
    this.workers.push(r.worker);
    this.statuses.push(r.status);
    this.reasons.push(r.reason);
    this.sloClasses.push(r.sloClass);
    this.arrivalS.push(r.arrivalS);
    this.queueMs.push(r.queueMs);
    this.ttftMs.push(r.ttftMs);
    this.tpotMs.push(r.tpotMs);
    this.e2eMs.push(r.e2eMs);
    this.inputTokens.push(r.inputTokens);
    this.cachedTokens.push(r.cachedTokens);
    this.outputTokens.push(r.outputTokens);
    this.preemptions.push(r.preemptions);
    this.sloMet.push(r.sloMet);
    if (r.status === 'ok') this.completed++;
    else if (r.status === 'unfinished') this.unfinished++;
    else this.rejected++;
    if (r.httpStatus === 429) this.rejected429++;
  }

  /** Values of a column for completed requests only (finite values), e.g. for percentiles. */
  completedValues(col: Column): Float64Array {
    const out = new Float64Array(this.completed);
    let n = 0;
    for (let i = 0; i < this.length; i++) {
      const v = col.get(i);
      if (this.statuses[i] === 'ok' && Number.isFinite(v)) out[n++] = v;
    }
    return out.subarray(0, n);
  }
}
