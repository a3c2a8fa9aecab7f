import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { bucketIndex, parseModelGpuProfile, parseProfileText, ProfileTable, profileJson } from '../../src/routing/slo/profile.js';
import { consumption, LoadTracker } from '../../src/routing/slo/load.js';
import { requestCell } from '../../src/routing/slo/cost.js';
import { parseSloHeaders, sloRank, targetsFor } from '../../src/routing/slo/targets.js';
import { UserError } from '../../src/util/errors.js';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { AIBRIX_EXAMPLE_PROFILE } from './aibrix-example.js';

const table = (): ProfileTable => new ProfileTable(parseModelGpuProfile(structuredClone(AIBRIX_EXAMPLE_PROFILE), 'example'));
const log2 = (xs: number[]): number[] => xs.map(Math.log2);

test('the inline example is the shared AIBrix fixture, when the machine has it', (t) => {
  const path = [resolve(REPO_ROOT, '..', 'shared'), resolve(REPO_ROOT, '..', '..', 'shared')]
    .map((d) => resolve(d, 'reference', 'aibrix-profile-simulator-llama2-7b-a100.json'))
    .find(existsSync);
  if (!path) { t.skip('shared/reference/aibrix-profile-simulator-llama2-7b-a100.json not found beside the checkout'); return; }
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), AIBRIX_EXAMPLE_PROFILE);
});

test('AIBrix worked example: prompt 300, predicted output 16 -> column 256, row 16; consumption 1/(31.44*0.345)', () => {
  const t = table();
  const s = t.signature(16, 300);
  assert.deepEqual(s, [2, 1]);
  assert.equal(t.json.indexes[0][s[0]], 16);
  assert.equal(t.json.indexes[1][s[1]], 256);
  assert.equal(t.tput(s), 31.44077673744191);
  assert.equal(t.e2e(s), 0.34489422958809884);
  const c = consumption(t, s);
  assert.equal(c, 1 / (31.44077673744191 * 0.34489422958809884));
  assert.ok(Math.abs(1 / c - 10.8437) < 1e-3, `N = ${1 / c}`);
  assert.ok(Math.abs(c - 0.0922) < 1e-4);
});

test('bucket lookup: geometric midpoint between neighbours, exact hits, clamping, no interpolation', () => {
  const ins = log2([128, 256, 512, 1024, 2048]);
  const mid = 2 ** 8.5; // 362.04: the geometric midpoint of 256 and 512
  assert.equal(bucketIndex(ins, 362), 1);
  assert.equal(bucketIndex(ins, mid), 2, 'at the midpoint the upper index wins (v < lo + 0.5(hi-lo) is false)');
  assert.equal(bucketIndex(ins, 363), 2);
  assert.equal(bucketIndex(ins, 256), 1);
  assert.equal(bucketIndex(ins, 512), 2);
  assert.equal(bucketIndex(ins, 2048), 4);
  assert.equal(bucketIndex(ins, 1), 0, 'below the first index clamps to it');
  assert.equal(bucketIndex(ins, 0), 0, 'log2(0) = -Infinity clamps too');
  assert.equal(bucketIndex(ins, 100_000), 4, 'above the last clamps to it');
  // Uneven indexes: the rule is on log2 values, so the threshold of 100 and 1000 is sqrt(100000) = 316.2.
  const uneven = log2([100, 1000]);
  assert.equal(bucketIndex(uneven, 316), 0);
  assert.equal(bucketIndex(uneven, 317), 1);
  const t = table();
  assert.deepEqual(t.signature(5, 128), [0, 0]); // log2 5 = 2.32 < 2.5
  assert.deepEqual(t.signature(6, 128), [1, 0]); // log2 6 = 2.58 >= 2.5
  assert.deepEqual(t.signature(4096, 9000), [7, 4]);
  assert.equal(t.tput([7, 4]), 0);
  assert.equal(consumption(t, [7, 4]), Infinity, 'a cell that met the SLO at no rate is an SLO failure');
  assert.equal(consumption(t, [6, 4]), Infinity);
});

test('profiles without an e2e table have no load model; NaN cells are read as unusable', () => {
  const old = new ProfileTable(parseModelGpuProfile({ gpu: 'old', cost: 1, tputs: [[1, 2]], indexes: [[4], [128, 256]], created: 0 }, 'old'));
  assert.equal(old.hasLoadModel, false);
  assert.equal(consumption(old, [0, 0]), undefined);
  const doc = parseProfileText('{"gpu":"x","cost":1,"tputs":[[NaN, 2.5]],"indexes":[[4],[128,256]],"created":1,"e2e":[[1.0, Infinity]],"slos":{"percentile":99,"e2e":5}}', 'nan.json');
  const t = new ProfileTable(parseModelGpuProfile(doc, 'nan.json'));
  assert.equal(t.tput([0, 0]), 0);
  assert.equal(t.e2e([0, 1]), undefined);
  assert.equal(consumption(t, [0, 0]), Infinity);
  assert.equal(consumption(t, [0, 1]), undefined);
  assert.match(profileJson(t.json), /"tputs":\[\[0,2\.5\]\]/);
});

test('profile JSON round trip keeps every number; malformed tables are user errors naming the field', () => {
  const p = parseModelGpuProfile(structuredClone(AIBRIX_EXAMPLE_PROFILE), 'example');
  assert.deepEqual(JSON.parse(profileJson(p)), AIBRIX_EXAMPLE_PROFILE);
  const bad = structuredClone(AIBRIX_EXAMPLE_PROFILE) as Record<string, unknown>;
  (bad.tputs as number[][]).pop();
  assert.throws(() => parseModelGpuProfile(bad, 'p.json'), (e: unknown) => e instanceof UserError && /p\.json: tputs: expected 8 rows/.test(e.message));
  assert.throws(() => parseModelGpuProfile({ ...AIBRIX_EXAMPLE_PROFILE, indexes: [[4, 4], [1]] }, 'p.json'), /indexes\[0\]\[1\]: indexes must increase/);
  assert.throws(() => parseModelGpuProfile({ ...AIBRIX_EXAMPLE_PROFILE, slos: { percentile: 99, latency: 1 } }, 'p.json'), /slos\.latency: unknown key/);
  assert.throws(() => parseProfileText('{', 'x.json'), /x\.json: not valid JSON/);
});

test('load tracker: utilisation rises at dispatch and falls by the same amount at completion', () => {
  const l = new LoadTracker();
  l.add('a', 0, 0.1);
  l.add('b', 0, 0.2);
  l.add('c', 1, 0.5);
  assert.ok(Math.abs(l.utilisation(0) - 0.3) < 1e-12);
  l.remove('a');
  assert.ok(Math.abs(l.utilisation(0) - 0.2) < 1e-12);
  l.remove('b');
  assert.equal(l.utilisation(0), 0, 'an idle worker is exactly empty');
  l.remove('b');
  assert.equal(l.utilisation(1), 0.5);
  assert.throws(() => l.add('c', 0, 0.1), /placed twice/);
});

test('SLO rank: TPOT > TTFT > TPAT > E2E; request SLO overrides the profile; hand-computed values', () => {
  const t = table();
  const s = t.signature(16, 300);
  const e2e = 0.34489422958809884;
  // Profile SLO only (e2e = 5 s): rank = waited + e2e − 5.
  assert.equal(sloRank(t, s, targetsFor(undefined, t.json.slos), 16, 300, 1), 1 + e2e - 5);
  // A request's TPOT (ms) outranks the profile's E2E: target = 0.05 · 16 = 0.8 s.
  assert.equal(sloRank(t, s, targetsFor({ tpotMs: 50 }, t.json.slos), 16, 300, 0), e2e - 0.8);
  // TPOT plus TTFT: target = tpot · out + ttft.
  assert.equal(sloRank(t, s, targetsFor({ tpotMs: 50, ttftMs: 200 }, undefined), 16, 300, 0), e2e - (0.8 + 0.2));
  // TTFT alone needs a TTFT table, which this profile lacks; then TPAT applies: target = tpat · (in + out).
  assert.equal(sloRank(t, s, targetsFor({ ttftMs: 200, tpatMs: 2 }, undefined), 16, 300, 0), e2e - 0.002 * 316);
  assert.equal(sloRank(t, s, targetsFor(undefined, undefined), 16, 300, 0), undefined);
});

test('x-slo-* headers give a per-request SLO; bad values name the header', () => {
  assert.deepEqual(parseSloHeaders({ 'X-SLO-TPOT-MS': '50', 'x-slo-ttft-ms': ['900', '800'], host: 'a' }), { tpotMs: 50, ttftMs: 800 });
  assert.equal(parseSloHeaders({ host: 'a' }), undefined);
  assert.throws(() => parseSloHeaders({ 'x-slo-e2e-ms': 'soon' }), (e: unknown) => e instanceof UserError && /header x-slo-e2e-ms: expected a positive number/.test(e.message));
});

test('a request is charged the heavier of its computed-tokens cell and its cached-context cell', () => {
  // Computed-tokens table: [out 16] x [in 128, 4096]; context table indexed by the whole prompt.
  const computed = { gpu: 'g', cost: 1, tputs: [[10, 0]], indexes: [[16], [128, 4096]], created: 0, e2e: [[0.5, 2]] };
  const context = new ProfileTable(parseModelGpuProfile({ gpu: 'g', cost: 1, tputs: [[20, 2]], indexes: [[16], [128, 4096]], created: 0, e2e: [[0.4, 1]] }, 'ctx'));
  const t = new ProfileTable(parseModelGpuProfile(computed, 'computed'), context);
  // 4000-token prompt with 50 tokens to compute: computed cell (16,128) holds 1/(10*0.5) = 0.2,
  // context cell (16,4096) 1/(2*1) = 0.5; E2E the longer, 1 s.
  assert.deepEqual(requestCell(t, 16, 50, 4000), { e2e: 1, ttft: undefined, c: 0.5 });
  // Nothing cached: the computed-tokens cell alone (the SLO failed at every rate there).
  assert.deepEqual(requestCell(t, 16, 4000, 4000), { e2e: 2, ttft: undefined, c: Infinity });
  // Tables without a companion (AIBrix's own profiles) charge the computed-tokens cell only.
  assert.deepEqual(requestCell(new ProfileTable(parseModelGpuProfile(computed, 'c')), 16, 50, 4000), { e2e: 0.5, ttft: undefined, c: 0.2 });
  assert.equal(t.renamed('h').context, context);
});

test('a request that outlives its cell is re-estimated from the time it has run', () => {
  const l = new LoadTracker();
  l.add('long', 0, 0.5, 10, 2); // dispatched at 10 s, its cell's mean E2E is 2 s
  l.add('plain', 0, 0.1); // no E2E known: held at 0.1 until it completes
  assert.equal(l.utilisation(0, 11), 0.6, 'within its cell E2E the full charge');
  assert.equal(l.utilisation(0, 12), 0.6);
  assert.equal(l.utilisation(0, 14), 0.5 * (2 / 4) + 0.1, 'after 4 s: 1/(tput·4) = c·2/4');
  assert.equal(l.utilisation(0), 0.6, 'without a time, the charges as booked');
  l.remove('long');
  l.remove('plain');
  assert.equal(l.utilisation(0, 14), 0);
});
