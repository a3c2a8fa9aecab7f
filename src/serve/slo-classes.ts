import { Counter, Gauge, type Registry } from 'prom-client';
import type { SloClassSummary } from '../metrics/summary.js';

/**
 * Attainment and goodput per SLO class in serve: requests held to the same targets (`--slo`, or
 * their own `x-slo-*` headers over it) form one class, named as in simulate's summary
 * (`tpot_ms=50,ttft_ms=2000`). Every judged request counts, so a rejected or failed one is a miss.
 * On /metrics: `router_slo_requests_total` and `router_slo_met_total` by class (goodput =
 * rate of the latter) and `router_slo_attainment` (met / requests since start).
 */
export class SloClassCounter {
  private readonly classes = new Map<string, { requests: number; met: number; rejected: number }>();
  private readonly requests: Counter<'slo_class'>;
  private readonly metCount: Counter<'slo_class'>;

  constructor(registry: Registry, private readonly startedS: number) {
    const registers = [registry];
    this.requests = new Counter({ name: 'router_slo_requests_total', help: 'Requests judged against an SLO, by SLO class (rejected and failed ones included: they are misses)', labelNames: ['slo_class'], registers });
    this.metCount = new Counter({ name: 'router_slo_met_total', help: 'Requests that met their SLO, by SLO class (goodput = rate of this)', labelNames: ['slo_class'], registers });
    const classes = this.classes;
    new Gauge({
      name: 'router_slo_attainment',
      help: 'Share of judged requests that met their SLO since start, by SLO class',
      labelNames: ['slo_class'],
      registers,
      collect() {
        for (const [name, c] of classes) this.set({ slo_class: name }, c.requests > 0 ? c.met / c.requests : 0);
      },
    });
  }

  observe(sloClass: string, met: boolean, rejected: boolean): void {
    let c = this.classes.get(sloClass);
    if (!c) this.classes.set(sloClass, (c = { requests: 0, met: 0, rejected: 0 }));
    c.requests++;
    this.requests.inc({ slo_class: sloClass });
    if (met) {
      c.met++;
      this.metCount.inc({ slo_class: sloClass });
    }
    if (rejected) c.rejected++;
  }

  /** Per class, as simulate's summary has them; goodput over the time since start. */
  summary(nowS: number): SloClassSummary[] {
    const dur = Math.max(1e-9, nowS - this.startedS);
    return [...this.classes.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, c]) => ({ slo_class: name, requests: c.requests, met: c.met, rejected: c.rejected, slo_attainment: c.requests > 0 ? c.met / c.requests : 0, goodput_rps: c.met / dur }));
  }
}
