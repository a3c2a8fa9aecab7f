import type { StepCost } from '../engine/step-cost.js';
import type { Deployment } from './types.js';
import { RooflineStepCost } from './roofline.js';
import { OperatorTableStepCost } from './operator-step-cost.js';
import { collectiveTables } from './catalog.js';

/** The step pricer of a deployment: its measured operator tables when it has them, else the roofline. */
export function stepCostFor(d: Deployment): StepCost {
  if (d.operators) return new OperatorTableStepCost(d, d.operators, collectiveTables());
  return new RooflineStepCost(d.gpu, d.model, d.tp, d.coefficients, collectiveTables());
}

/** Whether a deployment's speed comes from measurements, and from which. */
export function speedModelOf(d: Deployment): string {
  if (!d.operators) return 'roofline estimate (datasheet + cross-GPU fitted efficiencies)';
  const o = d.operators;
  const missing = [!o.attention && 'attention', !o.per_sequence && 'LM head/sampler'].filter(Boolean);
  return `measured operator tables (${o.origin}${missing.length ? `; roofline for ${missing.join(', ')}` : ''})`;
}
