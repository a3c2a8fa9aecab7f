import { ClassQueue } from './class-queue.js';
import type { AdmissionConfig, TenantConfig } from './config.js';
import { TenantQuotas } from './quotas.js';

/** A class name that is not in the configured set. */
export interface UnknownClass {
  readonly unknown: string;
}

/**
 * Tenants, priority classes and quotas as one object, shared by serve and simulate: the
 * deterministic part of admission (no clock of its own, no I/O). Serve resolves the tenant from
 * the API key, simulate from the trace field; both then ask for the request's class, take from
 * its quotas, and hand `classes` to the Router.
 */
export class Admission {
  readonly classes: ClassQueue;
  readonly quotas: TenantQuotas;
  private readonly tenants = new Map<string, TenantConfig>();
  private readonly rankOf = new Map<string, number>();

  constructor(
    readonly config: AdmissionConfig,
    startS: number,
  ) {
    this.classes = new ClassQueue(config.priorities);
    this.quotas = new TenantQuotas(config.tenants, startS);
    for (const t of config.tenants) this.tenants.set(t.name, t);
    config.priorities.classes.forEach((c, i) => this.rankOf.set(c.name, i));
  }

  tenant(name: string): TenantConfig | undefined {
    return this.tenants.get(name);
  }

  /**
   * The class a request runs in: the one it asks for, lowered to its tenant's `max_priority`; else
   * its tenant's `priority`, else the default class. An unknown name comes back as `{ unknown }`.
   */
  priorityFor(tenant: string | undefined, asked: string | undefined): string | UnknownClass {
    const t = tenant === undefined ? undefined : this.tenants.get(tenant);
    if (asked === undefined) return t?.priority ?? this.config.priorities.defaultClass;
    const rank = this.rankOf.get(asked);
    if (rank === undefined) return { unknown: asked };
    const max = t?.maxPriority ?? t?.priority;
    if (max !== undefined && rank < (this.rankOf.get(max) as number)) return max;
    return asked;
  }

  get classNames(): string[] {
    return this.classes.classNames;
  }
}
