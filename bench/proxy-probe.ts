/**
 * Loaded into `router serve` by `npm run bench:proxy -- --probe` (node --import): on each
 * SIGUSR2 it prints one `probe {...}` line on stderr with the event-loop delay percentiles and the
 * garbage-collection pauses since the last SIGUSR2, then starts over. The bench sends one signal
 * when a slice starts and one when it ends, so the line describes that slice only. Costs serve a
 * 1 ms timer while it is loaded: leave it off for CPU figures.
 */
import { monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();
const gc = { n: 0, totalMs: 0, maxMs: 0, major: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gc.n++;
    gc.totalMs += e.duration;
    gc.maxMs = Math.max(gc.maxMs, e.duration);
    // perf_hooks.constants.NODE_PERFORMANCE_GC_MAJOR
    if ((e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === 4) gc.major++;
  }
}).observe({ entryTypes: ['gc'] });

process.on('SIGUSR2', () => {
  const ms = (ns: number): number => Math.round(ns / 1e4) / 100;
  process.stderr.write(`probe ${JSON.stringify({ delayP50: ms(delay.percentile(50)), delayP99: ms(delay.percentile(99)), delayMax: ms(delay.max), gcCount: gc.n, gcMajor: gc.major, gcTotalMs: Math.round(gc.totalMs), gcMaxMs: Math.round(gc.maxMs * 10) / 10 })}\n`);
  delay.reset();
  gc.n = 0;
  gc.totalMs = 0;
  gc.maxMs = 0;
  gc.major = 0;
});
