/** A line on a chart: points in data units, drawn in order. */
export interface ChartSeries {
  name: string;
  points: [number, number][];
}

export interface LineChartSpec {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  series: ChartSeries[];
  /** Axis ranges; default from the data (y from 0). */
  xMax?: number;
  yMax?: number;
}

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

const W = 720;
const H = 300;
const M = { left: 64, right: 16, top: 28, bottom: 44 };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** 1, 2 or 5 times a power of ten, so that about `count` ticks cover [0, max]. */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) as number;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

function tickText(v: number): string {
  if (v !== 0 && (Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3)) return v.toExponential(0);
  return String(Number(v.toPrecision(6)));
}

/**
 * A static SVG line chart (axes, ticks, legend). The data also goes into a `data-series` attribute
 * for the page's small hover script; the chart reads fine without it.
 */
export function lineChart(spec: LineChartSpec): string {
  let xMax = spec.xMax ?? 0;
  let yMax = spec.yMax ?? 0;
  for (const s of spec.series) {
    for (const [x, y] of s.points) {
      if (spec.xMax === undefined && Number.isFinite(x)) xMax = Math.max(xMax, x);
      if (spec.yMax === undefined && Number.isFinite(y)) yMax = Math.max(yMax, y);
    }
  }
  const xt = niceTicks(xMax);
  const yt = niceTicks(yMax);
  const x1 = xt[xt.length - 1];
  const y1 = yt[yt.length - 1];
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (x: number): number => M.left + (Math.min(x, x1) / x1) * pw;
  const sy = (y: number): number => M.top + ph - (Math.min(y, y1) / y1) * ph;
  const parts: string[] = [];
  parts.push(`<text x="${M.left}" y="18" class="title">${escapeHtml(spec.title)}</text>`);
  for (const v of xt) {
    parts.push(`<line x1="${sx(v).toFixed(1)}" y1="${M.top}" x2="${sx(v).toFixed(1)}" y2="${M.top + ph}" class="grid"/>`);
    parts.push(`<text x="${sx(v).toFixed(1)}" y="${M.top + ph + 16}" class="tick" text-anchor="middle">${tickText(v)}</text>`);
  }
  for (const v of yt) {
    parts.push(`<line x1="${M.left}" y1="${sy(v).toFixed(1)}" x2="${M.left + pw}" y2="${sy(v).toFixed(1)}" class="grid"/>`);
    parts.push(`<text x="${M.left - 6}" y="${(sy(v) + 4).toFixed(1)}" class="tick" text-anchor="end">${tickText(v)}</text>`);
  }
  parts.push(`<text x="${M.left + pw / 2}" y="${H - 6}" class="axis" text-anchor="middle">${escapeHtml(spec.xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${M.top + ph / 2}) rotate(-90)" class="axis" text-anchor="middle">${escapeHtml(spec.yLabel)}</text>`);
  spec.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    // A point without a value (NaN) breaks the line: the gap shows where there is no data.
    let d = '';
    let pen = false;
    for (const [x, y] of s.points) {
      if (!Number.isFinite(x) || !Number.isFinite(y)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`;
      pen = true;
    }
    if (d) parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5"><title>${escapeHtml(s.name)}</title></path>`);
  });
  const legend = spec.series
    .map((s, i) => `<span class="key"><span class="swatch" style="background:${PALETTE[i % PALETTE.length]}"></span>${escapeHtml(s.name)}</span>`)
    .join(' ');
  const data = escapeHtml(JSON.stringify({ x1, y1, w: W, h: H, m: M, series: spec.series.map((s) => ({ name: s.name, points: s.points.map(([x, y]) => [round(x), round(y)]) })) }));
  return `<figure class="chart" id="${escapeHtml(spec.id)}"><svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeHtml(spec.title)}" data-series="${data}">${parts.join('')}<line class="cursor" x1="0" y1="${M.top}" x2="0" y2="${M.top + ph}" visibility="hidden"/></svg><figcaption>${legend}<span class="readout"></span></figcaption></figure>`;
}

function round(v: number): number | null {
  return Number.isFinite(v) ? Number(v.toPrecision(6)) : null;
}
