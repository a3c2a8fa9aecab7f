import { UserError } from '../util/errors.js';
import type { Policy, WorkerView } from '../routing/types.js';
import type { RouteRequest } from '../workload/request.js';

/** The one line a simulation stops with when a request names a model no worker serves. */
export function unknownModelError(req: RouteRequest, workers: readonly WorkerView[]): UserError {
  const models = [...new Set(workers.map((w) => w.model))].sort();
  const from = req.source !== undefined ? ` (source ${req.source})` : '';
  return new UserError(`request ${req.id}${from}: model "${req.model ?? ''}" is served by no worker of the fleet (fleet models: ${models.join(', ')}; set "model" in the trace, model= in --mix, or add workers of that model to --fleet)`);
}

/**
 * Pull policies that choose from the whole queue (`next`: the slo* family) rank requests across
 * models and do not know which worker serves which: refused on a mixed fleet rather than misrouted.
 */
export function checkPolicyForModels(policy: Policy, workers: readonly WorkerView[]): void {
  const models = new Set(workers.map((w) => w.model));
  if (models.size > 1 && policy.next !== undefined) {
    throw new UserError(`--policy ${policy.name}: does not support a fleet of several models yet (fleet models: ${[...models].sort().join(', ')}); use a push policy or one model per run`);
  }
}
