/**
 * lora-affinity: llm-d's `lora-affinity-scorer` (scorer/lora_affinity.go) over the scraped
 * `vllm:lora_requests_info` of each worker: 1.0 when the request's adapter is running there,
 * 0.6 when it is waiting there (queued to load), 0.8 when the worker has room to load it
 * (running + waiting adapters < max_lora), 0 when the worker is full of other adapters. The
 * checks run in that order, as in llm-d, so "waiting" wins over "room". A worker not scraped yet
 * (or not serving LoRA) has room. A request without an adapter scores 1 everywhere.
 *
 * `placement: rendezvous` instead places each adapter on its `replicas` highest-weight workers
 * by rendezvous (highest-random-weight) hashing of (adapter, worker name), as Dynamo does: 1 on
 * those, 0 elsewhere. A worker joining or leaving moves only the adapters it wins or held.
 */
import type { PluginDef } from '../types.js';
import type { WorkerView } from '../../types.js';
import { num, str } from '../../options.js';
import { chainHash } from '../../../workload/block-hash.js';

function codes(s: string): Uint32Array {
  const c = new Uint32Array(s.length);
  for (let i = 0; i < s.length; i++) c[i] = s.charCodeAt(i);
  return c;
}

/** The rendezvous weight of `adapter` on the worker named `worker`. */
export function rendezvousWeight(adapter: string, worker: string): number {
  return chainHash(chainHash(0x10a, codes(adapter), 0, adapter.length), codes(worker), 0, worker.length);
}

/** llm-d's residency score of `adapter` on `w` from its last scrape. */
export function loraResidencyScore(adapter: string, w: WorkerView): number {
  const l = w.scraped?.lora;
  if (!l) return 0.8;
  if (l.running.includes(adapter)) return 1;
  if (l.waiting.includes(adapter)) return 0.6;
  if (l.running.length + l.waiting.length < l.maxLoras) return 0.8;
  return 0;
}

export const loraAffinityScorer: PluginDef<'scorer'> = {
  kind: 'scorer',
  type: 'lora-affinity',
  aliases: ['lora-affinity-scorer'],
  description: "Scraped LoRA residency of the request's adapter: running 1, waiting 0.6, room to load 0.8, full 0 (llm-d); or rendezvous-hash placement on `replicas` workers.",
  follows: 'llm-d lora-affinity-scorer; Dynamo LoRA rendezvous (HRW) placement',
  options: [
    { name: 'placement', type: 'string', default: 'residency', values: ['residency', 'rendezvous'], description: "residency: llm-d's scraped-state score; rendezvous: highest-random-weight hashing of (adapter, worker)" },
    { name: 'replicas', type: 'integer', default: 2, min: 1, description: 'rendezvous: workers each adapter is placed on' },
  ],
  create: (o) => {
    const placement = str(o, 'placement');
    const replicas = num(o, 'replicas');
    let weights = new Float64Array(16);
    return {
      type: 'lora-affinity',
      score: (req, eps, out) => {
        const a = req.adapter;
        if (a === undefined) {
          out.fill(1, 0, eps.length);
          return;
        }
        if (placement === 'residency') {
          for (let i = 0; i < eps.length; i++) out[i] = loraResidencyScore(a, eps[i]);
          return;
        }
        if (weights.length < eps.length) weights = new Float64Array(eps.length * 2);
        for (let i = 0; i < eps.length; i++) weights[i] = rendezvousWeight(a, eps[i].name);
        // The k-th largest weight is the cut: candidates at or above it hold the adapter.
        const sorted = Array.from(weights.subarray(0, eps.length)).sort((x, y) => y - x);
        const cut = sorted[Math.min(replicas, eps.length) - 1];
        for (let i = 0; i < eps.length; i++) out[i] = weights[i] >= cut ? 1 : 0;
      },
    };
  },
};
