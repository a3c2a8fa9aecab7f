import type { Simulation } from '../sim/simulator.js';
import type { RequestLog } from '../metrics/request-log.js';
import { percentilesOf, type RollingLatency, type RollingPercentiles } from './rolling.js';
import { PdSnapshotTracker, type PdPanelSnapshot } from './sim-pd.js';

/** One worker's row on the simulate dashboard. Rates are 0..1; NaN when nothing was asked yet. */
export interface SimWorkerRow {
  name: string;
  gpu: string;
  running: number;
  waiting: number;
  kvUsage: number;
  prefixHitRate: number;
  served: number;
}

/** One column of the charts: requests that finished in [t0S, t1S) of simulated time. */
export interface SeriesPoint {
  t0S: number;
  t1S: number;
  completedPerS: number;
  outputTokensPerS: number;
  ttftMs: RollingPercentiles;
}

/** Everything the simulate dashboard shows, built from the Simulation's public state. */
export interface SimDashboardSnapshot {
  policy: string;
  simTimeS: number;
  /** Arrival time of the last request and number of requests, once the trace has been scanned. */
  traceEndS: number | null;
  traceRequests: number | null;
  arrived: number;
  completed: number;
  rejected: number;
  inFlight: number;
  /** Requests waiting in the router's own queue (pull mode). */
  queued: number;
  wallS: number;
  /** Simulated seconds per wall second since the start. */
  speed: number;
  etaS: number | null;
  workers: SimWorkerRow[];
  rolling: RollingLatency;
  /** Share of judged requests meeting their SLO; null when no SLO applies. */
  sloAttainment: number | null;
  /** Per SLO class (per-request SLOs from the trace): attainment with rejections as misses, by class name. */
  sloClasses: SloClassRow[];
  series: SeriesPoint[];
  /** `done`: the trace ran out; `stopped`: the run ended early on `q`. */
  state: 'running' | 'paused' | 'stopping' | 'done' | 'stopped';
  refreshMs: number;
  /** --pace factor, null = as fast as possible. */
  pace: number | null;
  /** Disaggregated fleets: pools, transfers, KV links (absent for colocated fleets). */
  pd?: PdPanelSnapshot;
}

export interface SloClassRow {
  name: string;
  requests: number;
  met: number;
  rejected: number;
}

/** Wall-side facts the builder cannot know from the simulation itself. */
export interface WallState {
  wallS: number;
  state: SimDashboardSnapshot['state'];
  refreshMs: number;
  pace: number | null;
  traceEndS: number | null;
  traceRequests: number | null;
}

interface Column {
  t0: number;
  /** Log indices [start, end) of requests that completed in this column. */
  start: number;
  end: number;
  completed: number;
  outputTokens: number;
  ttft?: RollingPercentiles;
}

/**
 * Builds dashboard snapshots incrementally: each call reads only the log entries added since the
 * last one (the log is in completion order), so a frame costs O(new requests + window), never a
 * pass over the whole run. Chart columns double their width when they run out of room, so the
 * whole run always fits in `maxColumns`.
 */
export class SimSnapshotBuilder {
  private cursor = 0;
  private readonly served: number[];
  private readonly workerIndex = new Map<string, number>();
  private sloMet = 0;
  private sloJudged = 0;
  private readonly classes = new Map<string, SloClassRow>();
  private columns: Column[] = [];
  private widthS: number;
  private readonly okIdx: number[] = [];
  private readonly pd: PdSnapshotTracker;

  constructor(
    private readonly sim: Simulation,
    private readonly opts: { window?: number; maxColumns?: number; columnS?: number } = {},
  ) {
    this.served = sim.views.map(() => 0);
    sim.views.forEach((v, i) => this.workerIndex.set(v.name, i));
    this.widthS = opts.columnS ?? 1;
    this.pd = new PdSnapshotTracker(sim);
  }

  private get window(): number {
    return this.opts.window ?? 1000;
  }

  private get maxColumns(): number {
    return this.opts.maxColumns ?? 60;
  }

  snapshot(wall: WallState): SimDashboardSnapshot {
    this.consume();
    const sim = this.sim;
    const p = sim.progress();
    const workers = sim.engines.map((e, i): SimWorkerRow => {
      // No materialize(): reading must not touch engine state, so runs are identical with or without a dashboard.
      const s = e.snapshot();
      return {
        name: sim.views[i].name,
        gpu: sim.views[i].gpu,
        running: s.running,
        waiting: s.waiting,
        kvUsage: s.kvUsage,
        prefixHitRate: s.prefixQueries > 0 ? s.prefixHits / s.prefixQueries : NaN,
        served: this.served[i],
      };
    });
    const speed = wall.wallS > 0 ? p.simTimeS / wall.wallS : 0;
    let etaS: number | null = null;
    if (wall.traceEndS !== null && speed > 0) etaS = Math.max(0, wall.traceEndS - p.simTimeS) / speed;
    const pd = this.pd.snapshot();
    return {
      ...(pd ? { pd } : {}),
      policy: sim.router.policyName,
      simTimeS: p.simTimeS,
      traceEndS: wall.traceEndS,
      traceRequests: wall.traceRequests,
      arrived: p.arrived,
      completed: p.completed,
      rejected: p.rejected,
      inFlight: p.inFlight,
      queued: p.queued,
      wallS: wall.wallS,
      speed,
      etaS,
      workers,
      rolling: this.rolling(),
      sloAttainment: this.sloJudged > 0 ? this.sloMet / this.sloJudged : null,
      sloClasses: [...this.classes.values()].map((c) => ({ ...c })),
      series: this.series(),
      state: wall.state,
      refreshMs: wall.refreshMs,
      pace: wall.pace,
    };
  }

  private consume(): void {
    const log = this.sim.log;
    for (let i = this.cursor; i < log.length; i++) {
      const met = log.sloMet.get(i);
      if (!Number.isNaN(met)) {
        this.sloJudged++;
        if (met === 1) this.sloMet++;
        const name = log.sloClasses[i];
        if (name !== undefined) {
          let c = this.classes.get(name);
          if (!c) {
            c = { name, requests: 0, met: 0, rejected: 0 };
            this.classes.set(name, c);
          }
          c.requests++;
          if (met === 1) c.met++;
          if (log.statuses[i] !== 'ok') c.rejected++;
        }
      }
      if (log.statuses[i] !== 'ok') continue;
      this.okIdx.push(i);
      const w = this.workerIndex.get(log.workers[i]);
      if (w !== undefined) this.served[w]++;
      this.place(log, i);
    }
    this.cursor = log.length;
    // Only the rolling window is ever read back.
    if (this.okIdx.length > 4 * this.window) this.okIdx.splice(0, this.okIdx.length - this.window);
  }

  /** Puts completed request `i` into its chart column (completion times never decrease). */
  private place(log: RequestLog, i: number): void {
    const done = log.arrivalS.get(i) + log.e2eMs.get(i) / 1e3;
    let col = this.columns[this.columns.length - 1];
    if (!col) {
      col = { t0: Math.floor(done / this.widthS) * this.widthS, start: i, end: i, completed: 0, outputTokens: 0 };
      this.columns.push(col);
    }
    while (done >= col.t0 + this.widthS) {
      col.ttft = ttftOf(log, col);
      col = { t0: col.t0 + this.widthS, start: i, end: i, completed: 0, outputTokens: 0 };
      this.columns.push(col);
      if (this.columns.length > this.maxColumns) this.halve(log);
      col = this.columns[this.columns.length - 1];
    }
    col.end = i + 1;
    col.completed++;
    col.outputTokens += log.outputTokens.get(i);
  }

  /** Merges neighbouring columns pairwise, doubling the column width. */
  private halve(log: RequestLog): void {
    const w = this.widthS * 2;
    const merged: Column[] = [];
    for (const c of this.columns) {
      const t0 = Math.floor(c.t0 / w) * w;
      const last = merged[merged.length - 1];
      if (last && last.t0 === t0) {
        last.end = c.end;
        last.completed += c.completed;
        last.outputTokens += c.outputTokens;
        last.ttft = undefined;
      } else {
        merged.push({ t0, start: c.start, end: c.end, completed: c.completed, outputTokens: c.outputTokens, ttft: c.ttft });
      }
    }
    this.widthS = w;
    for (let k = 0; k < merged.length - 1; k++) merged[k].ttft ??= ttftOf(log, merged[k]);
    this.columns = merged;
  }

  private series(): SeriesPoint[] {
    const log = this.sim.log;
    return this.columns.map((c, k) => {
      const last = k === this.columns.length - 1;
      // The open column ends at the current simulated time, so its rate is not diluted.
      const t1 = last ? Math.max(c.t0 + 1e-9, Math.min(c.t0 + this.widthS, this.sim.clock.now())) : c.t0 + this.widthS;
      const dt = t1 - c.t0;
      return { t0S: c.t0, t1S: t1, completedPerS: c.completed / dt, outputTokensPerS: c.outputTokens / dt, ttftMs: c.ttft ?? ttftOf(log, c) };
    });
  }

  private rolling(): RollingLatency {
    const log = this.sim.log;
    const idx = this.okIdx.slice(-this.window);
    const pick = (col: RequestLog['ttftMs']): Float64Array => Float64Array.from(idx, (i) => col.get(i));
    return {
      count: idx.length,
      ttftMs: percentilesOf(pick(log.ttftMs)),
      tpotMs: percentilesOf(pick(log.tpotMs)),
      e2eMs: percentilesOf(pick(log.e2eMs)),
    };
  }
}

function ttftOf(log: RequestLog, c: Column): RollingPercentiles {
  const v = new Float64Array(c.end - c.start);
  let n = 0;
  for (let i = c.start; i < c.end; i++) if (log.statuses[i] === 'ok') v[n++] = log.ttftMs.get(i);
  return percentilesOf(v.subarray(0, n));
}
