import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestLog } from '../../src/metrics/request-log.js';
import { latencyStats, summarize } from '../../src/metrics/summary.js';
import { summaryRow } from '../../src/report/csv.js';
import { formatSummary, latencyCell } from '../../src/report/text.js';

function log(): RequestLog {
  const l = new RequestLog();
  const base = { worker: 'w', queueMs: 0, cachedTokens: 0, preemptions: 0, sloMet: NaN } as const;
  l.add({ ...base, requestId: 'a', arrivalS: 0, ttftMs: 100, tpotMs: 10, e2eMs: 12_000, inputTokens: 30, outputTokens: 10, status: 'ok' });
  l.add({ ...base, requestId: 'b', arrivalS: 1, ttftMs: 300, tpotMs: 30, e2eMs: 14_000, inputTokens: 50, outputTokens: 10, status: 'ok' });
  l.add({ ...base, requestId: 'c', arrivalS: 2, ttftMs: NaN, tpotMs: NaN, e2eMs: NaN, inputTokens: 999, outputTokens: 0, status: 'rejected' });
  return l;
}

test('summaries give std, ITL percentiles and total token throughput (hand-checked)', () => {
  const s = summarize({ policy: 'p', log: log(), durationS: 10, wallS: 0, prefixHits: 0, prefixQueries: 0, workers: [], sloGiven: false, itl: latencyStats([10, 20, 30, 40]) });
  assert.deepEqual(s.ttft_ms, { mean: 200, p50: 200, p90: 280, p99: 298, std: 100 });
  assert.deepEqual({ ...s.itl_ms, p99: Number(s.itl_ms.p99.toFixed(9)) }, { mean: 25, p50: 25, p90: 37, p99: 39.7, std: Math.sqrt(125) });
  // Completed requests only: (30 + 10 + 50 + 10) tokens in 10 s.
  assert.equal(s.total_tokens_per_s, 10);
  assert.equal(s.output_tokens_per_s, 2);
  const row = summaryRow(s);
  assert.equal(row.ttft_ms_std, '100');
  assert.equal(row.itl_ms_p50, '25');
  assert.equal(row.total_tokens_per_s, '10');
  // No per-token times: ITL unknown, not zero.
  const sim = summarize({ policy: 'p', log: log(), durationS: 10, wallS: 0, prefixHits: 0, prefixQueries: 0, workers: [], sloGiven: false });
  assert.ok(Number.isNaN(sim.itl_ms.mean));
  assert.equal(summaryRow(sim).itl_ms_p99, '');
  assert.deepEqual(latencyStats([]), { mean: NaN, p50: NaN, p90: NaN, p99: NaN, std: NaN });
});

test('the printed summary shows seconds past 10,000 ms, an ITL row when measured, and total tok/s', () => {
  assert.equal(latencyCell(9999.94), '9999.9');
  assert.equal(latencyCell(12_345), '12.35 s');
  assert.equal(latencyCell(NaN), '-');
  const text = formatSummary(summarize({ policy: 'p', log: log(), durationS: 10, wallS: 0, prefixHits: 0, prefixQueries: 0, workers: [], sloGiven: false, itl: latencyStats([10, 20, 30, 40]) }));
  assert.match(text, /^latency \(ms\)\s+mean\s+p50\s+p90\s+p99\s+std$/m);
  assert.match(text, /^E2E\s+13\.00 s\s+13\.00 s\s+13\.80 s\s+13\.98 s\s+1000\.0$/m);
  assert.match(text, /^ITL\s+25\.0\s+25\.0\s+37\.0\s+39\.7\s+11\.2$/m);
  assert.match(text, /2\.00 output tok\/s|2 output tok\/s/);
  assert.match(text, /10 total tok\/s/);
  const sim = formatSummary(summarize({ policy: 'p', log: log(), durationS: 10, wallS: 0, prefixHits: 0, prefixQueries: 0, workers: [], sloGiven: false }));
  assert.doesNotMatch(sim, /^ITL/m);
});
