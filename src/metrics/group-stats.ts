import type { RouteRequest } from '../workload/request.js';
import type { RequestRecord } from './request-log.js';
import { StreamingRequestStats, type RequestSink } from './request-stats.js';
import { summaryFrom, type GroupSummary } from './summary.js';

/** The request attributes a run is broken down by. */
export type GroupDimension = 'model' | 'tenant' | 'priority';

export const GROUP_DIMENSIONS: readonly GroupDimension[] = ['model', 'tenant', 'priority'];

export type { GroupSummary } from './summary.js';

export type GroupSummaries = Partial<Record<`by_${GroupDimension}`, GroupSummary[]>>;

type Keys = Partial<Record<GroupDimension, string>>;

/** Name of a request with no value for a dimension (a tenant-less request, say). */
export const NO_GROUP = '-';

/**
 * A request sink that also tallies every request by model, tenant and priority class, each in a
 * bounded streaming tally (memory by the number of groups, not requests). The driver notes a
 * request's attributes when it arrives (`note`); the record it later adds finds them by id.
 * A request with no model is counted under its worker's model.
 */
export class GroupedStats implements RequestSink {
  private readonly pending = new Map<string, Keys>();
  private readonly groups = new Map<GroupDimension, Map<string, StreamingRequestStats>>();
  private readonly seen = new Set<GroupDimension>();

  constructor(
    private readonly inner: RequestSink,
    /** The model a worker (by name) serves; a mixed fleet breaks down by model even without request models. */
    private readonly workerModel: (worker: string) => string | undefined,
    private readonly mixedFleet: boolean,
    /** The fleet's name for a requested model (aliases fold into it). */
    private readonly canonicalModel: (model: string) => string = (m) => m,
  ) {
    if (mixedFleet) this.seen.add('model');
  }

  get completed(): number {
    return this.inner.completed;
  }

  get rejected(): number {
    return this.inner.rejected;
  }

  /** Remembers what the request carries, for the record that ends it. */
  note(req: RouteRequest): void {
    if (req.model === undefined && req.tenant === undefined && req.priority === undefined) return;
    const k: Keys = {};
    if (req.model !== undefined) {
      k.model = this.canonicalModel(req.model);
      this.seen.add('model');
    }
    if (req.tenant !== undefined) {
      k.tenant = req.tenant;
      this.seen.add('tenant');
    }
    if (req.priority !== undefined) {
      k.priority = req.priority;
      this.seen.add('priority');
    }
    this.pending.set(req.id, k);
  }

  add(r: RequestRecord): void {
    this.inner.add(r);
    // A run whose requests carry none of the dimensions (most) notes nothing: no lookup by id.
    if (this.pending.size === 0 && this.seen.size === 0) return;
    const k = this.pending.get(r.requestId);
    if (k) this.pending.delete(r.requestId);
    if (this.seen.size === 0) return;
    for (const dim of this.seen) {
      const name = k?.[dim] ?? (dim === 'model' ? this.workerModel(r.worker) : undefined) ?? NO_GROUP;
      let byName = this.groups.get(dim);
      if (!byName) this.groups.set(dim, (byName = new Map<string, StreamingRequestStats>()));
      let s = byName.get(name);
      if (!s) byName.set(name, (s = new StreamingRequestStats()));
      s.add(r);
    }
  }

  /** Rows per dimension that had more than one group (or any request naming one), sorted by name. */
  summaries(durationS: number, sloGiven: boolean): GroupSummaries {
    const out: GroupSummaries = {};
    for (const dim of GROUP_DIMENSIONS) {
      const byName = this.groups.get(dim);
      if (!byName) continue;
      out[`by_${dim}`] = [...byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, s]) => groupRow(name, s, durationS, sloGiven));
    }
    return out;
  }
}

export function groupRow(name: string, s: StreamingRequestStats, durationS: number, sloGiven: boolean): GroupSummary {
  const sum = summaryFrom(s.aggregates(), { policy: '', durationS, wallS: 0, prefixHits: 0, prefixQueries: 0, workers: [], sloGiven });
  return {
    name,
    requests: sum.requests,
    completed: sum.completed,
    rejected: sum.rejected,
    rejected_429: sum.rejected_429 ?? 0,
    throughput_rps: sum.throughput_rps,
    ttft_p50_ms: sum.ttft_ms.p50,
    ttft_p99_ms: sum.ttft_ms.p99,
    e2e_p50_ms: sum.e2e_ms.p50,
    e2e_p99_ms: sum.e2e_ms.p99,
    slo_attainment: sum.slo_attainment,
    goodput_rps: sum.goodput_rps,
  };
}
