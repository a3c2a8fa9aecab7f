import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cdfPoints, fleetHitRate, renderHtmlReport, type ReportRun } from '../../src/report/html.js';
import { niceTicks } from '../../src/report/svg-chart.js';
import { runCli } from '../helpers/cli.js';

function findChromium(): string | null {
  for (const bin of ['chromium', 'chromium-browser', 'google-chrome']) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0) return bin;
  }
  return null;
}
const chromium = findChromium();

test('cdfPoints: evenly spaced quantiles of the finite values', () => {
  const pts = cdfPoints(Float64Array.from([4, NaN, 1, 3, 2]));
  assert.equal(pts.length, 201);
  assert.deepEqual(pts[0], [1, 0]);
  assert.deepEqual(pts[100], [2.5, 0.5]);
  assert.deepEqual(pts[200], [4, 1]);
  assert.deepEqual(cdfPoints(new Float64Array(0)), []);
});

test('fleetHitRate weights workers by prompt tokens; niceTicks cover the range in 1-2-5 steps', () => {
  const series = [
    { tS: 1, worker: 'a', inFlight: 1, prefixHitRate: 0.5, promptTokensPerS: 300 },
    { tS: 1, worker: 'b', inFlight: 1, prefixHitRate: 0.1, promptTokensPerS: 100 },
    { tS: 2, worker: 'a', inFlight: 0, prefixHitRate: 0, promptTokensPerS: 0 },
    { tS: 2, worker: 'b', inFlight: 0, prefixHitRate: 0, promptTokensPerS: 0 },
  ];
  assert.deepEqual(fleetHitRate(series), [[1, 0.4], [2, 0]]);
  assert.deepEqual(niceTicks(7), [0, 2, 4, 6, 8]);
  assert.deepEqual(niceTicks(1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(0), [0, 1]);
});

test('the page is self-contained and escapes run names', () => {
  const run: ReportRun = {
    name: '<run & "1">',
    summary: [{ run: 'p', policy: 'p', values: { completed: 1, ttft_ms_p99: 2 } }],
    ttftMs: Float64Array.from([1, 2]),
    tpotMs: Float64Array.from([3]),
    e2eMs: Float64Array.from([5, 6]),
    series: [{ tS: 1, worker: 'w', inFlight: 1, prefixHitRate: 0.5, promptTokensPerS: 10 }],
  };
  const html = renderHtmlReport([run]);
  assert.ok(!/https?:\/\/|\bsrc=|\bhref=|@import|url\(/.test(html), 'nothing fetched at view time');
  assert.ok(html.includes('&lt;run &amp; &quot;1&quot;&gt;'));
  assert.ok(!html.includes('<run &'));
  assert.equal((html.match(/<svg /g) ?? []).length, 5);
});

test('router report --html: one file from two run dirs opens in headless Chromium without errors', { skip: chromium ? false : 'Chromium not installed (apt-get install -y chromium); skipping the browser check', timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-report-'));
  try {
    for (const p of ['least-request', 'random']) {
      const r = runCli(['simulate', '--policy', p, '--limit', '400', '--out', join(dir, p)]);
      assert.equal(r.status, 0, r.stderr);
    }
    const out = join(dir, 'report.html');
    const rep = runCli(['report', join(dir, 'least-request'), join(dir, 'random'), '--html', '--out', out]);
    assert.equal(rep.status, 0, rep.stderr);
    assert.equal(rep.stderr.trim(), `wrote ${out}`);
    const html = readFileSync(out, 'utf8');
    assert.match(html, /TTFT CDF/);
    assert.match(html, /in-flight requests per worker · least-request/);
    assert.match(html, /in-flight requests per worker · random/);
    assert.match(html, /prefix-cache hit rate over time/);
    const profile = mkdtempSync(join(tmpdir(), 'router-chromium-'));
    try {
      const c = spawnSync(
        chromium as string,
        ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`, '--dump-dom', pathToFileURL(out).href],
        { encoding: 'utf8', timeout: 90_000 },
      );
      assert.equal(c.status, 0, c.stderr);
      // The page's script marks the body once every chart is wired; an uncaught error would mark it too.
      const body = /<body[^>]*>/.exec(c.stdout)?.[0] ?? '';
      assert.equal(body, '<body data-ready="6">', `body tag after load: ${body}`);
      assert.doesNotMatch(c.stderr, /Uncaught|SyntaxError|ReferenceError|TypeError/);
    } finally {
      rmSync(profile, { recursive: true, force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('router report: a directory without run files is a one-line user error; --html is required', () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-report-'));
  try {
    const r = runCli(['report', dir, '--html']);
    assert.equal(r.status, 2);
    assert.equal(r.stderr.trim(), `router: ${dir}: no requests.csv (expected a directory written by \`router simulate --out DIR\` or \`router replay --out DIR\`)`);
    const n = runCli(['report', dir]);
    assert.equal(n.status, 2);
    assert.equal(n.stderr.trim(), 'router: report: pass --html (the only report format)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
