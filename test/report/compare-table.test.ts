import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bestPerColumn,
  evaluateFailOn,
  formatCompare,
  parseFailOn,
  readSummaryFile,
  type CompareRow,
} from '../../src/report/compare-table.js';
import { UserError } from '../../src/util/errors.js';

function row(run: string, v: Record<string, number>): CompareRow {
  return { run, policy: run, values: { completed: 100, rejected: 0, ttft_ms_p50: 50, ttft_ms_p99: 200, goodput_rps: 5, ...v } };
}

test('parseFailOn: relative, delta and limit rules; p99_ttft_ms is an alias of ttft_ms_p99', () => {
  assert.deepEqual(parseFailOn('p99_ttft_ms>+10%, goodput_rps<-5%,e2e_ms_p50>+100,rejected>0'), [
    { text: 'p99_ttft_ms>+10%', column: 'ttft_ms_p99', op: '>', amount: 10, kind: 'relative' },
    { text: 'goodput_rps<-5%', column: 'goodput_rps', op: '<', amount: -5, kind: 'relative' },
    { text: 'e2e_ms_p50>+100', column: 'e2e_ms_p50', op: '>', amount: 100, kind: 'delta' },
    { text: 'rejected>0', column: 'rejected', op: '>', amount: 0, kind: 'limit' },
  ]);
  assert.throws(() => parseFailOn('p99_ttft>+10%'), (e: Error) => e instanceof UserError && /unknown metric "p99_ttft"/.test(e.message));
  assert.throws(() => parseFailOn('ttft_ms_p99 is bad'), (e: Error) => e instanceof UserError && /rule "ttft_ms_p99 is bad": expected METRIC>\+N%/.test(e.message));
  assert.throws(() => parseFailOn('ttft_ms_p99>10%'), /needs a sign/);
  assert.throws(() => parseFailOn(' , '), /expected rules/);
});

test('evaluateFailOn: hand-checked violations against a baseline', () => {
  const base = [row('least-request', { ttft_ms_p99: 200, goodput_rps: 10 })];
  const runs = [
    row('least-request', { ttft_ms_p99: 219, goodput_rps: 9.6 }), // +9.5%, -4%: fine
    row('random', { ttft_ms_p99: 221, goodput_rps: 9.4 }), // +10.5%, -6%: both violated (single baseline row applies)
  ];
  const v = evaluateFailOn(parseFailOn('p99_ttft_ms>+10%,goodput_rps<-5%'), runs, base);
  assert.deepEqual(v.map((x) => x.message), [
    'p99_ttft_ms>+10% violated by random: ttft_ms_p99 = 221 vs baseline 200 (+10.5%)',
    'goodput_rps<-5% violated by random: goodput_rps = 9.4 vs baseline 10 (-6.0%)',
  ]);
  assert.deepEqual(evaluateFailOn(parseFailOn('ttft_ms_p99>220'), runs, null).map((x) => x.run), ['random']);
  assert.deepEqual(evaluateFailOn(parseFailOn('ttft_ms_p99>+20'), runs, base).map((x) => x.message), ['ttft_ms_p99>+20 violated by random: ttft_ms_p99 = 221 vs baseline 200 (+21)']);
  // Matching by run label when the baseline has several rows.
  const twoBase = [row('least-request', { ttft_ms_p99: 100 }), row('random', { ttft_ms_p99: 300 })];
  assert.deepEqual(evaluateFailOn(parseFailOn('p99_ttft_ms>+10%'), runs, twoBase).map((x) => x.run), ['least-request']);
  assert.throws(() => evaluateFailOn(parseFailOn('p99_ttft_ms>+10%'), runs, null), /pass --baseline FILE/);
  assert.throws(() => evaluateFailOn(parseFailOn('p99_ttft_ms>+10%'), [row('rr', {})], twoBase), /no row for run "rr"/);
});

test('evaluateFailOn: a rule on a metric with no value is an error, never a silent pass', () => {
  const noSlo = [row('least-request', { goodput_rps: NaN })];
  assert.throws(
    () => evaluateFailOn(parseFailOn('goodput_rps<5'), noSlo, null),
    (e: Error) => e instanceof UserError && e.message === '--fail-on: rule "goodput_rps<5": goodput_rps has no value for run least-request (goodput and SLO attainment need an SLO: pass --slo)',
  );
  assert.throws(() => evaluateFailOn(parseFailOn('goodput_rps<-5%'), [row('least-request', {})], noSlo), /goodput_rps has no value in the baseline row "least-request"/);
  assert.throws(() => evaluateFailOn(parseFailOn('ttft_ms_p99>+10%'), [row('a', { ttft_ms_p99: NaN })], [row('a', {})]), /ttft_ms_p99 has no value for run a \(no completed request/);
  // A rule on a column that has a value still passes or fails as before.
  assert.deepEqual(evaluateFailOn(parseFailOn('ttft_ms_p99>1000'), noSlo, null), []);
});

test('bestPerColumn: lower or higher is better per column, ties all marked, no marks for one row or all equal', () => {
  const rows = [row('a', { ttft_ms_p99: 100, goodput_rps: 5 }), row('b', { ttft_ms_p99: 90, goodput_rps: 5.5 }), row('c', { ttft_ms_p99: 90, goodput_rps: NaN })];
  const best = bestPerColumn(rows);
  assert.deepEqual([...(best.get('ttft_ms_p99') ?? [])], [1, 2]);
  assert.deepEqual([...(best.get('goodput_rps') ?? [])], [1]);
  assert.deepEqual([...(best.get('completed') ?? [])], []);
  assert.deepEqual([...(bestPerColumn([rows[0]]).get('ttft_ms_p99') ?? [])], []);
});

test('formatCompare: markdown table with the best in bold; text marks with *', () => {
  const rows = [
    { run: 'rr', policy: 'round-robin', values: { completed: 10, rejected: 1, ttft_ms_p50: 50, ttft_ms_p99: 100, tpot_ms_p50: 20, tpot_ms_p99: 30, e2e_ms_p99: 900, throughput_rps: 1, goodput_rps: NaN, slo_attainment: NaN, prefix_hit_rate: 0.5, imbalance: 1, cost_per_1m_tokens_usd: 0.1 } },
    { run: 'lr', policy: 'least-request', values: { completed: 10, rejected: 0, ttft_ms_p50: 40, ttft_ms_p99: 120, tpot_ms_p50: 20, tpot_ms_p99: 31, e2e_ms_p99: 800, throughput_rps: 1.5, goodput_rps: NaN, slo_attainment: NaN, prefix_hit_rate: 0.25, imbalance: 1.5, cost_per_1m_tokens_usd: 0.1 } },
  ];
  assert.equal(
    formatCompare(rows, 'markdown'),
    [
      '| run | completed | rejected | ttft_ms_p50 | ttft_ms_p99 | tpot_ms_p50 | tpot_ms_p99 | e2e_ms_p99 | throughput_rps | goodput_rps | slo_attainment | prefix_hit_rate | imbalance | cost_per_1m_tokens_usd |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      '| rr | 10 | 1 | 50.0 | **100.0** | 20.0 | **30.0** | 900.0 | 1.000 | - | - | **0.500** | **1.000** | 0.1000 |',
      '| lr | 10 | **0** | **40.0** | 120.0 | 20.0 | 31.0 | **800.0** | **1.500** | - | - | 0.250 | 1.500 | 0.1000 |',
    ].join('\n'),
  );
  const text = formatCompare(rows, 'text').split('\n');
  assert.match(text[1], /^rr\s+10\s+1\s+50\.0\s+100\.0\*/);
  assert.match(text[2], /^lr\s+10\s+0\*\s+40\.0\*/);
  const json = JSON.parse(formatCompare(rows, 'json')) as { run: string; goodput_rps: null; best_in: string[] }[];
  assert.equal(json[0].goodput_rps, null);
  assert.deepEqual(json[1].best_in, ['rejected', 'ttft_ms_p50', 'e2e_ms_p99', 'throughput_rps']);
  assert.equal(formatCompare(rows, 'csv').split('\n')[0], 'run,policy,completed,rejected,ttft_ms_p50,ttft_ms_p99,tpot_ms_p50,tpot_ms_p99,e2e_ms_p99,throughput_rps,goodput_rps,slo_attainment,prefix_hit_rate,imbalance,cost_per_1m_tokens_usd,best_in');
});

test('readSummaryFile: summary.csv, compare csv and JSON round-trip; bad files are user errors naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-cmp-'));
  try {
    const csv = join(dir, 'summary.csv');
    writeFileSync(csv, 'policy,requests,ttft_ms_p99,goodput_rps\nleast-request,10,123.5,\n');
    assert.deepEqual(readSummaryFile(csv), [{ run: 'least-request', policy: 'least-request', values: { requests: 10, ttft_ms_p99: 123.5, goodput_rps: NaN } }]);
    const rows = [row('a', {}), row('b', { ttft_ms_p99: 150 })];
    for (const fmt of ['csv', 'json'] as const) {
      const p = join(dir, `cmp.${fmt}`);
      writeFileSync(p, formatCompare(rows, fmt));
      assert.deepEqual(readSummaryFile(p), rows);
    }
    const nested = join(dir, 's.json');
    writeFileSync(nested, JSON.stringify({ policy: 'p', requests: 3, completed: 3, rejected: 0, duration_s: 1, wall_s: 0.1, ttft_ms: { mean: 1, p50: 1, p90: 2, p99: 3 }, tpot_ms: { mean: null, p50: null, p90: null, p99: null }, e2e_ms: { mean: 1, p50: 1, p90: 1, p99: 1 }, queue_ms: { mean: 0, p50: 0, p90: 0, p99: 0 }, throughput_rps: 3, output_tokens_per_s: 9, goodput_rps: null, slo_attainment: null, prefix_hit_rate: 0, imbalance: 1, cost_usd: 0, cost_per_1m_tokens_usd: 0, workers: [] }));
    const n = readSummaryFile(nested)[0];
    assert.equal(n.values.ttft_ms_p99, 3);
    assert.ok(Number.isNaN(n.values.tpot_ms_p99));
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, 'policy,ttft_ms_p99\nx,fast\n');
    assert.throws(() => readSummaryFile(bad), (e: Error) => e instanceof UserError && e.message === `${bad}:2: column ttft_ms_p99: expected a number, got "fast"`);
    assert.throws(() => readSummaryFile(join(dir, 'missing.csv')), /cannot read \(ENOENT\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
