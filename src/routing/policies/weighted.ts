/**
 * weighted: the llm-d endpoint-picker pipeline (scheduling/scheduler.go) as a preset over the
 * plugin framework (plugins/): filter → Σ weight × [0,1] scorer → picker.
 *
 * `scorers=name:weight,...` names any registered scorer (llm-d's default config is
 * prefix:3,queue:2,kv:2; a missing weight is 1, llm-d's default for unweighted scorers);
 * `filter` is none or a registered filter (saturation = llm-d's utilization detector, failing
 * open); `picker` a registered picker (max-score, ties random; weighted-random, A-Res).
 * `block_size` and `lru_blocks` size the prefix scorer's index. The same pipeline can be written
 * as a profile file (`--policy-config`, docs/examples/).
 * Scraped signals (queue, kv, running, saturation) are as stale as the scrape interval.
 */
import { UserError } from '../../util/errors.js';
import type { ProfileSpec, ScorerRef } from '../types.js';
import { str } from '../options.js';
import { presetPolicy } from '../plugins/profile.js';
import { findPlugin, pluginDefs } from '../plugins/registry.js';

const NAME = 'weighted';

/** Parses `name:weight,...` into scorer refs; names resolve through the plugin registry. */
export function parseScorers(spec: string, prefixOptions: Record<string, number> = {}): ScorerRef[] {
  const where = `--policy-opt scorers (policy ${NAME})`;
  const out: ScorerRef[] = [];
  for (const raw of spec.split(',')) {
    const part = raw.trim();
    if (part === '') continue;
    const [n, w] = part.split(':');
    const def = findPlugin('scorer', n.trim(), where);
    const weight = w === undefined ? 1 : Number(w);
    if (w !== undefined && (w.trim() === '' || !Number.isFinite(weight) || weight < 0)) {
      throw new UserError(`${where}: weight of "${n.trim()}" must be a number ≥ 0, got "${w}"`);
    }
    out.push({ type: def.type, weight, ...(def.type === 'prefix' ? { options: prefixOptions } : {}) });
  }
  if (out.length === 0) throw new UserError(`${where}: give at least one scorer, e.g. prefix:3,queue:2,kv:2`);
  return out;
}

export const weightedPolicy = presetPolicy({
  name: NAME,
  description: 'llm-d pipeline: filter → weighted [0,1] scorers (any registered scorer) → picker; a preset over the plugin framework.',
  options: [
    { name: 'scorers', type: 'string', default: 'prefix:3,queue:2,kv:2', description: `scorer:weight list (scorers: ${pluginDefs('scorer').map((p) => p.type).join(', ')})` },
    { name: 'picker', type: 'string', default: 'max-score', values: pluginDefs('picker').map((p) => p.type), description: 'picker plugin' },
    { name: 'filter', type: 'string', default: 'none', values: ['none', ...pluginDefs('filter').map((p) => p.type)], description: 'none, or a filter plugin (saturation: drop workers with max(waiting/5, kv/0.8) > 1, fail open)' },
    { name: 'block_size', type: 'integer', default: 16, min: 1, description: 'tokens per block of the prefix scorer' },
    { name: 'lru_blocks', type: 'integer', default: 0, min: 0, description: 'prefix index capacity per worker in blocks (0 = KV capacity / block_size)' },
  ],
  profile: (o): ProfileSpec => {
    const filter = str(o, 'filter');
    return {
      name: NAME,
      filters: filter === 'none' ? [] : [{ type: filter }],
      scorers: parseScorers(str(o, 'scorers'), { block_size: o.block_size as number, lru_blocks: o.lru_blocks as number }),
      picker: { type: str(o, 'picker') },
    };
  },
});
