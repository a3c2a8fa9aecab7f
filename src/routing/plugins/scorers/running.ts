/**
 * running: llm-d `running-requests-size-scorer`: min-max over the scraped running requests,
 * (max − r) / (max − min); 1 for all when equal. As stale as the scrape interval.
 */
import type { PluginDef } from '../types.js';
import { minMaxScore } from './min-max.js';

export const runningScorer: PluginDef<'scorer'> = {
  kind: 'scorer',
  type: 'running',
  aliases: ['running-requests-size-scorer'],
  description: 'Fewer scraped running requests scores higher (min-max).',
  follows: 'llm-d running-requests-size-scorer',
  usesPrefix: false,
  options: [],
  create: () => ({
    type: 'running',
    score: (_req, eps, out) => minMaxScore(eps, out, (w) => w.scraped?.running ?? 0),
  }),
};
