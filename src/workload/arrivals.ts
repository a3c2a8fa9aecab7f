import type { Request } from './request.js';
import { EventHeap } from '../util/heap.js';
import { childRng, exponential, type Rng } from '../util/rng.js';
import { gaussian } from './synthetic.js';
import { DEFAULTS } from '../defaults.js';

export type ArrivalProcess = 'poisson' | 'gamma';

export interface ArrivalSpec {
  process: ArrivalProcess;
  /** Mean arrival rate of requests (or of sessions, for multi-turn sources), per second. */
  rateRps: number;
  /**
   * Gamma shape, as vLLM's benchmark defines burstiness: 1 is Poisson, below 1 burstier, above 1
   * smoother; the mean rate is `rateRps` whatever the shape.
   */
  burstiness: number;
  seed: number | string;
  /** Mean think time between a session's turns (exponential), seconds. */
  thinkTimeS: number;
}

/** Gamma(shape, 1) variate (Marsaglia–Tsang; shape < 1 via the u^(1/shape) boost). */
export function gammaVariate(rng: Rng, shape: number): number {
  if (shape < 1) {
    const u = Math.max(rng.next(), Number.MIN_VALUE);
    return gammaVariate(rng, shape + 1) * Math.pow(u, 1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = gaussian(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.next();
    if (u < 1 - 0.0331 * x * x * x * x) return d * v;
    if (Math.log(Math.max(u, Number.MIN_VALUE)) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** Seconds to the next arrival of the process. */
export function interarrival(rng: Rng, spec: Pick<ArrivalSpec, 'process' | 'rateRps' | 'burstiness'>): number {
  if (spec.process === 'poisson' || spec.burstiness === 1) return exponential(rng, spec.rateRps);
  return gammaVariate(rng, spec.burstiness) / (spec.rateRps * spec.burstiness);
}

interface Timed {
  time: number;
  seq: number;
  req: Request;
}

/**
 * Replaces the source's arrival times with the process's. A run of consecutive requests with one
 * `sessionId` is a session: its first request takes the next arrival of the process, each later
 * turn arrives a think time (exponential, mean `thinkTimeS`) after the turn before it. Turns of
 * different sessions interleave; a heap holds the turns not yet due, so the output is sorted.
 */
export async function* imposeArrivals(source: AsyncIterable<Request>, spec: ArrivalSpec): AsyncGenerator<Request> {
  const rng = childRng(spec.seed, 'arrivals');
  const think = childRng(spec.seed, 'think');
  const pending = new EventHeap<Timed>();
  let seq = 0;
  let t = 0;
  let session: string | undefined;
  let sessionLast = 0;
  for await (const r of source) {
    if (r.sessionId !== undefined && r.sessionId === session) {
      sessionLast += spec.thinkTimeS > 0 ? exponential(think, 1 / spec.thinkTimeS) : 0;
      pending.push({ time: sessionLast, seq: seq++, req: r });
      continue;
    }
    t += interarrival(rng, spec);
    // Nothing read later can arrive before t: later sessions start after it, later turns after their session.
    while (pending.size > 0 && (pending.peek() as Timed).time <= t) {
      const p = pending.pop() as Timed;
      yield { ...p.req, arrivalS: p.time };
    }
    session = r.sessionId;
    sessionLast = t;
    pending.push({ time: t, seq: seq++, req: r });
  }
  while (pending.size > 0) {
    const p = pending.pop() as Timed;
    yield { ...p.req, arrivalS: p.time };
  }
}

/** Multiplies arrival times by `timeScale` (0.5 replays twice as fast) and stops at `durationS`. */
export async function* scaleAndCut(source: AsyncIterable<Request>, timeScale: number, durationS?: number): AsyncGenerator<Request> {
  for await (const r of source) {
    const arrivalS = r.arrivalS * timeScale;
    if (durationS !== undefined && arrivalS > durationS) return;
    yield timeScale === 1 ? r : { ...r, arrivalS };
  }
}

export async function* take<T>(source: AsyncIterable<T>, limit?: number): AsyncGenerator<T> {
  if (limit === undefined) {
    yield* source;
    return;
  }
  let n = 0;
  if (limit <= 0) return;
  for await (const r of source) {
    yield r;
    if (++n >= limit) return;
  }
}

/** The process imposed on a trace without timestamps when no `--rate` is given. */
export function defaultArrivalSpec(seed: number | string): ArrivalSpec {
  return { process: 'poisson', rateRps: DEFAULTS.workload.untimedRateRps, burstiness: 1, seed, thinkTimeS: DEFAULTS.workload.thinkTimeS };
}
