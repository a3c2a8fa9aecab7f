import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gammaVariate, imposeArrivals, interarrival, scaleAndCut, take } from '../../src/workload/arrivals.js';
import { mergeByArrival, parseMix, sourceLabels } from '../../src/workload/mix.js';
import { IntHistogram, SeenBlocks, traceStats } from '../../src/workload/stats.js';
import { percentiles } from '../../src/util/stats.js';
import { createRng } from '../../src/util/rng.js';
import type { Request } from '../../src/workload/request.js';
import { parseLengthSpec, synthRequests } from '../../src/workload/synth.js';

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

// eslint-disable-next-line @typescript-eslint/require-await -- an async source over a fixed array
async function* from(rs: Request[]): AsyncGenerator<Request> {
  yield* rs;
}

const req = (id: string, sessionId?: string, arrivalS = 0): Request => ({ id, arrivalS, inputTokens: 10, outputTokens: 5, sessionId });

function meanAndCv2(xs: number[]): { mean: number; cv2: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
  return { mean, cv2: v / (mean * mean) };
}

test('Poisson and Gamma inter-arrivals have the asked rate; Gamma CV² = 1 / burstiness', () => {
  const rng = createRng(7);
  const n = 40000;
  const p = meanAndCv2(Array.from({ length: n }, () => interarrival(rng, { process: 'poisson', rateRps: 4, burstiness: 1 })));
  assert.ok(Math.abs(p.mean - 0.25) < 0.01, `poisson mean ${p.mean}`);
  assert.ok(Math.abs(p.cv2 - 1) < 0.05, `poisson cv2 ${p.cv2}`);
  for (const b of [0.25, 0.5, 3]) {
    const g = meanAndCv2(Array.from({ length: n }, () => interarrival(rng, { process: 'gamma', rateRps: 4, burstiness: b })));
    assert.ok(Math.abs(g.mean - 0.25) < 0.015, `gamma(${b}) mean ${g.mean}`);
    assert.ok(Math.abs(g.cv2 - 1 / b) < 0.12 / b, `gamma(${b}) cv2 ${g.cv2}`);
  }
  assert.ok(gammaVariate(rng, 0.1) >= 0);
});

test('imposed arrivals: sessions keep turn order with think gaps, interleave, and the output is sorted', async () => {
  const input = [req('a0', 'a'), req('a1', 'a'), req('a2', 'a'), req('b0', 'b'), req('c0'), req('d0', 'd'), req('d1', 'd')];
  const spec = { process: 'poisson' as const, rateRps: 2, burstiness: 1, seed: 3, thinkTimeS: 5 };
  const out = await all(imposeArrivals(from(input), spec));
  assert.equal(out.length, input.length);
  for (let i = 1; i < out.length; i++) assert.ok(out[i].arrivalS >= out[i - 1].arrivalS);
  const at = new Map(out.map((r) => [r.id, r.arrivalS]));
  assert.ok((at.get('a0') as number) < (at.get('a1') as number) && (at.get('a1') as number) < (at.get('a2') as number));
  assert.ok((at.get('a0') as number) < (at.get('b0') as number), 'sessions start in source order');
  assert.ok(out.findIndex((r) => r.id === 'a2') > out.findIndex((r) => r.id === 'b0'), 'turns interleave with later sessions');
  // Same seed, same times.
  assert.deepEqual((await all(imposeArrivals(from(input), spec))).map((r) => r.arrivalS), out.map((r) => r.arrivalS));
  const noThink = await all(imposeArrivals(from(input), { ...spec, thinkTimeS: 0 }));
  const z = new Map(noThink.map((r) => [r.id, r.arrivalS]));
  assert.equal(z.get('a0'), z.get('a2'));
});

test('time scale, duration and limit', async () => {
  const rs = [req('x', undefined, 1), req('y', undefined, 2), req('z', undefined, 4)];
  assert.deepEqual((await all(scaleAndCut(from(rs), 0.5))).map((r) => r.arrivalS), [0.5, 1, 2]);
  assert.deepEqual((await all(scaleAndCut(from(rs), 2, 4))).map((r) => r.id), ['x', 'y']);
  assert.deepEqual((await all(take(from(rs), 2))).map((r) => r.id), ['x', 'y']);
});

test('mix: FILE:RATE[:FORMAT] parsing, labels, and a sorted merge', async () => {
  assert.deepEqual(parseMix('sharegpt.json:7,bird/dev.json:4'), [{ path: 'sharegpt.json', rateRps: 7, format: undefined }, { path: 'bird/dev.json', rateRps: 4, format: undefined }]);
  assert.deepEqual(parseMix('c:/x/sg.json:1.5:sharegpt-multi'), [{ path: 'c:/x/sg.json', rateRps: 1.5, format: 'sharegpt-multi' }]);
  assert.throws(() => parseMix('sharegpt.json'), /--mix: "sharegpt.json": expected FILE:RATE/);
  assert.throws(() => parseMix('a.json:0'), /RATE > 0/);
  assert.deepEqual(sourceLabels(['a/dev.json', 'b/dev.json', 'x.csv']), ['dev', 'dev-2', 'x']);
  const a = [req('a1', undefined, 1), req('a2', undefined, 3)];
  const b = [req('b1', undefined, 0.5), req('b2', undefined, 3), req('b3', undefined, 9)];
  assert.deepEqual((await all(mergeByArrival([from(a), from(b)]))).map((r) => r.id), ['b1', 'a1', 'a2', 'b2', 'b3']);
});

test('IntHistogram percentiles equal the sorted-array percentiles', () => {
  const rng = createRng(1);
  const xs = Array.from({ length: 5001 }, () => Math.floor(Math.exp(rng.next() * 8)));
  const h = new IntHistogram();
  for (const x of xs) h.add(x);
  const want = percentiles(xs);
  const got = h.percentiles();
  for (const k of ['mean', 'p50', 'p90', 'p99'] as const) assert.ok(Math.abs(got[k] - want[k]) < 1e-9, `${k}: ${got[k]} vs ${want[k]}`);
});

test('trace stats on a hand-checked case: reuse counts full 16-token blocks seen before', async () => {
  const ids = (n: number, base = 0): number[] => Array.from({ length: n }, (_, i) => base + i);
  const rs: Request[] = [
    { id: '1', arrivalS: 1, inputTokens: 40, outputTokens: 10, prefix: { kind: 'tokens', ids: ids(40) } },
    // Shares the first 32 tokens (two full blocks) with request 1.
    { id: '2', arrivalS: 2, inputTokens: 48, outputTokens: 20, prefix: { kind: 'tokens', ids: [...ids(32), ...ids(16, 1000)] } },
    { id: '3', arrivalS: 5, inputTokens: 12, outputTokens: 30 },
  ];
  const s = await traceStats(from(rs), 16);
  assert.equal(s.requests, 3);
  assert.equal(s.duration_s, 4);
  assert.equal(s.rate_rps, 0.75);
  assert.deepEqual(s.input_tokens, { mean: 100 / 3, p50: 40, p90: 46.4, p99: 47.84 });
  assert.equal(s.output_tokens.p50, 20);
  assert.equal(s.prefix_reuse, 32 / 100);
  const seen = new SeenBlocks(4);
  assert.equal(seen.seen(5), false);
  assert.equal(seen.seen(5), true);
});

test('synth: SGLang-style shared-prefix groups share exactly the system prompt', () => {
  const rs = [...synthRequests({ seed: 1, process: 'gamma', rateRps: 5, burstiness: 0.5, count: 0, input: parseLengthSpec('--input-len', '10'), output: parseLengthSpec('--output-len', 'exp:50:200'), sharedPrefix: { groups: 3, promptsPerGroup: 4, systemPromptTokens: 64, questionTokens: 8 } })];
  assert.equal(rs.length, 12);
  const byGroup = new Map<string, number[][]>();
  for (const r of rs) {
    assert.equal(r.inputTokens, 72);
    assert.ok(r.outputTokens >= 1 && r.outputTokens <= 200);
    const g = r.id.split('-')[1];
    byGroup.set(g, [...(byGroup.get(g) ?? []), Array.from((r.prefix as { ids: ArrayLike<number> }).ids)]);
  }
  assert.equal(byGroup.size, 3);
  for (const prompts of byGroup.values()) {
    assert.equal(prompts.length, 4);
    for (const p of prompts) assert.deepEqual(p.slice(0, 64), prompts[0].slice(0, 64));
    assert.notDeepEqual(prompts[0].slice(64), prompts[1].slice(64));
  }
  assert.throws(() => parseLengthSpec('--input-len', 'lognormal:x'), /--input-len: expected N, fixed:N/);
  assert.deepEqual(parseLengthSpec('--x', 'lognormal:400:1.2:6000'), { kind: 'lognormal', mean: 400, sigma: 1.2, min: 1, max: 6000 });
});
