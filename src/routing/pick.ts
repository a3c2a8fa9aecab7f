import type { Rng } from '../util/rng.js';
import type { WorkerView } from './types.js';

/**
 * The candidate with the lowest `load`, ties broken uniformly at random. SGLang's first-worker
 * tie-break skews load (sgl-project/sglang#32983). Two passes and a single random draw: with a
 * balanced fleet most workers tie, and a draw per tie (reservoir sampling) would cost more than
 * the scan itself.
 */
export function argminRandomTie(candidates: readonly WorkerView[], load: (w: WorkerView) => number, rng: Rng): WorkerView {
  let bestLoad = Infinity;
  let ties = 0;
  let first = 0;
  for (let i = 0; i < candidates.length; i++) {
    const l = load(candidates[i]);
    if (l < bestLoad) {
      bestLoad = l;
      ties = 1;
      first = i;
    } else if (l === bestLoad) ties++;
  }
  if (ties <= 1) return candidates[first];
  let k = rng.int(ties);
  for (let i = first; i < candidates.length; i++) {
    if (load(candidates[i]) === bestLoad && k-- === 0) return candidates[i];
  }
  return candidates[first];
}
