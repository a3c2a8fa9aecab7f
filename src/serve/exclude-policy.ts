import type { Policy, PullDecision } from '../routing/types.js';

/**
 * Wraps the configured policy so a retried request is re-routed away from the workers that
 * already failed it. The Router stays unaware of retries; when every candidate has failed the
 * request, the policy sees them all again (a retry on a failed worker beats none). Pull-mode
 * policies keep their queue discipline: when their `next` sends a retried request back to a
 * worker that failed it, `pick` is asked once more among the others.
 */
export class ExcludingPolicy implements Policy {
  constructor(
    readonly inner: Policy,
    /** Worker indices each request must avoid, by request id (shareable between wrappers). */
    readonly excluded = new Map<string, Set<number>>(),
  ) {}

  get name(): string {
    return this.inner.name;
  }

  get usesPrefix(): Policy['usesPrefix'] {
    return this.inner.usesPrefix;
  }

  get mode(): Policy['mode'] {
    return this.inner.mode;
  }

  get queueLimits(): Policy['queueLimits'] {
    return this.inner.queueLimits;
  }

  pick: Policy['pick'] = (req, candidates, ctx) => {
    const ex = this.excluded.get(req.id);
    if (ex) {
      const rest = candidates.filter((w) => !ex.has(w.index));
      if (rest.length > 0) return this.inner.pick(req, rest, ctx);
    }
    return this.inner.pick(req, candidates, ctx);
  };

  get next(): Policy['next'] {
    const inner = this.inner;
    if (!inner.next) return undefined;
    return (queue, candidates, ctx): PullDecision | null => {
      const d = inner.next ? inner.next(queue, candidates, ctx) : null;
      if (!d || 'reject' in d) return d;
      const ex = this.excluded.get(d.entry.req.id);
      if (!ex?.has(d.decision.worker)) return d;
      const rest = candidates.filter((w) => !ex.has(w.index));
      const again = rest.length > 0 ? inner.pick(d.entry.req, rest, ctx) : null;
      return again ? { entry: d.entry, decision: again } : d;
    };
  }

  onEnqueue: Policy['onEnqueue'] = (entry, ctx) => this.inner.onEnqueue?.(entry, ctx);
  onDequeue: Policy['onDequeue'] = (entry, ctx) => this.inner.onDequeue?.(entry, ctx);
  onDispatch: Policy['onDispatch'] = (req, w, ctx) => this.inner.onDispatch?.(req, w, ctx);
  onFirstToken: Policy['onFirstToken'] = (req, w, ctx) => this.inner.onFirstToken?.(req, w, ctx);
  onComplete: Policy['onComplete'] = (req, w, outcome, ctx) => this.inner.onComplete?.(req, w, outcome, ctx);
  onWorkerRemoved: Policy['onWorkerRemoved'] = (w) => this.inner.onWorkerRemoved?.(w);
}
