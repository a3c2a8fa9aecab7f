import { quantile } from '../util/stats.js';
import { bestPerColumn, COMPARE_COLUMNS, type CompareRow } from './compare-table.js';
import { escapeHtml, lineChart, type ChartSeries } from './svg-chart.js';

export interface SeriesRow {
  tS: number;
  worker: string;
  inFlight: number;
  prefixHitRate: number;
  promptTokensPerS: number;
}

/** One run directory's data, as read from its requests.csv, timeseries.csv and summary.csv. */
export interface ReportRun {
  name: string;
  summary: CompareRow[];
  /** Latencies of completed requests, ms (any order). */
  ttftMs: Float64Array;
  tpotMs: Float64Array;
  e2eMs: Float64Array;
  /** timeseries.csv rows; null for a live run (`replay --out`), which has no engine timeseries. */
  series: SeriesRow[] | null;
}

const CDF_POINTS = 200;
const MAX_TIME_POINTS = 600;

/** CDF as (latency, fraction) at evenly spaced fractions: a fixed size whatever the request count. */
export function cdfPoints(values: Float64Array): [number, number][] {
  const sorted = Float64Array.from(values).filter((v) => Number.isFinite(v)).sort();
  if (sorted.length === 0) return [];
  const out: [number, number][] = [];
  for (let k = 0; k <= CDF_POINTS; k++) {
    const q = k / CDF_POINTS;
    out.push([quantile(sorted, q), q]);
  }
  return out;
}

/** Keeps at most `max` points by taking every n-th (time series are dense and smooth enough). */
function thin<T>(xs: T[], max: number): T[] {
  if (xs.length <= max) return xs;
  const stride = Math.ceil(xs.length / max);
  return xs.filter((_, i) => i % stride === 0 || i === xs.length - 1);
}

function p995(values: Float64Array[]): number {
  let m = 0;
  for (const v of values) {
    const s = Float64Array.from(v).filter((x) => Number.isFinite(x)).sort();
    if (s.length) m = Math.max(m, quantile(s, 0.995));
  }
  return m;
}

/** Fleet prefix hit rate per time step, weighted by each worker's prompt tokens in that step. */
export function fleetHitRate(series: SeriesRow[]): [number, number][] {
  const byT = new Map<number, { hit: number; prompt: number; plain: number; n: number }>();
  for (const r of series) {
    const a = byT.get(r.tS) ?? { hit: 0, prompt: 0, plain: 0, n: 0 };
    a.hit += r.prefixHitRate * r.promptTokensPerS;
    a.prompt += r.promptTokensPerS;
    a.plain += r.prefixHitRate;
    a.n++;
    byT.set(r.tS, a);
  }
  return [...byT.entries()].sort((a, b) => a[0] - b[0]).map(([t, a]) => [t, a.prompt > 0 ? a.hit / a.prompt : a.plain / a.n]);
}

function workerLoad(series: SeriesRow[]): ChartSeries[] {
  const by = new Map<string, [number, number][]>();
  for (const r of series) {
    let pts = by.get(r.worker);
    if (!pts) by.set(r.worker, (pts = []));
    pts.push([r.tS, r.inFlight]);
  }
  return [...by.entries()].map(([name, pts]) => ({ name, points: thin(pts, MAX_TIME_POINTS) }));
}

function summaryTable(runs: ReportRun[]): string {
  const rows = runs.flatMap((r) => r.summary.map((s) => ({ ...s, run: runs.length > 1 ? `${r.name}: ${s.run}` : s.run })));
  if (rows.length === 0) return '';
  const best = bestPerColumn(rows);
  const head = `<tr><th>run</th>${COMPARE_COLUMNS.map((c) => `<th>${escapeHtml(c.key)}</th>`).join('')}</tr>`;
  const body = rows
    .map((r, i) => {
      const cells = COMPARE_COLUMNS.map((c) => {
        const v = r.values[c.key];
        const t = Number.isFinite(v) ? v.toFixed(c.digits) : '-';
        return best.get(c.key)?.has(i) ? `<td class="best">${t}</td>` : `<td>${t}</td>`;
      });
      return `<tr><td>${escapeHtml(r.run)}</td>${cells.join('')}</tr>`;
    })
    .join('');
  return `<table>${head}${body}</table><p class="note">Bold: best in column (lower is better for latency, rejected, imbalance and cost).</p>`;
}

/** Hover readout: nearest point of every series under the cursor. Pure DOM, no libraries. */
const SCRIPT = `
window.addEventListener('error', function (e) { document.body.setAttribute('data-error', String(e.message)); });
document.querySelectorAll('svg[data-series]').forEach(function (svg) {
  var d = JSON.parse(svg.getAttribute('data-series'));
  var cursor = svg.querySelector('.cursor');
  var readout = svg.parentNode.querySelector('.readout');
  var pw = d.w - d.m.left - d.m.right;
  svg.addEventListener('mousemove', function (ev) {
    var box = svg.getBoundingClientRect();
    var px = (ev.clientX - box.left) * d.w / box.width;
    var x = (px - d.m.left) / pw * d.x1;
    if (x < 0 || x > d.x1) { cursor.setAttribute('visibility', 'hidden'); readout.textContent = ''; return; }
    cursor.setAttribute('x1', px); cursor.setAttribute('x2', px); cursor.setAttribute('visibility', 'visible');
    var parts = d.series.map(function (s) {
      var best = null;
      s.points.forEach(function (p) { if (p[0] !== null && p[1] !== null && (best === null || Math.abs(p[0] - x) < Math.abs(best[0] - x))) best = p; });
      return best ? s.name + ': ' + best[1] + ' @ ' + best[0] : '';
    });
    readout.textContent = ' ' + parts.filter(Boolean).join(' · ');
  });
  svg.addEventListener('mouseleave', function () { cursor.setAttribute('visibility', 'hidden'); readout.textContent = ''; });
});
document.body.setAttribute('data-ready', String(document.querySelectorAll('svg[data-series]').length));
`;

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1500px; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: right; } th:first-child, td:first-child { text-align: left; }
td.best { font-weight: bold; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
figure.chart { margin: 0; flex: 0 0 720px; max-width: 100%; } svg { max-width: 100%; height: auto; background: #fff; }
.title { font-weight: 600; font-size: 13px; } .tick { font-size: 11px; fill: #555; } .axis { font-size: 12px; fill: #333; }
.grid { stroke: #eee; } .cursor { stroke: #999; stroke-dasharray: 3 3; }
figcaption { font-size: 12px; } .key { margin-right: 10px; white-space: nowrap; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: middle; }
.note { color: #666; font-size: 12px; }
`;

/** One self-contained HTML page (inline CSS, SVG and script; nothing fetched at view time). */
export function renderHtmlReport(runs: ReportRun[], title = 'router report'): string {
  const cdf = (key: 'ttftMs' | 'tpotMs' | 'e2eMs', label: string): string =>
    lineChart({
      id: `cdf-${key}`,
      title: `${label} CDF`,
      xLabel: `${label} (ms, up to the 99.5th percentile)`,
      yLabel: 'fraction of requests',
      xMax: p995(runs.map((r) => r[key])),
      yMax: 1,
      series: runs.map((r) => ({ name: r.name, points: cdfPoints(r[key]) })),
    });
  const timed = runs.filter((r): r is ReportRun & { series: SeriesRow[] } => r.series !== null);
  const live = runs.filter((r) => r.series === null).map((r) => escapeHtml(r.name));
  const liveNote = live.length > 0 ? `<p class="note">No engine timeseries for ${live.join(', ')} (a live run measured at the client): latencies only.</p>` : '';
  const load = timed
    .map((r, i) =>
      lineChart({ id: `load-${i}`, title: `in-flight requests per worker · ${r.name}`, xLabel: 'simulated time (s)', yLabel: 'in flight', series: workerLoad(r.series) }),
    )
    .join('');
  const hit = timed.length === 0
    ? ''
    : lineChart({
        id: 'hit-rate',
        title: 'prefix-cache hit rate over time (prompt-token weighted)',
        xLabel: 'simulated time (s)',
        yLabel: 'hit rate',
        yMax: 1,
        series: timed.map((r) => ({ name: r.name, points: thin(fleetHitRate(r.series), MAX_TIME_POINTS) })),
      });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="note">${runs.map((r) => escapeHtml(r.name)).join(' · ')}</p>
<h2>Summary</h2>
${summaryTable(runs)}
<h2>Latency CDFs</h2>
<div class="charts">${cdf('ttftMs', 'TTFT')}${cdf('tpotMs', 'TPOT')}${cdf('e2eMs', 'E2E')}</div>
<h2>Per-worker load over time</h2>
${liveNote}<div class="charts">${load}</div>
<h2>Prefix-cache hit rate over time</h2>
<div class="charts">${hit}</div>
<script>${SCRIPT}</script>
</body></html>
`;
}
