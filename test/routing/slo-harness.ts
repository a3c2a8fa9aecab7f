import { Router } from '../../src/routing/router.js';
import type { ClassQueue } from '../../src/routing/admission/class-queue.js';
import { createPolicy } from '../../src/routing/registry.js';
import { parseModelGpuProfile, ProfileTable, type ModelGpuProfileJson } from '../../src/routing/slo/profile.js';
import type { Policy, WorkerView } from '../../src/routing/types.js';
import { VirtualClock } from '../../src/util/clock.js';
import { createRng } from '../../src/util/rng.js';
import type { Request } from '../../src/workload/request.js';

/**
 * A hand-checkable profile: outputs [16, 256] × inputs [128, 2048], consumptions
 * (16,128) 1/(10·0.5)=0.2, (16,2048) 1/(1·2)=0.5, (256,128) 1/(1·4)=0.25, (256,2048) 1/(0.25·8)=0.5.
 */
export function handProfile(gpu: string, over: Partial<ModelGpuProfileJson> = {}): ProfileTable {
  return new ProfileTable(
    parseModelGpuProfile(
      {
        gpu,
        cost: 1,
        tputs: [[10, 1], [1, 0.25]],
        indexes: [[16, 256], [128, 2048]],
        created: 0,
        e2e: [[0.5, 2], [4, 8]],
        slos: { percentile: 99, e2e: 20 },
        ...over,
      },
      gpu,
    ),
  );
}

export function view(index: number, profile: string, table?: ProfileTable): WorkerView {
  return {
    id: index,
    index,
    name: `${profile}-${index}`,
    gpu: profile,
    model: 'm',
    profile,
    costUsdPerHour: 1,
    healthy: true,
    inFlight: 0,
    inFlightPromptTokens: 0,
    inPrefill: 0,
    ...(table ? { sloProfile: table } : {}),
  };
}

export function req(id: string, inputTokens: number, outputTokens: number, arrivalS = 0, slo?: Request['slo']): Request {
  return { id, arrivalS, inputTokens, outputTokens, ...(slo ? { slo } : {}) };
}

/** A Router on a virtual clock whose sink records every decision. */
export class Harness {
  readonly clock = new VirtualClock();
  readonly dispatched: { id: string; worker: number; t: number }[] = [];
  readonly rejected: { id: string; reason: string; status?: number; t: number }[] = [];
  readonly router: Router;
  readonly policy: Policy;

  constructor(workers: WorkerView[], policy: string | Policy, opts: Record<string, string> = {}, queue?: { maxLength?: number; timeoutS?: number }, classes?: ClassQueue) {
    this.policy = typeof policy === 'string' ? createPolicy(policy, opts) : policy;
    this.router = new Router({
      policy: this.policy,
      workers,
      clock: this.clock,
      rng: createRng(1),
      queue,
      classes,
      sink: {
        dispatch: (r, w) => this.dispatched.push({ id: r.id, worker: w.index, t: this.clock.now() }),
        reject: (r, reason, status) => this.rejected.push({ id: r.id, reason, status, t: this.clock.now() }),
      },
    });
  }

  at(t: number): this {
    this.clock.set(t);
    return this;
  }

  complete(r: Request): void {
    this.router.onFirstToken(r);
    this.router.onComplete(r, { ok: true, outputTokens: r.outputTokens }, true);
  }

  order(): string[] {
    return this.dispatched.map((d) => d.id);
  }
}
