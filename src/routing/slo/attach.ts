import { UserError } from '../../util/errors.js';
import type { WorkerView } from '../types.js';
import type { ProfileTable } from './profile.js';

/**
 * Gives each worker the SLO table of its deployment. A table's `gpu` field (AIBrix: the deployment
 * name) is matched against worker deployment names first, then GPU ids, so an exported table
 * (`llama-3.1-8b@l20`) and a hand-named one (`l20`) both work. A table that matches no worker is
 * an error naming the deployments there are.
 */
export function attachSloProfiles(workers: readonly WorkerView[], tables: readonly ProfileTable[]): void {
  for (const t of tables) {
    let hit = workers.filter((w) => w.profile === t.deployment);
    if (hit.length === 0) hit = workers.filter((w) => w.gpu === t.deployment);
    if (hit.length === 0) {
      const names = [...new Set(workers.map((w) => `${w.profile} (gpu ${w.gpu})`))].join(', ');
      throw new UserError(`SLO profile "${t.deployment}" matches no worker's deployment or GPU (fleet: ${names})`);
    }
    for (const w of hit) w.sloProfile = t;
  }
}
