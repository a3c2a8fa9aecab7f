import type { Request } from './request.js';
import { detectFormat, inArrivalOrder, type TraceFormat } from './trace.js';
import { imposeArrivals, scaleAndCut, take, type ArrivalProcess, type ArrivalSpec } from './arrivals.js';
import { mergeByArrival, parseMix, sourceLabels, type MixAttrs } from './mix.js';
import { join } from 'node:path';
import { DEFAULTS } from '../defaults.js';
import { UserError } from '../util/errors.js';
import { PACKAGE_ROOT } from '../util/package-root.js';

/** The workload flags shared by `simulate` and `router trace` (raw strings, as commander gives them). */
export interface WorkloadFlags {
  trace?: string;
  format?: string;
  mix?: string;
  rate?: string;
  arrival?: string;
  burstiness?: string;
  timeScale?: string;
  duration?: string;
  limit?: string;
  thinkTime?: string;
  multiTurn?: boolean;
  seed: string;
}

export interface WorkloadSource {
  path: string;
  format: TraceFormat;
  label?: string;
  /** The imposed arrival process, or undefined when the trace's timestamps are kept. */
  arrivals?: ArrivalSpec;
  /** Attributes given to the source's requests that carry none (`--mix ...:model=M`). */
  attrs?: MixAttrs;
}

export interface Workload {
  sources: WorkloadSource[];
  timeScale: number;
  durationS?: number;
  limit?: number;
  requests: AsyncGenerator<Request>;
}

function num(flag: string, raw: string, opts: { min?: number; above?: number; integer?: boolean } = {}): number {
  const v = Number(raw);
  const bad = raw.trim() === '' || !Number.isFinite(v) || (opts.integer && !Number.isInteger(v)) || (opts.min !== undefined && v < opts.min) || (opts.above !== undefined && v <= opts.above);
  if (bad) {
    const bound = opts.above !== undefined ? ` > ${opts.above}` : opts.min !== undefined ? ` >= ${opts.min}` : '';
    throw new UserError(`${flag}: expected ${opts.integer ? 'an integer' : 'a number'}${bound}, got "${raw}"`);
  }
  return v;
}

function pickFormat(path: string, explicit: string | undefined, multiTurn: boolean): TraceFormat {
  const f = detectFormat(path, explicit);
  return multiTurn && f.name.startsWith('sharegpt') ? detectFormat(path, 'sharegpt-multi') : f;
}

/** One line saying where arrivals come from, for progress and `trace stats`. */
export function describeSource(s: WorkloadSource): string {
  const a = s.arrivals;
  const how = !a
    ? 'trace timestamps'
    : `${a.process}${a.process === 'gamma' ? ` (burstiness ${a.burstiness})` : ''} at ${a.rateRps} req/s${s.format.name === 'sharegpt-multi' ? ` per session, think time ${a.thinkTimeS} s` : ''}`;
  return `${s.path} (${s.format.name}; arrivals: ${how})`;
}

/** The shipped default trace, resolved against the package so `npx router simulate` works anywhere. */
export function defaultTracePath(): string {
  return join(PACKAGE_ROOT, DEFAULTS.trace);
}

/**
 * Turns the workload flags into one sorted request stream: one trace or a `--mix` of traces, each
 * keeping its timestamps or given its own arrival process (`--rate`, `--arrival`, `--burstiness`;
 * traces without timestamps default to Poisson at `DEFAULTS.workload.untimedRateRps`), then
 * `--time-scale`, `--duration` and `--limit` on the merged stream. With `--duration` and an imposed
 * rate, a trace shorter than the duration is replayed from its start until the duration is filled.
 */
export function buildWorkload(f: WorkloadFlags, defaultTrace?: string): Workload {
  const seed = num('--seed', f.seed, { integer: true });
  const rate = f.rate === undefined ? undefined : num('--rate', f.rate, { above: 0 });
  const burstiness = f.burstiness === undefined ? 1 : num('--burstiness', f.burstiness, { above: 0 });
  let process: ArrivalProcess | undefined;
  if (f.arrival !== undefined) {
    if (f.arrival !== 'poisson' && f.arrival !== 'gamma') throw new UserError(`--arrival: expected poisson or gamma, got "${f.arrival}"`);
    process = f.arrival;
  } else if (f.burstiness !== undefined) {
    process = 'gamma';
  }
  if (process === 'poisson' && burstiness !== 1) throw new UserError('--burstiness: only the gamma process has a burstiness (use --arrival gamma)');
  const timeScale = f.timeScale === undefined ? 1 : num('--time-scale', f.timeScale, { above: 0 });
  const durationS = f.duration === undefined ? undefined : num('--duration', f.duration, { above: 0 });
  const limit = f.limit === undefined ? undefined : num('--limit', f.limit, { integer: true, min: 1 });
  const thinkTimeS = f.thinkTime === undefined ? DEFAULTS.workload.thinkTimeS : num('--think-time', f.thinkTime, { min: 0 });

  const spec = (rateRps: number, i: number): ArrivalSpec => ({ process: process ?? 'poisson', rateRps, burstiness, seed: `${seed}/source-${i}`, thinkTimeS });
  let sources: WorkloadSource[];
  if (f.mix !== undefined) {
    if (f.trace !== undefined) throw new UserError('--mix and --trace are exclusive: a mix names its traces');
    if (rate !== undefined) throw new UserError('--rate does not apply to --mix: each entry of the mix carries its own rate (FILE:RATE)');
    const entries = parseMix(f.mix);
    const labels = sourceLabels(entries.map((e) => e.path));
    sources = entries.map((e, i) => ({ path: e.path, format: pickFormat(e.path, e.format ?? f.format, !!f.multiTurn), label: labels[i], arrivals: spec(e.rateRps, i), attrs: e.attrs }));
  } else {
    const path = f.trace ?? defaultTrace;
    if (path === undefined) throw new UserError('no trace given: pass a FILE, --trace FILE or --mix FILE:RATE,...');
    const format = pickFormat(path, f.format, !!f.multiTurn);
    let arrivals: ArrivalSpec | undefined;
    if (rate !== undefined) arrivals = spec(rate, 0);
    else if (format.untimed) arrivals = spec(DEFAULTS.workload.untimedRateRps, 0);
    else if (process !== undefined) throw new UserError(`--arrival ${process}: needs --rate R for a trace with timestamps (${path})`);
    sources = [{ path, format, arrivals }];
  }
  if (f.multiTurn && !sources.some((s) => s.format.name === 'sharegpt-multi')) {
    throw new UserError('--multi-turn: applies to ShareGPT traces only, and none was given');
  }

  const streams = sources.map((s) => {
    // With a duration to fill and an imposed rate, a trace that runs out starts over.
    const raw = s.arrivals && durationS !== undefined ? repeat(() => s.format.read(s.path)) : s.format.read(s.path);
    const timed = s.arrivals ? imposeArrivals(raw, s.arrivals) : raw;
    const ordered = inArrivalOrder(s.path, timed);
    const labelled = s.label === undefined ? ordered : relabel(ordered, s.label);
    return s.attrs ? withAttrs(labelled, s.attrs) : labelled;
  });
  const merged = streams.length === 1 ? streams[0] : mergeByArrival(streams);
  return { sources, timeScale, durationS, limit, requests: take(scaleAndCut(merged, timeScale, durationS), limit) };
}

/** Replays a source from the start whenever it ends; pass k > 1 marks ids and sessions `~k`. */
async function* repeat(open: () => AsyncIterable<Request>): AsyncGenerator<Request> {
  for (let pass = 1; ; pass++) {
    let any = false;
    for await (const r of open()) {
      any = true;
      yield pass === 1 ? r : { ...r, id: `${r.id}~${pass}`, sessionId: r.sessionId === undefined ? undefined : `${r.sessionId}~${pass}` };
    }
    if (!any) return;
  }
}

async function* relabel(source: AsyncIterable<Request>, label: string): AsyncGenerator<Request> {
  for await (const r of source) {
    yield { ...r, id: `${label}/${r.id}`, source: label, sessionId: r.sessionId === undefined ? undefined : `${label}/${r.sessionId}` };
  }
}

/** The request's own model/adapter/tenant/priority win; the mix entry's fill what it lacks. */
async function* withAttrs(source: AsyncIterable<Request>, a: MixAttrs): AsyncGenerator<Request> {
  for await (const r of source) {
    yield {
      ...r,
      model: r.model ?? a.model,
      adapter: r.adapter ?? a.adapter,
      tenant: r.tenant ?? a.tenant,
      priority: r.priority ?? a.priority,
    };
  }
}
