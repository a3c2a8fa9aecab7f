import { useEffect, useState } from 'react';
import { render, useInput, type Instance } from 'ink';
import type { Simulation } from '../sim/simulator.js';
import { SimDashboard, type ScreenSize } from './sim-dashboard.js';
import { SimSnapshotBuilder, type SimDashboardSnapshot } from './sim-snapshot.js';
import type { TraceExtent } from './trace-scan.js';
import { DEFAULTS } from '../defaults.js';

const REFRESH_MS = DEFAULTS.dashboardRefreshMs;

export interface SimDashboardOptions {
  stdout: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
  color: boolean;
  pace: number | null;
  /** Resolves with the trace's length once a background scan has read it. */
  traceExtent?: Promise<TraceExtent | null>;
  refreshMs?: number;
}

/**
 * Wall-side state of a dashboard run: pause, quit and refresh rate from the keyboard, wall time
 * excluding pauses. The simulation only ever meets it at batch boundaries (`onBatch`).
 */
export class SimDashboardController {
  sim: Simulation | null = null;
  refreshMs: number;
  paused = false;
  quit = false;
  done = false;
  private builder: SimSnapshotBuilder | null = null;
  private readonly startedMs = performance.now();
  private pausedMs = 0;
  private pausedAt = 0;
  private resume: (() => void) | null = null;
  private extent: TraceExtent | null = null;
  private readonly listeners = new Set<() => void>();

  constructor(readonly opts: SimDashboardOptions) {
    this.refreshMs = opts.refreshMs ?? REFRESH_MS.initial;
    opts.traceExtent?.then(
      (e) => (this.extent = e),
      () => undefined,
    );
  }

  attach(sim: Simulation): void {
    if (this.sim === sim) return;
    this.sim = sim;
    this.builder = new SimSnapshotBuilder(sim);
  }

  /** Wall seconds the run has been going, pauses excluded. */
  wallS(): number {
    const pausedNow = this.paused ? performance.now() - this.pausedAt : 0;
    return (performance.now() - this.startedMs - this.pausedMs - pausedNow) / 1e3;
  }

  snapshot(): SimDashboardSnapshot | null {
    if (!this.sim || !this.builder) return null;
    return this.builder.snapshot({
      wallS: this.wallS(),
      state: this.done ? 'done' : this.quit ? 'stopping' : this.paused ? 'paused' : 'running',
      refreshMs: this.refreshMs,
      pace: this.opts.pace,
      traceEndS: this.extent?.lastArrivalS ?? null,
      traceRequests: this.extent?.requests ?? null,
    });
  }

  /** The simulation's batch hook: blocks while paused, honours quit, then yields to the timers. */
  async onBatch(sim: Simulation): Promise<void> {
    this.attach(sim);
    if (this.paused && !this.quit) await new Promise<void>((r) => (this.resume = r));
    if (this.quit) sim.stop();
    await new Promise((r) => setImmediate(r));
  }

  key(input: string, ctrl: boolean): void {
    if (input === 'q' || (ctrl && input === 'c')) {
      this.quit = true;
      this.sim?.stop();
      if (this.paused) this.togglePause();
    } else if (input === 'p') {
      this.togglePause();
    } else if (input === '+') {
      this.refreshMs = Math.max(REFRESH_MS.min, Math.round(this.refreshMs / 2));
    } else if (input === '-') {
      this.refreshMs = Math.min(REFRESH_MS.max, this.refreshMs * 2);
    } else {
      return;
    }
    this.changed();
  }

  private togglePause(): void {
    if (this.paused) {
      this.pausedMs += performance.now() - this.pausedAt;
      this.paused = false;
      this.resume?.();
      this.resume = null;
    } else {
      this.paused = true;
      this.pausedAt = performance.now();
    }
  }

  subscribe(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  changed(): void {
    for (const f of this.listeners) f();
  }
}

function App({ c, size }: { c: SimDashboardController; size: () => ScreenSize }) {
  const [snap, setSnap] = useState<SimDashboardSnapshot | null>(() => c.snapshot());
  const [refreshMs, setRefreshMs] = useState(c.refreshMs);
  useInput((input, key) => c.key(input, key.ctrl), { isActive: c.opts.stdin.isTTY });
  useEffect(
    () =>
      c.subscribe(() => {
        setRefreshMs(c.refreshMs);
        setSnap(c.snapshot());
      }),
    [c],
  );
  useEffect(() => {
    const t = setInterval(() => setSnap(c.snapshot()), refreshMs);
    return () => clearInterval(t);
  }, [c, refreshMs]);
  if (!snap) return null;
  return <SimDashboard s={snap} color={c.opts.color} size={size()} />;
}

/** Mounts the dashboard on a TTY; `finish` draws the last frame and gives the terminal back. */
export function startSimDashboard(opts: SimDashboardOptions): { controller: SimDashboardController; finish: () => Promise<void> } {
  const c = new SimDashboardController(opts);
  const size = (): ScreenSize => ({ columns: opts.stdout.columns || 100, rows: opts.stdout.rows || 40 });
  const ink: Instance = render(<App c={c} size={size} />, { stdout: opts.stdout, stdin: opts.stdin, exitOnCtrlC: false, patchConsole: false });
  return {
    controller: c,
    finish: async () => {
      c.done = true;
      c.changed();
      // Let React commit the final frame before unmounting.
      await new Promise((r) => setTimeout(r, 20));
      ink.unmount();
      await ink.waitUntilExit();
    },
  };
}
