/**
 * weighted: llm-d endpoint-picker pipeline (scheduling/scheduler.go): filters → scorers, each in
 * [0,1] and multiplied by its weight, summed → picker.
 *
 * Scorers (`scorers=name:weight,...`; llm-d's default config is prefix:3,queue:2,kv:2):
 * - queue: min-max over scraped waiting requests, (max − q)/(max − min); 1 when all equal.
 * - kv (kv-utilization): 1 − scraped KV usage.
 * - prefix: matched blocks / prompt blocks in an approximate block index written at routing time
 *   (llm-d's approximate prefix producer: chained hashes, per-worker LRU sized from the KV
 *   capacity; see prefix/block-index.ts).
 * - active-requests (active): the router's in-flight count; idle (0) → 1, busier workers scaled
 *   into [0, 1] as (max − n)/max.
 * - running: min-max over scraped running requests.
 * - session: 1 for the worker the request's session was last sent to (llm-d returns the worker
 *   in an `x-session-token` header that the client sends back; the router remembering the last
 *   dispatch of a session is the same signal), else 0.
 * Filter (`filter`): none, or saturation = llm-d's utilization detector as a filter: drop workers
 * with max(waiting/5, kv/0.8) > 1, failing open (keep all) when every worker would be dropped.
 * Picker (`picker`): max-score (ties random: llm-d shuffles before sorting) or weighted-random
 * (A-Res: key U^(1/score), largest key wins).
 * Scraped signals (queue, kv, running, saturation) are as stale as the scrape interval.
 */
import { UserError } from '../../util/errors.js';
import type { PolicyFactory, WorkerView } from '../types.js';
import type { RouteRequest } from '../../workload/request.js';
import { numberOpt, stringOpt } from '../options.js';
import { BlockIndex } from '../prefix/block-index.js';
import { requestBlockHashes } from '../prefix/request-blocks.js';
import { lruCapacity } from './prefix-cache.js';
import { argminPosition } from '../candidates.js';

const NAME = 'weighted';
const SCORERS = ['queue', 'kv', 'kv-utilization', 'prefix', 'active-requests', 'active', 'running', 'session'] as const;
type ScorerName = 'queue' | 'kv' | 'prefix' | 'active' | 'running' | 'session';

/** Parses `name:weight,...`; a missing weight is 1 (llm-d's default for unweighted scorers). */
export function parseScorers(spec: string): { name: ScorerName; weight: number }[] {
  const out: { name: ScorerName; weight: number }[] = [];
  for (const raw of spec.split(',')) {
    const part = raw.trim();
    if (part === '') continue;
    const [n, w] = part.split(':');
    const name = n.trim();
    if (!(SCORERS as readonly string[]).includes(name)) {
      throw new UserError(`--policy-opt scorers (policy ${NAME}): unknown scorer "${name}" (known: ${SCORERS.join(', ')})`);
    }
    const weight = w === undefined ? 1 : Number(w);
    if (w !== undefined && (w.trim() === '' || !Number.isFinite(weight) || weight < 0)) {
      throw new UserError(`--policy-opt scorers (policy ${NAME}): weight of "${name}" must be a number ≥ 0, got "${w}"`);
    }
    const canonical: ScorerName = name === 'kv-utilization' ? 'kv' : name === 'active-requests' ? 'active' : (name as ScorerName);
    out.push({ name: canonical, weight });
  }
  if (out.length === 0) throw new UserError(`--policy-opt scorers (policy ${NAME}): give at least one scorer, e.g. prefix:3,queue:2,kv:2`);
  return out;
}

const MAX_SESSIONS = 1 << 16;

export const weightedPolicy: PolicyFactory = {
  name: NAME,
  description: 'llm-d pipeline: filter → weighted [0,1] scorers (queue, kv, prefix, active-requests, running, session) → max-score or weighted-random picker.',
  options: [
    { name: 'scorers', type: 'string', default: 'prefix:3,queue:2,kv:2', description: 'scorer:weight list' },
    { name: 'picker', type: 'string', default: 'max-score', description: 'max-score (ties random) or weighted-random' },
    { name: 'filter', type: 'string', default: 'none', description: 'none, or saturation (drop workers with max(waiting/5, kv/0.8) > 1, fail open)' },
    { name: 'block_size', type: 'integer', default: 16, description: 'tokens per block of the prefix scorer' },
    { name: 'lru_blocks', type: 'integer', default: 0, description: 'prefix index capacity per worker in blocks (0 = KV capacity / block_size)' },
  ],
  create: (o) => {
    const scorers = parseScorers(stringOpt(o, NAME, 'scorers'));
    const picker = stringOpt(o, NAME, 'picker', ['max-score', 'weighted-random'] as const);
    const filter = stringOpt(o, NAME, 'filter', ['none', 'saturation'] as const);
    const bs = numberOpt(o, NAME, 'block_size', 1);
    const lru = numberOpt(o, NAME, 'lru_blocks', 0);
    const usesPrefix = scorers.some((s) => s.name === 'prefix');
    const usesSession = scorers.some((s) => s.name === 'session');
    const index = new BlockIndex();
    const sessions = new Map<string, number>();
    let total = new Float64Array(64);
    let part = new Float64Array(64);

    const score = (name: ScorerName, req: RouteRequest, eps: readonly WorkerView[], out: Float64Array): void => {
      const n = eps.length;
      switch (name) {
        case 'queue':
        case 'running': {
          let min = Infinity;
          let max = -Infinity;
          for (const e of eps) {
            const q = (name === 'queue' ? e.scraped?.waiting : e.scraped?.running) ?? 0;
            if (q < min) min = q;
            if (q > max) max = q;
          }
          for (let i = 0; i < n; i++) {
            const q = (name === 'queue' ? eps[i].scraped?.waiting : eps[i].scraped?.running) ?? 0;
            out[i] = max === min ? 1 : (max - q) / (max - min);
          }
          return;
        }
        case 'kv':
          for (let i = 0; i < n; i++) out[i] = 1 - Math.min(1, Math.max(0, eps[i].scraped?.kvUsage ?? 0));
          return;
        case 'active': {
          let max = 0;
          for (const e of eps) if (e.inFlight > max) max = e.inFlight;
          for (let i = 0; i < n; i++) out[i] = eps[i].inFlight <= 0 ? 1 : (max - eps[i].inFlight) / max;
          return;
        }
        case 'prefix': {
          const hashes = requestBlockHashes(req, bs);
          index.match(hashes, eps, out);
          for (let i = 0; i < n; i++) out[i] = hashes.length > 0 ? out[i] / hashes.length : 0;
          return;
        }
        case 'session': {
          const s = req.sessionId === undefined ? undefined : sessions.get(req.sessionId);
          for (let i = 0; i < n; i++) out[i] = eps[i].index === s ? 1 : 0;
          return;
        }
      }
    };

    return {
      name: NAME,
      pick(req, candidates, ctx) {
        let eps = candidates;
        if (filter === 'saturation') {
          const kept = candidates.filter((c) => Math.max((c.scraped?.waiting ?? 0) / 5, (c.scraped?.kvUsage ?? 0) / 0.8) <= 1);
          if (kept.length > 0) eps = kept;
        }
        const n = eps.length;
        if (total.length < n) {
          total = new Float64Array(n);
          part = new Float64Array(n);
        }
        total.fill(0, 0, n);
        for (const s of scorers) {
          if (s.weight === 0) continue;
          score(s.name, req, eps, part);
          for (let i = 0; i < n; i++) total[i] += s.weight * Math.min(1, Math.max(0, part[i]));
        }
        let best = 0;
        if (picker === 'max-score') {
          for (let i = 0; i < n; i++) total[i] = -total[i];
          best = argminPosition(total, n, ctx.rng);
        } else {
          let bestKey = -1;
          let allZero = true;
          for (let i = 0; i < n; i++) if (total[i] > 0) allZero = false;
          for (let i = 0; i < n; i++) {
            const u = ctx.rng.next();
            const key = allZero ? u : total[i] > 0 ? Math.pow(u, 1 / total[i]) : -1;
            if (key > bestKey) {
              bestKey = key;
              best = i;
            }
          }
        }
        return { worker: eps[best].index };
      },
      onDispatch(req, w) {
        if (usesPrefix) index.record(requestBlockHashes(req, bs), w.index, lruCapacity(w, bs, lru));
        if (usesSession && req.sessionId !== undefined) {
          sessions.delete(req.sessionId);
          sessions.set(req.sessionId, w.index);
          if (sessions.size > MAX_SESSIONS) sessions.delete(sessions.keys().next().value as string);
        }
      },
      onWorkerRemoved(w) {
        index.removeWorker(w.index);
        for (const [s, at] of sessions) if (at === w.index) sessions.delete(s);
      },
    };
  },
};
