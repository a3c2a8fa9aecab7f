import type { Decision, Policy, WorkerView } from '../routing/types.js';
import type { RouteRequest } from '../workload/request.js';

/**
 * A policy that reports every decision to `seen` and is otherwise the policy itself (a Proxy,
 * so hooks the policy interface gains later pass through untouched).
 */
export function decisionObserver(inner: Policy, seen: (req: RouteRequest, d: Decision, candidates: readonly WorkerView[], startMs: number) => void): Policy {
  const pick: Policy['pick'] = (req, candidates, ctx) => {
    const t0 = performance.now();
    const d = inner.pick(req, candidates, ctx);
    if (d) seen(req, d, candidates, t0);
    return d;
  };
  const innerNext = inner.next?.bind(inner);
  const next: Policy['next'] = innerNext
    ? (queue, candidates, ctx) => {
        const t0 = performance.now();
        const d = innerNext(queue, candidates, ctx);
        if (d && !('reject' in d)) seen(d.entry.req, d.decision, candidates, t0);
        return d;
      }
    : undefined;
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'pick') return pick;
      if (prop === 'next') return next;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
