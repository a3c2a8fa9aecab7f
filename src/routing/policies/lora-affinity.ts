/**
 * lora-affinity: llm-d's LoRA-aware scheduling as a preset: the lora-affinity scorer (scraped
 * adapter residency, or rendezvous placement) plus the router's own in-flight counts, so an
 * adapter's workers are preferred until they are clearly busier. Requests without an adapter are
 * routed by load alone.
 */
import { presetPolicy } from '../plugins/profile.js';

export const loraAffinityPolicy = presetPolicy({
  name: 'lora-affinity',
  description: "Prefer workers where the request's LoRA adapter is resident (llm-d lora-affinity scorer) or placed (rendezvous), weighed against in-flight load.",
  options: [
    { name: 'placement', type: 'string', default: 'residency', values: ['residency', 'rendezvous'], description: "residency: llm-d's scraped-state score; rendezvous: highest-random-weight hashing of (adapter, worker)" },
    { name: 'replicas', type: 'integer', default: 2, min: 1, description: 'rendezvous: workers each adapter is placed on' },
    { name: 'affinity_weight', type: 'number', default: 2, min: 0, description: 'weight of the lora-affinity score against the in-flight score (weight 1)' },
  ],
  profile: (o) => ({
    name: 'lora-affinity',
    filters: [],
    scorers: [
      { type: 'lora-affinity', weight: Number(o.affinity_weight), options: { placement: o.placement, replicas: o.replicas } },
      { type: 'active-requests', weight: 1 },
    ],
    picker: { type: 'max-score' },
  }),
});
