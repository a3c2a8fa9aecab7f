import { stringify } from 'csv-stringify/sync';
import { escapeHtml, lineChart, type ChartSeries } from '../report/svg-chart.js';
import { simulateCommand } from '../sweep/cell.js';
import { paretoFrontier, type PlanPoint, type PlanResult } from './search.js';

function pct(v: number): string {
  return `${(v * 100).toFixed(2)}%`;
}

function ms(v: number): string {
  return Number.isFinite(v) ? v.toFixed(0) : '-';
}

/** The frontier table, the answer and the command that reproduces it. */
export function formatPlan(r: PlanResult, target: number): string {
  const lines: string[] = [];
  const capText = r.capacities.map((c) => `${c.id} ${Number.isFinite(c.capacityRps) ? `${c.capacityRps.toFixed(1)} req/s` : 'not saturated (no bound)'}`).join(', ');
  lines.push(`capacity per worker on this workload: ${capText}`);
  lines.push(
    `${r.compositions} fleet compositions: ${r.overBudget} over budget, ${r.boundPruned} below the capacity bound; ${r.points.length} configurations simulated (${r.points.filter((p) => p.stage === 'refine').length} refining the frontier)`,
  );
  lines.push('');
  lines.push('Pareto frontier (cost per hour vs SLO attainment):');
  const rows = [['$/hour', 'attainment', 'goodput req/s', 'ttft p99 ms', 'tpot p99 ms', 'policy', 'fleet', '']];
  for (const p of r.frontier) {
    rows.push([p.costPerHour.toFixed(3), pct(p.attainment), p.goodputRps.toFixed(3), ms(p.ttftP99Ms), ms(p.tpotP99Ms), p.policy, p.comp.fleet, p === r.best ? '<- cheapest meeting the target' : '']);
  }
  const w = rows[0].map((_, c) => Math.max(...rows.map((x) => x[c].length)));
  for (const row of rows) lines.push(row.map((x, c) => (c >= 5 ? x.padEnd(w[c]) : x.padStart(w[c]))).join('  ').trimEnd());
  lines.push('');
  if (r.best) {
    lines.push(`cheapest configuration meeting ${pct(target)} attainment: ${r.best.comp.fleet} with ${r.best.policy}, $${r.best.costPerHour.toFixed(3)}/hour (attainment ${pct(r.best.attainment)}, goodput ${r.best.goodputRps.toFixed(3)} req/s)`);
    lines.push(`reproduce: ${simulateCommand(r.best.spec)}`);
  } else {
    const top = [...r.points].sort((a, b) => b.attainment - a.attainment || a.comp.costMicro - b.comp.costMicro)[0];
    lines.push(`no configuration within the limits meets ${pct(target)} attainment${top ? `; the best simulated reaches ${pct(top.attainment)} (${top.comp.fleet} with ${top.policy}, $${top.costPerHour.toFixed(3)}/hour)` : ''}`);
  }
  return lines.join('\n');
}

const POINT_COLUMNS = ['cost_per_hour_usd', 'slo_attainment', 'goodput_rps', 'ttft_ms_p99', 'tpot_ms_p99', 'policy', 'fleet', 'stage', 'on_frontier', 'chosen'] as const;

/** Every simulated configuration, frontier points marked: the frontier is the rows with on_frontier=true. */
export function planCsv(r: PlanResult): string {
  const onFrontier = new Set(r.frontier);
  const sorted = [...r.points].sort((a, b) => a.comp.costMicro - b.comp.costMicro || b.attainment - a.attainment || a.comp.index - b.comp.index || a.policyIndex - b.policyIndex);
  return stringify(
    sorted.map((p) => [p.costPerHour.toFixed(4), p.attainment.toFixed(4), p.goodputRps.toFixed(4), Number.isFinite(p.ttftP99Ms) ? p.ttftP99Ms.toFixed(3) : '', Number.isFinite(p.tpotP99Ms) ? p.tpotP99Ms.toFixed(3) : '', p.policy, p.comp.fleet, p.stage, String(onFrontier.has(p)), String(p === r.best)]),
    { header: true, columns: [...POINT_COLUMNS] },
  );
}

/** A stepped line through a frontier: attainment holds until the next, costlier point improves it. */
function stepped(points: PlanPoint[]): [number, number][] {
  const out: [number, number][] = [];
  points.forEach((p, i) => {
    if (i > 0) out.push([p.costPerHour, points[i - 1].attainment]);
    out.push([p.costPerHour, p.attainment]);
  });
  return out;
}

/** One self-contained page: the frontier overall and per policy, and the table. */
export function planHtml(r: PlanResult, target: number, title = 'router plan'): string {
  const policies = [...new Set(r.points.map((p) => p.policy))];
  const series: ChartSeries[] = [{ name: 'frontier (all policies)', points: stepped(r.frontier) }];
  for (const pol of policies) series.push({ name: pol, points: stepped(paretoFrontier(r.points.filter((p) => p.policy === pol))) });
  const maxCost = Math.max(0, ...r.points.map((p) => p.costPerHour));
  series.push({ name: `target ${pct(target)}`, points: [[0, target], [maxCost, target]] });
  const chart = lineChart({ id: 'frontier', title: 'SLO attainment vs fleet cost', xLabel: 'fleet cost (USD per hour)', yLabel: 'SLO attainment', yMax: 1, series });
  const head = `<tr>${['$/hour', 'attainment', 'goodput req/s', 'ttft p99 ms', 'policy', 'fleet'].map((h) => `<th>${h}</th>`).join('')}</tr>`;
  const body = r.frontier
    .map((p) => `<tr${p === r.best ? ' class="best"' : ''}><td>${p.costPerHour.toFixed(3)}</td><td>${pct(p.attainment)}</td><td>${p.goodputRps.toFixed(3)}</td><td>${ms(p.ttftP99Ms)}</td><td>${escapeHtml(p.policy)}</td><td>${escapeHtml(p.comp.fleet)}</td></tr>`)
    .join('');
  const answer = r.best
    ? `Cheapest meeting ${pct(target)}: <b>${escapeHtml(r.best.comp.fleet)}</b> with <b>${escapeHtml(r.best.policy)}</b>, $${r.best.costPerHour.toFixed(3)}/hour. Reproduce: <code>${escapeHtml(simulateCommand(r.best.spec))}</code>`
    : `No configuration within the limits meets ${pct(target)}.`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1200px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; } th, td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: right; }
tr.best td { font-weight: bold; } svg { max-width: 100%; height: auto; } .title { font-weight: 600; font-size: 13px; } .tick { font-size: 11px; fill: #555; }
.axis { font-size: 12px; fill: #333; } .grid { stroke: #eee; } figure { margin: 0; } figcaption { font-size: 12px; } .key { margin-right: 10px; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; } code { font-size: 12px; }
</style></head>
<body>
<h1>${escapeHtml(title)}</h1>
<p>${answer}</p>
${chart}
<h2>Frontier</h2>
<table>${head}${body}</table>
</body></html>
`;
}
