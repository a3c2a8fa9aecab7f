import type { Rng } from '../util/rng.js';
import type { WorkerView } from './types.js';

/**
 * The candidate with the lowest `load`, ties broken uniformly at random (reservoir sampling, one
 * pass, no allocation). SGLang's first-worker tie-break skews load (sgl-project/sglang#32983).
 */
export function argminRandomTie(candidates: readonly WorkerView[], load: (w: WorkerView) => number, rng: Rng): WorkerView {
  let best = candidates[0];
  let bestLoad = load(best);
  let ties = 1;
  for (let i = 1; i < candidates.length; i++) {
    const w = candidates[i];
    const l = load(w);
    if (l < bestLoad) {
      best = w;
      bestLoad = l;
      ties = 1;
    } else if (l === bestLoad) {
      ties++;
      if (rng.int(ties) === 0) best = w;
    }
  }
  return best;
}
