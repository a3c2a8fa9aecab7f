import type { PolicyEnv, PrefixIndex, PrefixIndexSpec, WorkerView } from './types.js';
import type { RouteRequest } from '../workload/request.js';
import { ApproximatePrefixIndex } from './prefix/approximate-index.js';

/** Builds one prefix index; the default is the approximate (routing-decision) one. */
export type PrefixIndexFactory = (spec: PrefixIndexSpec) => PrefixIndex;

export const approximatePrefixIndex: PrefixIndexFactory = (spec) => new ApproximatePrefixIndex(spec);

/**
 * The services of one policy instance. Plugins that ask for the same prefix index spec get the
 * same index, so a profile with a prefix scorer and a prefix filter hashes and records once;
 * the policy calls `recordRouted` once per dispatch and `removeWorker` once per removal.
 * Swapping the factory (a KV-event index, issue 15) changes no policy or plugin.
 */
export function createPolicyEnv(factory: PrefixIndexFactory = approximatePrefixIndex): DriverPolicyEnv {
  const byKey = new Map<string, PrefixIndex>();
  const indexes: PrefixIndex[] = [];
  const env: DriverPolicyEnv = {
    indexes,
    onRouted: undefined,
    prefixIndex(spec) {
      const key = `${spec.blockSize}/${spec.lruBlocks}/${spec.source ?? 'routing'}/${spec.speculativeTtlS ?? ''}`;
      let ix = byKey.get(key);
      if (!ix) {
        ix = factory(spec);
        byKey.set(key, ix);
        indexes.push(ix);
      }
      return ix;
    },
    recordRouted(req: RouteRequest, w: WorkerView) {
      for (const ix of indexes) ix.recordRouted(req, w);
      env.onRouted?.(req, w);
    },
    removeWorker(w: WorkerView) {
      for (const ix of indexes) ix.removeWorker(w);
    },
    routedBlocks(req: RouteRequest, w: WorkerView) {
      const out = new Map<number, readonly number[]>();
      for (const ix of indexes) ix.routedBlocks?.(req, w, out);
      return out;
    },
    recordRemote(blocks: ReadonlyMap<number, readonly number[]>, w: WorkerView) {
      for (const ix of indexes) ix.recordRemote?.(blocks, w);
    },
  };
  return env;
}

/** A policy env as its driver holds it: the indexes it handed out, and the replica-sharing hooks. */
export interface DriverPolicyEnv extends PolicyEnv {
  readonly indexes: readonly PrefixIndex[];
  /** Called after every local dispatch is recorded (router replicas share the decision; shared-state.ts). */
  onRouted: ((req: RouteRequest, w: WorkerView) => void) | undefined;
  /** The block hashes the indexes need to replay a decision on another replica (block size → hashes). */
  routedBlocks(req: RouteRequest, w: WorkerView): Map<number, readonly number[]>;
  /** Replays another replica's decision in every index handed out. */
  recordRemote(blocks: ReadonlyMap<number, readonly number[]>, w: WorkerView): void;
}
