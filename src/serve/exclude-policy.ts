import type { Policy } from '../routing/types.js';

/**
 * Wraps the configured policy so a retried request is re-routed away from the workers that
 * already failed it. The Router stays unaware of retries; when every candidate has failed the
 * request, the policy sees them all again (a retry on a failed worker beats none).
 */
export class ExcludingPolicy implements Policy {
  readonly excluded = new Map<string, Set<number>>();

  constructor(readonly inner: Policy) {}

  get name(): string {
    return this.inner.name;
  }

  pick: Policy['pick'] = (req, candidates, ctx) => {
    const ex = this.excluded.get(req.id);
    if (ex) {
      const rest = candidates.filter((w) => !ex.has(w.index));
      if (rest.length > 0) return this.inner.pick(req, rest, ctx);
    }
    return this.inner.pick(req, candidates, ctx);
  };

  onDispatch: Policy['onDispatch'] = (req, w, ctx) => this.inner.onDispatch?.(req, w, ctx);
  onFirstToken: Policy['onFirstToken'] = (req, w, ctx) => this.inner.onFirstToken?.(req, w, ctx);
  onComplete: Policy['onComplete'] = (req, w, outcome, ctx) => this.inner.onComplete?.(req, w, outcome, ctx);
  onWorkerRemoved: Policy['onWorkerRemoved'] = (w) => this.inner.onWorkerRemoved?.(w);
}
