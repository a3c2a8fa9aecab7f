import { Admission } from '../routing/admission/admission.js';
import { UserError } from '../util/errors.js';
import type { Request } from '../workload/request.js';

/**
 * The simulator's side of tenants and priorities (`simulate --tenants FILE`): a request's class
 * from its trace `priority` and `tenant`, and the tenant's quotas on the virtual clock, so a
 * refusal is the 429 serve would answer at that instant, recorded as a rejection (an SLO miss).
 */
export class SimAdmission {
  constructor(readonly admission: Admission) {}

  /** The request with its class resolved (the same object when nothing changes). */
  resolve(req: Request): Request {
    const p = this.admission.priorityFor(req.tenant, req.priority);
    if (typeof p !== 'string') {
      throw new UserError(`trace request ${req.id}: priority "${p.unknown}" is not a class of the --tenants file (expected one of ${this.admission.classNames.join(', ')})`);
    }
    return p === req.priority ? req : { ...req, priority: p };
  }

  /** Null when the tenant's quotas admit it (tokens taken), else the reason for the 429. */
  refuse(req: Request, nowS: number): string | null {
    return this.admission.quotas.admit(req.tenant, req.inputTokens, nowS)?.message ?? null;
  }

  /** The answer's tokens count against the tenant's tokens/min once it ends. */
  completed(req: Request, nowS: number): void {
    this.admission.quotas.settle(req.tenant, req.outputTokens, nowS);
  }
}
