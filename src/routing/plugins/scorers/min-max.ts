import type { WorkerView } from '../../types.js';

/** llm-d's min-max normalisation of a load: (max − x) / (max − min), 1 for all when max = min. */
export function minMaxScore(eps: readonly WorkerView[], out: Float64Array, load: (w: WorkerView) => number): void {
  let min = Infinity;
  let max = -Infinity;
  for (const e of eps) {
    const q = load(e);
    if (q < min) min = q;
    if (q > max) max = q;
  }
  for (let i = 0; i < eps.length; i++) {
    const q = load(eps[i]);
    out[i] = max === min ? 1 : (max - q) / (max - min);
  }
}
