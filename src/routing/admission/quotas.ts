import type { TenantConfig } from './config.js';
import { TokenBucket } from './token-bucket.js';

export type QuotaName = 'requests_per_s' | 'tokens_per_min';

/** Why a tenant's request was turned away, and when a retry can pass (Infinity: never, it exceeds the burst). */
export interface QuotaRefusal {
  readonly tenant: string;
  readonly quota: QuotaName;
  readonly retryAfterS: number;
  readonly message: string;
}

interface Buckets {
  readonly requests?: TokenBucket;
  readonly tokens?: TokenBucket;
}

/**
 * Per-tenant rate limits as token buckets on an injected clock: requests/s (burst default one
 * second's worth, at least 1) and tokens/min (burst default one minute's worth). A request is
 * admitted when both buckets hold enough, and only then takes from either (a refusal costs the
 * tenant nothing). The prompt's tokens are taken at admission; the answer's are charged when it
 * ends (`settle`), possibly putting the bucket in debt that later requests wait out, as
 * OpenAI-style TPM limits count completions. Tenants not configured are not limited.
 */
export class TenantQuotas {
  private readonly byTenant = new Map<string, Buckets>();

  constructor(tenants: readonly TenantConfig[], startS: number) {
    for (const t of tenants) {
      const l = t.limits;
      const requests = l.requestsPerS === undefined ? undefined : new TokenBucket(l.requestsPerS, l.burstRequests ?? Math.max(1, l.requestsPerS), startS);
      const tokens = l.tokensPerMin === undefined ? undefined : new TokenBucket(l.tokensPerMin / 60, l.burstTokens ?? l.tokensPerMin, startS);
      if (requests || tokens) this.byTenant.set(t.name, { requests, tokens });
    }
  }

  /** Whether any tenant has a limit (else admission skips the lookups). */
  get limited(): boolean {
    return this.byTenant.size > 0;
  }

  /** Admits (taking one request and `promptTokens` tokens) or says which quota refused and for how long. */
  admit(tenant: string | undefined, promptTokens: number, nowS: number): QuotaRefusal | null {
    if (tenant === undefined) return null;
    const b = this.byTenant.get(tenant);
    if (!b) return null;
    const rw = b.requests ? b.requests.waitFor(1, nowS) : 0;
    if (rw > 0) {
      const r = b.requests as TokenBucket;
      return { tenant, quota: 'requests_per_s', retryAfterS: rw, message: `tenant ${tenant} is over its requests_per_s quota (${r.ratePerS} requests/s, burst ${r.burst}); retry in ${rw.toFixed(2)} s` };
    }
    const tw = b.tokens ? b.tokens.waitFor(promptTokens, nowS) : 0;
    if (tw > 0) {
      const t = b.tokens as TokenBucket;
      const perMin = t.ratePerS * 60;
      const message =
        tw === Infinity
          ? `tenant ${tenant}: a prompt of ${promptTokens} tokens exceeds its tokens_per_min burst (${t.burst} tokens; quota ${perMin} tokens/min)`
          : `tenant ${tenant} is over its tokens_per_min quota (${perMin} tokens/min, burst ${t.burst}); retry in ${tw.toFixed(2)} s`;
      return { tenant, quota: 'tokens_per_min', retryAfterS: tw, message };
    }
    b.requests?.take(1, nowS);
    b.tokens?.take(promptTokens, nowS);
    return null;
  }

  /** Charges the answer's tokens to the tenant's tokens/min bucket once they are known. */
  settle(tenant: string | undefined, outputTokens: number, nowS: number): void {
    if (tenant === undefined || outputTokens <= 0) return;
    this.byTenant.get(tenant)?.tokens?.charge(outputTokens, nowS);
  }
}
