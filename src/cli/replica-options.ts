import type { Command } from 'commander';
import { DEFAULTS } from '../defaults.js';
import { UserError } from '../util/errors.js';
import { parseNumberFlag } from './errors.js';
import { REPLICA_SPLITS, type ReplicaOptions, type ReplicaSplit } from '../sim/replicas.js';
import type { Policy, PolicyEnv } from '../routing/types.js';

export interface ReplicaFlags {
  routerReplicas: string;
  replicaSplit: string;
  sharedState?: boolean;
  syncDelay?: string;
  shareRouting?: string;
}

const SHARE_ROUTING = ['immediate', 'sync', 'off'] as const;

/** `simulate --router-replicas N [--replica-split S] [--shared-state [--sync-delay S]]`. */
export function addReplicaOptions(cmd: Command): Command {
  return cmd
    .option('--router-replicas <n>', 'model N router replicas, each routing only its share of the traffic with its own policy state', '1')
    .option('--replica-split <how>', `how arrivals are split over the replicas: ${REPLICA_SPLITS.join(' or ')} (seeded)`, 'round-robin')
    .option('--shared-state', 'replicas share load per worker, queue lengths and session pins, as serve --state redis:// does')
    .option('--sync-delay <s>', `with --shared-state: seconds between syncs (what a replica knows of the others is up to this old; default ${DEFAULTS.replicas.simSyncS})`)
    .option('--share-routing <when>', `with --shared-state: when the other replicas replay a dispatch in their prefix indexes: immediate (${DEFAULTS.replicas.simRoutingDelayS} s later, as serve publishes it), sync (at the next sync) or off (default immediate)`);
}

/** Undefined for one replica (the plain Router); `policyFor` builds each replica's own policy. */
export function replicaOptionsFromFlags(f: ReplicaFlags, policyFor: (env: PolicyEnv) => Policy): ReplicaOptions | undefined {
  const count = parseNumberFlag('--router-replicas', f.routerReplicas, { integer: true, min: 1, max: 1024 });
  if (!(REPLICA_SPLITS as readonly string[]).includes(f.replicaSplit)) throw new UserError(`--replica-split ${f.replicaSplit}: expected one of ${REPLICA_SPLITS.join(', ')}`);
  if (f.syncDelay !== undefined && f.sharedState !== true) throw new UserError('--sync-delay: only with --shared-state');
  if (f.shareRouting !== undefined && f.sharedState !== true) throw new UserError('--share-routing: only with --shared-state');
  const share = f.shareRouting ?? 'immediate';
  if (!(SHARE_ROUTING as readonly string[]).includes(share)) throw new UserError(`--share-routing ${share}: expected one of ${SHARE_ROUTING.join(', ')}`);
  const syncS = f.syncDelay === undefined ? DEFAULTS.replicas.simSyncS : parseNumberFlag('--sync-delay', f.syncDelay, { min: 0.000001 });
  if (count === 1) {
    if (f.sharedState === true) throw new UserError('--shared-state: needs --router-replicas 2 or more');
    return undefined;
  }
  return { count, split: f.replicaSplit as ReplicaSplit, shared: f.sharedState === true ? { syncS, routing: share !== 'off', routingDelayS: share === 'immediate' ? DEFAULTS.replicas.simRoutingDelayS : undefined } : undefined, policyFor: (_i, env) => policyFor(env) };
}
