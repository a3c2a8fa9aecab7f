import { UserError } from '../../util/errors.js';
import type { WorkerView } from '../types.js';
import type { ProfileTable } from './profile.js';

/** What a worker is matched on: its deployment (profile) name, else its GPU id. */
export type SloTableKey = Pick<WorkerView, 'profile' | 'gpu'>;

/**
 * The one rule that gives a worker its SLO table, used by both drivers for every source (tables
 * a deployment carries from `profile import-aibrix`, derived ones, `--slo-profile` files, Redis):
 * a table's `gpu` field (AIBrix: the deployment name) is matched against the worker's deployment
 * name first, then its GPU id, so an exported table (`llama-3.1-8b@l20`) and a hand-named one
 * (`l20`) both work. Later tables in the list win, so callers list sources from weakest to
 * strongest.
 */
export function sloTableFor(w: SloTableKey, tables: readonly ProfileTable[]): ProfileTable | undefined {
  let byGpu: ProfileTable | undefined;
  for (let i = tables.length - 1; i >= 0; i--) {
    const t = tables[i];
    if (t.deployment === w.profile) return t;
    if (byGpu === undefined && t.deployment === w.gpu) byGpu = t;
  }
  return byGpu;
}

/** Gives every worker its table (or none) from `tables`, replacing what it had. */
export function attachSloTables(workers: readonly WorkerView[], tables: readonly ProfileTable[]): void {
  for (const w of workers) {
    const t = sloTableFor(w, tables);
    if (t) w.sloProfile = t;
    else delete w.sloProfile;
  }
}

/** A table the operator named explicitly must fit some worker: else an error naming the deployments there are. */
export function checkSloTablesMatch(workers: readonly SloTableKey[], tables: readonly ProfileTable[], where = 'SLO profile'): void {
  for (const t of tables) {
    if (workers.some((w) => w.profile === t.deployment || w.gpu === t.deployment)) continue;
    const names = [...new Set(workers.map((w) => `${w.profile} (gpu ${w.gpu})`))].join(', ');
    throw new UserError(`${where} "${t.deployment}" matches no worker's deployment or GPU (fleet: ${names})`);
  }
}
