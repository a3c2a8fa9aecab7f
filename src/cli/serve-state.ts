import type { Command } from 'commander';
import { DEFAULTS } from '../defaults.js';
import { UserError } from '../util/errors.js';
import { parseNumberFlag } from './errors.js';
import { checkRedisUrl } from '../serve/profiles-redis.js';
import { defaultReplicaId, RedisReplicaState } from '../serve/state/redis-state.js';

export interface ServeStateFlags {
  state?: string;
  statePrefix: string;
  stateReplicaId?: string;
  stateSyncInterval: string;
  stateShareRouting?: string;
}

const R = DEFAULTS.replicas;

/** `serve --state redis://... [--state-prefix P] [--state-replica-id ID] [--state-sync-interval S]`. */
export function addServeStateOptions(cmd: Command): Command {
  return cmd
    .option('--state <url>', 'share routing state with other router replicas through Redis (redis://host:port[/db]): in-flight load per worker, session pins, pull-queue length; unreachable = route on local state (see docs/replicas.md)')
    .option('--state-prefix <p>', 'prefix of the shared-state keys and channels (one per router fleet)', R.keyPrefix)
    .option('--state-replica-id <id>', 'this replica\'s name in the shared state (default: host-pid-random)')
    .option('--state-sync-interval <s>', 'seconds between shared-state syncs (write own load, read the others\')', String(R.syncIntervalS))
    .option('--state-share-routing <on|off>', 'publish each dispatch\'s prompt blocks so the other replicas\' prefix indexes learn them (approximate records, precise speculative inserts)', 'on');
}

/** The shared state the flags ask for, not yet started (ServeApp starts it); undefined without --state. */
export function serveStateFromFlags(f: ServeStateFlags, note: (line: string) => void): RedisReplicaState | undefined {
  if (f.state === undefined) return undefined;
  const url = checkRedisUrl(f.state, '--state');
  const syncS = parseNumberFlag('--state-sync-interval', f.stateSyncInterval, { min: 0.001, max: 60 });
  if (f.statePrefix.length === 0) throw new UserError('--state-prefix: must not be empty');
  const id = f.stateReplicaId ?? defaultReplicaId();
  const share = f.stateShareRouting ?? 'on';
  if (share !== 'on' && share !== 'off') throw new UserError(`--state-share-routing ${share}: expected on or off`);
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(id)) throw new UserError(`--state-replica-id ${id}: expected 1-128 letters, digits, '.', '_', ':' or '-'`);
  return new RedisReplicaState({
    url,
    prefix: f.statePrefix,
    replicaId: id,
    syncIntervalMs: syncS * 1000,
    entryTtlMs: Math.max(R.entryTtlS * 1000, syncS * 1000 * 20),
    reconnectMs: R.reconnectS * 1000,
    pinRetentionMs: R.pinRetentionS * 1000,
    shareRouting: share === 'on',
    note,
  });
}
