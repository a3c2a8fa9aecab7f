import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Counter, type Registry } from 'prom-client';
import type { Admission } from '../../routing/admission/admission.js';
import type { Request } from '../../workload/request.js';
import { HttpError } from '../openai-error.js';

/** Label of requests with no tenant (no tenant key configured, or the plain --api-key). */
const NO_TENANT = '-';

export type AdmissionOutcome = 'admitted' | 'rate_limited' | 'queue_rejected' | 'preempted';

const keyDigest = (key: string): string => createHash('sha256').update(key).digest('hex');

/**
 * The HTTP side of tenants and priorities (`serve --tenants FILE`, docs/tenants.md): the tenant
 * from the bearer key, the class from `x-priority` (or the tenant's), the tenant's quotas on the
 * wall clock (429 + Retry-After naming the quota), and the counters on /metrics:
 * `router_admission_requests_total{tenant,priority,outcome}` with outcome admitted,
 * rate_limited, queue_rejected (the pull-mode queue's 429) or preempted (503 before any byte).
 * Keys are looked up by their SHA-256, so the table holds no key in the clear.
 */
export class ServeAdmission {
  private readonly tenantByKey = new Map<string, string>();
  /** The tenant a request authenticated as, between the header check and the request's start. */
  private readonly tenantOf = new WeakMap<IncomingMessage, string>();
  private readonly counter: Counter<'tenant' | 'priority' | 'outcome'>;

  constructor(
    readonly core: Admission,
    registry: Registry,
  ) {
    for (const t of core.config.tenants) for (const k of t.keys) this.tenantByKey.set(keyDigest(k), t.name);
    this.counter = new Counter({ name: 'router_admission_requests_total', help: 'Inference requests by tenant, priority class and admission outcome (admitted, rate_limited, queue_rejected, preempted)', labelNames: ['tenant', 'priority', 'outcome'], registers: [registry] });
  }

  /** Tenants carry keys: serve authenticates by them (besides any --api-key). */
  get authenticates(): boolean {
    return this.tenantByKey.size > 0;
  }

  /** Whether the request's bearer key is a tenant's (the tenant is remembered for `resolve`). */
  identify(req: IncomingMessage): boolean {
    const h = req.headers.authorization;
    const m = h === undefined ? null : /^Bearer\s+(.+)$/i.exec(h);
    if (!m) return false;
    const tenant = this.tenantByKey.get(keyDigest(m[1].trim()));
    if (tenant === undefined) return false;
    this.tenantOf.set(req, tenant);
    return true;
  }

  /** The request with its tenant and class (400 for an `x-priority` that is not a class). */
  resolve(req: IncomingMessage, request: Request): Request {
    const tenant = this.tenantOf.get(req);
    const h = req.headers['x-priority'];
    const asked = typeof h === 'string' && h.length > 0 ? h.trim() : undefined;
    const p = this.core.priorityFor(tenant, asked);
    if (typeof p !== 'string') {
      throw new HttpError(400, `x-priority: "${p.unknown.slice(0, 100)}" is not a priority class (expected one of ${this.core.classNames.join(', ')})`, 'invalid_priority', 'x-priority');
    }
    return { ...request, tenant, priority: p };
  }

  /** Null when the tenant's quotas admit the request; else the 429 to answer. */
  admit(request: Request, nowS: number): HttpError | null {
    const r = this.core.quotas.admit(request.tenant, request.inputTokens, nowS);
    if (!r) {
      this.count(request, 'admitted');
      return null;
    }
    this.count(request, 'rate_limited');
    const headers: Record<string, string> = { 'x-ratelimit-quota': r.quota };
    if (r.retryAfterS !== Infinity) headers['retry-after'] = String(Math.max(1, Math.ceil(r.retryAfterS)));
    return new HttpError(429, r.message, r.quota === 'requests_per_s' ? 'requests_per_s_exceeded' : 'tokens_per_min_exceeded', r.quota, headers);
  }

  count(request: Request, outcome: AdmissionOutcome): void {
    this.counter.inc({ tenant: request.tenant ?? NO_TENANT, priority: request.priority ?? NO_TENANT, outcome });
  }

  /** The answer's tokens count against the tenant's tokens/min once known. */
  settle(request: Request, outputTokens: number | undefined, nowS: number): void {
    if (outputTokens !== undefined) this.core.quotas.settle(request.tenant, outputTokens, nowS);
  }
}
