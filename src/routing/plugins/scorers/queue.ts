/**
 * queue: llm-d `queue-scorer` (scorer/queue.go): min-max over the scraped waiting queue,
 * (max − q) / (max − min); 1 for every candidate when all are equal. As stale as the scrape
 * interval; a worker not scraped yet counts as an empty queue.
 */
import type { PluginDef } from '../types.js';
import { minMaxScore } from './min-max.js';

export const queueScorer: PluginDef<'scorer'> = {
  kind: 'scorer',
  type: 'queue',
  aliases: ['queue-scorer'],
  description: 'Shorter scraped waiting queue scores higher: (max − q) / (max − min), 1 when all equal.',
  follows: 'llm-d queue-scorer',
  usesPrefix: false,
  options: [],
  create: () => ({
    type: 'queue',
    score: (_req, eps, out) => minMaxScore(eps, out, (w) => w.scraped?.waiting ?? 0),
  }),
};
