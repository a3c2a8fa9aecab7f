import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine, type Sequence } from '../../src/engine/engine.js';
import type { EngineConfig } from '../../src/engine/config.js';
import { createRng, type Rng } from '../../src/util/rng.js';
import type { Request } from '../../src/workload/request.js';
import { contextCost, engineConfig } from '../helpers/fixtures.js';

/**
 * The engine's fast decode paths (stretches, fused passes) against the plain ones on random small
 * workloads with tight block pools: shared prefixes (hits, evictions), answers with known token ids
 * (blocks registered while decoding), preemption, aborts and scrapes at random times
 * (mid-stretch materialisation).
 */

interface Workload {
  config: EngineConfig;
  requests: Request[];
  scrapes: number[];
  aborts: Map<string, number>;
}

function workload(rng: Rng): Workload {
  const blockSize = 2 + rng.int(4);
  const config = engineConfig({
    blockSize,
    numGpuBlocks: 24 + rng.int(80),
    maxNumSeqs: 2 + rng.int(10),
    maxNumBatchedTokens: 8 + rng.int(60),
    enablePrefixCaching: rng.next() < 0.85,
    reserveFullPrompt: rng.next() < 0.3,
  });
  const groups = Array.from({ length: 1 + rng.int(4) }, (_, g) => Array.from({ length: 8 + rng.int(40) }, (_, i) => g * 1000 + i));
  const requests: Request[] = [];
  const aborts = new Map<string, number>();
  let t = 0;
  const n = 10 + rng.int(50);
  for (let i = 0; i < n; i++) {
    // Bursts and gaps: some arrivals land inside decode stretches, some after the engine idles.
    t += rng.next() < 0.2 ? rng.next() * 0.5 : rng.next() * 0.03;
    const input = 1 + rng.int(40);
    const output = 1 + rng.int(rng.next() < 0.3 ? 120 : 30);
    const kind = rng.next();
    let prefix: Request['prefix'];
    let outputTokenIds: number[] | undefined;
    if (kind < 0.6) {
      const g = groups[rng.int(groups.length)];
      const ids = Array.from({ length: input }, (_, k) => (k < g.length && rng.next() < 0.97 ? g[k] : 50_000 + i * 100 + k));
      prefix = { kind: 'tokens', ids };
      // A known answer makes generated blocks shareable content (registered while decoding).
      if (rng.next() < 0.3) outputTokenIds = Array.from({ length: output }, (_, k) => 90_000 + (i % 3) * 1000 + k);
    }
    const id = `r${i}`;
    requests.push({ id, arrivalS: t, inputTokens: input, outputTokens: output, prefix, ...(outputTokenIds ? { outputTokenIds } : {}) });
    if (rng.next() < 0.05) aborts.set(id, t + rng.next() * 0.2);
  }
  const scrapes: number[] = [];
  const scrapeEvery = rng.next() < 0.5 ? 0.0137 + rng.next() * 0.05 : Infinity;
  for (let s = scrapeEvery; s < t + 5; s += scrapeEvery) scrapes.push(s);
  return { config, requests, scrapes, aborts };
}

interface Trace {
  /** Per request: what a client and the logs see. */
  requests: string[];
  /** Listener calls in order. */
  calls: string[];
  /** Token gaps as (seconds × count) expanded and sorted (the plain path reports them per step). */
  gaps: number[];
  /** Block ids released, in order, and prefix-cache events in order (exact block bookkeeping). */
  blocks: string[];
  snapshots: string[];
  preemptions: number;
  steps: number;
}

function drive(w: Workload, fastDecode: boolean, fusedDecode: boolean): Trace {
  const calls: string[] = [];
  const gaps: number[] = [];
  const blocks: string[] = [];
  const snapshots: string[] = [];
  const requests: string[] = [];
  const seqs = new Map<string, Sequence>();
  const e = new Engine(
    w.config,
    contextCost,
    {
      firstToken: (s, t) => calls.push(`first ${s.req.id} ${t}`),
      finished: (s, t) => {
        calls.push(`done ${s.req.id} ${t} ${s.aborted}`);
        requests.push(`${s.req.id} sched=${s.firstScheduledAt} first=${s.firstTokenAt} end=${s.finishedAt} out=${s.numOutput} cached=${s.cachedTokens} pre=${s.preemptions}`);
      },
      tokenGap: (seconds, count) => {
        for (let k = 0; k < count; k++) gaps.push(seconds);
      },
    },
    fastDecode,
    fusedDecode,
  );
  const release = e.pool.release.bind(e.pool);
  e.pool.release = (b: number[], privateFrom?: number, preempted?: boolean, end?: number) => {
    const n = end ?? b.length;
    blocks.push(`release ${b.slice(0, n).join(',')}`);
    // What the pool trusts without reading: a private block is held by no other sequence and is not cached.
    const others = e.unfinished().filter((s) => s.blocks !== b);
    for (let i = privateFrom ?? n; i < n; i++) {
      for (const s of others) assert.equal(s.blocks.slice(0, s.numBlocks).includes(b[i]), false, `block ${b[i]} (index ${i}) is private`);
      assert.equal(e.pool.isCached(b[i]), false, `block ${b[i]} (index ${i}) is not cached`);
    }
    release(b, privateFrom, preempted, end);
  };
  e.observeKvCache({
    stored: (s, from, to, hashes) => blocks.push(`stored ${s.req.id} ${from}-${to} ${hashes.slice(from, to).join(',')}`),
    removed: (h) => blocks.push(`removed ${h}`),
  });
  const aborts = [...w.aborts].sort((a, b) => a[1] - b[1]);
  let next = 0;
  let scrape = 0;
  let abort = 0;
  for (let guard = 0; guard < 1_000_000; guard++) {
    const tArrive = next < w.requests.length ? w.requests[next].arrivalS : Infinity;
    const tScrape = scrape < w.scrapes.length ? w.scrapes[scrape] : Infinity;
    const tAbort = abort < aborts.length ? aborts[abort][1] : Infinity;
    const tStep = Number.isNaN(e.nextEventTime) ? Infinity : e.nextEventTime;
    const t = Math.min(tArrive, tScrape, tAbort, tStep);
    if (t === Infinity) break;
    if (tStep === t) e.advance(t);
    else if (tArrive === t) {
      const r = w.requests[next++];
      if (e.fits(r)) seqs.set(r.id, e.add(r, t));
      else requests.push(`${r.id} rejected`);
    } else if (tAbort === t) {
      const s = seqs.get(aborts[abort++][0]);
      if (s) e.abort(s, t);
    } else {
      scrape++;
      e.materialize(t);
      const s = e.snapshot();
      snapshots.push(`${t} ${s.running} ${s.waiting} ${s.kvUsage} ${s.prefixHits}/${s.prefixQueries} ${s.preemptions} ${s.promptTokens} ${s.generationTokens} ${s.finished}`);
    }
  }
  assert.equal(e.numRunning + e.numWaiting, 0, 'every request ends');
  assert.equal(e.pool.used, 0, 'no block leaks');
  gaps.sort((a, b) => a - b);
  return { requests, calls, gaps, blocks, snapshots, preemptions: e.counters.preemptions, steps: e.counters.steps };
}

test('fused decode passes and stretches give exactly what the plain paths give (random workloads, tight pools)', () => {
  let preempting = 0;
  let fewerSteps = 0;
  const runs = 150;
  for (let seed = 0; seed < runs; seed++) {
    const w = workload(createRng(`decode-equivalence/${seed}`));
    const fused = drive(w, true, true);
    const stretch = drive(w, true, false);
    const plain = drive(w, false, false);
    // Same block ids, released in the same order; same cache events; same everything else.
    assert.deepEqual(fused, stretch, `seed ${seed}: fused vs stretches`);
    // Step by step allocates in another order (blocks get other ids), but nobody can tell.
    assert.deepEqual(fused.requests, plain.requests, `seed ${seed}: requests vs step by step`);
    assert.deepEqual(fused.calls, plain.calls, `seed ${seed}: listener calls vs step by step`);
    assert.deepEqual(fused.gaps, plain.gaps, `seed ${seed}: token gaps vs step by step`);
    assert.deepEqual(fused.snapshots, plain.snapshots, `seed ${seed}: snapshots vs step by step`);
    if (fused.preemptions > 0) preempting++;
    if (fused.steps < plain.steps) fewerSteps++;
  }
  // The workloads do reach the cases that matter.
  assert.ok(preempting >= runs / 10, `only ${preempting} of ${runs} workloads preempt`);
  assert.ok(fewerSteps >= runs / 2, `only ${fewerSteps} of ${runs} workloads use stretches`);
});
