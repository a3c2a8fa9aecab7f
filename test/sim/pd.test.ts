import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Simulation } from '../../src/sim/simulator.js';
import { createPolicy } from '../../src/routing/registry.js';
import { parseFleet, type FleetWorker } from '../../src/profiles/fleet.js';
import { resolveDeployment } from '../../src/profiles/catalog.js';
import { stepCostFor } from '../../src/profiles/step-cost-factory.js';
import { syntheticRequests } from '../../src/workload/synthetic.js';
import { requestsCsv } from '../../src/report/csv.js';
import type { Request } from '../../src/workload/request.js';
import type { Deployment } from '../../src/profiles/types.js';

function worker(name: string, role: 'prefill' | 'decode', deployment: Deployment, link?: { gbps: number; latencyUs: number }): FleetWorker {
  return { name, role, group: name, deployment, kvLinks: link ? { all: link, pairs: new Map() } : undefined };
}

function pdSim(fleet: FleetWorker[], requests: Request[], o: { seed?: number; threshold?: number; scrape?: number } = {}): Simulation {
  return new Simulation({
    fleet,
    policy: createPolicy('least-request'),
    requests,
    seed: o.seed ?? 1,
    scrapeIntervalS: o.scrape ?? 1,
    timeseriesIntervalS: 1,
    pd: { prefillPolicy: createPolicy('least-request'), thresholdTokens: o.threshold ?? 0 },
  });
}

test('PD: TTFT = prefill + KV transfer over the link + the first decode step, on a hand-computed case', async () => {
  const d = resolveDeployment({ gpu: 'l20' });
  const link = { gbps: 10, latencyUs: 100 };
  const fleet = [worker('p', 'prefill', d, link), worker('d', 'decode', d)];
  // No prefix identity: nothing is cached, the decode side receives all but the last prompt token.
  const req: Request = { id: 'r0', arrivalS: 0, inputTokens: 1024, outputTokens: 4 };
  const sim = pdSim(fleet, [req]);
  const r = await sim.run();
  const cost = stepCostFor(d);
  const prefillS = cost.seconds({ tokens: 1024, seqs: 1, prefillAttnPairs: 1024 * 512, prefillKvTokens: 1024, decodeKvTokens: 0, prefillChunks: 1 });
  // 1023 tokens × 131,072 B (llama-3.1-8b, TP 1) over 10 GB/s, plus 100 µs.
  const transferS = 100e-6 + (1023 * 131072) / 10e9;
  assert.ok(Math.abs(transferS - 0.0135095) < 1e-6);
  // The decode worker computes the last prompt token (context 1023) and samples the first output token.
  const firstDecodeS = cost.seconds({ tokens: 1, seqs: 1, prefillAttnPairs: 1023.5, prefillKvTokens: 1024, decodeKvTokens: 0, prefillChunks: 1 });
  assert.equal(r.log.length, 1);
  assert.equal(r.log.workers[0], 'd');
  const ttftMs = r.log.ttftMs.view()[0];
  assert.ok(Math.abs(ttftMs - (prefillS + transferS + firstDecodeS) * 1e3) < 1e-6, `ttft ${ttftMs} vs ${(prefillS + transferS + firstDecodeS) * 1e3}`);
  const pd = r.summary.pd;
  assert.ok(pd);
  assert.equal(pd.disaggregated, 1);
  assert.equal(pd.transferred_tokens, 1023);
  assert.ok(Math.abs(pd.transfer_ms.mean - transferS * 1e3) < 1e-9);
  assert.equal(pd.block_wait_ms.mean, 0);
  assert.equal(r.summary.workers[0].role, 'prefill');
  assert.equal(r.summary.workers[1].role, 'decode');
  // Three more decode steps after the first token.
  assert.equal(r.log.outputTokens.view()[0], 4);
  // requests.csv gains the PD columns: prefill worker, transfer from the prefill's end (the decode
  // side had blocks at once) for transferS, and the bytes of 1,023 tokens.
  const [header, row] = requestsCsv(r.log).trim().split('\n');
  assert.ok(header.endsWith(',prefill_worker,kv_transfer_start_ms,kv_transfer_end_ms,kv_transfer_bytes'), header);
  const cells = row.split(',');
  const [pw, start, end, bytes] = cells.slice(-4);
  assert.equal(pw, 'p');
  assert.equal(start, (prefillS * 1e3).toFixed(3));
  assert.equal(end, ((prefillS + transferS) * 1e3).toFixed(3));
  assert.equal(bytes, String(1023 * 131072));
});

test('PD: a decode worker with no free blocks makes the transfer wait; nothing lost, nothing allocated twice', async () => {
  const p = resolveDeployment({ gpu: 'l20' });
  // 80 blocks of 16 tokens: one 1,000-token request (63 blocks + its output) at a time.
  const small = resolveDeployment({ gpu: 'l20', engine: { num_gpu_blocks: 80 } });
  const fleet = [worker('p', 'prefill', p), worker('d', 'decode', small)];
  const reqs: Request[] = [0, 1, 2].map((i) => ({ id: `r${i}`, arrivalS: 0, inputTokens: 1000, outputTokens: 50 }));
  const sim = pdSim(fleet, reqs);
  const r = await sim.run();
  assert.equal(r.summary.completed, 3);
  assert.equal(r.summary.rejected, 0);
  assert.deepEqual([...r.log.ids].sort(), ['r0', 'r1', 'r2']);
  const pd = r.summary.pd;
  assert.ok(pd && pd.block_wait_ms.p99 > 0, 'a transfer waited for blocks');
  // Each one's KV could only arrive after the previous one finished decoding and freed its blocks.
  const rows = [...r.log.ids].map((id, i) => ({ id, first: r.log.arrivalS.view()[i] + r.log.ttftMs.view()[i] / 1e3, end: r.log.arrivalS.view()[i] + r.log.e2eMs.view()[i] / 1e3 }));
  rows.sort((a, b) => a.first - b.first);
  for (let i = 1; i < rows.length; i++) assert.ok(rows[i].first > rows[i - 1].end, `${rows[i].id} started decoding before ${rows[i - 1].id} ended`);
  for (const e of sim.engines) {
    assert.equal(e.pool.used, 0);
    assert.equal(e.pool.free, e.pool.total);
  }
  assert.equal(r.summary.workers[1].preemptions, 0);
});

function randomRequests(seed: number, count: number): Request[] {
  return [
    ...syntheticRequests({
      seed,
      rate: 40,
      count,
      input: { kind: 'lognormal', mean: 900, sigma: 1, min: 2, max: 7000 },
      output: { kind: 'lognormal', mean: 150, sigma: 0.8, min: 1, max: 1000 },
      sharedPrefix: { groups: 12, prefixTokens: 768 },
    }),
  ];
}

test('PD conservation on large random runs: every request ends once, tokens add up, pools drain', async () => {
  const fleetFor = (): FleetWorker[] => {
    const tight = resolveDeployment({ gpu: 'l20', engine: { num_gpu_blocks: 1500 } });
    const fleet = parseFleet('prefill=l20:2;decode=l20:1');
    // Tight decode KV: transfers wait for blocks and decode workers preempt.
    return [...fleet, worker('dtight-0', 'decode', tight), worker('dtight-1', 'decode', tight)];
  };
  for (const [seed, threshold] of [[3, 0], [4, 400]] as const) {
    const reqs = randomRequests(seed, 4000);
    const sim = pdSim(fleetFor(), reqs, { seed, threshold, scrape: 0.5 });
    const r = await sim.run();
    const log = r.log;
    assert.equal(log.length, reqs.length, 'every request ends');
    assert.equal(new Set(log.ids).size, reqs.length, 'each exactly once');
    const byId = new Map(reqs.map((q) => [q.id, q]));
    let delivered = 0;
    for (let i = 0; i < log.length; i++) {
      if (log.statuses[i] !== 'ok') continue;
      const q = byId.get(log.ids[i]) as Request;
      assert.equal(log.outputTokens.view()[i], q.outputTokens);
      assert.ok(log.ttftMs.view()[i] > 0 && log.e2eMs.view()[i] >= log.ttftMs.view()[i]);
      delivered += q.outputTokens;
    }
    const pd = r.summary.pd;
    assert.ok(pd);
    assert.equal(pd.disaggregated + pd.local + r.summary.rejected, reqs.length);
    if (threshold > 0) assert.ok(pd.local > 0 && pd.disaggregated > 0, 'the decider kept some local');
    let decodeGen = 0;
    let prefillGen = 0;
    sim.engines.forEach((e, i) => {
      if (sim.pd?.isPrefill(i)) prefillGen += e.counters.generationTokens;
      else decodeGen += e.counters.generationTokens;
      assert.equal(e.pool.used, 0, `worker ${i} holds blocks at the end`);
      assert.equal(e.numRunning + e.numWaiting, 0);
    });
    assert.equal(decodeGen, delivered, 'decode workers generated exactly what was delivered');
    assert.equal(prefillGen, pd.disaggregated, 'a prefill worker samples one (discarded) token per moved request');
    assert.ok(pd.block_wait_ms.p99 > 0, 'some transfers waited for blocks');
    assert.ok(r.summary.workers.some((w) => w.role === 'decode' && w.preemptions > 0), 'decode workers preempted');
    assert.equal(r.summary.workers.filter((w) => w.role === 'prefill').reduce((a, w) => a + w.requests, 0), pd.disaggregated);
    // Every moved request's row names its prefill worker and a transfer inside its lifetime; the rest have none.
    const cols = log.pd;
    assert.ok(cols);
    let moved = 0;
    let bytes = 0;
    for (let i = 0; i < log.length; i++) {
      if (cols.prefillWorkers[i] === '') {
        assert.ok(Number.isNaN(cols.transferStartMs.get(i)));
        continue;
      }
      moved++;
      bytes += cols.transferBytes.get(i);
      assert.ok(cols.prefillWorkers[i].startsWith('prefill-'));
      const arrivalMs = log.arrivalS.get(i) * 1e3;
      assert.ok(cols.transferStartMs.get(i) > arrivalMs && cols.transferEndMs.get(i) >= cols.transferStartMs.get(i));
      if (log.statuses[i] === 'ok') assert.ok(cols.transferEndMs.get(i) <= arrivalMs + log.ttftMs.get(i) + 1e-6, 'the KV arrived before the first token');
    }
    assert.equal(moved, pd.disaggregated);
    assert.ok(Math.abs(bytes / 1e9 - pd.transferred_gb) < 1e-6);
  }
});

test('PD runs are deterministic: same seed, byte-identical requests.csv', async () => {
  const reqs = randomRequests(9, 1500);
  const run = async (seed: number): Promise<string> => requestsCsv((await pdSim(parseFleet('prefill=l20:2;decode=l20:3'), reqs, { seed, threshold: 200 }).run()).log);
  const a = await run(5);
  assert.equal(a, await run(5));
  assert.ok(a.split('\n').length > 1500);
});

test('PD fleet specs: roles name and group the workers; colocated specs are unchanged', () => {
  const f = parseFleet('prefill=h100-sxm:2;decode=h100-sxm:6');
  assert.deepEqual(f.map((w) => w.name), ['prefill-h100-sxm-0', 'prefill-h100-sxm-1', ...[0, 1, 2, 3, 4, 5].map((i) => `decode-h100-sxm-${i}`)]);
  assert.deepEqual(f.map((w) => w.role), ['prefill', 'prefill', 'decode', 'decode', 'decode', 'decode', 'decode', 'decode']);
  const c = parseFleet('l20:2');
  assert.deepEqual(c.map((w) => [w.name, w.role]), [['l20-0', undefined], ['l20-1', undefined]]);
});
