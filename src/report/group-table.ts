import type { GroupSummary, Summary } from '../metrics/summary.js';

function cell(v: number | null, digits: number): string {
  return v === null || !Number.isFinite(v) ? '-' : v.toFixed(digits);
}

const TITLES: [keyof Summary & ('by_model' | 'by_tenant' | 'by_priority'), string][] = [
  ['by_model', 'model'],
  ['by_priority', 'priority'],
  ['by_tenant', 'tenant'],
];

/** The per-model / per-priority / per-tenant tables of a summary (each as rows of cells, header first). */
export function groupTables(s: Summary): string[][][] {
  const out: string[][][] = [];
  for (const [key, title] of TITLES) {
    const rows: GroupSummary[] | undefined = s[key];
    if (!rows || rows.length === 0) continue;
    out.push([
      [title, 'requests', 'done', 'rejected', '429', 'TTFT p50', 'TTFT p99', 'E2E p99', 'SLO', 'goodput req/s'],
      ...rows.map((r) => [
        r.name,
        String(r.requests),
        String(r.completed),
        String(r.rejected),
        String(r.rejected_429),
        cell(r.ttft_p50_ms, 1),
        cell(r.ttft_p99_ms, 1),
        cell(r.e2e_p99_ms, 1),
        r.slo_attainment === null ? '-' : `${cell(r.slo_attainment * 100, 1)}%`,
        cell(r.goodput_rps, 2),
      ]),
    ]);
  }
  return out;
}
