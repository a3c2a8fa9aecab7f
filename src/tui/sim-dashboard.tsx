import { Box, Text } from 'ink';
import * as asciichart from 'asciichart';
import type { SimDashboardSnapshot, SeriesPoint, SloClassRow } from './sim-snapshot.js';
import type { RollingLatency } from './rolling.js';
import { alignRows, bar, duration, num, pct } from './format.js';
import { PD_PANEL_EXTRA_ROWS, PdPanel } from './sim-pd-panel.js';

export interface ScreenSize {
  columns: number;
  rows: number;
}

/** Colour names are used only when colour is on (NO_COLOR unset). */
function tint(color: boolean, c: string): string | undefined {
  return color ? c : undefined;
}

export function ProgressLine({ s, color }: { s: SimDashboardSnapshot; color: boolean }) {
  // A run that ended by itself has read the whole trace, whether or not the background scan finished.
  const total = s.traceRequests ?? (s.state === 'done' ? s.arrived : null);
  const frac = total ? s.arrived / total : NaN;
  const ended = s.state === 'done' || s.state === 'stopped';
  const of = s.traceEndS !== null ? ` (last arrival at ${num(s.traceEndS)} s)` : ended ? '' : ' (scanning trace…)';
  const req = total === null ? `${s.arrived}` : `${s.arrived}/${total}`;
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>progress </Text>
        <Text color={tint(color, 'green')}>{bar(frac, 24)}</Text> {pct(frac)} · simulated {num(s.simTimeS)} s{of}
      </Text>
      <Text>
        {'         '}requests {req} arrived · {s.completed} done · {s.rejected} rejected · {s.inFlight} in flight
        {s.queued > 0 ? ` · ${s.queued} queued in the router` : ''}
      </Text>
      <Text>
        {'         '}wall {duration(s.wallS)} · speed {num(s.speed)}× real time{s.pace !== null ? ` (pace ${s.pace}×)` : ''} · ETA {duration(s.etaS)}
      </Text>
    </Box>
  );
}

export function WorkerTable({ s, color }: { s: SimDashboardSnapshot; color: boolean }) {
  const rows = alignRows([
    ['worker', 'gpu', 'running', 'waiting', 'KV usage', '', 'hit rate', 'served'],
    ...s.workers.map((w) => [w.name, w.gpu, String(w.running), String(w.waiting), bar(w.kvUsage, 16), pct(w.kvUsage), pct(w.prefixHitRate), String(w.served)]),
  ], 2);
  return (
    <Box flexDirection="column">
      <Text bold>{rows[0]}</Text>
      {rows.slice(1).map((r, i) => (
        <Text key={s.workers[i].name} color={tint(color, s.workers[i].kvUsage > 0.9 ? 'red' : 'white')}>
          {r}
        </Text>
      ))}
    </Box>
  );
}

export function LatencyTable({ rolling, sloAttainment, showSlo = true }: { rolling: RollingLatency; sloAttainment: number | null; showSlo?: boolean }) {
  const rows = alignRows([
    [`latency ms (last ${rolling.count})`, 'p50', 'p99'],
    ['TTFT', num(rolling.ttftMs.p50), num(rolling.ttftMs.p99)],
    ['TPOT', num(rolling.tpotMs.p50), num(rolling.tpotMs.p99)],
    ['E2E', num(rolling.e2eMs.p50), num(rolling.e2eMs.p99)],
  ]);
  return (
    <Box flexDirection="column">
      <HeadedRows rows={rows} />
      {showSlo ? <Text>SLO attainment {sloAttainment === null ? '- (no SLO given)' : pct(sloAttainment)}</Text> : null}
    </Box>
  );
}

/** Aligned rows, the first (the header) bold. */
function HeadedRows({ rows }: { rows: readonly string[] }) {
  return (
    <>
      {rows.map((r, i) => (
        <Text key={i} bold={i === 0}>
          {r}
        </Text>
      ))}
    </>
  );
}

/** Attainment per SLO class, when the trace carries more than one (one class is the line above). */
export function SloClassTable({ classes }: { classes: readonly SloClassRow[] }) {
  if (classes.length < 2) return null;
  const rows = alignRows([
    ['SLO class', 'requests', 'met', 'rejected'],
    ...classes.map((c) => [c.name, String(c.requests), pct(c.met / c.requests), String(c.rejected)]),
  ]);
  return (
    <Box flexDirection="column">
      <HeadedRows rows={rows} />
    </Box>
  );
}

/** asciichart needs finite numbers and at least two points: a gap repeats the value before it. */
export function chartable(values: number[]): number[] {
  const first = values.find((x) => Number.isFinite(x)) ?? 0;
  let last = first;
  const v = values.map((x) => (Number.isFinite(x) ? (last = x) : last));
  return v.length === 1 ? [v[0], v[0]] : v;
}

export function Chart({ title, values, height, color, tone }: { title: string; values: number[]; height: number; color: boolean; tone: string }) {
  if (values.length === 0) return <Text dimColor>{title}: no completed requests yet</Text>;
  // One colour for the whole chart: asciichart's per-character colours multiply ink's per-frame work.
  const plot = asciichart.plot(chartable(values), { height, format: (x) => num(x, x >= 100 ? 0 : 1).padStart(8) });
  return (
    <Box flexDirection="column">
      <Text bold>{title}</Text>
      <Text color={tint(color, tone)}>{plot}</Text>
    </Box>
  );
}

function seriesSpan(series: SeriesPoint[]): string {
  if (series.length === 0) return '';
  return ` · ${num(series[0].t0S, 0)}–${num(series[series.length - 1].t1S, 0)} s simulated`;
}

/**
 * The `router simulate` dashboard: progress, one row per worker, rolling latency percentiles, SLO
 * attainment and charts over simulated time. A pure function of one snapshot; charts are dropped
 * when the terminal is too short for them.
 */
export function SimDashboard({ s, color, size }: { s: SimDashboardSnapshot; color: boolean; size: ScreenSize }) {
  const fixedRows = 2 + 4 + (s.workers.length + 1) + 6 + 2 + (s.sloClasses.length >= 2 ? s.sloClasses.length + 1 : 0) + (s.pd ? PD_PANEL_EXTRA_ROWS : 0);
  const spare = size.rows - fixedRows;
  const chartHeight = Math.min(6, Math.floor((spare - 4) / 2) - 1);
  const showCharts = chartHeight >= 2 && size.columns >= 40;
  const state = s.state === 'paused' ? 'PAUSED' : s.state;
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold color={tint(color, 'cyan')}>
          router simulate
        </Text>{' '}
        · policy {s.policy} · {state} · refresh {s.refreshMs} ms
      </Text>
      <Text> </Text>
      <ProgressLine s={s} color={color} />
      <Text> </Text>
      {s.pd ? <PdPanel s={s} pd={s.pd} color={color} table={(workers) => <WorkerTable s={{ ...s, workers }} color={color} />} /> : <WorkerTable s={s} color={color} />}
      <Text> </Text>
      <LatencyTable rolling={s.rolling} sloAttainment={s.sloAttainment} />
      <SloClassTable classes={s.sloClasses} />
      {showCharts ? (
        <Box flexDirection="column">
          <Text> </Text>
          <Chart title={`TTFT p99 (ms)${seriesSpan(s.series)}`} values={s.series.map((p) => p.ttftMs.p99)} height={chartHeight} color={color} tone="yellow" />
          <Chart title="throughput (completed req/s)" values={s.series.map((p) => p.completedPerS)} height={chartHeight} color={color} tone="green" />
        </Box>
      ) : null}
      <Text dimColor>keys: q quit (reports are still written) · p pause/resume · + faster refresh · - slower refresh</Text>
    </Box>
  );
}
