/**
 * Loaded into `router serve` and into the minimal proxy by `npm run bench:proxy -- --probe`
 * (node --import): on each SIGUSR2 it prints one `probe {...}` line on stderr with the event-loop
 * delay percentiles and the garbage collections since the last SIGUSR2, then starts over. The
 * bench sends one signal when a slice starts and one when it ends, so the line describes that
 * slice only. Costs the process a 1 ms timer and V8's GC profiler while it is loaded: leave it off
 * for CPU figures.
 *
 * The GC figures come from v8.GCProfiler (heap space sizes before and after each collection):
 * - allocated: bytes allocated in the young generation (new space filled between collections),
 *   which sets how often scavenges run;
 * - survived: young bytes still alive after each scavenge, summed (what the scavenge had to copy);
 * - promoted: old-space growth across scavenges, i.e. young objects that lived through two of
 *   them and moved to the old heap, where only a mark-compact frees them;
 * - old-allocated: old-space growth between collections: objects V8 allocates in the old heap
 *   directly (large objects, allocation sites it decided to pretenure).
 */
import { getHeapSpaceStatistics, GCProfiler } from 'node:v8';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();

interface SpaceStats {
  spaceName: string;
  spaceUsedSize: number;
}
interface GcEntry {
  gcType: string;
  cost: number;
  beforeGC: { heapSpaceStatistics: SpaceStats[] };
  afterGC: { heapSpaceStatistics: SpaceStats[] };
}

const used = (spaces: readonly SpaceStats[], name: string): number => spaces.find((s) => s.spaceName === name)?.spaceUsedSize ?? 0;
/** Young generation in use: the new space plus young large objects. */
const young = (spaces: readonly SpaceStats[]): number => used(spaces, 'new_space') + used(spaces, 'new_large_object_space');
const old = (spaces: readonly SpaceStats[]): number => used(spaces, 'old_space') + used(spaces, 'large_object_space');

/** The heap spaces now, in the profiler's shape. */
const spacesNow = (): SpaceStats[] => getHeapSpaceStatistics().map((x) => ({ spaceName: x.space_name, spaceUsedSize: x.space_used_size }));

let profiler = new GCProfiler();
profiler.start();
let youngAtStart = young(spacesNow());
let oldAtStart = old(spacesNow());

process.on('SIGUSR2', () => {
  const entries = profiler.stop().statistics as unknown as GcEntry[];
  const nowSpaces = spacesNow();
  let allocated = 0;
  let survived = 0;
  let promoted = 0;
  let scavenges = 0;
  let major = 0;
  let totalUs = 0;
  let maxUs = 0;
  let youngAfterPrev = youngAtStart;
  let oldAllocated = 0;
  let oldAfterPrev = oldAtStart;
  for (const e of entries) {
    const before = e.beforeGC.heapSpaceStatistics;
    const after = e.afterGC.heapSpaceStatistics;
    allocated += Math.max(0, young(before) - youngAfterPrev);
    youngAfterPrev = young(after);
    oldAllocated += Math.max(0, old(before) - oldAfterPrev);
    oldAfterPrev = old(after);
    totalUs += e.cost;
    maxUs = Math.max(maxUs, e.cost);
    if (e.gcType === 'Scavenge') {
      scavenges++;
      survived += young(after);
      promoted += Math.max(0, old(after) - old(before));
    } else if (e.gcType === 'MarkSweepCompact') {
      major++;
    }
  }
  allocated += Math.max(0, young(nowSpaces) - youngAfterPrev);
  oldAllocated += Math.max(0, old(nowSpaces) - oldAfterPrev);
  const ms = (ns: number): number => Math.round(ns / 1e4) / 100;
  process.stderr.write(
    `probe ${JSON.stringify({
      delayP50: ms(delay.percentile(50)),
      delayP99: ms(delay.percentile(99)),
      delayMax: ms(delay.max),
      gcCount: entries.length,
      gcMajor: major,
      gcScavenges: scavenges,
      gcTotalMs: Math.round(totalUs / 100) / 10,
      gcMaxMs: Math.round(maxUs / 100) / 10,
      allocatedBytes: allocated,
      survivedBytes: survived,
      promotedBytes: promoted,
      oldAllocatedBytes: oldAllocated,
    })}\n`,
  );
  delay.reset();
  profiler = new GCProfiler();
  profiler.start();
  youngAtStart = young(nowSpaces);
  oldAtStart = old(nowSpaces);
});

/**
 * With PROBE_STALL_LOG=PATH, each event-loop stall longer than PROBE_STALL_MS (default 20) is
 * written to PATH.PID with its end time on CLOCK_MONOTONIC (the clock of `perf sched record -k
 * CLOCK_MONOTONIC`, so a stall can be matched with what ran on the CPU), next to every GC's start
 * and duration on the same clock. For finding where a stall comes from; off by default.
 */
const STALL_LOG = process.env.PROBE_STALL_LOG;
if (STALL_LOG !== undefined && STALL_LOG !== '') {
  const { appendFileSync } = await import('node:fs');
  const { PerformanceObserver, performance } = await import('node:perf_hooks');
  const threshold = Number(process.env.PROBE_STALL_MS ?? 20);
  const monoMs = (): number => Number(process.hrtime.bigint()) / 1e6;
  // performance.now() and hrtime differ by a constant: the offset maps GC entries to CLOCK_MONOTONIC.
  const offset = monoMs() - performance.now();
  const lines: string[] = [];
  let last = monoMs();
  setInterval(() => {
    const now = monoMs();
    if (now - last > threshold) lines.push(`stall end ${now.toFixed(3)} ms ${(now - last).toFixed(1)}`);
    last = now;
  }, 1);
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind ?? -1;
      lines.push(`gc start ${(e.startTime + offset).toFixed(3)} ms ${e.duration.toFixed(2)} kind ${kind}`);
    }
  }).observe({ entryTypes: ['gc'] });
  const flush = (): void => {
    if (lines.length > 0) appendFileSync(`${STALL_LOG}.${process.pid}`, lines.splice(0).join('\n') + '\n');
  };
  // Written between slices (the bench signals at each slice's start and end), not during one.
  process.on('SIGUSR2', flush);
}
