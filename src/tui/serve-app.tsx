import { useEffect, useState } from 'react';
import { render, useInput } from 'ink';
import { DEFAULTS } from '../defaults.js';
import { colorWanted } from './format.js';
import { ServeDashboard, type ServeDashboardSnapshot } from './serve-dashboard.js';

const REFRESH_MS = DEFAULTS.dashboardRefreshMs;

export interface ServeDashboardOptions {
  /** Called on every frame (never per request); must be cheap and must not throw. */
  snapshot: () => ServeDashboardSnapshot;
  stdout?: NodeJS.WriteStream;
  stdin?: NodeJS.ReadStream;
  /** Default: on unless NO_COLOR is set and non-empty. */
  color?: boolean;
  refreshMs?: number;
  /** `q` or Ctrl-C on the dashboard: the server decides what quitting means (e.g. a graceful drain). */
  onQuit?: () => void;
}

type AppOptions = Required<Pick<ServeDashboardOptions, 'snapshot' | 'color' | 'refreshMs'>> & ServeDashboardOptions & { keys: boolean };

/** The live serve view with its keys and refresh timer (exported for tests; use `startServeDashboard`). */
export function ServeDashboardApp({ o }: { o: AppOptions }) {
  const [refreshMs, setRefreshMs] = useState(o.refreshMs);
  const [paused, setPaused] = useState(false);
  const [snap, setSnap] = useState(() => o.snapshot());
  useInput(
    (input, key) => {
      if (input === 'q' || (key.ctrl && input === 'c')) o.onQuit?.();
      else if (input === 'p') setPaused((p) => !p);
      else if (input === '+') setRefreshMs((r) => Math.max(REFRESH_MS.min, Math.round(r / 2)));
      else if (input === '-') setRefreshMs((r) => Math.min(REFRESH_MS.max, r * 2));
    },
    { isActive: o.keys },
  );
  useEffect(() => {
    if (paused) return;
    const t = setInterval(() => setSnap(o.snapshot()), refreshMs);
    return () => clearInterval(t);
  }, [o, refreshMs, paused]);
  return <ServeDashboard s={snap} color={o.color} refreshMs={refreshMs} paused={paused} />;
}

/**
 * Mounts the live `serve --dashboard` view; call `stop()` before exiting to restore the terminal.
 * Only for a TTY stdout; serve should fall back to its log lines otherwise.
 */
export function startServeDashboard(opts: ServeDashboardOptions): { stop: () => Promise<void> } {
  const stdout = opts.stdout ?? process.stdout;
  const stdin = opts.stdin ?? process.stdin;
  const color = opts.color ?? colorWanted();
  const ink = render(<ServeDashboardApp o={{ ...opts, stdin, color, refreshMs: opts.refreshMs ?? REFRESH_MS.initial, keys: stdin.isTTY }} />, { stdout, stdin, exitOnCtrlC: false, patchConsole: false });
  return {
    stop: async () => {
      ink.unmount();
      await ink.waitUntilExit();
    },
  };
}
