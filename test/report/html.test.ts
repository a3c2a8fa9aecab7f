import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cdfPoints, fleetHitRate, renderHtmlReport, type ReportRun } from '../../src/report/html.js';
import { lineChart, niceTicks } from '../../src/report/svg-chart.js';
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
    // No prompt on any worker: no hit rate (empty in timeseries.csv), so a gap, not 0%.
    { tS: 2, worker: 'a', inFlight: 0, prefixHitRate: NaN, promptTokensPerS: 0 },
    { tS: 2, worker: 'b', inFlight: 0, prefixHitRate: NaN, promptTokensPerS: 0 },
    { tS: 3, worker: 'a', inFlight: 1, prefixHitRate: 0.2, promptTokensPerS: 100 },
    { tS: 3, worker: 'b', inFlight: 0, prefixHitRate: NaN, promptTokensPerS: 0 },
  ];
  assert.deepEqual(fleetHitRate(series), [[1, 0.4], [2, NaN], [3, 0.2]]);
  // The line breaks at the gap: two segments, no point drawn at 0.
  const svg = lineChart({ id: 'h', title: 'hit', xLabel: 't', yLabel: 'rate', yMax: 1, series: [{ name: 'r', points: fleetHitRate(series) }] });
  const d = /<path d="([^"]+)"/.exec(svg)?.[1] ?? '';
  assert.equal((d.match(/M/g) ?? []).length, 2, d);
  assert.equal((d.match(/L/g) ?? []).length, 0, d);
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

test('a simulation writes no hit rate for a second without prompts (empty cell, not 0)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-report-'));
  try {
    // Two bursts 30 s apart: the seconds between them have no traffic.
    const trace = join(dir, 't.jsonl');
    writeFileSync(trace, ['{"arrival_s":0,"input_tokens":64,"output_tokens":4}', '{"arrival_s":30,"input_tokens":64,"output_tokens":4}'].join('\n') + '\n');
    const r = runCli(['simulate', '--trace', trace, '--fleet', 'l20:1', '--out', join(dir, 'out')]);
    assert.equal(r.status, 0, r.stderr);
    const rows = readFileSync(join(dir, 'out', 'timeseries.csv'), 'utf8').trim().split('\n');
    const col = rows[0].split(',').indexOf('prefix_hit_rate');
    const idle = rows.slice(1).map((l) => l.split(',')).filter((c) => Number(c[0]) >= 5 && Number(c[0]) <= 25);
    assert.ok(idle.length > 10);
    for (const c of idle) assert.equal(c[col], '', `t=${c[0]}: ${c.join(',')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('router report at 1,400 px: the summary table fits, the charts use the width (headless Chromium)', { skip: chromium ? false : 'Chromium not installed (apt-get install -y chromium); skipping the browser check', timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-report-'));
  try {
    for (const p of ['least-request', 'random']) assert.equal(runCli(['simulate', '--policy', p, '--limit', '200', '--out', join(dir, p)]).status, 0);
    const out = join(dir, 'report.html');
    assert.equal(runCli(['report', join(dir, 'least-request'), join(dir, 'random'), '--html', '--out', out]).status, 0);
    // Measure the laid-out page: the script writes what it found on <body>, which --dump-dom prints.
    const measure = `<script>
      var t = document.querySelector('.table'), tb = t.querySelector('table');
      var charts = document.querySelectorAll('.charts'), cdf = charts[0], hit = charts[2];
      var w = function (el) { return el.getBoundingClientRect().width; };
      var cdfUsed = Array.prototype.reduce.call(cdf.querySelectorAll('figure'), function (a, f) { return a + w(f); }, 0);
      document.body.setAttribute('data-table', tb.scrollWidth <= t.clientWidth ? 'fits' : 'overflows ' + tb.scrollWidth + '>' + t.clientWidth);
      document.body.setAttribute('data-cdf', (cdfUsed / w(cdf)).toFixed(2));
      document.body.setAttribute('data-hit', (w(hit.querySelector('figure')) / w(hit)).toFixed(2));
      document.body.setAttribute('data-width', String(w(document.body)));
    </script></body>`;
    const page = join(dir, 'measure.html');
    writeFileSync(page, readFileSync(out, 'utf8').replace('</body>', measure));
    const profile = mkdtempSync(join(tmpdir(), 'router-chromium-'));
    try {
      const c = spawnSync(
        chromium as string,
        ['--headless', '--no-sandbox', '--disable-gpu', '--window-size=1400,1000', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`, '--dump-dom', pathToFileURL(page).href],
        { encoding: 'utf8', timeout: 120_000 },
      );
      assert.equal(c.status, 0, c.stderr);
      const body = /<body[^>]*>/.exec(c.stdout)?.[0] ?? '';
      const attr = (k: string): string => new RegExp(`${k}="([^"]*)"`).exec(body)?.[1] ?? '';
      assert.ok(Number(attr('data-width')) > 1300, body);
      assert.equal(attr('data-table'), 'fits', body);
      // Three CDFs side by side fill the row (gaps aside); the single hit-rate chart takes the whole row.
      assert.ok(Number(attr('data-cdf')) >= 0.95, body);
      assert.ok(Number(attr('data-hit')) >= 0.95, body);
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
