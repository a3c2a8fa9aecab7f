/**
 * saturation: llm-d's utilization detector used as a filter (saturationdetector/utilization):
 * drops workers with max(waiting / queue_depth_threshold, kv usage / kv_util_threshold) > 1, and
 * fails open (keeps every candidate) when all would be dropped. Scraped signals, as stale as the
 * scrape interval.
 */
import type { PluginDef } from '../types.js';
import { num } from '../../options.js';

export const saturationFilter: PluginDef<'filter'> = {
  kind: 'filter',
  type: 'saturation',
  aliases: ['utilization-detector'],
  description: 'Drop saturated workers (scraped queue or KV usage over threshold); keep all if every worker is saturated.',
  follows: 'llm-d utilization-detector (as a filter)',
  usesPrefix: false,
  options: [
    { name: 'queue_depth_threshold', type: 'number', default: 5, min: 1, description: 'waiting requests at which a worker is saturated' },
    { name: 'kv_util_threshold', type: 'number', default: 0.8, min: 0.01, max: 1, description: 'KV usage at which a worker is saturated' },
  ],
  create: (o) => {
    const q = num(o, 'queue_depth_threshold');
    const kv = num(o, 'kv_util_threshold');
    return {
      type: 'saturation',
      filter: (_req, candidates) => {
        const kept = candidates.filter((c) => Math.max((c.scraped?.waiting ?? 0) / q, (c.scraped?.kvUsage ?? 0) / kv) <= 1);
        return kept.length > 0 ? kept : candidates;
      },
    };
  },
};
